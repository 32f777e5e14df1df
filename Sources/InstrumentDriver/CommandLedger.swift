public import WireProtocol

/// Remembers the replies sent for recent command ids, so that a command that arrives again (a
/// retry after a lost reply) is answered with the same replies instead of being done twice.
public struct CommandLedger: Sendable {
    private var replies: [CommandID: [ControlMessage]] = [:]
    private var order: [CommandID] = []
    private let capacity: Int

    /// Creates a ledger that remembers the last `capacity` ids.
    public init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// Whether `id` has been seen.
    public func contains(_ id: CommandID) -> Bool { replies[id] != nil }

    /// The replies sent so far for `id`.
    public func replies(for id: CommandID) -> [ControlMessage] { replies[id] ?? [] }

    /// Starts remembering `id`.
    public mutating func open(_ id: CommandID) {
        guard replies[id] == nil else { return }
        replies[id] = []
        order.append(id)
        if order.count > capacity {
            replies[order.removeFirst()] = nil
        }
    }

    /// Records a reply sent for `id`.
    public mutating func record(_ message: ControlMessage, for id: CommandID) {
        if replies[id] == nil { open(id) }
        replies[id]?.append(message)
    }
}
