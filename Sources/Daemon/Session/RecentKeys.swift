import WireProtocol

/// The newest keys seen, at most `capacity` of them.
struct RecentKeys {
    private var keys: Set<FrameKey> = []
    private var order: [FrameKey] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Whether `key` is among them.
    func contains(_ key: FrameKey) -> Bool { keys.contains(key) }

    /// Adds `key`; false when it was already there.
    mutating func insert(_ key: FrameKey) -> Bool {
        guard keys.insert(key).inserted else { return false }
        order.append(key)
        if order.count - head > capacity {
            keys.remove(order[head])
            head += 1
            if head > capacity {
                order.removeFirst(head)
                head = 0
            }
        }
        return true
    }
}
