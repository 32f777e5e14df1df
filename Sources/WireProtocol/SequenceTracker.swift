/// Follows the `seq` numbers of a frame feed and says, for each frame, whether anything was lost.
///
/// A driver numbers its frames 0, 1, 2, ... within a session and starts again at 0 with a new
/// session id after a restart. The tracker remembers up to `maxMissing` lost seq numbers, so that
/// the receiver can ask for them again and recognise them when they arrive.
public struct SequenceTracker: Sendable {
    /// What one frame's seq says.
    public enum Observation: Sendable, Hashable {
        /// The first frame seen from this session.
        case first
        /// The next frame in order.
        case next
        /// Frames were skipped: `missing` never arrived (yet).
        case gap(missing: ClosedRange<UInt64>)
        /// A frame that had been missing arrived late (re-sent, or out of order).
        case recovered
        /// A frame seen before.
        case duplicate
        /// The driver's session changed (it restarted); tracking starts over with this frame.
        case newSession(previous: String)
    }

    /// The session being tracked.
    public private(set) var session: String?
    /// The newest seq seen.
    public private(set) var newest: UInt64?
    /// Seq numbers skipped and not yet recovered, oldest first (at most `maxMissing`).
    public var missing: [UInt64] { missingSet.sorted() }
    /// How many seq numbers were ever reported missing in this session.
    public private(set) var totalMissed: UInt64 = 0
    /// How many lost frames were given up on because more than `maxMissing` were outstanding.
    public private(set) var forgotten: UInt64 = 0

    private var missingSet: Set<UInt64> = []
    private let maxMissing: Int

    /// Creates a tracker that remembers at most `maxMissing` outstanding lost frames.
    public init(maxMissing: Int = 4096) {
        self.maxMissing = maxMissing
    }

    /// Records a frame and classifies it.
    public mutating func observe(session: String, seq: UInt64) -> Observation {
        guard let current = self.session, let newest else {
            start(session, seq)
            return .first
        }
        guard current == session else {
            start(session, seq)
            return .newSession(previous: current)
        }
        if seq == newest &+ 1 {
            self.newest = seq
            return .next
        }
        if seq > newest {
            let range = (newest + 1)...(seq - 1)
            totalMissed += UInt64(range.count)
            // Remember only the newest maxMissing of them.
            let keepFrom = max(range.lowerBound, seq - 1 - UInt64(min(range.count, maxMissing)) + 1)
            for missed in keepFrom...range.upperBound { missingSet.insert(missed) }
            forgotten += keepFrom - range.lowerBound
            trim()
            self.newest = seq
            return .gap(missing: range)
        }
        return missingSet.remove(seq) != nil ? .recovered : .duplicate
    }

    /// Stops waiting for `seq` (e.g. the driver no longer has it).
    public mutating func giveUp(on seq: UInt64) {
        if missingSet.remove(seq) != nil { forgotten += 1 }
    }

    private mutating func start(_ session: String, _ seq: UInt64) {
        self.session = session
        newest = seq
        missingSet.removeAll()
    }

    private mutating func trim() {
        guard missingSet.count > maxMissing else { return }
        let excess = missingSet.sorted().prefix(missingSet.count - maxMissing)
        for seq in excess { missingSet.remove(seq) }
        forgotten += UInt64(excess.count)
    }
}
