import DecisionLog
import Foundation

/// One session as the report draws it, read from the decision log in a handful of queries.
struct SessionRecordings {
    struct Frame {
        var id: Int64
        var seq: Int
        var time: Double
        var x: Double
        var y: Double
        var fovX: Double
        var fovY: Double
        var width: Int
        var height: Int
        var dose: Double?
        var electrons: Double?
        var purpose: String?
        var model: String?
        var chipSide: Double?
        var thumbnail: Data?
    }

    struct Detection {
        var frame: Int64
        var column: Double
        var row: Double
        var x: Double?
        var y: Double?
        var type: String
    }

    struct Chip {
        var frame: Int64
        var community: Int
        var x: Double
        var y: Double
    }

    struct Decision {
        var id: Int64
        var time: Double
        var policy: String
        var action: String
        var summary: String
        var reason: String
        var refused: Bool
        var candidates: Int
        var command: String?
        var status: String?
        var error: String?
        var latency: [String: Double]
        /// The first few candidates: what, and its score.
        var topCandidates: [(summary: String, score: String)] = []
    }

    struct Series {
        var time: Double
        var value: Double
    }

    struct Retraining {
        var started: Double
        var finished: Double?
        var status: String
        var reason: String
        var modelAfter: String?
    }

    var session: [String: String] = [:]
    var frames: [Frame] = []
    var detections: [Detection] = []
    var chips: [Chip] = []
    var decisions: [Decision] = []
    var drift: [Series] = []
    var condition: [Series] = []
    var retrainings: [Retraining] = []
    var lost = 0
    var rejected = 0

