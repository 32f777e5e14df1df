import Testing
import WireProtocol

@Suite("Sequence tracking")
struct SequenceTrackerTests {
    @Test("in-order frames, a gap, late arrivals, duplicates and a driver restart")
    func lifecycle() {
        var tracker = SequenceTracker()
        #expect(tracker.observe(session: "a", seq: 5) == .first)
        #expect(tracker.observe(session: "a", seq: 6) == .next)
        #expect(tracker.observe(session: "a", seq: 10) == .gap(missing: 7...9))
        #expect(tracker.missing == [7, 8, 9])
        #expect(tracker.observe(session: "a", seq: 8) == .recovered)
        #expect(tracker.observe(session: "a", seq: 8) == .duplicate)
        #expect(tracker.observe(session: "a", seq: 6) == .duplicate)
        #expect(tracker.missing == [7, 9])
        #expect(tracker.totalMissed == 3)
        tracker.giveUp(on: 7)
        #expect(tracker.missing == [9])
        #expect(tracker.observe(session: "b", seq: 0) == .newSession(previous: "a"))
        #expect(tracker.missing.isEmpty)
        #expect(tracker.observe(session: "b", seq: 1) == .next)
    }

    @Test("memory stays bounded when a huge gap opens")
    func bounded() {
        var tracker = SequenceTracker(maxMissing: 100)
        _ = tracker.observe(session: "a", seq: 0)
        #expect(tracker.observe(session: "a", seq: 1_000_001) == .gap(missing: 1...1_000_000))
        #expect(tracker.missing.count == 100)
        #expect(tracker.missing.first == 999_901)
        #expect(tracker.forgotten == 999_900)
        #expect(tracker.observe(session: "a", seq: 5) == .duplicate)
        #expect(tracker.observe(session: "a", seq: 999_950) == .recovered)
    }
}
