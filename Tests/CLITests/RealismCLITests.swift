import Foundation
import NeuralNetwork
import Testing

@Suite("scopepilot realism train", .serialized)
struct RealismCLITests {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "scopepilot-realism-\(UUID().uuidString)")
    static let tiny = [
        "--tile-size", "32", "--batch-size", "2", "--width", "2", "--residual-blocks", "1",
        "--discriminator-width", "2", "--simulations", "2", "--simulation-side", "64", "--checkpoint-every", "3",
    ]

    @Test("trains a generator that loads, writes its losses, and resumes from its checkpoint")
    func trainsAndResumes() async throws {
        defer { try? FileManager.default.removeItem(at: Self.folder) }
        let frames = try await CLI.renderDayBFrame(into: Self.folder.appendingPathComponent("frames"))
        let frame = frames.appendingPathComponent("HAADF.npy").path
        let out = Self.folder.appendingPathComponent("gen.safetensors")
        let train = try await CLI.run(
            ["realism", "train", frame, "--pixel-size", "0.2", "--out", out.path, "--steps", "6"] + Self.tiny)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("step     6/6") && train.stdout.contains("cycle"), "\(train.stdout)")
        let generator = ResNetGenerator(architecture: .init(width: 2, downsamplings: 2, residualBlocks: 1))
        let metadata = try generator.load(from: out)
        #expect(metadata["kind"] == "cyclegan-generator" && metadata["steps"] == "6")
        #expect(metadata["pixel_size_angstrom"] == "0.2")
        let sidecar = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: out.deletingPathExtension().appendingPathExtension("json")))
                as? [String: Any])
        let losses = try #require(sidecar["losses"] as? [[String: Any]])
        #expect(losses.count == 6 && (losses.last?["step"] as? Int) == 6)
        let checkpoint = Self.folder.appendingPathComponent("gen-checkpoint.safetensors")
        #expect(FileManager.default.fileExists(atPath: checkpoint.path))

        let resumed = try await CLI.run(
            ["realism", "train", frame, "--pixel-size", "0.2", "--out", out.path, "--steps", "9", "--resume"]
                + Self.tiny)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming at step 6"), "\(resumed.stdout)")
        #expect(try generator.load(from: out)["steps"] == "9")
        // The detector trains on clean simulations passed through the generator; labels as they were.
        let detector = Self.folder.appendingPathComponent("detector.safetensors")
        let detectorTrain = try await CLI.run([
            "train", "--out", detector.path, "--realism", "cyclegan:\(out.path)", "--epochs", "1", "--tiles-per-epoch",
            "2", "--validation-tiles", "1", "--tile-size", "64",
        ])
        #expect(detectorTrain.status == 0, "\(detectorTrain.stderr)")
        #expect(detectorTrain.stdout.contains("through the CycleGAN generator"), "\(detectorTrain.stdout)")
        let detectorMetadata = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: detector.deletingPathExtension().appendingPathExtension("json")))
                as? [String: Any])
        #expect(detectorMetadata["realism_model"] as? String == "cyclegan:\(out.path)")
        let wrongSize = try await CLI.run([
            "train", "--out", detector.path, "--realism", "cyclegan:\(out.path)", "--pixel-size", "0.25", "--epochs",
            "1",
        ])
        #expect(wrongSize.status != 0 && wrongSize.stderr.contains("trained at 0.2 Å/px"), "\(wrongSize.stderr)")
        let withMatch = try await CLI.run([
            "train", "--out", detector.path, "--realism", "cyclegan:\(out.path)", "--match", frame, "--epochs", "1",
        ])
        #expect(withMatch.status != 0 && withMatch.stderr.contains("leave out --match"), "\(withMatch.stderr)")
        let notGenerator = try await CLI.run([
            "train", "--out", detector.path, "--realism", "cyclegan:\(detector.path)", "--epochs", "1",
        ])
        #expect(notGenerator.status != 0 && notGenerator.stderr.contains("not a generator"), "\(notGenerator.stderr)")
        // Distances: the frames' own other sample is the nearest; each row has all three measures.
        let distance = try await CLI.run([
            "realism", "distance", frame, "--pixel-size", "0.2", "--generator", out.path, "--tiles", "8", "--tile-size",
            "32",
        ])
        #expect(distance.status == 0, "\(distance.stderr)")
        let names = ["frames (another", "clean simulations", "fitted condition", "CycleGAN generator"]
        let rows = distance.stdout.split(separator: "\n").filter { row in names.contains { row.hasPrefix($0) } }
        #expect(rows.count == 4, "\(distance.stdout)")
        let histograms = rows.compactMap { row in row.split(separator: " ").compactMap { Double($0) }.first }
        #expect(histograms.count == 4 && histograms[0] < histograms[1], "\(distance.stdout)")
        // Another shape of network cannot resume from this checkpoint.
        let mismatch = try await CLI.run(
            ["realism", "train", frame, "--pixel-size", "0.2", "--out", out.path, "--steps", "12", "--resume"]
                + Self.tiny.map { $0 == "1" ? "2" : $0 })
        #expect(mismatch.status != 0 && mismatch.stderr.contains("another configuration"), "\(mismatch.stderr)")
    }

    @Test("bad requests are refused with what to change")
    func refusals() async throws {
        let noFrames = try await CLI.run(["realism", "train", "--out", "/tmp/never.safetensors"])
        #expect(noFrames.status != 0 && noFrames.stderr.contains("give the microscope's frames"))
        let frame = ImageFilesCLITests.frame.path
        let uncalibrated = try await CLI.run(["realism", "train", frame, "--out", "/tmp/never.safetensors"])
        #expect(
            uncalibrated.status != 0 && uncalibrated.stderr.contains("needs --pixel-size"), "\(uncalibrated.stderr)")
        let tile = try await CLI.run([
            "realism", "train", frame, "--pixel-size", "0.2", "--out", "/tmp/never.safetensors", "--tile-size", "30",
        ])
        #expect(tile.status != 0 && tile.stderr.contains("multiple of 4"), "\(tile.stderr)")
        let resume = try await CLI.run([
            "realism", "train", frame, "--pixel-size", "0.2", "--out", "/tmp/never-\(UUID()).safetensors", "--resume",
        ])
        #expect(resume.status != 0 && resume.stderr.contains("no checkpoint"), "\(resume.stderr)")
        let realism = try await CLI.run(["train", "--out", "/tmp/never.safetensors", "--realism", "gan"])
        #expect(realism.status != 0 && realism.stderr.contains("fitted or cyclegan:"), "\(realism.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never.safetensors"))
    }
}
