import Foundation
public import ImageNumerics
public import WireProtocol

/// A simulated frame: detector output per channel, the noise-free expectation, and ground truth.
public struct SimulatedFrame: Sendable {
    /// Detector output in ADU (whole numbers, 0 ... 65535), by channel name.
    public var channels: [String: Image]
    /// Expected counts before noise, by channel name.
    public var expected: [String: Image]
    /// What is really there, where it appears in this frame.
    public var truth: GroundTruth
    /// Electrons per pixel (probe current x dwell).
    public var electronsPerPixel: Double
    /// Simulated time of the first and last pixel, s since the session began.
    public var start: Double
    /// Simulated time of the last pixel, s.
    public var end: Double
    /// Stage position as reported (with readback error), nm.
    public var stageReadback: (x: Double, y: Double)
    /// How far the sample had drifted at the first pixel, nm.
    public var drift: (x: Double, y: Double)
    /// The scenario's condition set in force, if any.
    public var conditions: String?
}

/// The virtual microscope: a sample, the probe, detectors, the scan and stage with their
/// imperfections, simulated time, and the dose the sample has received.
///
/// Not thread safe; the simulated driver owns one.
public final class VirtualMicroscope {
    /// The sample.
    public var sample: Sample
    /// The probe's optics and current.
    public var optics: ProbeOptics
    /// The detectors, by name.
    public var detectors: [String: Detector]
    /// Scan imperfections and drift.
    public var distortion: ScanDistortion
    /// Stage behaviour.
    public var stageModel: StageModel
    /// Dose received so far.
    public private(set) var dose = DoseMap()
    /// Simulated time, s since the session began.
    public private(set) var clock = 0.0
    /// Condition sets over simulated time (from a scenario), applied before each acquisition.
    public var schedule: [ConditionSet] = []
    private var baseOptics: ProbeOptics
    private var baseDetectors: [String: Detector]
    private var appliedConditions: String?
    private var drift: DriftState
    private var stage = StageState()
    private let formation = ImageFormation()
    private var noise: NoiseGenerator

    /// A microscope over `sample`, with HAADF and MAADF detectors.
    public init(
        sample: Sample = Sample(), optics: ProbeOptics = ProbeOptics(),
        detectors: [Detector] = [.haadf, .maadf], distortion: ScanDistortion = ScanDistortion(),
        stageModel: StageModel = StageModel(), noiseSeed: UInt64 = 1
    ) {
        self.sample = sample
        self.optics = optics
        self.detectors = Dictionary(uniqueKeysWithValues: detectors.map { ($0.name, $0) })
        self.distortion = distortion
        self.stageModel = stageModel
        baseOptics = optics
        baseDetectors = self.detectors
        drift = DriftState(distortion)
        noise = NoiseGenerator(seed: noiseSeed)
    }

    /// A microscope for `scenario`: its sample and its condition sets.
    public convenience init(scenario: Scenario, noiseSeed: UInt64 = 1) {
        self.init(
            sample: Sample(
                layout: scenario.layout, knockOnCrossSection: scenario.knockOnCrossSection,
                contaminationGrowth: scenario.contaminationGrowth),
            noiseSeed: noiseSeed)
        schedule = scenario.conditions
    }

    /// The condition set in force now, applied: optics, detectors and drift follow the schedule.
    /// Returns its name.
    @discardableResult
    public func applyConditions() -> String? {
        let active = schedule.filter { $0.start <= clock }
        guard let current = active.last else { return nil }
        if current.name == appliedConditions { return current.name }
        var optics = baseOptics
        var detectors = baseDetectors
        for set in active {
            optics.beamEnergy = set.beamEnergy ?? optics.beamEnergy
            optics.convergence = set.convergence ?? optics.convergence
            optics.defocus = set.defocus ?? optics.defocus
            optics.astigmatism = set.astigmatism ?? optics.astigmatism
            optics.astigmatismAngle = set.astigmatismAngle ?? optics.astigmatismAngle
            optics.coma = set.coma ?? optics.coma
            optics.comaAngle = set.comaAngle ?? optics.comaAngle
            optics.sphericalAberration = set.sphericalAberration ?? optics.sphericalAberration
            optics.sourceSize = set.sourceSize ?? optics.sourceSize
            optics.current = set.current ?? optics.current
            for (name, var detector) in detectors {
                detector.readNoise = set.readNoise ?? detector.readNoise
                detector.gain = set.gain ?? detector.gain
                if name == Detector.haadf.name { detector.exponent = set.exponent ?? detector.exponent }
                detectors[name] = detector
            }
        }
        if let velocity = current.drift { (drift.velocityX, drift.velocityY) = (velocity.x, velocity.y) }
        self.optics = optics
        self.detectors = detectors
        appliedConditions = current.name
        return current.name
    }

