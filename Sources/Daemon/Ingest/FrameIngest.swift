import CoreMetrics
import DaemonAnalysis
import Foundation
import Logging
import Transport
import WireProtocol

/// Frame ingest: the session's two doors for frames, the feed and the frames the driver re-sends
/// over the command channel. Every frame is logged once, however often and in whatever order it
/// arrives; every refused message is logged with its error; then the frame goes to analysis and
/// the decision stage hears of it.
///
/// The stated policy when analysis falls behind: analysis always gets the newest frames; when a
/// frame arrives and `capacity` frames already wait, the oldest waiting one leaves the analysis
/// queue (it stays in the log) and is counted as skipped. Memory is bounded by `capacity` frames
/// whatever the feed's rate.
actor FrameIngest {
    private let subscriber: FeedSubscriber
    private let log: SessionLog
    private let analysis: AsyncStream<ReceivedFrame>.Continuation
    private let capacity: Int
    private let decisions: Mailbox<DecisionInput>
    private let board: StatusBoard
    private let metrics: DaemonMetrics
    private let logger: Logger
    private var admitted = RecentKeys(capacity: 200_000)
    private var trackers: [String: SequenceTracker] = [:]
    private var refusals = RefusalTally()
    private var sessionOrder: [String] = []
    /// Frames that came re-sent, none on the feed, since the feed last delivered anything.
    private var resentOnly = 0
    /// When the feed last delivered anything (a frame or a refused message).
    private var lastFeedEvent = ContinuousClock.now
    /// How long the feed must have been silent, while frames came re-sent, before it is connected
    /// again (longer than ZeroMQ's own reconnection takes, 5 s at most).
    private let silentFeedAfter: Duration
    /// Re-sent frames in a row, none on the feed, after which the feed is connected again.
    static let silentFeedLimit = 3

    /// Ingest from `subscriber` into `log`, offering frames to `analysis` (a stream buffering the
    /// newest `capacity`) and telling `decisions`.
    init(
        subscriber: FeedSubscriber, log: SessionLog, analysis: AsyncStream<ReceivedFrame>.Continuation, capacity: Int,
        decisions: Mailbox<DecisionInput>, board: StatusBoard, metrics: DaemonMetrics, logger: Logger,
        silentFeedAfter: Duration = .seconds(10)
    ) {
        self.logger = logger
        self.silentFeedAfter = silentFeedAfter
        self.subscriber = subscriber
        self.log = log
        self.analysis = analysis
        self.capacity = capacity
        self.decisions = decisions
        self.board = board
        self.metrics = metrics
    }

    /// Receives from the feed and from `resent` until `over` fires, then takes what the feed
    /// already holds (so that no frame that reached the daemon goes unlogged) and ends analysis's
    /// input.
    func run(resent: AsyncStream<ResentDelivery>, until over: StopSignal) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.readFeed(until: over) }
            group.addTask {
                _ = try? await over.unlessFired {
                    for await delivery in resent { await self.admit(delivery) }
                }
            }
        }
        await flushRefusals()
        analysis.finish()
    }

    private func readFeed(until over: StopSignal) async {
        while true {
            let draining = over.isFired
            let events: [FeedEvent]
            do {
                events = try await subscriber.nextBatch(limit: 16, timeout: .milliseconds(draining ? 100 : 200))
            } catch let error where error.code == .timedOut {
                if draining { return }
                continue
            } catch {
                return
            }
            for event in events { await admit(event) }
        }
    }

    private func admit(_ event: FeedEvent) async {
        resentOnly = 0
        lastFeedEvent = .now
        switch event {
        case .rejected(let error, let session, let seq):
            let key = session.flatMap { session in seq.map { FrameKey(session: session, seq: $0) } }
            if let key { track(key) }
            await refuse(source: "feed", error: "\(error)", key: key, resent: false)
        case .frame(let frame, _):
            await admit(ReceivedFrame(frame, receivedAt: .now, resent: false))
        }
    }

    /// Follows the seqs of every driver session seen, whichever door a frame came by: a seq beyond
    /// the newest means the ones between are missing.
    private func track(_ key: FrameKey) {
        let first = trackers[key.session] == nil
        var tracker = trackers[key.session] ?? SequenceTracker()
        if first {
            sessionOrder.append(key.session)
            if sessionOrder.count > 8 { trackers[sessionOrder.removeFirst()] = nil }
        }
        let observation = tracker.observe(session: key.session, seq: key.seq)
        trackers[key.session] = tracker
        var missing: ClosedRange<UInt64>?
        switch observation {
        case .gap(let range): missing = range
        case .first where sessionOrder.count > 1 && key.seq > 0:
            // The driver restarted under this session and published before the feed reconnected:
            // the new session's first frames are missing.
            missing = 0...(key.seq - 1)
        default: break
        }
        guard let missing else { return }
        board.update { $0.missing += UInt64(missing.count) }
        decisions.send(.gap(session: key.session, missing: missing))
    }

    private func admit(_ delivery: ResentDelivery) async {
        switch delivery {
        case .frame(let frame, _):
            await admit(ReceivedFrame(frame, receivedAt: .now, resent: true))
            resentOnly += 1
            if resentOnly >= Self.silentFeedLimit, ContinuousClock.now - lastFeedEvent >= silentFeedAfter {
                await reconnectFeed()
            }
        case .refused(let error, let command, let key):
            if let key { track(key) }
            await refuse(
                source: "command_channel", error: "\(error)", key: key, resent: true,
                detail: "a frame re-sent in answer to \(command)")
        }
    }

    /// Frames come only re-sent: the feed may be gone for good (ZeroMQ does not reconnect a
    /// connection it dropped for a protocol error, such as a part over the size limit).
    private func reconnectFeed() async {
        let resentOnlyBefore = resentOnly
        resentOnly = 0
        let message =
            "the last \(resentOnlyBefore) frames came only re-sent, nothing on the feed for "
            + "\(Int((ContinuousClock.now - lastFeedEvent).milliseconds / 1000)) s: connecting to the feed again"
        logger.warning("\(message)")
        do {
            try await subscriber.reconnect()
        } catch {
            logger.error("could not connect to the feed again: \(error)")
        }
    }

    private func admit(_ received: ReceivedFrame) async {
        let key = received.key
        track(key)
        guard admitted.insert(key) else {
            board.update { $0.duplicates += 1 }
            return
        }
        await log.record(received)
        metrics.frames.increment()
        board.update {
            $0.framesReceived += 1
            if received.resent { $0.recovered += 1 }
        }
        decisions.send(
            .frameLogged(
                FrameArrival(
                    key: key, header: received.frame.header, receivedAt: received.receivedAt, resent: received.resent)
            ))
        switch analysis.yield(received) {
        case .dropped(let older):
            metrics.skipped.increment()
            board.update { $0.framesSkipped += 1 }
            decisions.send(.analysisSkipped(older.key))
        case .enqueued(let remaining):
            let waiting = capacity - remaining
            board.update { $0.mostWaiting = max($0.mostWaiting, waiting) }
        case .terminated:
            decisions.send(.analysisSkipped(key))
        @unknown default:
            break
        }
    }

    private func refuse(source: String, error: String, key: FrameKey?, resent: Bool, detail: String? = nil) async {
        metrics.rejected.increment()
        board.update { $0.rejected += 1 }
        decisions.send(.frameRefused(key: key, resent: resent, reason: SessionLog.bounded(error)))
        // The same refusal again and again (a peer that repeats its mistake) is counted, and
        // written once per ``RefusalTally/window``, not once per message.
        switch refusals.note(source: source, error: error) {
        case .suppressed:
            return
        case .write(let repeats):
            let bounded = SessionLog.bounded(error)
            logger.warning("refused a message (\(source))", metadata: ["error": "\(bounded)"])
            var detail = detail ?? key.map { "frame \($0)" }
            if let repeats { detail = (detail.map { $0 + "; " } ?? "") + repeats }
            await log.refused(source: source, error: error, detail: detail)
        }
    }

    /// Writes the counts of refusals not yet written (the session ends).
    private func flushRefusals() async {
        for (source, error, repeats) in refusals.flush() {
            await log.refused(source: source, error: error, detail: repeats)
        }
    }
}
