public import Transport
public import WireProtocol

/// Frame ingest: receives every event of the feed and hands it to `record` (the log writer: every
/// frame and every refusal is logged), and keeps the newest `capacity` frames for analysis.
///
/// The stated policy when analysis falls behind: analysis always gets the newest frames; when a
/// frame arrives and `capacity` frames already wait, the oldest waiting one leaves the analysis
/// queue (it stays in the log) and is counted as skipped. Memory is bounded by `capacity` frames
/// whatever the feed's rate.
public actor FrameIngest {
    /// What ingest has seen.
    public struct Counts: Sendable, Hashable {
        /// Frames received.
        public var received = 0
        /// Messages refused (malformed, NaN pixels, ...).
        public var rejected = 0
        /// Frames missing in sequence gaps.
        public var missing: UInt64 = 0
        /// Frames received twice.
        public var duplicates = 0
        /// Frames dropped from the analysis queue because analysis fell behind.
        public var skipped = 0
        /// Frames handed to analysis.
        public var analysed = 0
        /// Most frames ever waiting at once.
        public var mostWaiting = 0
    }

    private let subscriber: FeedSubscriber
    /// Frames kept for analysis at most.
    public let capacity: Int
    private var waitingFrames: [Frame] = []
    private var reader: CheckedContinuation<Frame?, Never>?
    private var finished = false
    private var gaps: [UInt64] = []
    /// What has been seen so far.
    public private(set) var counts = Counts()

    /// Ingest from `subscriber`, keeping at most `capacity` frames for analysis.
    public init(subscriber: FeedSubscriber, capacity: Int = 2) {
        precondition(capacity >= 1, "analysis needs room for one frame")
        self.subscriber = subscriber
        self.capacity = capacity
    }

    /// Receives until the task is cancelled (then drains what has already arrived) or the feed
    /// closes, passing every event to `record` before the frame is offered to analysis.
    public func run(record: @Sendable (FeedEvent) async -> Void) async {
        while true {
            // Once cancelled, drain what the socket already holds (so that no frame that reached
            // the daemon goes unlogged), then stop at the first quiet moment.
            let draining = Task.isCancelled
            let event: FeedEvent
            do {
                event = try await subscriber.next(timeout: .milliseconds(draining ? 100 : 200))
            } catch let error where error.code == .timedOut {
                if draining { break }
                continue
            } catch {
                break
            }
            await record(event)
            switch event {
            case .rejected:
                counts.rejected += 1
            case .frame(let frame, let observation):
                counts.received += 1
                switch observation {
                case .gap(let missing):
                    counts.missing += UInt64(missing.count)
                    gaps.append(contentsOf: missing)
                case .duplicate:
                    counts.duplicates += 1
                    continue  // already analysed or waiting
                default: break
                }
                offer(frame)
            }
        }
        finish()
    }

    /// Seqs found missing since the last call (to ask the driver for again).
    public func takeMissing() -> [UInt64] {
        defer { gaps.removeAll() }
        return gaps
    }

    /// Offers a frame that arrived another way (re-sent over the command channel) to analysis.
    public func deliver(_ frame: Frame) {
        counts.received += 1
        offer(frame)
    }

    /// The next frame for analysis, newest first in the stated sense; nil once ingest has stopped
    /// and nothing waits. One analysis task calls this.
    public func next() async -> Frame? {
        precondition(reader == nil, "one analysis task reads from ingest")
        if !waitingFrames.isEmpty {
            counts.analysed += 1
            return waitingFrames.removeFirst()
        }
        if finished { return nil }
        return await withCheckedContinuation { reader = $0 }
    }

    private func offer(_ frame: Frame) {
        if let waiting = reader {
            reader = nil
            counts.analysed += 1
            waiting.resume(returning: frame)
            return
        }
        waitingFrames.append(frame)
        if waitingFrames.count > capacity {
            waitingFrames.removeFirst()
            counts.skipped += 1
        }
        counts.mostWaiting = max(counts.mostWaiting, waitingFrames.count)
    }

    private func finish() {
        finished = true
        reader?.resume(returning: nil)
        reader = nil
    }
}
