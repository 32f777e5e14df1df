import Foundation
import GRDB
import Testing

@testable import DecisionLog

/// Schema v6: a frame's beam, stage and dose, its chip grid, stage coordinates of detections and
/// chips; and a log written before v6 opens and is upgraded in place.
@Suite("The complete log (schema v7)")
struct CompleteLogTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-v6-\(UUID()).sqlite").path
    }

    @Test("a frame's optics, stage, current, dose and electrons, its chip grid, and stage positions are kept")
    func keepsWhatTheHeaderSaid() async throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try DecisionLog(path: path)
        let session = try await log.beginSession(
            SessionRecord(
                id: "s-v6", policy: "p", policyVersion: "1", policyParameters: "{}", model: nil, instrument: "{}"))
        let frame = try await log.recordFrame(
            FrameRecord(
                sessionID: session, seq: 0, width: 64, height: 64, pixelSize: 0.2, scan: "{}", channels: ["HAADF"],
                stageX: 12.5, stageY: -3, optics: #"{"beam_energy_kv":80,"probe_current_pa":25}"#, probeCurrent: 25,
                dose: 1.5e4, electrons: 2.4e7))
        var analysis = AnalysisRecord(
            frame: frame, detections: [.init(x: 3, y: 4, type: "Se1", confidence: 0.9, stageX: 11, stageY: -2)],
            communities: [4, 7])
        analysis.chipCentres = [StagePoint(x: 10, y: -4), StagePoint(x: .nan, y: 2)]
        analysis.chipGrid = #"{"chip_px":32,"columns":2,"origin_x_px":0,"origin_y_px":16,"rows":1,"stride_px":32}"#
        try await log.recordAnalysis(analysis)
        let row = try log.query(
            "SELECT stage_x_nm, stage_y_nm, json_extract(optics, '$.beam_energy_kv'), probe_current_pa, "
                + "dose_e_per_A2, electrons, json_extract(chip_grid, '$.columns') FROM frames")
        #expect(row.rows.first == ["12.5", "-3.0", "80", "25.0", "15000.0", "24000000.0", "2"])
        let detection = try log.query("SELECT stage_x_nm, stage_y_nm FROM detections")
        #expect(detection.rows.first == ["11.0", "-2.0"])
        let chips = try log.query("SELECT community, x_nm, y_nm FROM communities ORDER BY chip")
        #expect(chips.rows == [["4", "10.0", "-4.0"], ["7", nil, "2.0"]], "a non-number is stored as NULL")
        #expect(row.values.first?.first == .real(12.5), "numbers come back typed")
    }

    @Test("a log written before v6 opens, is upgraded, and keeps its rows")
    func upgradesAnOldLog() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v5")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO sessions (id, started_at, policy, policy_version, policy_parameters, instrument)
                        VALUES ('s-old', 0, 'raster-survey', '1', '{}', '{}');
                        INSERT INTO frames (session_id, seq, received_at, width, height, pixel_size_angstrom, scan,
                                            channels) VALUES ('s-old', 0, 0, 64, 64, 0.2, '{}', 'HAADF');
                        """)
            }
        }
        let log = try DecisionLog(path: path)
        #expect(try log.appliedMigrations().last == "v8")
        let frames = try log.export(session: "s-old", table: "frames")
        #expect(frames.rows.count == 1)
        #expect(frames.column("width") == ["64"])
        #expect(frames.column("dose_e_per_A2") == [nil], "what the old log did not keep is NULL, not invented")
        #expect(frames.column("pixels_files") == [nil])
    }
}