    /// Where the stage reports itself, nm (true position plus readback error).
    public var stageReadback: (x: Double, y: Double) {
        (
            stage.actualX + stageModel.readbackError * noise.gaussian(),
            stage.actualY + stageModel.readbackError * noise.gaussian()
        )
    }

    /// Moves the stage (taking simulated time) and returns the reported position.
    public func moveStage(toX x: Double, y: Double) -> (x: Double, y: Double) {
        let duration = stage.move(to: x, y, model: stageModel, noise: &noise)
        advance(by: duration)
        return stageReadback
    }

    /// Lets simulated time pass (e.g. while the beam is blanked).
    public func advance(by seconds: Double) {
        guard seconds > 0 else { return }
        clock += seconds
        drift.advance(to: clock, walk: distortion.driftWalk, noise: &noise)
    }

    /// Scans `scan` with the named detectors (all when nil): the stage moves first when the scan
    /// lies beyond beam-shift range, every pixel samples where the beam really was, and the frame's
    /// dose is added to the sample afterwards (so the next visit costs something).
    public func acquire(_ scan: ScanGeometry, channels: [String]? = nil, deposit: Bool = true) -> SimulatedFrame {
        let conditions = applyConditions()
        if abs(scan.centerX - stage.targetX) > stageModel.beamShiftRange
            || abs(scan.centerY - stage.targetY) > stageModel.beamShiftRange
        {
            _ = moveStage(toX: scan.centerX, y: scan.centerY)
        }
        let names = channels ?? detectors.keys.sorted()
        let start = clock
        let lineTime = (Double(scan.width) * scan.dwell + distortion.flybackTime) * 1e-6
        let duration = lineTime * Double(scan.height)
        // The sample point under a requested position: off by the stage's error and the drift so far.
        let offsetX = (stage.actualX - stage.targetX) + drift.offsetX
        let offsetY = (stage.actualY - stage.targetY) + drift.offsetY
        var ideal = scan
        ideal.centerX -= offsetX
        ideal.centerY -= offsetY
        let frame = ScanFrame(ideal)
        let shifts = pixelShifts(scan, frame: frame, lineTime: lineTime)
        let margin = Self.margin(shifts)
        var padded = ideal
        padded.width += 2 * margin
        padded.height += 2 * margin
        padded.fovX = frame.pixelX * Double(padded.width)
        padded.fovY = frame.pixelY * Double(padded.height)

        // The atoms, once for every channel and the ground truth (none listed for survey frames).
        let atomic = frame.pixelX <= ImageFormation.surveyPixel
        let contents: (columns: [AtomColumn], defects: [PointDefect]) =
            atomic ? ImageFormation.columns(for: padded, sample: sample, dose: dose, optics: optics) : ([], [])
        var output: [String: Image] = [:]
        var expected: [String: Image] = [:]
        for name in names {
            guard let detector = detectors[name] else { continue }
            let grid = formation.expectedCounts(
                scan: padded, sample: sample, columns: contents.columns, dose: dose, optics: optics, detector: detector)
            let mean = Self.resample(grid, width: scan.width, height: scan.height, margin: margin, shifts: shifts)
            var adu = mean
            // A local copy: mutating a class's stored property per pixel costs an exclusivity check.
            var rng = noise
            let quantiles = NoiseGenerator.normalQuantiles
            for i in adu.pixels.indices {
                let counts = rng.poisson(Double(mean.pixels[i]))
                let value =
                    detector.gain * counts + detector.offset + detector.readNoise * rng.tabulatedGaussian(quantiles)
                // Clamped first, so truncating value + 0.5 rounds.
                adu.pixels[i] = Float(Int(min(65535, max(0, value)) + 0.5))
            }
            noise = rng
            output[name] = adu
            expected[name] = mean
        }
        let truth = groundTruth(
            frame: frame, width: scan.width, height: scan.height, shifts: shifts, margin: margin,
            contents: contents)
        let electrons = optics.electrons(dwell: scan.dwell)
        if deposit {
            let bounds = frame.bounds(margin: 0)
            dose.add(electrons / (frame.pixelX * frame.pixelY), x: bounds.x, y: bounds.y, contains: frame.contains)
        }
        let readback = stageReadback
        let driftAtStart = (drift.offsetX, drift.offsetY)
        advance(by: duration)
        return SimulatedFrame(
            channels: output, expected: expected, truth: truth, electronsPerPixel: electrons, start: start,
            end: start + duration, stageReadback: readback, drift: driftAtStart, conditions: conditions)
    }

