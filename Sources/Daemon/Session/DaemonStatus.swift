import Foundation

/// A snapshot of a running session, for the live status line and the end-of-session summary.
public struct DaemonStatus: Sendable {
    /// Where the daemon is in its life.
    public enum Phase: String, Sendable {
        /// Opening the log and the model, connecting.
        case starting
        /// Saying HELLO to the driver.
        case introducing
        /// Running the session.
        case running
        /// Waiting, the beam blanked, after the instrument kept failing (the policy file's
        /// `give_up: {then: pause}`); the session goes on when the pause is over.
        case paused
        /// The session ended (or never began).
        case ended
    }

    /// A status before anything happened.
    public init() {}

    /// Where the daemon is in its life.
    public var phase = Phase.starting
    /// The session id in the log.
    public var session: String?
    /// Frames received and logged (each once, whether it came on the feed or was re-sent).
    public var framesReceived = 0
    /// Copies of frames already received (duplicates on the feed, re-sent copies of frames that
    /// arrived after all), not logged again.
    public var duplicates = 0
    /// Frames lost for good (asked for again; the driver no longer had them, or their copy was
    /// refused too).
    public var lost = 0
    /// Frames analysed.
    public var framesAnalysed = 0
    /// Frames skipped by analysis (still logged).
    public var framesSkipped = 0
    /// Most frames ever waiting for analysis at once.
    public var mostWaiting = 0
    /// Inputs refused.
    public var rejected = 0
    /// Frames missing on the feed.
    public var missing: UInt64 = 0
    /// Frames recovered with `resend_frames`.
    public var recovered = 0
    /// Decisions logged.
    public var decisions = 0
    /// Commands sent.
    public var commands = 0
    /// Commands that ended other than DONE.
    public var commandsFailed = 0
    /// Actions refused by the envelope.
    public var refusals = 0
    /// Times the external policy failed (raised, hung, died, answered garbage).
    public var policyFailures = 0
    /// Defects detected.
    public var defects = 0
    /// Communities seen.
    public var communities = 0
    /// Newest drift velocity, nm/s.
    public var drift: (vx: Double, vy: Double)?
    /// Retrainings that swapped in a better model.
    public var retrains = 0
    /// Retrainings started.
    public var retrainingsStarted = 0
    /// Driver restarts survived.
    public var driverRestarts = 0
    /// Milliseconds from a frame's receipt to the command its analysis led to being sent (the
    /// newest ``latencyWindow``).
    public var latencies: [Double] = []
    /// Per-stage milliseconds of the decisions that followed a frame (the newest ``latencyWindow``).
    public var stageLatencies: [String: [Double]] = [:]
    /// Latencies kept: a day-long session must not grow the status without bound.
    public static let latencyWindow = 10_000
    /// Log writes that failed (each also reported on stderr); 0 in a healthy session.
    public var logWriteFailures = 0
    /// Area covered, nm².
    public var area = 0.0
    /// Electrons delivered.
    public var electrons = 0.0
    /// Seconds the instrument spent scanning (from each scan's ACK, or the end of the scan before
    /// it, to its DONE).
    public var scanningSeconds = 0.0
    /// Seconds from the first scan sent to the last one done.
    public var scanningSpan = 0.0
    /// The fraction of the scanning span the beam was scanning (nil before a scan is done).
    public var dutyCycle: Double? { scanningSpan > 0 ? min(1, scanningSeconds / scanningSpan) : nil }
    /// How the session ended, in words (nil while it runs).
    public var ending: String?
    /// The session's status in the log when it ended: `finished`, `stopped` or `failed`.
    public var endStatus: String?

    /// Adds one decision's latencies, keeping the newest ``latencyWindow``.
    mutating func addLatency(total: Double, stages: [String: Double]) {
        func append(_ value: Double, to values: inout [Double]) {
            values.append(value)
            if values.count > Self.latencyWindow { values.removeFirst(values.count - Self.latencyWindow) }
        }
        append(total, to: &latencies)
        for (stage, value) in stages { append(value, to: &stageLatencies[stage, default: []]) }
    }

    /// The p-th percentile (0 ... 100) of `values`, nil when empty.
    public static func percentile(_ values: [Double], _ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))]
    }

    /// One line: frames, decisions, defects, drift, latency.
    public var line: String {
        let p50 = Self.percentile(latencies, 50).map { String(format: "%.0f ms", $0) } ?? "-"
        let driftText = drift.map { String(format: "%.3f,%.3f nm/s", $0.vx, $0.vy) } ?? "-"
        return "frames \(framesReceived) (analysed \(framesAnalysed), skipped \(framesSkipped), refused \(rejected))"
            + " · decisions \(decisions) · commands \(commands) · defects \(defects) · communities \(communities)"
            + " · drift \(driftText) · latency p50 \(p50)"
    }
}
