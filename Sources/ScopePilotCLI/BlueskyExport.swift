import DecisionLog
import Foundation

/// A session as Bluesky event-model documents, one `[name, document]` pair per line (the JSONL
/// that databroker, tiled and suitcase read): a `start` (the session, its policy and instrument),
/// per frame configuration a `descriptor` of stream `primary` and an `event` per frame (seq,
/// stage, scan, dose, detections, communities, model; each channel's pixels as a datum of a
/// `TIFF` resource where the session kept its frames of record), a `decisions` stream with an
/// event per decision (what was chosen and why, and its command's fate), and a `stop`.
enum BlueskyExport {
    /// The documents of `session` of `log`, in order; `root` is the log's folder (the frames of
    /// record's paths are relative to it).
    static func documents(log: DecisionLog, session: String, root: String) throws -> [(String, [String: Any])] {
        let row =
            try log.query(
                "SELECT started_at, ended_at, status, end_reason, policy, policy_version, policy_parameters, model, "
                    + "instrument, replays FROM sessions WHERE id = ?", arguments: [session]
            ).rows.first ?? []
        func text(_ index: Int) -> String? { index < row.count ? row[index] : nil }
        let started = text(0).flatMap(Double.init) ?? 0
        let startUID = "\(session)-start"
        var documents: [(String, [String: Any])] = []
        var start: [String: Any] = [
            "uid": startUID, "time": started, "plan_name": text(4) ?? "-", "scan_id": 1,
            "plan_args": json(text(6)) ?? [String: Any](),
            "scopepilot": [
                "session": session, "policy_version": text(5) ?? "-", "model": text(7) ?? NSNull(),
                "instrument": json(text(8)) ?? NSNull(), "replays": json(text(9)) ?? NSNull(),
            ] as [String: Any],
        ]
        let frames = try log.query(
            """
            SELECT f.id, f.driver_session, f.seq, f.received_at, f.width, f.height, f.pixel_size_angstrom, f.scan,
                   f.channels, f.purpose, f.stage_x_nm, f.stage_y_nm, f.dose_e_per_A2, f.model, f.pixels_files,
                   (SELECT COUNT(*) FROM detections d WHERE d.frame_id = f.id),
                   (SELECT COUNT(DISTINCT community) FROM communities c WHERE c.frame_id = f.id), f.source
            FROM frames f WHERE f.session_id = ? ORDER BY f.id
            """, arguments: [session]
        ).rows
        start["detectors"] = Array(Set(frames.flatMap { ($0[8] ?? "").split(separator: ",").map(String.init) }))
            .sorted()
        documents.append(("start", start))

        let scalarKeys: [(String, String, String?)] = [
            ("seq", "integer", nil), ("driver_session", "string", nil), ("purpose", "string", nil),
            ("stage_x_nm", "number", "nm"), ("stage_y_nm", "number", "nm"), ("center_x_nm", "number", "nm"),
            ("center_y_nm", "number", "nm"), ("fov_x_nm", "number", "nm"), ("dwell_us", "number", "us"),
            ("rotation_deg", "number", "deg"), ("pixel_size_angstrom", "number", "angstrom"),
            ("dose_e_per_A2", "number", "e/A^2"), ("detections", "integer", nil), ("communities", "integer", nil),
            ("model", "string", nil), ("source", "string", nil),
        ]
        var descriptors: [String: String] = [:]
        var sequence: [String: Int] = [:]
        var frameEvents = 0
        for frame in frames {
            let width = frame[4].flatMap(Int.init) ?? 0
            let height = frame[5].flatMap(Int.init) ?? 0
            let channels = (frame[8] ?? "").split(separator: ",").map(String.init)
            let files = (json(frame[14]) as? [String: String]) ?? [:]
            let external = !files.isEmpty
            let configuration =
                "\(width)x\(height)-\(channels.joined(separator: "+"))\(external ? "" : "-thumbnail-only")"
            let descriptor = "\(session)-primary-\(configuration)"
            if descriptors[configuration] == nil {
                descriptors[configuration] = descriptor
                var keys: [String: Any] = [:]
                for (name, dtype, units) in scalarKeys {
                    var key: [String: Any] = ["source": "scopepilot:frames", "dtype": dtype, "shape": [Int]()]
                    if let units { key["units"] = units }
                    keys[name] = key
                }
                if external {
                    for channel in channels {
                        keys[channel] =
                            [
                                "source": "scopepilot:frames_of_record", "dtype": "array", "shape": [height, width],
                                "external": "FILESTORE:",
                            ] as [String: Any]
                    }
                }
                documents.append(
                    (
                        "descriptor",
                        [
                            "uid": descriptor, "time": frame[3].flatMap(Double.init) ?? started, "run_start": startUID,
                            "name": "primary", "data_keys": keys,
                            "object_keys": ["frame": Array(keys.keys).sorted()],
                            "configuration": [String: Any](),
                            "hints": ["frame": ["fields": external ? channels : ["detections"]]],
                        ] as [String: Any]
                    ))
            }
            let scan = (json(frame[7]) as? [String: Any]) ?? [:]
            let time = frame[3].flatMap(Double.init) ?? started
            var data: [String: Any] = [
                "seq": frame[2].flatMap(Int.init) ?? 0, "driver_session": frame[1] ?? "",
                "purpose": frame[9] ?? "scan", "stage_x_nm": number(frame[10]), "stage_y_nm": number(frame[11]),
                "center_x_nm": scan["center_x_nm"] ?? NSNull(), "center_y_nm": scan["center_y_nm"] ?? NSNull(),
                "fov_x_nm": scan["fov_x_nm"] ?? NSNull(), "dwell_us": scan["dwell_us"] ?? NSNull(),
                "rotation_deg": scan["rotation_deg"] ?? NSNull(), "pixel_size_angstrom": number(frame[6]),
                "dose_e_per_A2": number(frame[12]), "detections": frame[15].flatMap(Int.init) ?? 0,
                "communities": frame[16].flatMap(Int.init) ?? 0, "model": frame[13] ?? NSNull(),
                "source": frame[17] ?? NSNull(),
            ]
            var filled: [String: Bool] = [:]
            for channel in channels where external {
                guard let path = files[channel] else { continue }
                let resource = "\(session)-frame-\(frame[0] ?? "")-\(channel)"
                documents.append(
                    (
                        "resource",
                        [
                            "uid": resource, "spec": "TIFF", "root": root, "resource_path": path,
                            "resource_kwargs": [String: Any](), "path_semantics": "posix", "run_start": startUID,
                        ] as [String: Any]
                    ))
                documents.append(
                    (
                        "datum",
                        ["datum_id": "\(resource)/0", "resource": resource, "datum_kwargs": [String: Any]()]
                            as [String: Any]
                    ))
                data[channel] = "\(resource)/0"
                filled[channel] = false
            }
            sequence[descriptor, default: 0] += 1
            frameEvents += 1
            documents.append(
                (
                    "event",
                    [
                        "uid": "\(session)-frame-\(frame[0] ?? "")", "time": time, "descriptor": descriptor,
                        "seq_num": sequence[descriptor] ?? 1, "data": data,
                        "timestamps": data.mapValues { _ in time }, "filled": filled,
                    ] as [String: Any]
                ))
        }

        let decisions = try log.query(
            """
            SELECT d.id, d.made_at, d.policy, d.reason, d.chosen, d.model_version, c.id, c.status, c.error
            FROM decisions d LEFT JOIN commands c ON c.decision_id = d.id
            WHERE d.session_id = ? ORDER BY d.id
            """, arguments: [session]
        ).rows
        if !decisions.isEmpty {
            let descriptor = "\(session)-decisions"
            let keys = ["policy", "reason", "action", "chosen", "model_version", "command", "command_status", "error"]
            documents.append(
                (
                    "descriptor",
                    [
                        "uid": descriptor, "time": decisions[0][1].flatMap(Double.init) ?? started,
                        "run_start": startUID, "name": "decisions",
                        "data_keys": Dictionary(
                            uniqueKeysWithValues: keys.map {
                                (
                                    $0,
                                    ["source": "scopepilot:decisions", "dtype": "string", "shape": [Int]()]
                                        as [String: Any]
                                )
                            }),
                        "object_keys": ["decision": keys], "configuration": [String: Any](),
                    ] as [String: Any]
                ))
            for (index, decision) in decisions.enumerated() {
                let time = decision[1].flatMap(Double.init) ?? started
                let chosen = json(decision[4]) as? [String: Any]
                let data: [String: Any] = [
                    "policy": decision[2] ?? "", "reason": decision[3] ?? "",
                    "action": (chosen?["action"] as? [String: Any])?["type"] as? String ?? chosen?["action"] as? String
                        ?? "", "chosen": decision[4] ?? "", "model_version": decision[5] ?? "",
                    "command": decision[6] ?? "", "command_status": decision[7] ?? "", "error": decision[8] ?? "",
                ]
                documents.append(
                    (
                        "event",
                        [
                            "uid": "\(session)-decision-\(decision[0] ?? "")", "time": time, "descriptor": descriptor,
                            "seq_num": index + 1, "data": data, "timestamps": data.mapValues { _ in time },
                            "filled": [String: Bool](),
                        ] as [String: Any]
                    ))
            }
        }
        let status = text(2) ?? "running"
        var stop: [String: Any] = [
            "uid": "\(session)-stop", "time": text(1).flatMap(Double.init) ?? Date().timeIntervalSince1970,
            "run_start": startUID,
            "exit_status": status == "finished" ? "success" : status == "failed" ? "fail" : "abort",
            "reason": text(3) ?? (status == "running" ? "the session has not ended (or the daemon was killed)" : ""),
            "num_events": ["primary": frameEvents, "decisions": decisions.count],
        ]
        if decisions.isEmpty { stop["num_events"] = ["primary": frameEvents] }
        documents.append(("stop", stop))
        return documents
    }

    /// The documents as JSONL: one `[name, document]` per line.
    static func jsonl(_ documents: [(String, [String: Any])]) throws -> Data {
        var out = Data()
        for (name, document) in documents {
            out += try JSONSerialization.data(withJSONObject: [name, document], options: [.sortedKeys])
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    private static func json(_ text: String?) -> Any? {
        guard let text, let data = text.data(using: .utf8) else { return nil }
        return try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    private static func number(_ text: String?) -> Any { text.flatMap(Double.init).map { $0 as Any } ?? NSNull() }
}
