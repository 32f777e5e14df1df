public import WireProtocol

/// What a policy asks the microscope to do next.
public enum PolicyAction: Sendable, Hashable {
    /// Scan a region (stage coordinates, nm) and analyse the frame.
    case scan(ScanGeometry)
    /// Move the stage to (x, y), nm.
    case moveStage(x: Double, y: Double)
    /// Acquire `count` reference frames of `region` for condition estimation.
    case acquireReference(ScanGeometry, count: Int)
    /// Ask the daemon to refit the realism model and retrain the detector.
    case requestRetraining
    /// Blank the beam.
    case blank
    /// Unblank the beam.
    case unblank
    /// End the session: the daemon blanks the beam and closes the log.
    case endSession

    /// A short name for logs and tables: `scan`, `move_stage`, ...
    public var name: String {
        switch self {
        case .scan: "scan"
        case .moveStage: "move_stage"
        case .acquireReference: "acquire_reference"
        case .requestRetraining: "request_retraining"
        case .blank: "blank"
        case .unblank: "unblank"
        case .endSession: "end_session"
        }
    }

    /// Where the action points the beam or the stage, nm; nil for actions without a place.
    public var target: (x: Double, y: Double)? {
        switch self {
        case .scan(let region), .acquireReference(let region, _): (region.centerX, region.centerY)
        case .moveStage(let x, let y): (x, y)
        default: nil
        }
    }

    /// A one-line description with the numbers that matter.
    public var summary: String {
        func place(_ g: ScanGeometry) -> String {
            "(\(g.centerX.formatted1), \(g.centerY.formatted1)) nm, fov \(g.fovX.formatted1) nm, "
                + "\(g.width)x\(g.height) px, \(g.dwell.formatted1) µs"
        }
        switch self {
        case .scan(let g): return "scan \(place(g))"
        case .moveStage(let x, let y): return "move stage to (\(x.formatted1), \(y.formatted1)) nm"
        case .acquireReference(let g, let count): return "acquire \(count) reference frames \(place(g))"
        default: return name.replacingUnderscores
        }
    }
}

extension Double {
    /// One decimal at most; whatever the value (a huge or non-finite number from a peer prints as
    /// such, it never traps).
    var formatted1: String {
        guard isFinite, abs(self) < 1e15 else { return "\(self)" }
        let scaled = (self * 10).rounded() / 10
        return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
    }
}

extension String {
    fileprivate var replacingUnderscores: String { split(separator: "_").joined(separator: " ") }
}
