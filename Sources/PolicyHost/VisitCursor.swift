public import PolicyKit

/// Which of a session map's visits a receiver (a policy process, the decision log) does not have
/// yet: those after the ones it received, and those of them that changed since (a frame's
/// defects and communities come with its analysis, after its visit). Only the newest visits, whose
/// analysis may still come, are compared.
public struct VisitCursor: Sendable {
    private var received: [SessionMap.Visit] = []

    /// How many of the newest visits may still change: far more than frames awaiting analysis.
    public static let changingVisits = 256

    /// A cursor for a receiver that has no visits yet.
    public init() {}

    /// The index from which `visits` must be sent.
    public func start(of visits: [SessionMap.Visit]) -> Int {
        guard visits.count >= received.count else { return 0 }
        let count = received.count
        return (max(0, count - Self.changingVisits)..<count).first { visits[$0] != received[$0] } ?? count
    }

    /// Notes that the receiver now has `visits`.
    public mutating func received(_ visits: [SessionMap.Visit]) { received = visits }
}
