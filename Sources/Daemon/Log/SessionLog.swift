import DaemonAnalysis
import DecisionLog
import DefectDetection
import Foundation
import Logging
import PolicyKit
import Transport
import WireProtocol

/// The session's decision-log writer: the sink every stage writes to and nothing reads back.
/// Frames, refusals, analyses, decisions, commands, lost frames, retraining events and the
/// session's end go in, in the order each stage produces them.
///
/// It alone knows which log row holds which frame: the stages name frames by ``FrameKey``.
/// A failed write of a frame or an analysis is reported and counted and the session goes on;
/// a failed write of a decision or of a command being sent throws, because the command must then
/// not be sent.
actor SessionLog {
    /// The log.
    let log: DecisionLog
    /// The session's id.
    let session: String
    private let logger: Logger
    /// Where every frame's pixels are kept, when the session keeps them.
    private let frameStore: FrameStore?
    /// The probe current a frame's dose is reckoned with when its header has none, pA.
    private let assumedCurrent: Double
    private var frameRows: [FrameKey: Int64] = [:]
    private var rowOrder: [FrameKey] = []
    /// Frame rows remembered for decisions and drift references; older frames are named by
    /// their seq only.
    static let rememberedFrames = 100_000
    /// Log writes that failed.
    private(set) var failedWrites = 0

    /// A writer for `session` in `log`.
    init(
        log: DecisionLog, session: String, logger: Logger, frameStore: FrameStore? = nil, assumedCurrent: Double = 30
    ) {
        self.assumedCurrent = assumedCurrent
        self.log = log
        self.session = session
        self.logger = logger
        self.frameStore = frameStore
    }

    // MARK: - Ingest

    /// Logs a frame received on the feed or re-sent over the command channel (ingest logs each
    /// frame once).
    func record(_ received: ReceivedFrame) async {
        let header = received.frame.header
        let scan = Self.json(header.scan)
        var purpose = header.purpose?.rawValue
        if received.resent { purpose = (purpose.map { $0 + "," } ?? "") + "resent" }
        let reported = header.optics?.probeCurrent.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        let current = reported ?? assumedCurrent
        let dose = Dose.perArea(of: header.scan, current: current)
        var files: String?
        if let frameStore {
            do {
                files = Self.json(try await frameStore.write(received.frame, pixelSize: header.scan.pixelSizeX * 10))
            } catch {
                failed("the pixels of frame \(received.key)", error)
            }
        }
        let record = FrameRecord(
            sessionID: session, seq: header.seq, driverSession: header.session,
            commandID: header.commandID?.description, width: header.scan.width, height: header.scan.height,
            pixelSize: header.scan.pixelSizeX * 10, scan: scan, channels: header.channels, purpose: purpose,
            thumbnail: Thumbnail.png(received.frame),
            stageX: header.stage.x, stageY: header.stage.y, optics: header.optics.map { Self.json($0) },
            probeCurrent: current, dose: dose, electrons: dose * header.scan.fovX * header.scan.fovY * 100,
            pixelsFiles: files, source: header.source)
        do {
            let row = try await log.recordFrame(record)
            remember(received.key, row)
        } catch {
            failed("frame \(received.key)", error)
        }
    }

    /// Logs a message that was refused, from `source` (`feed`, `command_channel`, `analysis`). The
    /// words are bounded (``keptCharacters``): a peer's content is never copied whole.
    func refused(source: String, error: String, detail: String? = nil) async {
        let error = Self.bounded(error)
        let detail = detail.map(Self.bounded)
        await write("refused input") {
            try await self.log.recordRejected(session: self.session, source: source, error: error, detail: detail)
        }
    }

    /// The most characters of a peer's words the log keeps in one field.
    static let keptCharacters = 2000

    /// `text`, cut to ``keptCharacters`` with a marker saying how long it was.
    static func bounded(_ text: String) -> String {
        let count = text.utf8.count
        guard count > keptCharacters else { return text }
        return String(text.prefix(keptCharacters)) + "… [cut: \(count) bytes in all]"
    }

    private func remember(_ key: FrameKey, _ row: Int64) {
        frameRows[key] = row
        rowOrder.append(key)
        if rowOrder.count > Self.rememberedFrames {
            let old = rowOrder.prefix(rowOrder.count - Self.rememberedFrames / 2)
            for key in old { frameRows[key] = nil }
            rowOrder.removeFirst(old.count)
        }
    }

    // MARK: - Analysis

    /// Logs what analysis found in a frame, in one transaction.
    func record(_ analysis: FrameAnalysis) async {
        guard let row = frameRows[analysis.key] else {
            failed(
                "the analysis of frame \(analysis.key)",
                DaemonError(.log, "the frame has no log row (its own write failed)"))
            return
        }
        let drift = analysis.drift.map { d in
            AnalysisRecord.Drift(
                referenceFrame: frameRows[d.reference] ?? row, dx: d.dxPixels, dy: d.dyPixels, peak: d.peak, vx: d.vx,
                vy: d.vy)
        }
        let condition = analysis.condition.map { ($0.score, Self.json(ConditionRecord($0))) }
        var record = AnalysisRecord(
            frame: row,
            detections: analysis.detections.map {
                AnalysisRecord.Detection(
                    x: $0.column, y: $0.row, type: $0.kind, confidence: $0.confidence, stageX: $0.stageX,
                    stageY: $0.stageY)
            },
            communities: analysis.chips?.ids ?? [], drift: drift, condition: condition, model: analysis.modelID)
        if let chips = analysis.chips {
            record.chipCentres = chips.chips.map { StagePoint(x: $0.x, y: $0.y) }
            record.chipGrid = Self.json(ChipGridRecord(chips.grid))
        }
        await write("analysis of frame \(analysis.key)") { try await self.log.recordAnalysis(record) }
    }

    /// Logs a frame lost for good, with why.
    func lost(_ key: FrameKey, command: CommandID?, reason: String) async {
        await write("lost frame \(key)") {
            try await self.log.recordLostFrame(
                session: self.session, driverSession: key.session, seq: key.seq, commandID: command?.description,
                reason: reason)
        }
    }

    // MARK: - Decisions and commands

    /// Commits a decision; throws when it could not be committed (its command must not be sent).
    func commit(_ draft: DecisionDraft) async throws(DecisionLogError) -> Int64 {
        let inputs = draft.inputs.compactMap { frameRows[$0] }
        let record = DecisionRecord(
            sessionID: session, inputFrames: Self.json(inputs), candidates: draft.candidates,
            chosen: Self.json(draft.chosen), reason: draft.reason, policy: draft.policy.name,
            policyVersion: draft.policy.version, policyParameters: draft.policy.parameters,
            modelVersion: draft.model, latency: Self.json(draft.latency), observation: draft.observation)
        return try await log.recordDecision(record)
    }

    /// Logs that a command is being sent; throws when it could not (the command must not be sent).
    func commandSent(_ command: Command, decision: Int64) async throws(DecisionLogError) {
        try await log.recordCommandSent(
            id: command.id.description, decision: decision, session: session, action: command.action.name)
    }

    /// Logs a command's outcome.
    func commandFinished(
        _ id: CommandID, status: String, at time: Date, ackedAt: Date?, readback: Readback? = nil,
        error: String? = nil
    ) async {
        await write("outcome of command \(id)") {
            try await self.log.recordCommandOutcome(
                id: id.description, status: status, at: time, ackedAt: ackedAt,
                readback: readback.map { Self.json($0) }, error: error)
        }
    }

    /// Records the policy's own name, version and parameters on the session (an external policy's,
    /// once its process has said them).
    func policy(_ maker: DecisionDraft.Maker) async {
        await write("the session's policy") {
            try await self.log.updateSessionPolicy(
                self.session, policy: maker.name, version: maker.version, parameters: maker.parameters)
        }
    }

    /// Logs the stages measured after a decision was committed.
    func latency(of decision: Int64, _ milliseconds: [String: Double]) async {
        await write("latency of decision \(decision)") {
            try await self.log.updateLatency(decision: decision, latency: Self.json(milliseconds))
        }
    }

    // MARK: - Models and retraining

    /// Records a detector model the session uses.
    func model(id: String, path: String, metadata: String) async throws(DecisionLogError) {
        try await log.recordModel(id: id, path: path, metadata: metadata)
    }

    /// Records that a retraining started; its event id.
    func retrainingStarted(reason: String, modelBefore: String) async throws(DecisionLogError) -> Int64 {
        try await log.beginRetraining(session: session, reason: reason, modelBefore: modelBefore)
    }

    /// Records how a retraining ended.
    func retrainingFinished(
        _ event: Int64, status: String, estimate: String?, modelAfter: String?, metrics: String?
    ) async {
        await write("the end of retraining \(event)") {
            try await self.log.finishRetraining(
                event, status: status, estimate: estimate, modelAfter: modelAfter, metrics: metrics)
        }
    }

    // MARK: - The end

    /// Closes the session with its status and why.
    func end(status: String, reason: String) async {
        await write("the end of the session") {
            try await self.log.endSession(self.session, status: status, reason: reason)
        }
    }

    private func write(_ what: String, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            failed(what, error)
        }
    }

    private func failed(_ what: String, _ error: any Error) {
        failedWrites += 1
        logger.error(
            "could not log \(what); check the disk holding \(log.path) and its permissions",
            metadata: ["error": "\(error)"])
    }

    static func json<T: Encodable>(_ value: T) -> String {
        (try? JSONEncoder.sorted.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

/// A decision as a stage hands it to the log: frames by key, the chosen action and latency as
/// values; the log writes them as JSON.
struct DecisionDraft: Sendable {
    /// Who decided: a policy, or the daemon itself.
    struct Maker: Sendable {
        var name: String
        var version: String
        var parameters: String
        /// The daemon's own decisions: asking for lost frames, unblanking, blanking at the end.
        static let daemon = Maker(name: "scopepilot-daemon", version: "1", parameters: "{}")

        init(name: String, version: String, parameters: String) {
            self.name = name
            self.version = version
            self.parameters = parameters
        }

        /// A built-in policy: its name, version and parameters.
        init(_ policy: any ScanPolicy) {
            self.init(choice: .builtIn(policy))
        }

        /// What a policy file names (an external policy: until its process says more).
        init(choice: PolicyChoice) {
            let parameters =
                choice.external.map { String(decoding: $0.parametersJSON, as: UTF8.self) }
                ?? (try? JSONEncoder.sorted.encode(choice.parameters)).map { String(decoding: $0, as: UTF8.self) }
            self.init(name: choice.name, version: choice.version, parameters: parameters ?? "{}")
        }
    }

    var inputs: [FrameKey]
    /// Candidates with scores, JSON.
    var candidates: String = "[]"
    var chosen: [String: String]
    var reason: String
    var policy: Maker
    var model: String?
    var latency: [String: Double] = [:]
    /// What the policy was shown, for the log's `observations` table (policy decisions only).
    var observation: ObservationRecord?
}

/// A frame's chip grid as the log keeps it: where each chip's pixels are.
private struct ChipGridRecord: Encodable {
    let originX: Int
    let originY: Int
    let chip: Int
    let stride: Int
    let columns: Int
    let rows: Int

    init(_ grid: ChipCommunities.Grid) {
        originX = grid.originX
        originY = grid.originY
        chip = grid.chipSize
        stride = grid.stride
        columns = grid.columns
        rows = grid.rows
    }

    enum CodingKeys: String, CodingKey {
        case originX = "origin_x_px", originY = "origin_y_px", chip = "chip_px", stride = "stride_px", columns, rows
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
