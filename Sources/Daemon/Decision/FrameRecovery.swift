import WireProtocol

/// The decision stage's account of frames that did not arrive whole: which to ask the driver for
/// again, which it was asked for and promised, and which are lost for good. Each frame is asked for
/// at most once and recorded lost at most once.
struct FrameRecovery {
    /// A frame given up on, and why.
    struct Loss: Sendable, Hashable {
        var key: FrameKey
        var reason: String
    }

    /// Most frames of one gap asked for again; older ones in a longer gap are given up at once.
    static let mostAskedPerGap = 256

    private var arrived = RecentKeys(capacity: 200_000)
    private var asked: Set<FrameKey> = []
    private var lost: Set<FrameKey> = []
    private var wanted: [FrameKey] = []
    private var promised: [FrameKey: ContinuousClock.Instant] = [:]
    private var expected: [FrameKey: ContinuousClock.Instant] = [:]
    /// Losses not yet logged.
    private(set) var losses: [Loss] = []

    /// A frame arrived (on the feed or re-sent).
    mutating func arrived(_ key: FrameKey) {
        _ = arrived.insert(key)
        promised[key] = nil
        expected[key] = nil
        wanted.removeAll { $0 == key }
    }

    /// Whether `key` arrived (among the newest 200 000).
    func hasArrived(_ key: FrameKey) -> Bool { arrived.contains(key) }

    /// Whether `key` was given up on.
    func isLost(_ key: FrameKey) -> Bool { lost.contains(key) }

    /// Frames the feed skipped.
    mutating func gap(session: String, missing: ClosedRange<UInt64>) {
        let count = UInt64(missing.count)
        let first =
            count > UInt64(Self.mostAskedPerGap)
            ? missing.upperBound - UInt64(Self.mostAskedPerGap) + 1 : missing.lowerBound
        if first > missing.lowerBound {
            // Recorded as one loss, under the newest seq given up: a gap of millions is one fault.
            give(
                up: FrameKey(session: session, seq: first - 1),
                "one of \(first - missing.lowerBound) frames (\(missing.lowerBound)...\(first - 1)) lost in a gap too long to ask for again"
            )
        }
        for seq in first...missing.upperBound { want(FrameKey(session: session, seq: seq)) }
    }

    /// A frame was refused: a copy from the feed is asked for again; a re-sent copy is lost.
    mutating func refused(_ key: FrameKey, resent: Bool, reason: String) {
        if resent {
            give(up: key, "its re-sent copy was refused too: \(reason)")
        } else {
            want(key)
        }
    }

    /// Frames a command produced (its readback says so), due on the feed by `due`; those that
    /// have not arrived by then are asked for again.
    mutating func expect(_ keys: [FrameKey], by due: ContinuousClock.Instant) {
        for key in keys where !hasArrived(key) && !asked.contains(key) && !lost.contains(key) {
            expected[key] = due
        }
    }

    private mutating func want(_ key: FrameKey) {
        guard !hasArrived(key), !asked.contains(key), !lost.contains(key), !wanted.contains(key) else { return }
        wanted.append(key)
    }

    /// The frames to ask for now, as contiguous ranges of one driver session; they count as asked.
    mutating func takeWanted() -> [(session: String, range: ClosedRange<UInt64>)] {
        let keys = wanted.filter { !hasArrived($0) }.sorted { ($0.session, $0.seq) < ($1.session, $1.seq) }
        wanted.removeAll()
        var ranges: [(session: String, range: ClosedRange<UInt64>)] = []
        for key in keys {
            asked.insert(key)
            if let last = ranges.last, last.session == key.session, last.range.upperBound &+ 1 == key.seq,
                last.range.count < 10_000
            {
                ranges[ranges.count - 1].range = last.range.lowerBound...key.seq
            } else {
                ranges.append((key.session, key.seq...key.seq))
            }
        }
        return ranges
    }

    /// The driver's answer to a `resend_frames`: `sent` are on their way (due by `due`), `missing`
    /// it no longer has; `failure` when it did not do it at all.
    mutating func answered(
        session: String, range: ClosedRange<UInt64>, sent: [UInt64], missing: [UInt64], failure: String?,
        due: ContinuousClock.Instant
    ) {
        if let failure {
            for seq in range {
                give(up: FrameKey(session: session, seq: seq), "the driver did not re-send it: \(failure)")
            }
            return
        }
        for seq in missing {
            give(up: FrameKey(session: session, seq: seq), "the driver no longer has it (resend_frames: missing)")
        }
        for seq in sent where !hasArrived(FrameKey(session: session, seq: seq)) {
            promised[FrameKey(session: session, seq: seq)] = due
        }
        // Seqs the driver named neither sent nor missing: it did not say; they are not coming.
        let named = Set(sent).union(missing)
        for seq in range where !named.contains(seq) {
            let key = FrameKey(session: session, seq: seq)
            if !hasArrived(key) { give(up: key, "the driver's answer to resend_frames did not name it") }
        }
    }

    /// Frames of an earlier driver session can no longer be asked for (the driver restarted).
    mutating func driverRestarted(current: String) {
        for key in wanted where key.session != current {
            give(up: key, "the driver restarted; frames of its earlier session cannot be asked for again")
        }
        wanted.removeAll { $0.session != current }
    }

    /// Expected frames past their due time are asked for; promised ones are lost.
    mutating func expire(now: ContinuousClock.Instant) {
        for (key, due) in expected where due <= now {
            expected[key] = nil
            want(key)
        }
        for (key, due) in promised where due <= now {
            give(up: key, "the driver re-sent it, but it did not arrive")
        }
    }

    /// The earliest due time of an expected or promised frame.
    var nextDue: ContinuousClock.Instant? { [expected.values.min(), promised.values.min()].compactMap { $0 }.min() }

    /// Whether frames wait to be asked for.
    var hasWanted: Bool { !wanted.isEmpty }

    /// Frames commands produced that have not arrived yet.
    var due: Int { expected.count }

    /// Whether any frame is still due, promised or waiting to be asked for.
    var isBusy: Bool { !wanted.isEmpty || !expected.isEmpty || !promised.isEmpty }

    /// Gives up on every frame still due, promised or wanted (the session ends).
    mutating func giveUpAll(_ reason: String) {
        for key in Array(expected.keys) + Array(promised.keys) + wanted { give(up: key, reason) }
        wanted.removeAll()
    }

    /// Takes the losses not yet logged.
    mutating func takeLosses() -> [Loss] {
        defer { losses.removeAll() }
        return losses
    }

    private mutating func give(up key: FrameKey, _ reason: String) {
        promised[key] = nil
        expected[key] = nil
        guard !hasArrived(key), lost.insert(key).inserted else { return }
        losses.append(Loss(key: key, reason: reason))
        if lost.count > 100_000 { lost.removeAll() }
    }
}
