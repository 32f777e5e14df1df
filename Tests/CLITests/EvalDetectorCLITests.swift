import Foundation
import NeuralNetwork
import Testing

@Suite("scopepilot eval-detector", .serialized)
struct EvalDetectorCLITests {
    @Test("prints precision, recall and F1 per dwell, then the condition-shift table, with a CycleGAN row")
    func tables() async throws {
        // A (tiny, untrained) generator as `scopepilot realism train` writes one, at 0.2 Å/px.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-eval-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let generator = folder.appendingPathComponent("gen.safetensors")
        let architecture = ResNetGenerator.Architecture(width: 2, downsamplings: 1, residualBlocks: 1)
        try ResNetGenerator(architecture: architecture).save(
            to: generator,
            metadata: [
                "kind": "cyclegan-generator", "pixel_size_angstrom": "0.2",
                "architecture": String(decoding: try JSONEncoder().encode(architecture), as: UTF8.self),
            ])
        let run = try await CLI.run([
            "eval-detector", "--frames", "2", "--frame-size", "128", "--dwells", "10,20", "--epochs", "1",
            "--refit-epochs", "1", "--tiles-per-epoch", "4", "--reference-frames", "1", "--simulations", "12",
            "--cyclegan", generator.path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("Se1") && $0.contains("P") && $0.contains("F1") })
        #expect(lines.filter { $0.contains(" µs ") && $0.contains("(") }.count == 2, "\(run.stdout)")
        #expect(lines.contains { $0.hasPrefix("target: Se1 F1") })
        #expect(lines.contains { $0.contains("B estimated") })
        for model in [
            "trained for A", "A, refit for estimated B", "A, refit through CycleGAN", "shipped (wide conditions)",
        ] {
            #expect(lines.contains { $0.hasPrefix(model) }, "missing row \(model)")
        }
        #expect(run.stderr.contains("epoch 1"))
    }

    @Test("--cyclegan-steps trains the CycleGAN row's generator on B frames that carry scan-line noise")
    func trainedHereWithLineNoise() async throws {
        let run = try await CLI.run([
            "eval-detector", "--frames", "1", "--frame-size", "128", "--dwells", "20", "--epochs", "1",
            "--refit-epochs", "1", "--tiles-per-epoch", "2", "--reference-frames", "1", "--simulations", "12",
            "--line-noise", "0.5", "--cyclegan-steps", "2",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("scan-line noise of 0.50"), "\(run.stdout)")
        #expect(run.stdout.contains("training a CycleGAN on the 1 unlabelled B frames (2 steps)"), "\(run.stdout)")
        #expect(run.stdout.split(separator: "\n").contains { $0.hasPrefix("A, refit through CycleGAN") })
        let both = try await CLI.run(["eval-detector", "--cyclegan", "g.safetensors", "--cyclegan-steps", "2"])
        #expect(both.status != 0 && both.stderr.contains("not both"), "\(both.stderr)")
        let noise = try await CLI.run(["eval-detector", "--line-noise", "-1"])
        #expect(noise.status != 0 && noise.stderr.contains("--line-noise"), "\(noise.stderr)")
    }

    @Test("--set scores a folder of labelled images per dose: the abTEM detection set")
    func labelledSet() async throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/abtem/detection")
        let run = try await CLI.run(["eval-detector", "--set", folder.path, "--model", "all"])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = run.stdout.split(separator: "\n").filter {
            $0.split(separator: " ").first.flatMap { Double($0) } != nil && $0.contains("(")
        }
        #expect(rows.count == 4, "one row per dose: \(run.stdout)")
        for row in rows { #expect(row.components(separatedBy: "(").count == 4, "Se1, Se2 and W in \(row)") }
        #expect(run.stdout.contains("target: Se1 F1 ≥ 0.95 at every dose from 1e4 e/Å² up"))
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-empty-\(UUID())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let refused = try await CLI.run(["eval-detector", "--set", empty.path])
        #expect(refused.status != 0 && refused.stderr.contains("no frame label files"), "\(refused.stderr)")
    }

    @Test(
        "bad options are refused with a reason",
        arguments: [
            (["--dwells", "fast"], "--dwells"),
            (["--frame-size", "64"], "--frame-size"),
            (["--scenario", "day-c", "--frames", "1", "--dwells", "20"], "no shipped scenario"),
            (["--scenario", "standard", "--frames", "1", "--dwells", "20"], "two condition sets"),
        ])
    func badOptions(arguments: [String], reason: String) async throws {
        let run = try await CLI.run(["eval-detector", "--frame-size", "128"] + arguments)
        #expect(run.status != 0)
        #expect(run.stderr.contains(reason), "\(run.stderr)")
    }
}