    /// For every pixel, where the beam really sampled, in pixels of the scan's own axes, relative
    /// to the nominal raster: drift since the first pixel, line jitter, flyback lag, mains wobble.
    private func pixelShifts(_ scan: ScanGeometry, frame: ScanFrame, lineTime: Double) -> [(u: Double, v: Double)] {
        let cosR = cos(scan.rotation * .pi / 180)
        let sinR = sin(scan.rotation * .pi / 180)
        let d = distortion
        let dwell = scan.dwell * 1e-6
        // Every term is a function of the row plus a function of the column, except the mains
        // wobble, sin(a_row + b_column), which angle addition splits into two tables.
        let omega = 2 * Double.pi * d.mainsFrequency
        let phase = 2 * Double.pi * noise.uniform()
        let mains = d.mainsAmplitude / frame.pixelX
        let columns = (0..<scan.width).map { column -> (u: Double, v: Double, sin: Double, cos: Double) in
            let t = Double(column) * dwell
            let dx = -drift.velocityX * t
            let dy = -drift.velocityY * t
            let flyback = d.flybackAmplitude * exp(-Double(column) / max(d.flybackDecay, 1e-9))
            return (
                (cosR * dx + sinR * dy) / frame.pixelX + flyback, (-sinR * dx + cosR * dy) / frame.pixelY,
                sin(omega * t), cos(omega * t)
            )
        }
        var shifts = [(u: Double, v: Double)](repeating: (0, 0), count: scan.width * scan.height)
        var rng = noise
        defer { noise = rng }
        for row in 0..<scan.height {
            let t = Double(row) * lineTime
            let dx = -drift.velocityX * t
            let dy = -drift.velocityY * t
            let u = (cosR * dx + sinR * dy) / frame.pixelX + d.lineJitter * rng.gaussian()
            let v = (-sinR * dx + cosR * dy) / frame.pixelY
            let angle = omega * (clock + t) + phase
            let (sinA, cosA) = (sin(angle) * mains, cos(angle) * mains)
            for (column, c) in columns.enumerated() {
                shifts[row * scan.width + column] = (u + c.u + sinA * c.cos + cosA * c.sin, v + c.v)
            }
        }
        return shifts
    }

    /// Bilinear samples of `grid` at each pixel's shifted position. The margin exceeds every shift,
    /// so every position lies inside the grid (clamped all the same, for safety).
    private static func resample(
        _ grid: Image, width: Int, height: Int, margin: Int, shifts: [(u: Double, v: Double)]
    ) -> Image {
        var out = [Float](repeating: 0, count: width * height)
        let gridWidth = grid.width
        let maxX = Double(grid.width - 2)
        let maxY = Double(grid.height - 2)
        grid.pixels.withUnsafeBufferPointer { source in
            shifts.withUnsafeBufferPointer { shift in
                out.withUnsafeMutableBufferPointer { target in
                    for row in 0..<height {
                        for column in 0..<width {
                            let i = row * width + column
                            let x = min(max(Double(column + margin) + shift[i].u, 0), maxX)
                            let y = min(max(Double(row + margin) + shift[i].v, 0), maxY)
                            let x0 = Int(x)
                            let y0 = Int(y)
                            let fx = Float(x - Double(x0))
                            let fy = Float(y - Double(y0))
                            let p = y0 * gridWidth + x0
                            let top = source[p] + (source[p + 1] - source[p]) * fx
                            let bottom =
                                source[p + gridWidth] + (source[p + gridWidth + 1] - source[p + gridWidth]) * fx
                            target[i] = top + (bottom - top) * fy
                        }
                    }
                }
            }
        }
        return Image(width: width, height: height, pixels: out)
    }

