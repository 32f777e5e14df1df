import DecisionLog
import Foundation
import Logging
import Synchronization

/// Follows the session in the decision log as the daemon writes it: new regions and detections
/// for the map, the newest analysed frame with its detections and communities, the newest
/// decisions. It reads through its own read-only connection on GRDB's reader queue (WAL: the
/// daemon's writes never wait for it) and only what is new since its last look.
final class LogFollower: Sendable {
    private let path: String
    private let live: LiveSession
    private let logger: Logger
    private let reader = Mutex<DecisionLog?>(nil)
    private let position = Mutex(Position())

    /// How far the follower has read.
    private struct Position {
        var session: String?
        var lastFrame: Int64 = 0
        var lastDetection: Int64 = 0
        var shownFrame: Int64 = 0
        var shownAnalysed = false
    }

    init(path: String, live: LiveSession, logger: Logger) {
        self.path = path
        self.live = live
        self.logger = logger
    }

    /// Reads what is new once.
    func look() async {
        guard let session = live.snapshot.status?.session, let log = openLog() else { return }
        var at = position.withLock { $0 }
        if at.session != session {
            at = Position(session: session)
            live.update { state in
                state.regions = []
                state.marks = []
                state.regionsDropped = 0
                state.marksDropped = 0
                state.frame = nil
                state.decisions = []
            }
        }
        do {
            let regions = try await newRegions(log, session: session, after: &at.lastFrame)
            let marks = try await newMarks(log, session: session, after: &at.lastDetection)
            let frame = try await newestFrame(log, session: session, shown: at)
            let decisions = try await newestDecisions(log, session: session)
            if let frame {
                at.shownFrame = frame.id
                at.shownAnalysed = frame.analysed
            }
            let current = live.snapshot
            if !regions.isEmpty || !marks.isEmpty || frame != nil || decisions != current.decisions {
                live.update { state in
                    state.regions += regions
                    state.marks += marks
                    if let frame { state.frame = frame }
                    state.decisions = decisions
                }
            }
            position.withLock { $0 = at }
        } catch {
            logger.debug("the live view could not read the log", metadata: ["error": "\(error)"])
        }
    }

    /// The PNG thumbnail of `frame`, if the log kept one.
    func thumbnail(_ frame: Int64) async -> Data? {
        guard let log = openLog() else { return nil }
        return try? await log.fetchThumbnail(frame: frame)
    }

    private func openLog() -> DecisionLog? {
        if let log = reader.withLock({ $0 }) { return log }
        guard let log = try? DecisionLog(readingFrom: path) else { return nil }
        reader.withLock { $0 = log }
        return log
    }

    private func newRegions(
        _ log: DecisionLog, session: String, after last: inout Int64
    ) async throws
        -> [LiveSession.Region]
    {
        let table = try await log.fetch(
            """
            SELECT id, seq, json_extract(scan, '$.center_x_nm'), json_extract(scan, '$.center_y_nm'),
                   json_extract(scan, '$.fov_x_nm'),
                   COALESCE(json_extract(scan, '$.fov_y_nm'), json_extract(scan, '$.fov_x_nm')), dose_e_per_A2
            FROM frames WHERE session_id = ? AND id > ? ORDER BY id LIMIT 5000
            """, arguments: [session, String(last)])
        var regions: [LiveSession.Region] = []
        for r in table.rows {
            guard let id = r[0].flatMap({ Int64($0) }) else { continue }
            last = max(last, id)
            guard let x = r[2].flatMap(Double.init), let y = r[3].flatMap(Double.init),
                let fovX = r[4].flatMap(Double.init), let fovY = r[5].flatMap(Double.init)
            else { continue }
            regions.append(
                .init(
                    frame: id, seq: r[1].flatMap { Int($0) } ?? 0, x: x, y: y, fovX: fovX, fovY: fovY,
                    dose: r[6].flatMap(Double.init)))
        }
        return regions
    }

