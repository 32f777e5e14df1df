import WireProtocol

/// How much of the session the instrument spent scanning: the union of the scans' intervals from
/// the driver's ACK (it starts a queued scan when the one before ends) to their DONE, against the
/// time from the first scan sent to the last one done.
struct BeamTime {
    private var start: Double?
    private var end: Double?
    /// Seconds scanning.
    private(set) var scanning = 0.0

    /// Seconds from the first scan sent to the last one done.
    var span: Double { (end ?? 0) - (start ?? 0) }

    /// A scan acknowledged at `ackedAt` and done at `doneAt` (Unix seconds), sent at `sentAt`.
    mutating func add(from ackedAt: Double, to doneAt: Double, sentAt: Double) {
        start = min(start ?? sentAt, sentAt)
        let from = max(ackedAt, end ?? ackedAt)
        if doneAt > from { scanning += doneAt - from }
        end = max(end ?? doneAt, doneAt)
    }
}

extension CommandAction {
    /// Whether the action scans the beam over the sample.
    var scans: Bool {
        switch self {
        case .scanRegion, .acquireReference: true
        default: false
        }
    }
}