    /// Pixels of room around a frame that every shift fits in.
    private static func margin(_ shifts: [(u: Double, v: Double)]) -> Int {
        var largest = 0.0
        for shift in shifts { largest = max(largest, abs(shift.u), abs(shift.v)) }
        return Int(largest.rounded(.up)) + 2
    }

    /// Ground truth of a scan without distortion, for analysis of a known area.
    public func groundTruth(_ scan: ScanGeometry) -> GroundTruth {
        let frame = ScanFrame(scan)
        let bounds = frame.bounds(margin: 2)
        return groundTruth(
            frame: frame, width: scan.width, height: scan.height,
            shifts: [(u: Double, v: Double)](repeating: (0, 0), count: scan.width * scan.height), margin: 2,
            contents: frame.pixelX <= ImageFormation.surveyPixel
                ? sample.contents(x: bounds.x, y: bounds.y, dose: dose) : ([], []))
    }

    /// Atom columns, defects and region labels, where they appear in the distorted frame.
    private func groundTruth(
        frame: ScanFrame, width: Int, height: Int, shifts: [(u: Double, v: Double)], margin: Int,
        contents: (columns: [AtomColumn], defects: [PointDefect])
    ) -> GroundTruth {
        // Labels on the undistorted grid (with room for the shifts), then looked up where each
        // pixel really sampled.
        let gridWidth = width + 2 * margin
        let ideal = BlockRaster.labels(
            width: gridWidth, height: height + 2 * margin,
            block: frame.pixelX <= ImageFormation.surveyPixel ? 16 : 8
        ) { column, row in
            let p = frame.stage(column: Double(column - margin), row: Double(row - margin))
            return UInt8(sample.region(atX: p.x, y: p.y).rawValue)
        }
        var regions = [UInt8](repeating: 0, count: width * height)
        for row in 0..<height {
            for column in 0..<width {
                let shift = shifts[row * width + column]
                // margin exceeds every shift, so the sums are positive and truncating x + 0.5 rounds.
                let x = min(Int(Double(column + margin) + shift.u + 0.5), gridWidth - 1)
                let y = min(Int(Double(row + margin) + shift.v + 0.5), height + 2 * margin - 1)
                regions[row * width + column] = ideal[y * gridWidth + x]
            }
        }
        // A feature at ideal pixel p appears where the beam met it: p minus that pixel's shift.
        func apparent(_ x: Double, _ y: Double) -> (x: Double, y: Double)? {
            let p = frame.pixel(x: x, y: y)
            let column = min(max(Int(p.column.rounded()), 0), width - 1)
            let row = min(max(Int(p.row.rounded()), 0), height - 1)
            let shift = shifts[row * width + column]
            let q = (x: p.column - shift.u, y: p.row - shift.v)
            guard q.x >= -0.5, q.x <= Double(width) - 0.5, q.y >= -0.5, q.y <= Double(height) - 0.5 else { return nil }
            return q
        }
        var columns: [GroundTruth.Column] = []
        var defects: [GroundTruth.Defect] = []
        // Atom positions matter only at atomic resolution; a survey frame would list millions.
        do {
            for column in contents.columns where column.kind != .carbon {
                if let p = apparent(column.x, column.y) {
                    columns.append(GroundTruth.Column(x: p.x, y: p.y, kind: column.kind))
                }
            }
            for defect in contents.defects {
                if let p = apparent(defect.x, defect.y) {
                    defects.append(GroundTruth.Defect(x: p.x, y: p.y, kind: defect.kind))
                }
            }
        }
        return GroundTruth(
            pixelSize: frame.pixelX * 10, columns: columns, defects: defects, regions: regions, width: width,
            height: height)
    }
}
