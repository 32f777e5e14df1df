import DecisionLog
import DefectDetection
import Foundation
import Logging
import PolicyKit
import Transport
import WireProtocol

/// The decision-log writer of one session: every feed event, analysis, decision and command goes
/// through it, in the order the daemon produces them. It remembers which log row holds which
/// frame, and keeps the newest analysis for the policy runner.
///
/// A failed write of a frame or an analysis is reported and counted but does not stop the
/// session; a failed write of a decision throws, because its command must then not be sent.
actor SessionRecorder {
    /// The log.
    let log: DecisionLog
    /// The session's id.
    let session: String
    private let logger: Logger
    private let storePixels: Bool
    private var frameRows: [FrameKey: Int64] = [:]
    private var receivedAt: [FrameKey: ContinuousClock.Instant] = [:]
    private var framesOfCommand: [CommandID: Int] = [:]
    private var arrival: [FrameKey: Int] = [:]
    private var lastArrivalOfCommand: [CommandID: Int] = [:]
    private var latestArrival = -1
    private var analysisOfCommand: [CommandID: FrameAnalysis] = [:]
    /// The newest analysis.
    private(set) var latest: FrameAnalysis?
    /// Log writes that failed.
    private(set) var failedWrites = 0

    /// A writer for `session` in `log`.
    init(log: DecisionLog, session: String, logger: Logger, storePixels: Bool = false) {
        self.log = log
        self.session = session
        self.logger = logger
        self.storePixels = storePixels
    }

    /// Logs a feed event: a frame's metadata (and thumbnail), or a refused message with its error.
    func record(_ event: FeedEvent) async {
        switch event {
        case .rejected(let error, _, _):
            logger.warning("refused a message on the feed", metadata: ["error": "\(error)"])
            await write("refused input") {
                try await self.log.recordRejected(session: self.session, source: "feed", error: "\(error)")
            }
        case .frame(let frame, let observation):
            if case .duplicate = observation { return }
            await record(frame, resent: false)
        }
    }

    /// Logs a frame (received on the feed or re-sent over the command channel).
    func record(_ frame: Frame, resent: Bool) async {
        let header = frame.header
        let key = FrameKey(header)
        guard frameRows[key] == nil else { return }
        receivedAt[key] = .now
        arrival[key] = arrival.count
        if let command = header.commandID {
            framesOfCommand[command, default: 0] += 1
            lastArrivalOfCommand[command] = arrival[key]
        }
        let scan = (try? JSONEncoder.sorted.encode(header.scan)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var purpose = header.purpose?.rawValue
        if resent { purpose = (purpose.map { $0 + "," } ?? "") + "resent" }
        let record = FrameRecord(
            sessionID: session, seq: header.seq, driverSession: header.session,
            commandID: header.commandID?.description,
            width: header.scan.width, height: header.scan.height,
            pixelSize: header.scan.fovX / Double(header.scan.width) * 10, scan: scan, channels: header.channels,
            purpose: purpose, pixels: storePixels ? Thumbnail.rawPixels(frame) : nil,
            thumbnail: Thumbnail.png(frame))
        await write("frame \(header.seq)") {
            let row = try await self.log.recordFrame(record)
            self.remember(key, row)
        }
    }

    private func remember(_ key: FrameKey, _ row: Int64) { frameRows[key] = row }

    /// The log row of a frame, if it was logged.
    func frameRow(_ key: FrameKey) -> Int64? { frameRows[key] }

    /// When a frame was received.
    func received(_ key: FrameKey) -> ContinuousClock.Instant? { receivedAt[key] }

    /// Frames logged that command `id` produced.
    func frames(of id: CommandID) -> Int { framesOfCommand[id] ?? 0 }

    /// Logs an analysis and makes it the newest.
    func record(_ analysis: FrameAnalysis) async {
        latest = analysis
        latestArrival = max(latestArrival, arrival[analysis.key] ?? -1)
        if let command = analysis.commandID {
            analysisOfCommand[command] = analysis
            if analysisOfCommand.count > 64 { analysisOfCommand.removeAll() }
        }
        guard let row = frameRows[analysis.key] else {
            logger.error("analysed frame \(analysis.frame.seq) has no log row; its analysis is not logged")
            failedWrites += 1
            return
        }
        let drift = analysis.drift.map { d in
            AnalysisRecord.Drift(
                referenceFrame: frameRows[d.reference] ?? row, dx: d.dxPixels, dy: d.dyPixels, peak: d.peak, vx: d.vx,
                vy: d.vy)
        }
        let condition = analysis.condition.map { reading in
            (
                reading.score,
                (try? JSONEncoder.sorted.encode(ConditionRecord(reading))).map { String(decoding: $0, as: UTF8.self) }
                    ?? "{}"
            )
        }
        let record = AnalysisRecord(
            frame: row, detections: analysis.detections, communities: analysis.chipCommunities, drift: drift,
            condition: condition, model: analysis.modelID)
        await write("analysis of frame \(analysis.frame.seq)") { try await self.log.recordAnalysis(record) }
    }

    /// Waits until a frame command `id` produced has been analysed, or (when analysis skipped its
    /// frames for newer ones) a frame received after them; nil after `timeout`.
    func analysis(of id: CommandID, timeout: Duration) async -> FrameAnalysis? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let found = analysisOfCommand[id] { return found }
            if let last = lastArrivalOfCommand[id], latestArrival > last, let latest {
                // Its frames were logged, and analysis has moved past them: use the newest.
                return latest
            }
            if ContinuousClock.now >= deadline || Task.isCancelled { return nil }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Commits a decision; throws when it could not be committed (its command must not be sent).
    func commit(_ decision: DecisionRecord) async throws(DecisionLogError) -> Int64 {
        try await log.recordDecision(decision)
    }

    /// Logs that a command is being sent; throws when it could not (the command must not be sent).
    func commandSent(_ command: Command, decision: Int64) async throws(DecisionLogError) {
        try await log.recordCommandSent(
            id: command.id.description, decision: decision, session: session, action: command.action.name)
    }

    /// Logs a command's outcome.
    func commandFinished(
        _ id: CommandID, status: String, readback: String?, error: String?, at time: Date
    )
        async
    {
        await write("outcome of command \(id)") {
            try await self.log.recordCommandOutcome(
                id: id.description, status: status, at: time, readback: readback, error: error)
        }
    }

    /// Logs the stages measured after a decision was committed.
    func updateLatency(decision: Int64, latency: String) async {
        await write("latency of decision \(decision)") {
            try await self.log.updateLatency(decision: decision, latency: latency)
        }
    }

    private func write(_ what: String, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            failedWrites += 1
            logger.error("could not log \(what)", metadata: ["error": "\(error)"])
        }
    }
}

/// A condition reading as the log keeps it.
private struct ConditionRecord: Encodable {
    let statistics: FrameStatistics
    let detectorConfidence: Double?
    let z: [Double]

    init(_ reading: ConditionMonitor.Reading) {
        statistics = reading.statistics
        detectorConfidence = reading.confidence
        z = reading.z
    }

    enum CodingKeys: String, CodingKey {
        case statistics, detectorConfidence = "detector_confidence", z
    }
}

extension JSONEncoder {
    /// An encoder with sorted keys, for stable JSON in the log.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