    /// Reads session `id` of `log`; thumbnails are kept for at most `thumbnails` frames, evenly
    /// spread over the session.
    static func read(_ log: DecisionLog, session id: String, thumbnails: Int = 48) throws -> SessionRecordings {
        var recordings = SessionRecordings()
        func rowCount(_ table: String) throws -> Int {
            let rows = try log.query("SELECT COUNT(*) FROM \(table) WHERE session_id = ?", arguments: [id]).rows
            return rows.first?.first.flatMap { $0.flatMap { Int($0) } } ?? 0
        }
        let row = try log.session(id)
        for (index, column) in row.columns.enumerated() { recordings.session[column] = row.rows.first?[index] ?? nil }
        let frames = try log.query(
            """
            SELECT id, seq, received_at, json_extract(scan, '$.center_x_nm'), json_extract(scan, '$.center_y_nm'),
                   json_extract(scan, '$.fov_x_nm'), COALESCE(json_extract(scan, '$.fov_y_nm'), json_extract(scan, '$.fov_x_nm')),
                   width, height, dose_e_per_A2, electrons, purpose, model,
                   json_extract(chip_grid, '$.chip_px') * pixel_size_angstrom / 10
            FROM frames WHERE session_id = ? ORDER BY received_at
            """, arguments: [id])
        for r in frames.rows {
            guard let frameID = r[0].flatMap({ Int64($0) }), let x = r[3].flatMap(Double.init),
                let y = r[4].flatMap(Double.init), let fovX = r[5].flatMap(Double.init),
                let fovY = r[6].flatMap(Double.init)
            else { continue }
            recordings.frames.append(
                Frame(
                    id: frameID, seq: r[1].flatMap { Int($0) } ?? 0, time: r[2].flatMap(Double.init) ?? 0, x: x, y: y,
                    fovX: fovX, fovY: fovY, width: r[7].flatMap { Int($0) } ?? 0, height: r[8].flatMap { Int($0) } ?? 0,
                    dose: r[9].flatMap(Double.init), electrons: r[10].flatMap(Double.init), purpose: r[11],
                    model: r[12], chipSide: r[13].flatMap(Double.init)))
        }
        // Thumbnails: a spread of frames, read one by one (blobs do not go through LogTable).
        let count = thumbnails > 0 ? recordings.frames.count : 0
        let step = max(1, (count + thumbnails - 1) / max(thumbnails, 1))
        for index in stride(from: 0, to: count, by: step) {
            recordings.frames[index].thumbnail = try log.thumbnail(frame: recordings.frames[index].id)
        }
        for r in try log.query(
            """
            SELECT d.frame_id, d.x, d.y, d.stage_x_nm, d.stage_y_nm, d.type FROM detections d
            JOIN frames f ON f.id = d.frame_id WHERE f.session_id = ?
            """, arguments: [id]
        ).rows {
            guard let frame = r[0].flatMap({ Int64($0) }), let column = r[1].flatMap(Double.init),
                let row = r[2].flatMap(Double.init)
            else { continue }
            recordings.detections.append(
                Detection(
                    frame: frame, column: column, row: row, x: r[3].flatMap(Double.init), y: r[4].flatMap(Double.init),
                    type: r[5] ?? ""))
        }
        for r in try log.query(
            """
            SELECT c.frame_id, c.community, c.x_nm, c.y_nm FROM communities c
            JOIN frames f ON f.id = c.frame_id WHERE f.session_id = ? AND c.x_nm IS NOT NULL
            """, arguments: [id]
        ).rows {
            guard let frame = r[0].flatMap({ Int64($0) }), let community = r[1].flatMap({ Int($0) }),
                let x = r[2].flatMap(Double.init), let y = r[3].flatMap(Double.init)
            else { continue }
            recordings.chips.append(Chip(frame: frame, community: community, x: x, y: y))
        }
        for r in try log.query(
            """
            SELECT d.id, d.made_at, d.policy, json_extract(d.chosen, '$.action'), json_extract(d.chosen, '$.summary'),
                   d.reason, json_extract(d.chosen, '$.refused') IS NOT NULL, json_array_length(d.candidates),
                   c.id, c.status, c.error, d.latency, d.candidates
            FROM decisions d LEFT JOIN commands c ON c.decision_id = d.id WHERE d.session_id = ? ORDER BY d.id
            """, arguments: [id]
        ).rows {
            var latency: [String: Double] = [:]
            if let text = r[11], let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            {
                for (key, value) in object { if let number = value as? Double { latency[key] = number } }
            }
            var top: [(summary: String, score: String)] = []
            if let text = r[12], text != "[]",
                let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
            {
                for item in list.prefix(3) {
                    top.append(("\(item["summary"] ?? item["action"] ?? "?")", "\(item["score"] ?? "")"))
                }
            }
            recordings.decisions.append(
                Decision(
                    id: r[0].flatMap { Int64($0) } ?? 0, time: r[1].flatMap(Double.init) ?? 0, policy: r[2] ?? "",
                    action: r[3] ?? "", summary: r[4] ?? "", reason: r[5] ?? "", refused: r[6] == "1",
                    candidates: r[7].flatMap { Int($0) } ?? 0, command: r[8], status: r[9], error: r[10],
                    latency: latency, topCandidates: top))
        }
        for r in try log.query(
            """
            SELECT f.received_at, sqrt(d.vx_nm_per_s * d.vx_nm_per_s + d.vy_nm_per_s * d.vy_nm_per_s)
            FROM drift d JOIN frames f ON f.id = d.frame_id WHERE f.session_id = ? AND d.vx_nm_per_s IS NOT NULL
            ORDER BY f.received_at
            """, arguments: [id]
        ).rows {
            if let t = r[0].flatMap(Double.init), let v = r[1].flatMap(Double.init) {
                recordings.drift.append(Series(time: t, value: v))
            }
        }
        for r in try log.query(
            """
            SELECT f.received_at, c.score FROM condition_scores c JOIN frames f ON f.id = c.frame_id
            WHERE f.session_id = ? ORDER BY f.received_at
            """, arguments: [id]
        ).rows {
            if let t = r[0].flatMap(Double.init), let v = r[1].flatMap(Double.init) {
                recordings.condition.append(Series(time: t, value: v))
            }
        }
        for r in try log.query(
            "SELECT started_at, finished_at, status, reason, model_after FROM retraining_events WHERE session_id = ?",
            arguments: [id]
        ).rows {
            recordings.retrainings.append(
                Retraining(
                    started: r[0].flatMap(Double.init) ?? 0, finished: r[1].flatMap(Double.init), status: r[2] ?? "",
                    reason: r[3] ?? "", modelAfter: r[4]))
        }
        recordings.lost = try rowCount("lost_frames")
        recordings.rejected = try rowCount("rejected_inputs")
        return recordings
    }
}
