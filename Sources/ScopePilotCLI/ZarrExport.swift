import DecisionLog
import Foundation
import ImageIO
import ImageNumerics

/// A session as a Zarr store (format 2) that zarr-python and xarray open:
/// - the root's attributes: the session row (policy, parameters, model, instrument, what it replays);
/// - `frames`: one group per frame configuration (`WIDTHxHEIGHT-CHANNELS`), each an xarray
///   dataset: every channel's pixels `[frame, y, x]` (uint16 counts or float32, from the frames
///   of record: a session without `--store-pixels` has none, and says so) and the frames'
///   metadata along `frame` (log id, seq, stage, scan centre, field, dwell, pixel size, dose,
///   received time, purpose, model, source);
/// - `detections` and `communities`: the tables, one array per column along `row`;
/// - `decisions`: the decisions along `row` (id, time, policy, reason, chosen as JSON, command status).
enum ZarrExport {
    static func write(log: DecisionLog, session: String, root: URL, to url: URL) throws -> Int {
        let sessionRow = try log.session(session)
        var attributes: [String: Any] = ["scopepilot_session": session]
        for (column, value) in zip(sessionRow.columns, sessionRow.rows.first ?? []) {
            guard let value else { continue }
            attributes[column] =
                ["policy_parameters", "instrument", "replays"].contains(column) ? json(value) ?? value : value
        }
        let store = try ZarrStore(creatingAt: url, attributes: attributes)
        let frames = try log.query(
            """
            SELECT id, seq, width, height, channels, pixels_files, stage_x_nm, stage_y_nm, scan, pixel_size_angstrom,
                   dose_e_per_A2, received_at, purpose, model, source, driver_session
            FROM frames WHERE session_id = ? ORDER BY id
            """, arguments: [session]
        ).rows
        var groups: [String: [[String?]]] = [:]
        var order: [String] = []
        for frame in frames {
            let key =
                "\(frame[2] ?? "0")x\(frame[3] ?? "0")-\((frame[4] ?? "").replacingOccurrences(of: ",", with: "+"))"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(frame)
        }
        try store.group("frames", attributes: ["configurations": order])
        var withPixels = 0
        for key in order {
            let rows = groups[key] ?? []
            let path = "frames/\(key)"
            let width = rows[0][2].flatMap(Int.init) ?? 0
            let height = rows[0][3].flatMap(Int.init) ?? 0
            let channels = (rows[0][4] ?? "").split(separator: ",").map(String.init)
            let files = rows.map { (json($0[5]) as? [String: String]) ?? [:] }
            let kept = files.allSatisfy { file in channels.allSatisfy { file[$0] != nil } }
            try store.group(
                path,
                attributes: kept
                    ? ["pixels": "frames of record"]
                    : ["pixels": "not kept: the session ran without --store-pixels"])
            if kept {
                for channel in channels {
                    var values: [Float] = []
                    values.reserveCapacity(rows.count * width * height)
                    for file in files {
                        values += try ImageFile.read(root.appendingPathComponent(file[channel] ?? "")).pixels
                    }
                    let counts = values.allSatisfy { $0 >= 0 && $0 <= 65535 && $0 == $0.rounded(.towardZero) }
                    try store.array(
                        "\(path)/\(SafeFileName.of(channel))",
                        counts ? .uint16(values.map { UInt16($0) }) : .float32(values),
                        shape: [rows.count, height, width], dimensions: ["frame", "y", "x"], chunk: 1,
                        attributes: ["channel": channel, "units": counts ? "counts" : "detector units"])
                }
                withPixels += rows.count
            }
            let scans = rows.map { (json($0[8]) as? [String: Any]) ?? [:] }
            func numbers(_ index: Int) -> ZarrStore.Values {
                .float64(rows.map { $0[index].flatMap(Double.init) ?? .nan })
            }
            func scan(_ key: String) -> ZarrStore.Values {
                .float64(scans.map { ($0[key] as? NSNumber)?.doubleValue ?? .nan })
            }
            let columns: [(String, ZarrStore.Values, String?)] = [
                ("frame_id", .int64(rows.map { $0[0].flatMap(Int64.init) ?? -1 }), nil),
                ("seq", .int64(rows.map { $0[1].flatMap(Int64.init) ?? -1 }), nil),
                ("driver_session", .text(rows.map { $0[15] ?? "" }), nil),
                ("stage_x_nm", numbers(6), "nm"), ("stage_y_nm", numbers(7), "nm"),
                ("center_x_nm", scan("center_x_nm"), "nm"), ("center_y_nm", scan("center_y_nm"), "nm"),
                ("fov_x_nm", scan("fov_x_nm"), "nm"), ("dwell_us", scan("dwell_us"), "us"),
                ("rotation_deg", scan("rotation_deg"), "deg"), ("pixel_size_angstrom", numbers(9), "angstrom"),
                ("dose_e_per_A2", numbers(10), "e/A^2"),
                ("received_at", numbers(11), "seconds since 1970-01-01T00:00:00Z"),
                ("purpose", .text(rows.map { $0[12] ?? "" }), nil), ("model", .text(rows.map { $0[13] ?? "" }), nil),
                ("source", .text(rows.map { $0[14] ?? "" }), nil),
            ]
            for (name, values, units) in columns {
                try store.array(
                    "\(path)/\(name)", values, shape: [rows.count], dimensions: ["frame"],
                    attributes: units.map { ["units": $0] } ?? [:])
            }
        }
        try table(
            store, "detections",
            try log.query(
                """
                SELECT d.frame_id, d.x, d.y, d.type, d.confidence, d.stage_x_nm, d.stage_y_nm FROM detections d
                JOIN frames f ON f.id = d.frame_id WHERE f.session_id = ? ORDER BY d.rowid
                """, arguments: [session]), text: ["type"], integers: ["frame_id"])
        try table(
            store, "communities",
            try log.query(
                """
                SELECT c.frame_id, c.chip, c.community, c.x_nm, c.y_nm FROM communities c
                JOIN frames f ON f.id = c.frame_id WHERE f.session_id = ? ORDER BY c.frame_id, c.chip
                """, arguments: [session]), text: [], integers: ["frame_id", "chip", "community"])
        try table(
            store, "decisions",
            try log.query(
                """
                SELECT d.id, d.made_at, d.policy, d.reason, d.chosen, d.model_version, c.id AS command,
                       c.status AS command_status
                FROM decisions d LEFT JOIN commands c ON c.decision_id = d.id WHERE d.session_id = ? ORDER BY d.id
                """, arguments: [session]),
            text: ["policy", "reason", "chosen", "model_version", "command", "command_status"], integers: ["id"])
        return withPixels
    }

    /// A table as a group of one array per column, along `row`.
    private static func table(
        _ store: ZarrStore, _ name: String, _ table: LogTable, text: Set<String>, integers: Set<String>
    ) throws {
        try store.group(name, attributes: ["rows": table.rows.count])
        for (index, column) in table.columns.enumerated() {
            let values: ZarrStore.Values =
                text.contains(column)
                ? .text(table.rows.map { $0[index] ?? "" })
                : integers.contains(column)
                    ? .int64(table.rows.map { $0[index].flatMap(Int64.init) ?? -1 })
                    : .float64(table.rows.map { $0[index].flatMap(Double.init) ?? .nan })
            try store.array("\(name)/\(column)", values, shape: [table.rows.count], dimensions: ["row"])
        }
    }

    private static func json(_ text: String?) -> Any? {
        guard let text, let data = text.data(using: .utf8) else { return nil }
        return try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }
}
