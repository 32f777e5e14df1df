extension Duration {
    /// The duration in whole milliseconds, truncated: the unit of `deadline_ms`, `heartbeat_ms`
    /// and `watchdog_ms` on the wire.
    public var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
