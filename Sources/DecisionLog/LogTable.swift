public import Foundation
import GRDB

/// Rows read back from the log for review: column names and values as text (nil for NULL), and
/// as SQLite stored them (for exports that keep numbers as numbers).
public struct LogTable: Sendable, Hashable {
    /// Column names, in query order.
    public var columns: [String]
    /// Rows, each with one value per column.
    public var rows: [[String?]]
    /// The same rows with their SQLite types.
    public var values: [[LogValue]] = []

    /// The values of column `name`.
    public func column(_ name: String) -> [String?] {
        guard let index = columns.firstIndex(of: name) else { return [] }
        return rows.map { $0[index] }
    }
}

extension DecisionLog {
    /// Sessions, newest first, with their frame, decision and command counts.
    public func sessions() throws(DecisionLogError) -> LogTable {
        try table(
            """
            SELECT s.id AS session, datetime(s.started_at, 'unixepoch') AS started,
                   datetime(s.ended_at, 'unixepoch') AS ended, s.status, s.policy,
                   (SELECT COUNT(*) FROM frames f WHERE f.session_id = s.id) AS frames,
                   (SELECT COUNT(*) FROM decisions d WHERE d.session_id = s.id) AS decisions,
                   (SELECT COUNT(*) FROM commands c WHERE c.session_id = s.id) AS commands
            FROM sessions s ORDER BY s.started_at DESC
            """, [])
    }

    /// One session's row.
    public func session(_ id: String) throws(DecisionLogError) -> LogTable {
        try table("SELECT * FROM sessions WHERE id = ?", [id])
    }

    /// Per-table counts and figures for one session.
    public func sessionFigures(_ id: String) throws(DecisionLogError) -> LogTable {
        try table(
            """
            SELECT
              (SELECT COUNT(*) FROM frames WHERE session_id = :s) AS frames,
              (SELECT COUNT(*) FROM frames WHERE session_id = :s AND analysed = 1) AS analysed,
              (SELECT COUNT(*) FROM lost_frames WHERE session_id = :s) AS lost_frames,
              (SELECT COUNT(*) FROM rejected_inputs WHERE session_id = :s) AS rejected_inputs,
              (SELECT COUNT(*) FROM detections JOIN frames f ON f.id = frame_id WHERE f.session_id = :s) AS detections,
              (SELECT COUNT(DISTINCT community) FROM communities JOIN frames f ON f.id = frame_id
                 WHERE f.session_id = :s) AS communities,
              (SELECT COUNT(*) FROM drift JOIN frames f ON f.id = frame_id WHERE f.session_id = :s) AS drift_measurements,
              (SELECT COUNT(*) FROM decisions WHERE session_id = :s) AS decisions,
              (SELECT COUNT(*) FROM commands WHERE session_id = :s) AS commands,
              (SELECT COUNT(*) FROM commands WHERE session_id = :s AND status = 'done') AS commands_done,
              (SELECT COUNT(*) FROM commands WHERE session_id = :s AND status NOT IN ('done', 'sent', 'acked'))
                 AS commands_failed,
              (SELECT COUNT(*) FROM decisions WHERE session_id = :s
                 AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.decision_id = decisions.id)) AS decisions_without_command,
              (SELECT COUNT(*) FROM retraining_events WHERE session_id = :s) AS retraining_events
            """, ["s": id])
    }

    /// One session's decisions in order, each with its command's fate.
    public func decisions(session id: String) throws(DecisionLogError) -> LogTable {
        try table(
            """
            SELECT d.id AS decision, strftime('%H:%M:%f', d.made_at, 'unixepoch') AS time,
                   json_extract(d.chosen, '$.action') AS action, d.reason, d.input_frames,
                   c.id AS command, c.status AS command_status, c.error AS command_error,
                   ROUND((c.finished_at - c.sent_at) * 1000, 1) AS command_ms, d.latency
            FROM decisions d LEFT JOIN commands c ON c.decision_id = d.id
            WHERE d.session_id = ? ORDER BY d.id
            """, [id])
    }

