import DefectDetection
import Foundation
import Testing

@Suite("scopepilot train", .serialized)
struct TrainCLITests {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "scopepilot-train-\(UUID().uuidString)")

    @Test("--match runs the realism step on the given frames and trains within its estimate, from --from's weights")
    func matchAndFineTune() async throws {
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let frames = try await CLI.renderDayBFrame(into: Self.folder.appendingPathComponent("frames"))
        let model = Self.folder.appendingPathComponent("refit.safetensors")
        let train = try await CLI.run([
            "train", "--out", model.path, "--from", try #require(DefectDetector.bundledModel).path,
            "--match", frames.appendingPathComponent("HAADF.npy").path, "--match-pixel-size", "0.2",
            "--match-dwell", "20", "--epochs", "1", "--tiles-per-epoch", "4", "--validation-tiles", "2",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("realism step") && train.stdout.contains("estimate:"), "\(train.stdout)")
        let metadata =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: model.deletingPathExtension().appendingPathExtension("json"))) as! [String: Any]
        let realism = try #require(metadata["realism"] as? [String: Any])
        #expect((realism["simulations"] as? Int ?? 0) > 0)
        let conditions = try #require(metadata["training_conditions"] as? [String: Any])
        let dwell = try #require(conditions["dwell"] as? [Double])
        #expect(dwell == [20, 20], "the known dwell pins the training dwell")
        let current = try #require(conditions["current"] as? [Double])
        #expect(current[1] - current[0] < 52 * 0.8, "the estimate narrows the prior's current range \(current)")
    }

    @Test(
        "--match frames without a pixel size of their own need --match-pixel-size; a pixel size without frames is refused"
    )
    func matchNeedsPixelSize() async throws {
        let uncalibrated = ImageFilesCLITests.frame.path
        let missing = try await CLI.run(["train", "--out", "/tmp/never.safetensors", "--match", uncalibrated])
        #expect(
            missing.status != 0 && missing.stderr.contains("--match needs --match-pixel-size")
                && missing.stderr.contains("states no pixel size"), "\(missing.stderr)")
        let orphan = try await CLI.run(["train", "--out", "/tmp/never.safetensors", "--match-pixel-size", "0.2"])
        #expect(orphan.status != 0 && orphan.stderr.contains("give the frames too"))
        let unreadable = try await CLI.run([
            "train", "--out", "/tmp/never.safetensors", "--match", "/nonexistent/frame.npy", "--match-pixel-size",
            "0.2", "--epochs", "1",
        ])
        #expect(unreadable.status != 0 && unreadable.stderr.contains("/nonexistent/frame.npy"))
    }

    @Test("--match takes a file's own calibration; a --match-pixel-size that contradicts it is refused")
    func matchTakesFileCalibration() async throws {
        let (_, single) = try await ImageFilesCLITests.writeTIFFs(in: Self.folder)
        let model = Self.folder.appendingPathComponent("calibrated.safetensors")
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let conflict = try await CLI.run([
            "train", "--out", model.path, "--match", single.path, "--match-pixel-size", "0.3", "--epochs", "1",
        ])
        #expect(conflict.status != 0 && conflict.stderr.contains("gives 0.2 Å/px"), "\(conflict.stderr)")
        let train = try await CLI.run([
            "train", "--out", model.path, "--match", single.path, "--epochs", "1", "--tiles-per-epoch", "2",
            "--validation-tiles", "1", "--tile-size", "64",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("realism step") && train.stdout.contains("estimate:"), "\(train.stdout)")
        #expect(FileManager.default.fileExists(atPath: model.path))
    }

    @Test("--scenario trains for exactly one condition set of a scenario; a wrong set name lists the real ones")
    func scenarioConditions() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-train-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("day-b.safetensors")
        let train = try await CLI.run([
            "train", "--out", model.path, "--scenario", "day-a-to-day-b-quick", "--condition-set", "day B",
            "--dwell", "10", "--epochs", "1", "--tiles-per-epoch", "2", "--validation-tiles", "1", "--tile-size", "64",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("'day B'") && train.stdout.contains("20 pA at 10 µs"), "\(train.stdout)")
        let metadata =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: model.deletingPathExtension().appendingPathExtension("json"))) as! [String: Any]
        let conditions = try #require(metadata["training_conditions"] as? [String: Any])
        #expect(conditions["current"] as? [Double] == [20, 20])
        #expect(conditions["dwell"] as? [Double] == [10, 10])
        #expect(conditions["coma"] as? [Double] == [30, 30])

        let wrong = try await CLI.run([
            "train", "--out", model.path, "--scenario", "day-a-to-day-b-quick", "--condition-set", "day C",
        ])
        #expect(wrong.status != 0 && wrong.stderr.contains("'day A', 'day B'"), "\(wrong.stderr)")
        let both = try await CLI.run([
            "train", "--out", model.path, "--scenario", "standard", "--match", "f.npy", "--match-pixel-size", "0.2",
        ])
        #expect(both.status != 0 && both.stderr.contains("give one"), "\(both.stderr)")
    }
}
