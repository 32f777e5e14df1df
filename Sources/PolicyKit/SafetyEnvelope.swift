public import WireProtocol

/// The limits the daemon enforces on every action, whatever the policy returns. An action outside
/// them is refused with a reason, logged, and never sent.
public struct SafetyEnvelope: Sendable, Hashable {
    /// Stage and scan centres allowed along x, nm.
    public var stageX: ClosedRange<Double>
    /// Stage and scan centres allowed along y, nm.
    public var stageY: ClosedRange<Double>
    /// Largest move between consecutive targets, nm.
    public var maximumStep: Double
    /// Field of view allowed, nm.
    public var fov: ClosedRange<Double>
    /// Dwell allowed, µs.
    public var dwell: ClosedRange<Double>
    /// Frame side allowed, pixels.
    public var pixels: ClosedRange<Int>
    /// Most dose any point may accumulate, e/Å².
    public var dosePerArea: Double
    /// Most electrons the whole session may deliver.
    public var dosePerSession: Double
    /// Most commands sent per minute; the daemon waits rather than exceed it.
    public var commandsPerMinute: Int
    /// Most reference frames per request.
    public var referenceFrames: Int

    /// An envelope; the defaults suit the virtual microscope's WSe2 sample.
    public init(
        stageX: ClosedRange<Double> = -1500...1500, stageY: ClosedRange<Double> = -1500...1500,
        maximumStep: Double = 1000, fov: ClosedRange<Double> = 2...2000, dwell: ClosedRange<Double> = 0.5...100,
        pixels: ClosedRange<Int> = 64...2048, dosePerArea: Double = 2e6, dosePerSession: Double = 1e16,
        commandsPerMinute: Int = 600, referenceFrames: Int = 16
    ) {
        self.stageX = stageX
        self.stageY = stageY
        self.maximumStep = maximumStep
        self.fov = fov
        self.dwell = dwell
        self.pixels = pixels
        self.dosePerArea = dosePerArea
        self.dosePerSession = dosePerSession
        self.commandsPerMinute = commandsPerMinute
        self.referenceFrames = referenceFrames
    }

    /// This envelope, narrowed to what the instrument can do.
    package func narrowed(to limits: InstrumentLimits) -> SafetyEnvelope {
        var result = self
        result.stageX = stageX.clamped(to: limits.stageX)
        result.stageY = stageY.clamped(to: limits.stageY)
        result.fov = fov.clamped(to: limits.fov)
        result.dwell = dwell.clamped(to: limits.dwell)
        result.pixels = pixels.clamped(to: limits.pixels)
        return result
    }

    /// Why `action` may not be carried out now, or nil when it may.
    /// - Parameters:
    ///   - position: the previous target (scan centre or stage position), nm; nil before the first.
    ///   - map: the session so far, for the dose budgets.
    ///   - current: the probe current, pA, for the dose a scan would deliver.
    package func refusal(
        of action: PolicyAction, from position: (x: Double, y: Double)?, map: SessionMap, current: Double
    ) -> String? {
        if let target = action.target {
            guard target.x.isFinite, target.y.isFinite else {
                return "the target (\(target.x), \(target.y)) is not a number"
            }
            if !stageX.contains(target.x) || !stageY.contains(target.y) {
                return "target (\(target.x.formatted1), \(target.y.formatted1)) nm is outside the stage bounds "
                    + "x \(stageX.lowerBound.formatted1)...\(stageX.upperBound.formatted1), "
                    + "y \(stageY.lowerBound.formatted1)...\(stageY.upperBound.formatted1) nm"
            }
            if let position {
                let step =
                    ((target.x - position.x) * (target.x - position.x)
                    + (target.y - position.y) * (target.y - position.y)).squareRoot()
                if step > maximumStep {
                    return "a move of \(step.formatted1) nm exceeds the maximum step of \(maximumStep.formatted1) nm"
                }
            }
        }
        switch action {
        case .scan(let region):
            return refusal(of: region, map: map, current: current, frames: 1)
        case .acquireReference(let region, let count):
            guard (1...referenceFrames).contains(count) else {
                return "\(count) reference frames requested; 1 to \(referenceFrames) are allowed"
            }
            return refusal(of: region, map: map, current: current, frames: count)
        default:
            return nil
        }
    }

    private func refusal(of region: ScanGeometry, map: SessionMap, current: Double, frames: Int) -> String? {
        guard region.fovX.isFinite, region.fovY.isFinite, region.dwell.isFinite, region.rotation.isFinite else {
            return "the region has a field of view, dwell or rotation that is not a number"
        }
        guard fov.contains(region.fovX), fov.contains(region.fovY) else {
            return "field of view \(region.fovX.formatted1) x \(region.fovY.formatted1) nm is outside "
                + "\(fov.lowerBound.formatted1)...\(fov.upperBound.formatted1) nm"
        }
        guard dwell.contains(region.dwell) else {
            return "dwell \(region.dwell) µs is outside \(dwell.lowerBound)...\(dwell.upperBound) µs"
        }
        guard pixels.contains(region.width), pixels.contains(region.height) else {
            return
                "\(region.width) x \(region.height) pixels is outside \(pixels.lowerBound)...\(pixels.upperBound) per side"
        }
        let dose = Dose.perArea(of: region, current: current) * Double(frames)
        let accumulated = map.peakDose(in: region) + dose
        if accumulated > dosePerArea {
            return
                "the region would reach \(accumulated.rounded()) e/Å², above the budget of \(dosePerArea.rounded()) e/Å² per area"
        }
        let electrons = dose * region.fovX * region.fovY * 100
        if map.electrons + electrons > dosePerSession {
            return
                "the session would deliver \(map.electrons + electrons) electrons, above its budget of \(dosePerSession)"
        }
        return nil
    }
}

/// Electron dose.
public enum Dose {
    /// Electrons per Å² that one scan of `region` delivers with a probe of `current` pA.
    public static func perArea(of region: ScanGeometry, current: Double) -> Double {
        let electronsPerPixel = current * 1e-12 * region.dwell * 1e-6 / 1.602_176_634e-19
        let pixelArea = (region.fovX / Double(region.width)) * (region.fovY / Double(region.height)) * 100
        return electronsPerPixel / pixelArea
    }
}
