import DecisionLog
import Foundation
import Testing

/// `scopepilot replay` and `policy eval --replay`, as a user runs them on a demo's recording.
@Suite("Replaying a recorded demo session", .serialized)
struct ReplayCLITests {
    @Test("policy eval --replay compares policies on a demo recorded with --store-pixels, scored by its truth")
    func policyEvalOnARecording() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-replay-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("demo.sqlite").path
        let truth = folder.appendingPathComponent("truth").path
        let demo = try await CLI.run([
            "demo", "--frames", "4", "--pixels", "128", "--db", log, "--truth", truth, "--store-pixels",
        ])
        #expect(demo.status == 0, "\(demo.stderr)")
        let raster = folder.appendingPathComponent("raster.yaml")
        try "policy: raster-survey\nparameters: {columns: 3, rows: 1, fov_nm: 2.56, pixels: 128}\n".write(
            to: raster, atomically: true, encoding: .utf8)
        let hunter = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Policies/examples/defect-hunter.yaml")
        let logs = folder.appendingPathComponent("logs").path

        // In order, every policy gets the recorded frames: scored against the demo's truth.
        let ordered = try await CLI.run([
            "policy", "eval", raster.path, hunter.path, "--replay", log, "--replay-mode", "order", "--truth", truth,
            "--model", "se1", "--keep", logs,
        ])
        #expect(ordered.status == 0, "\(ordered.stderr)")
        let lines = ordered.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("(4 frames, served by order)") == true, "\(ordered.stdout)")
        let f1 = try #require(lines.first { $0.hasPrefix("F1 ") })
        let values = f1.split(separator: " ").compactMap { Double($0) }
        #expect(values.count == 2 && values[0] > 0.5, "\(f1)")
        #expect(lines.contains { $0.hasPrefix("scans not recorded") })
        let replayed = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasSuffix(".sqlite") }
        #expect(replayed.count == 2)
        for name in replayed {
            let session = try DecisionLog(path: logs + "/" + name).query("SELECT replays FROM sessions")
            #expect(session.rows.first?[0]?.contains("\"mode\":\"order\"") == true)
        }

        // By region, without truth: scans the recording does not cover are counted, not scored.
        let regional = try await CLI.run(["policy", "eval", raster.path, "--replay", log, "--model", "se1"])
        #expect(regional.status == 0, "\(regional.stderr)")
        #expect(regional.stdout.contains("served by region); no ground truth"), "\(regional.stdout)")
        #expect(regional.stdout.contains("no ground truth"))

        // What the replay command refuses, in words.
        let missing = try await CLI.run(["replay", folder.appendingPathComponent("nothing.sqlite").path])
        #expect(missing.status != 0 && missing.stderr.contains("does not exist"), "\(missing.stderr)")
        let wrong = try await CLI.run(["replay", log, "--positions", "p.csv"])
        #expect(wrong.status != 0 && wrong.stderr.contains("for a folder"), "\(wrong.stderr)")
        let mode = try await CLI.run(["replay", log, "--mode", "sideways"])
        #expect(mode.status != 0 && mode.stderr.contains("order or region"), "\(mode.stderr)")
        let seeds = try await CLI.run(["policy", "eval", raster.path, "--replay", log, "--seeds", "2"])
        #expect(seeds.status != 0 && seeds.stderr.contains("a recording is one"), "\(seeds.stderr)")
    }
}
