/// Counts refusals of identical messages, so that a peer repeating its mistake costs one log row
/// per ``window`` instead of one per message.
struct RefusalTally {
    /// What to do with a refusal.
    enum Verdict: Equatable {
        /// Write it; `repeats` says how many identical ones were counted since the last written.
        case write(repeats: String?)
        /// Count it only.
        case suppressed
    }

    private struct Entry {
        var written: ContinuousClock.Instant
        var suppressed = 0
        var source: String
        var error: String
    }

    /// How long identical refusals are counted before the next is written.
    static let window: Duration = .seconds(10)
    /// Distinct refusals remembered at once.
    static let remembered = 1000
    private var entries: [String: Entry] = [:]

    /// Notes a refusal of `error` from `source`.
    mutating func note(source: String, error: String, now: ContinuousClock.Instant = .now) -> Verdict {
        let key = source + "|" + String(error.prefix(500)) + "|\(error.utf8.count)"
        if var entry = entries[key] {
            if now - entry.written < Self.window {
                entry.suppressed += 1
                entries[key] = entry
                return .suppressed
            }
            let repeats = entry.suppressed > 0 ? Self.repeats(entry.suppressed) : nil
            entries[key] = Entry(written: now, source: source, error: entry.error)
            return .write(repeats: repeats)
        }
        if entries.count >= Self.remembered {
            // Forget the oldest written; its uncounted repeats are lost to the count only.
            if let oldest = entries.min(by: { $0.value.written < $1.value.written })?.key { entries[oldest] = nil }
        }
        entries[key] = Entry(written: now, source: source, error: String(error.prefix(SessionLog.keptCharacters)))
        return .write(repeats: nil)
    }

    /// The refusals counted but not yet written, as (source, error, how many).
    mutating func flush() -> [(source: String, error: String, repeats: String)] {
        defer { entries.removeAll() }
        return entries.values.filter { $0.suppressed > 0 }.map { ($0.source, $0.error, Self.repeats($0.suppressed)) }
    }

    private static func repeats(_ count: Int) -> String {
        "\(count) more identical refusal(s) counted, not written (at most one row per \(window))"
    }
}
