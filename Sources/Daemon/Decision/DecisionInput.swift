import DaemonAnalysis
import Transport
import WireProtocol

/// What reaches the decision stage: everything the stages before it learned, in the order they
/// learned it. The decision stage reads nothing else.
enum DecisionInput: Sendable {
    /// Stop now (a signal, or the service group shutting down).
    case stop
    /// A frame was received and logged (ingest logs each frame once).
    case frameLogged(FrameArrival)
    /// A frame was refused (malformed, NaN pixels): `key` when its header could be read.
    case frameRefused(key: FrameKey?, resent: Bool, reason: String)
    /// The feed skipped `missing` seqs of driver session `session`.
    case gap(session: String, missing: ClosedRange<UInt64>)
    /// A frame's analysis.
    case analysed(FrameAnalysis)
    /// A frame analysis could not analyse at all.
    case analysisFailed(FrameKey, reason: String)
    /// A frame left the analysis queue unanalysed, because newer frames arrived while analysis was
    /// busy (it stays in the log).
    case analysisSkipped(FrameKey)
    /// The driver acknowledged a command.
    case commandAcknowledged(CommandID)
    /// A command the decision stage sent ended (or got no answer).
    case commandFinished(CommandExecution)
    /// A retraining ended.
    case retrainingFinished(RetrainingReport)
}

/// A frame that was received and logged.
struct FrameArrival: Sendable {
    /// Which frame.
    var key: FrameKey
    /// Its header.
    var header: FrameHeader
    /// When it arrived.
    var receivedAt: ContinuousClock.Instant
    /// Whether it came in answer to `resend_frames`.
    var resent: Bool
}
