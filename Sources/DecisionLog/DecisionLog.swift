public import Foundation
import GRDB

/// A problem with the decision log, with what to do about it.
public struct DecisionLogError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case open, write, read, unsentCommand = "unsent_command" }
        private let kind: Kind

        /// The log cannot be opened or brought up to date.
        public static let open = Code(kind: .open)
        /// A write failed (disk full, permissions, a lock held by another program).
        public static let write = Code(kind: .write)
        /// A read failed or asked for something the log does not have.
        public static let read = Code(kind: .read)
        /// An outcome for a command the log has not recorded as sent.
        public static let unsentCommand = Code(kind: .unsentCommand)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code

    /// The database file.
    public let path: String
    /// What went wrong.
    public let problem: String

    /// An error of kind `code`.
    public init(_ code: Code, path: String, problem: String) {
        self.code = code
        self.path = path
        self.problem = problem
    }

    /// `path: problem`.
    public var description: String { "\(path): \(problem)" }
}

/// The SQLite decision log of a deployment: one file, WAL, every write a committed transaction
/// before the call returns. The schema makes the central promise checkable: a command row must
/// name an existing decision (foreign keys are on), so a command cannot be recorded, and therefore
/// not sent, before the decision it carries out.
///
/// Safe to share between tasks: GRDB's pool serialises writes on its own writer thread and runs
/// reads concurrently, off the cooperative thread pool.
public final class DecisionLog: Sendable {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the log at `path` and brings its schema up to date.
    public init(path: String) throws(DecisionLogError) {
        self.path = path
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // WAL with synchronous=NORMAL: a commit survives a crash of the process; only a power
            // failure can lose the last transactions.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Schema.migrator.migrate(pool)
        } catch {
            throw DecisionLogError(.open, path: path, problem: "cannot open the decision log: \(error)")
        }
    }

    /// Opens the log at `path` to read while another process or task writes it (the live view):
    /// nothing is created or migrated, and a write through it fails. The file must exist.
    public init(readingFrom path: String) throws(DecisionLogError) {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = true
        // A reader waits briefly for a checkpoint instead of failing at once.
        configuration.busyMode = .timeout(2)
        guard FileManager.default.fileExists(atPath: path) else {
            throw DecisionLogError(.open, path: path, problem: "there is no decision log at \(path) yet")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw DecisionLogError(.open, path: path, problem: "cannot open the decision log to read: \(error)")
        }
    }

    /// Migrations applied, oldest first.
    public func appliedMigrations() throws(DecisionLogError) -> [String] {
        try read { db in try Schema.migrator.appliedMigrations(db) }
    }

    /// Starts a session and returns its id.
    @discardableResult
    public func beginSession(_ session: SessionRecord) async throws(DecisionLogError) -> String {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO sessions (id, started_at, policy, policy_version, policy_parameters, model, instrument,
                                          replays)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    session.id, session.startedAt.timeIntervalSince1970, session.policy, session.policyVersion,
                    session.policyParameters, session.model, session.instrument, session.replays,
                ])
        }
        return session.id
    }

    /// Records the policy a session runs as its process described itself (an external policy says
    /// its name, version and parameters only once it has started).
    public func updateSessionPolicy(
        _ id: String, policy: String, version: String, parameters: String
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE sessions SET policy = ?, policy_version = ?, policy_parameters = ? WHERE id = ?",
                arguments: [policy, version, parameters, id])
        }
    }

    /// Ends a session with a status ("finished", "stopped" or "failed") and why, in words.
    public func endSession(
        _ id: String, status: String, reason: String? = nil, at time: Date = Date()
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE sessions SET ended_at = ?, status = ?, end_reason = ? WHERE id = ?",
                arguments: [time.timeIntervalSince1970, status, reason, id])
        }
    }

    /// Records a frame lost for good, once: later records of the same frame are ignored.
    public func recordLostFrame(
        session: String, driverSession: String, seq: UInt64, commandID: String?, reason: String,
        at time: Date = Date()
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO lost_frames (session_id, driver_session, seq, command_id, recorded_at, reason)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    session, driverSession, Int64(bitPattern: seq), commandID, time.timeIntervalSince1970, reason,
                ])
        }
    }

    /// Records a received frame and returns its row id.
    @discardableResult
    public func recordFrame(_ frame: FrameRecord) async throws(DecisionLogError) -> Int64 {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO frames (session_id, driver_session, seq, command_id, received_at, width, height,
                                        pixel_size_angstrom, scan, channels, purpose, pixels, thumbnail,
                                        stage_x_nm, stage_y_nm, optics, probe_current_pa, dose_e_per_A2, electrons,
                                        pixels_files, source)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    frame.sessionID, frame.driverSession, Int64(bitPattern: frame.seq), frame.commandID,
                    frame.receivedAt.timeIntervalSince1970, frame.width,
                    frame.height, frame.pixelSize, frame.scan, frame.channels.joined(separator: ","), frame.purpose,
                    frame.pixels, frame.thumbnail, Self.finite(frame.stageX), Self.finite(frame.stageY), frame.optics,
                    Self.finite(frame.probeCurrent), Self.finite(frame.dose), Self.finite(frame.electrons),
                    frame.pixelsFiles, frame.source,
                ])
            return db.lastInsertedRowID
        }
    }

    /// Records a decision; when this returns, the decision is committed and its command may be sent.
    @discardableResult
    public func recordDecision(_ decision: DecisionRecord) async throws(DecisionLogError) -> Int64 {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO decisions (session_id, made_at, input_frames, candidates, chosen, reason, policy,
                                           policy_version, policy_parameters, model_version, latency)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    decision.sessionID, decision.madeAt.timeIntervalSince1970, decision.inputFrames,
                    decision.candidates, decision.chosen, decision.reason, decision.policy, decision.policyVersion,
                    decision.policyParameters, decision.modelVersion, decision.latency,
                ])
            let id = db.lastInsertedRowID
            if let observation = decision.observation {
                try db.execute(
                    sql: "INSERT INTO observations (decision_id, session_id, step, observation) VALUES (?, ?, ?, ?)",
                    arguments: [id, decision.sessionID, observation.step, observation.json])
            }
            return id
        }
    }

    /// Records that command `id`, carrying out decision `decision`, is being sent. Fails if the
    /// decision is not in the log.
    public func recordCommandSent(
        id: String, decision: Int64, session: String, action: String, at time: Date = Date()
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO commands (id, decision_id, session_id, action, sent_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, decision, session, action, time.timeIntervalSince1970])
        }
    }

    /// Records what became of command `id`: "done", "rejected", "failed", "timed_out" or
    /// "abandoned" (the session stopped before it ended), and when the driver acknowledged it.
    public func recordCommandOutcome(
        id: String, status: String, at time: Date = Date(), ackedAt: Date? = nil, readback: String? = nil,
        error: String? = nil
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE commands SET status = ?, finished_at = ?, acked_at = COALESCE(?, acked_at),
                                        readback = COALESCE(?, readback), error = COALESCE(?, error)
                    WHERE id = ?
                    """,
                arguments: [status, time.timeIntervalSince1970, ackedAt?.timeIntervalSince1970, readback, error, id])
            if db.changesCount == 0 {
                throw DecisionLogError(
                    .unsentCommand, path: self.path, problem: "no command \(id) was recorded as sent")
            }
        }
    }

    /// Records what analysis found in a frame and marks the frame analysed, in one transaction.
    public func recordAnalysis(_ analysis: AnalysisRecord) async throws(DecisionLogError) {
        try await write { db in
            for d in analysis.detections {
                try db.execute(
                    sql: """
                        INSERT INTO detections (frame_id, x, y, type, confidence, stage_x_nm, stage_y_nm)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        analysis.frame, d.x, d.y, d.type, d.confidence, Self.finite(d.stageX), Self.finite(d.stageY),
                    ])
            }
            for (chip, community) in analysis.communities.enumerated() {
                let centre = chip < analysis.chipCentres.count ? analysis.chipCentres[chip] : nil
                try db.execute(
                    sql: "INSERT INTO communities (frame_id, chip, community, x_nm, y_nm) VALUES (?, ?, ?, ?, ?)",
                    arguments: [analysis.frame, chip, community, Self.finite(centre?.x), Self.finite(centre?.y)])
            }
            if let grid = analysis.chipGrid {
                try db.execute(
                    sql: "UPDATE frames SET chip_grid = ? WHERE id = ?", arguments: [grid, analysis.frame])
            }
            if let drift = analysis.drift {
                try db.execute(
                    sql: """
                        INSERT INTO drift (frame_id, reference_frame_id, dx_px, dy_px, peak, vx_nm_per_s, vy_nm_per_s)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        analysis.frame, drift.referenceFrame, drift.dx, drift.dy, drift.peak, drift.vx, drift.vy,
                    ])
            }
            if let condition = analysis.condition {
                try db.execute(
                    sql: "INSERT INTO condition_scores (frame_id, score, statistics) VALUES (?, ?, ?)",
                    arguments: [analysis.frame, condition.score, condition.statistics])
            }
            try db.execute(
                sql: "UPDATE frames SET analysed = 1, model = ? WHERE id = ?",
                arguments: [analysis.model, analysis.frame])
        }
    }

    /// Adds the stages measured after the decision was committed (log commit, send) to its latency.
    public func updateLatency(decision: Int64, latency: String) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(sql: "UPDATE decisions SET latency = ? WHERE id = ?", arguments: [latency, decision])
        }
    }

    /// Records a detector model the session uses (once per id).
    public func recordModel(
        id: String, path: String, metadata: String, at time: Date = Date()
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO models (id, created_at, path, metadata) VALUES (?, ?, ?, ?)",
                arguments: [id, time.timeIntervalSince1970, path, metadata])
        }
    }

    /// Records that a retraining started, and returns its row id.
    public func beginRetraining(
        session: String, reason: String, modelBefore: String?, at time: Date = Date()
    )
        async throws(DecisionLogError) -> Int64
    {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO retraining_events (session_id, started_at, reason, model_before, status)
                    VALUES (?, ?, ?, ?, 'running')
                    """,
                arguments: [session, time.timeIntervalSince1970, reason, modelBefore])
            return db.lastInsertedRowID
        }
    }

    /// Records how retraining `id` ended: "swapped", "kept" (not better), "failed" or "cancelled".
    public func finishRetraining(
        _ id: Int64, status: String, estimate: String?, modelAfter: String?, metrics: String?, at time: Date = Date()
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE retraining_events SET finished_at = ?, status = ?, estimate = ?, model_after = ?, metrics = ?
                    WHERE id = ?
                    """,
                arguments: [time.timeIntervalSince1970, status, estimate, modelAfter, metrics, id])
        }
    }

    /// Records an input that was refused (a malformed message, a NaN frame), with its error.
    public func recordRejected(
        session: String?, source: String, error: String, detail: String? = nil, at time: Date = Date()
    ) async throws(DecisionLogError) {
        try await write { db in
            try db.execute(
                sql:
                    "INSERT INTO rejected_inputs (session_id, received_at, source, error, detail) VALUES (?, ?, ?, ?, ?)",
                arguments: [session, time.timeIntervalSince1970, source, error, detail])
        }
    }

    /// SQLite's own check of the file: true when `PRAGMA integrity_check` says "ok".
    public func integrityCheck() throws(DecisionLogError) -> Bool {
        try read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok" }
    }

    /// Rows in `table` (for summaries and tests).
    public func count(_ table: String) throws(DecisionLogError) -> Int {
        guard Self.tables.contains(table) else {
            throw DecisionLogError(
                .read, path: path, problem: "no table \(table); tables: \(Self.tables.joined(separator: ", "))")
        }
        return try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }

    /// The log's tables.
    public static let tables = [
        "sessions", "frames", "detections", "communities", "drift", "condition_scores", "decisions", "commands",
        "models", "retraining_events", "rejected_inputs", "lost_frames", "observations",
    ]

    // MARK: - Plumbing

    /// `value` when it is a finite number; SQLite has no NaN and a peer's header may carry one.
    static func finite(_ value: Double?) -> Double? { value.flatMap { $0.isFinite ? $0 : nil } }

    private func write<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(DecisionLogError)
        -> T
    {
        do {
            return try await pool.write(body)
        } catch let error as DecisionLogError {
            throw error
        } catch {
            throw DecisionLogError(.write, path: path, problem: "\(error)")
        }
    }

    func readOnly<T>(_ body: (Database) throws -> T) throws(DecisionLogError) -> T { try read(body) }

    /// Reads on GRDB's reader queue, suspending the caller instead of blocking its thread.
    func readSuspending<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(DecisionLogError)
        -> T
    {
        do {
            return try await pool.read(body)
        } catch let error as DecisionLogError {
            throw error
        } catch {
            throw DecisionLogError(.read, path: path, problem: "\(error)")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(DecisionLogError) -> T {
        do {
            return try pool.read(body)
        } catch let error as DecisionLogError {
            throw error
        } catch {
            throw DecisionLogError(.read, path: path, problem: "\(error)")
        }
    }
}