    /// Every row of `table` that belongs to the session (for export).
    public func export(session id: String, table name: String) throws(DecisionLogError) -> LogTable {
        let frameTables = ["detections", "communities", "drift", "condition_scores"]
        if frameTables.contains(name) {
            return try table(
                "SELECT t.* FROM \(name) t JOIN frames f ON f.id = t.frame_id WHERE f.session_id = ? ORDER BY t.frame_id",
                [id])
        }
        guard Self.tables.contains(name), name != "models" else {
            throw DecisionLogError(.read, path: path, problem: "no session table \(name)")
        }
        let columns = name == "frames" ? Self.frameColumns : "*"
        let key = name == "sessions" ? "id" : "session_id"
        return try table("SELECT \(columns) FROM \(name) WHERE \(key) = ?", [id])
    }

    /// Frame columns without the pixel and thumbnail blobs.
    static let frameColumns =
        "id, session_id, driver_session, seq, command_id, received_at, width, height, pixel_size_angstrom, scan, "
        + "channels, purpose, analysed, model, stage_x_nm, stage_y_nm, optics, probe_current_pa, dose_e_per_A2, "
        + "electrons, chip_grid, pixels_files, source"

    /// A frame's thumbnail (PNG), if the log kept one.
    public func thumbnail(frame id: Int64) throws(DecisionLogError) -> Data? {
        try readOnly { db in try Data.fetchOne(db, sql: "SELECT thumbnail FROM frames WHERE id = ?", arguments: [id]) }
    }

    /// A frame's pixels as one blob (every channel's raw little-endian pixels), in logs written
    /// before schema v7; nil when the log did not keep them there.
    public func pixels(frame id: Int64) throws(DecisionLogError) -> Data? {
        try readOnly { db in try Data.fetchOne(db, sql: "SELECT pixels FROM frames WHERE id = ?", arguments: [id]) }
    }

    /// Runs a read-only query with positional `?` arguments (for review tools and tests).
    public func query(_ sql: String, arguments: [String] = []) throws(DecisionLogError) -> LogTable {
        try table(sql, StatementArguments(arguments))
    }

    /// ``query(_:arguments:)`` for async callers: the read runs on GRDB's reader queue, never
    /// on the caller's thread (the live view reads while a session writes).
    public func fetch(_ sql: String, arguments: [String] = []) async throws(DecisionLogError) -> LogTable {
        try await readSuspending { db in try Self.rows(db, sql, StatementArguments(arguments)) }
    }

    /// ``thumbnail(frame:)`` for async callers.
    public func fetchThumbnail(frame id: Int64) async throws(DecisionLogError) -> Data? {
        try await readSuspending { db in
            try Data.fetchOne(db, sql: "SELECT thumbnail FROM frames WHERE id = ?", arguments: [id])
        }
    }

    func table(_ sql: String, _ arguments: StatementArguments) throws(DecisionLogError) -> LogTable {
        try readOnly { db in try Self.rows(db, sql, arguments) }
    }

    private static func rows(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> LogTable {
        let statement = try db.makeStatement(sql: sql)
        let columns = statement.columnNames
        let values = try Row.fetchAll(statement, arguments: arguments).map { row in
            columns.indices.map { index -> LogValue in
                let value: DatabaseValue = row[index]
                switch value.storage {
                case .null: return .null
                case .int64(let v): return .integer(v)
                case .double(let v): return .real(v)
                case .string(let v): return .text(v)
                case .blob(let v): return .blob(v.count)
                }
            }
        }
        return LogTable(columns: columns, rows: values.map { $0.map(\.text) }, values: values)
    }
}

/// One value as SQLite stored it.
public enum LogValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    /// A blob, by its size (pixels and thumbnails are not copied into reviews).
    case blob(Int)

    /// As review tables show it: nil for NULL.
    public var text: String? {
        switch self {
        case .null: nil
        case .integer(let v): String(v)
        case .real(let v): String(v)
        case .text(let v): v
        case .blob(let count): "<\(count) bytes>"
        }
    }
}
