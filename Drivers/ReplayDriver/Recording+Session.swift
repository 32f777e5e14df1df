import DecisionLog
import Foundation
import WireProtocol

extension Recording {
    /// The frames of `session` (the newest when nil) of the decision log at `log`, with the
    /// pixels the session kept (`--store-pixels`, or a log from before schema v7). The log is
    /// only read.
    public static func session(_ session: String?, in log: String) throws(ReplayError) -> Recording {
        let database: DecisionLog
        do { database = try DecisionLog(readingFrom: log) } catch { throw ReplayError("\(error)") }
        do {
            return try read(session, from: database)
        } catch let error as ReplayError {
            throw error
        } catch {
            throw ReplayError("cannot read the recorded session from \(log): \(error)")
        }
    }

    private static func read(_ asked: String?, from database: DecisionLog) throws -> Recording {
        let log = database.path
        let sessions = try database.query("SELECT id, instrument FROM sessions ORDER BY started_at DESC")
        guard !sessions.rows.isEmpty else { throw ReplayError("\(log) holds no session to replay") }
        let row: [String?]
        if let asked {
            guard let found = sessions.rows.first(where: { $0[0] == asked }) else {
                let known = sessions.rows.prefix(5).compactMap { $0[0] }.joined(separator: ", ")
                throw ReplayError(
                    "\(log) has no session \(asked); its newest: \(known) (`scopepilot log sessions \(log)` lists them)"
                )
            }
            row = found
        } else {
            row = sessions.rows[0]
        }
        let id = row[0] ?? ""
        let announced = (row[1] ?? "{}").data(using: .utf8).flatMap {
            try? JSONDecoder().decode(AnnouncedInstrument.self, from: $0)
        }
        let columns = Set(try database.query("SELECT name FROM pragma_table_info('frames')").rows.compactMap { $0[0] })
        func column(_ name: String, _ expression: String? = nil) -> String {
            columns.contains(name) ? (expression ?? "f.\(name)") : "NULL"
        }
        let table = try database.query(
            """
            SELECT f.id, f.driver_session, f.seq, f.scan, f.channels, f.purpose, f.received_at,
                   \(column("stage_x_nm")), \(column("stage_y_nm")), \(column("optics")), \(column("pixels_files")),
                   \(column("pixels", "length(f.pixels)")), c.sent_at, f.command_id
            FROM frames f LEFT JOIN commands c ON c.id = f.command_id AND c.session_id = f.session_id
            WHERE f.session_id = ? ORDER BY f.id
            """, arguments: [id])
        let folder = URL(fileURLWithPath: log).standardizedFileURL.deletingLastPathComponent()
        var frames: [RecordedFrame] = []
        var skipped: [String] = []
        var withoutPixels = 0
        var previous: (command: String?, received: Double)?
        for values in table.rows {
            guard let frameID = values[0].flatMap(Int64.init), let seq = values[2],
                let scanJSON = values[3],
                let scan = try? JSONDecoder().decode(ScanGeometry.self, from: Data(scanJSON.utf8)),
                let received = values[6].flatMap(Double.init)
            else {
                skipped.append("frame row \(values[0] ?? "?"): its scan or arrival time is unreadable")
                continue
            }
            let driverSession = values[1] ?? ""
            let source = RecordedFrameName(session: id, driverSession: driverSession, seq: UInt64(seq) ?? 0).description
            let channels = (values[4] ?? "").split(separator: ",").map(String.init)
            let pixels: RecordedFrame.PixelSource
            if let files = values[10],
                let paths = try? JSONDecoder().decode([String: String].self, from: Data(files.utf8)),
                channels.allSatisfy({ paths[$0] != nil })
            {
                pixels = .files(channels.map { folder.appendingPathComponent(paths[$0] ?? "") })
            } else if let length = values[11].flatMap(Int.init), length > 0 {
                pixels = .logBlob(log: log, frame: frameID)
            } else {
                withoutPixels += 1
                continue
            }
            let purposeText = (values[5] ?? "scan").split(separator: ",").first.map(String.init) ?? "scan"
            let commandID = values[13]
            // How long the instrument took: from the command's sending (or, for the second frame
            // of one command, the first's arrival) to this frame's arrival.
            var started = values[12].flatMap(Double.init)
            if let previous, previous.command == commandID, commandID != nil, let s = started {
                started = max(s, previous.received)
            }
            previous = (commandID, received)
            let stage = StagePosition(
                x: values[7].flatMap(Double.init) ?? scan.centerX, y: values[8].flatMap(Double.init) ?? scan.centerY)
            frames.append(
                RecordedFrame(
                    scan: scan, stage: stage, channels: channels,
                    purpose: FrameHeader.Purpose(rawValue: purposeText) ?? .scan,
                    optics: values[9].flatMap { try? JSONDecoder().decode(Optics.self, from: Data($0.utf8)) },
                    time: received, acquisitionSeconds: started.map { min(600, max(0, received - $0)) },
                    source: source, pixels: pixels))
        }
        guard !frames.isEmpty else {
            throw ReplayError(
                table.rows.isEmpty
                    ? "session \(id) of \(log) has no frames"
                    : "session \(id) of \(log) kept no pixels (\(withoutPixels) frames): record with "
                        + "`scopepilot run --store-pixels` (or `scopepilot demo --store-pixels`) to replay a session")
        }
        if withoutPixels > 0 { skipped.append("\(withoutPixels) frames of session \(id) kept no pixels") }
        return Recording(
            frames: frames,
            origin: .session(id, log: URL(fileURLWithPath: log).standardizedFileURL.path, mode: "order"),
            instrument: announced?.instrument ?? "unknown instrument",
            limits: announced?.limits ?? limits(spanning: frames), skipped: skipped)
    }

    /// What the recorded session's driver announced, as its row keeps it.
    private struct AnnouncedInstrument: Decodable {
        let instrument: String?
        let limits: InstrumentLimits?
    }
}
