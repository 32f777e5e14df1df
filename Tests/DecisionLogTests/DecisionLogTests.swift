import DecisionLog
import Foundation
import Testing

@Suite("Decision log")
struct DecisionLogTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-log-\(UUID().uuidString).sqlite").path
    }

    static func decision(_ session: String, reason: String = "largest unexplored area") -> DecisionRecord {
        DecisionRecord(
            sessionID: session, inputFrames: "[1]", candidates: #"[{"x":0,"y":0,"score":0.8}]"#,
            chosen: #"{"action":"scan_region","x":0,"y":0}"#, reason: reason, policy: "survey", policyVersion: "1",
            latency: #"{"policy":0.4}"#)
    }

    @Test("a new log has every table, its first migration, and passes SQLite's integrity check")
    func fresh() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try DecisionLog(path: path)
        #expect(try log.appliedMigrations() == ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"])
        for table in DecisionLog.tables { #expect(try log.count(table) == 0) }
        #expect(try log.integrityCheck())
        #expect(throws: DecisionLogError.self) { try log.count("nonsense") }
    }

    @Test("a decision, then its command, then the command's outcome; reopened, it is all there")
    func decisionThenCommand() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let log = try DecisionLog(path: path)
            let session = try await log.beginSession(SessionRecord(id: "s1", policy: "survey", policyVersion: "1"))
            try await log.recordFrame(
                FrameRecord(
                    sessionID: session, seq: 0, width: 64, height: 64, pixelSize: 0.2, scan: "{}", channels: ["HAADF"]))
            let decision = try await log.recordDecision(Self.decision(session))
            try await log.recordCommandSent(id: "c1", decision: decision, session: session, action: "{}")
            try await log.recordCommandOutcome(
                id: "c1", status: "done", ackedAt: Date(timeIntervalSince1970: 100), readback: #"{"x":0.1}"#)
            try await log.endSession(session, status: "finished", reason: "raster complete")
        }
        let reopened = try DecisionLog(path: path)
        #expect(try reopened.count("sessions") == 1)
        #expect(try reopened.count("frames") == 1)
        #expect(try reopened.count("decisions") == 1)
        #expect(try reopened.count("commands") == 1)
        #expect(try reopened.integrityCheck())
        let command = try reopened.query("SELECT status, acked_at FROM commands", arguments: [])
        #expect(command.rows.first == ["done", "100.0"])
        #expect(try reopened.query("SELECT end_reason FROM sessions", arguments: []).rows.first == ["raster complete"])
    }

    @Test("a lost frame is recorded once, however often it is reported")
    func lostFrames() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try DecisionLog(path: path)
        let session = try await log.beginSession(SessionRecord(id: "s1", policy: "survey", policyVersion: "1"))
        for _ in 0..<3 {
            try await log.recordLostFrame(
                session: session, driverSession: "drv-1", seq: 7, commandID: "d3", reason: "the driver no longer has it"
            )
        }
        try await log.recordLostFrame(
            session: session, driverSession: "drv-2", seq: 7, commandID: nil, reason: "another driver session")
        #expect(try log.count("lost_frames") == 2)
    }

    @Test("a command that names no recorded decision is refused, so it cannot be sent unaccounted for")
    func commandNeedsDecision() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try DecisionLog(path: path)
        let session = try await log.beginSession(SessionRecord(id: "s1", policy: "survey", policyVersion: "1"))
        await #expect(throws: DecisionLogError.self) {
            try await log.recordCommandSent(id: "c9", decision: 42, session: session, action: "{}")
        }
        await #expect(throws: DecisionLogError.self) {
            try await log.recordCommandOutcome(id: "never-sent", status: "done")
        }
        #expect(try log.count("commands") == 0)
    }

    @Test("a frame number seen twice in a session is refused; rejected inputs are kept with their error")
    func duplicatesAndRejections() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try DecisionLog(path: path)
        let session = try await log.beginSession(SessionRecord(id: "s1", policy: "survey", policyVersion: "1"))
        let frame = FrameRecord(
            sessionID: session, seq: 7, width: 8, height: 8, pixelSize: 0.2, scan: "{}", channels: ["HAADF"])
        try await log.recordFrame(frame)
        await #expect(throws: DecisionLogError.self) { try await log.recordFrame(frame) }
        try await log.recordRejected(session: session, source: "feed", error: "frame 8: 3 NaN pixels in HAADF")
        #expect(try log.count("rejected_inputs") == 1)
        #expect(try log.count("frames") == 1)
        // A restarted driver counts from 0 again under a new session: the same seq is another frame.
        var restarted = frame
        restarted.driverSession = "drv-after-restart"
        try await log.recordFrame(restarted)
        #expect(try log.count("frames") == 2)
    }

    @Test("an analysis goes in whole: detections, communities, drift and condition score, and the frame is marked")
    func analysis() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try DecisionLog(path: path)
        let session = try await log.beginSession(SessionRecord(id: "s1", policy: "survey", policyVersion: "1"))
        let first = try await log.recordFrame(
            FrameRecord(sessionID: session, seq: 1, width: 8, height: 8, pixelSize: 0.2, scan: "{}", channels: ["A"]))
        let second = try await log.recordFrame(
            FrameRecord(sessionID: session, seq: 2, width: 8, height: 8, pixelSize: 0.2, scan: "{}", channels: ["A"]))
        try await log.recordAnalysis(
            AnalysisRecord(
                frame: second, detections: [.init(x: 1, y: 2, type: "Se1", confidence: 0.9)],
                communities: [0, 0, 1, 1],
                drift: .init(referenceFrame: first, dx: 0.5, dy: -0.25, peak: 0.4, vx: 0.01, vy: nil),
                condition: (1.2, "{}")))
        let figures = try log.sessionFigures(session)
        #expect(figures.column("analysed") == ["1"])
        #expect(figures.column("detections") == ["1"])
        #expect(figures.column("communities") == ["2"])
        #expect(figures.column("drift_measurements") == ["1"])
        #expect(try log.count("condition_scores") == 1)
        // A drift that names a frame not in the log is refused, and nothing of that analysis is kept.
        await #expect(throws: DecisionLogError.self) {
            try await log.recordAnalysis(
                AnalysisRecord(
                    frame: first, detections: [.init(x: 1, y: 1, type: "Se1", confidence: 0.7)],
                    drift: .init(referenceFrame: 999, dx: 0, dy: 0, peak: 0, vx: nil, vy: nil)))
        }
        #expect(try log.count("detections") == 1)
    }

    @Test("a path that cannot hold a database gives an error that names it")
    func badPath() {
        #expect {
            try DecisionLog(path: "/nonexistent-folder/log.sqlite")
        } throws: { error in
            "\(error)".contains("/nonexistent-folder/log.sqlite")
        }
    }
}