    private func newMarks(
        _ log: DecisionLog, session: String, after last: inout Int64
    ) async throws
        -> [LiveSession.Mark]
    {
        let table = try await log.fetch(
            """
            SELECT d.rowid, d.stage_x_nm, d.stage_y_nm, d.type FROM detections d JOIN frames f ON f.id = d.frame_id
            WHERE f.session_id = ? AND d.rowid > ? ORDER BY d.rowid LIMIT 20000
            """, arguments: [session, String(last)])
        var marks: [LiveSession.Mark] = []
        for r in table.rows {
            guard let id = r[0].flatMap({ Int64($0) }) else { continue }
            last = max(last, id)
            guard let x = r[1].flatMap(Double.init), let y = r[2].flatMap(Double.init) else { continue }
            marks.append(.init(x: x, y: y, type: r[3] ?? ""))
        }
        return marks
    }

    /// The newest analysed frame (else the newest received), when it is not the one shown.
    private func newestFrame(_ log: DecisionLog, session: String, shown: Position) async throws -> LiveSession.Frame? {
        let columns = """
            SELECT id, seq, width, height, json_extract(scan, '$.fov_x_nm'), dose_e_per_A2, model, analysed,
                   json_extract(chip_grid, '$.origin_x_px'), json_extract(chip_grid, '$.origin_y_px'),
                   json_extract(chip_grid, '$.chip_px'), json_extract(chip_grid, '$.stride_px'),
                   json_extract(chip_grid, '$.columns')
            FROM frames WHERE session_id = ?
            """
        var rows = try await log.fetch(columns + " AND analysed = 1 ORDER BY id DESC LIMIT 1", arguments: [session])
            .rows
        if rows.isEmpty { rows = try await log.fetch(columns + " ORDER BY id DESC LIMIT 1", arguments: [session]).rows }
        guard let r = rows.first, let id = r[0].flatMap({ Int64($0) }) else { return nil }
        let analysed = r[7] == "1"
        guard id != shown.shownFrame || analysed != shown.shownAnalysed else { return nil }
        var frame = LiveSession.Frame(
            id: id, seq: r[1].flatMap { Int($0) } ?? 0, width: r[2].flatMap { Int($0) } ?? 0,
            height: r[3].flatMap { Int($0) } ?? 0, fov: r[4].flatMap(Double.init) ?? 0, dose: r[5].flatMap(Double.init),
            model: r[6], analysed: analysed)
        if let originX = r[8].flatMap(Double.init), let originY = r[9].flatMap(Double.init),
            let chip = r[10].flatMap(Double.init), let stride = r[11].flatMap(Double.init),
            let columns = r[12].flatMap({ Int($0) }), columns > 0
        {
            frame.grid = .init(originX: originX, originY: originY, chip: chip, stride: stride, columns: columns)
        }
        guard analysed else { return frame }
        frame.detections = try await log.fetch(
            "SELECT x, y, type FROM detections WHERE frame_id = ?", arguments: [String(id)]
        ).rows.compactMap { r in
            guard let x = r[0].flatMap(Double.init), let y = r[1].flatMap(Double.init) else { return nil }
            return .init(column: x, row: y, type: r[2] ?? "")
        }
        frame.communities = try await log.fetch(
            "SELECT chip, community FROM communities WHERE frame_id = ? ORDER BY chip", arguments: [String(id)]
        ).rows.compactMap { r in
            r[0].flatMap { Int($0) }.flatMap { chip in r[1].flatMap { Int($0) }.map { [chip, $0] } }
        }
        return frame
    }

    private func newestDecisions(_ log: DecisionLog, session: String) async throws -> [LiveSession.Decision] {
        try await log.fetch(
            """
            SELECT d.id, d.made_at, json_extract(d.chosen, '$.action'), json_extract(d.chosen, '$.summary'), d.reason,
                   json_extract(d.chosen, '$.refused') IS NOT NULL, c.status, c.error
            FROM decisions d LEFT JOIN commands c ON c.decision_id = d.id WHERE d.session_id = ?
            ORDER BY d.id DESC LIMIT 12
            """, arguments: [session]
        ).rows.map { r in
            LiveSession.Decision(
                id: r[0].flatMap { Int64($0) } ?? 0, time: r[1].flatMap(Double.init) ?? 0, action: r[2] ?? "",
                summary: r[3] ?? "", reason: r[4] ?? "", refused: r[5] == "1", status: r[6], error: r[7])
        }
    }
}
