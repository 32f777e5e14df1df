import DefectDetection
import Foundation
import NeuralNetwork
import ScopePilotTestSupport
import Testing

/// Runs the built `scopepilot` executable, as a user would.
struct CLI {
    static let binary = BuiltProducts.scopepilot

    static func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try await TestProcess.run(binary, arguments)
        return (result.status, result.stdout, result.stderr)
    }

    /// Renders one 256-pixel, 0.2 Å/px day-B frame of the virtual microscope into `folder` and
    /// returns the folder (HAADF.npy, MAADF.npy, ...).
    static func renderDayBFrame(into folder: URL) async throws -> URL {
        let render = try await run([
            "sim", "render", "--scenario", "day-a-to-day-b", "--minute", "40", "--fov", "5.12", "--pixels", "256",
            "--out", folder.path,
        ])
        #expect(render.status == 0, "\(render.stderr)")
        return folder
    }
}

@Suite("The scopepilot command line", .serialized)
struct CLITests {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "scopepilot-cli-\(UUID().uuidString)")

    @Test("--help lists the commands")
    func help() async throws {
        let result = try await CLI.run(["--help"])
        #expect(result.status == 0)
        for command in ["version", "keys", "sim", "train", "detect", "eval-detector", "run", "demo", "log"] {
            #expect(result.stdout.contains(command))
        }
    }

    @Test("sim render writes a frame with its labels, and detect reads it and reports defects as JSON")
    func renderThenDetect() async throws {
        let frames = Self.folder.appendingPathComponent("frames")
        let render = try await CLI.run([
            "sim", "render", "--x=-120", "--y", "60", "--fov", "6", "--pixels", "256", "--out", frames.path,
        ])
        #expect(render.status == 0, "\(render.stderr)")
        for name in ["HAADF.npy", "HAADF.tif", "HAADF.png", "MAADF.npy", "labels.json", "regions.png"] {
            #expect(FileManager.default.fileExists(atPath: frames.appendingPathComponent(name).path), "\(name) missing")
        }
        // Any model will do to check the plumbing: an untrained one, saved as `scopepilot train` would.
        let model = Self.folder.appendingPathComponent("model.safetensors")
        try DefectDetector(architecture: .init(classes: 2, width: 4, depth: 2), pixelSize: 0.2).save(to: model)
        let detect = try await CLI.run([
            "detect", frames.appendingPathComponent("HAADF.npy").path, frames.appendingPathComponent("HAADF.tif").path,
            "--pixel-size", "0.234", "--model", model.path, "--threshold", "0.3",
        ])
        #expect(detect.status == 0, "\(detect.stderr)")
        let lines = detect.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(object["pixel_size_angstrom"] as? Double == 0.234)
            #expect(object["defects"] is [Any])
        }
    }

    @Test("detect and segment refuse a pixel size the image's lattice disagrees with, and measure it with auto")
    func pixelSizeCheck() async throws {
        let frames = Self.folder.appendingPathComponent("calibration")
        defer { try? FileManager.default.removeItem(at: frames) }
        // 4.096 nm over 256 px: 0.16 Å per pixel.
        let render = try await CLI.run([
            "sim", "render", "--x=-120", "--y", "60", "--fov", "4.096", "--pixels", "256", "--out", frames.path,
        ])
        #expect(render.status == 0, "\(render.stderr)")
        let image = frames.appendingPathComponent("HAADF.npy").path
        let wrong = try await CLI.run(["detect", image, "--pixel-size", "1.0"])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.isEmpty, "nothing reported at the wrong scale")
        #expect(wrong.stderr.contains("Å per pixel, not the 1 Å given"), "\(wrong.stderr)")
        #expect(wrong.stderr.contains("means 0.15") || wrong.stderr.contains("means 0.16"), "\(wrong.stderr)")
        #expect(wrong.stderr.contains("--pixel-size auto"))

        let auto = try await CLI.run(["detect", image, "--pixel-size", "auto"])
        #expect(auto.status == 0, "\(auto.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(auto.stdout.utf8)) as? [String: Any])
        let used = try #require(object["pixel_size_angstrom"] as? Double)
        #expect(abs(used / 0.16 - 1) < 0.03, "\(used)")
        #expect(object["measured_pixel_size_angstrom"] as? Double == used)

        let unchecked = try await CLI.run(["detect", image, "--pixel-size", "1.0", "--no-pixel-size-check"])
        #expect(unchecked.status == 0, "the check can be turned off for a sample that is not WSe2")

        let segment = try await CLI.run(["segment", image, "--pixel-size", "1.0", "--chip", "1.6", "--model", "none"])
        #expect(segment.status != 0)
        #expect(segment.stderr.contains("Å per pixel, not the 1 Å given"), "\(segment.stderr)")
        let segmentAuto = try await CLI.run(["segment", image, "--pixel-size", "auto", "--model", "none"])
        #expect(segmentAuto.status == 0, "\(segmentAuto.stderr)")
    }

    @Test("sim render gives the same frame, bit for bit, in separate runs")
    func renderRepeats() async throws {
        var frames: [Data] = []
        for run in 0..<2 {
            let folder = Self.folder.appendingPathComponent("repeat-\(run)")
            let render = try await CLI.run([
                "sim", "render", "--x=-120", "--y", "60", "--fov", "5", "--pixels", "200", "--out", folder.path,
            ])
            #expect(render.status == 0, "\(render.stderr)")
            frames.append(try Data(contentsOf: folder.appendingPathComponent("HAADF.npy")))
        }
        #expect(frames[0] == frames[1])
    }

    @Test(
        "detect refuses bad inputs one by one, with reasons, and goes on with the rest",
        arguments: [
            (["--pixel-size", "0"], "not plausible"),
            (["--pixel-size", "0.2", "--model", "/nonexistent.safetensors"], "cannot load the model"),
        ])
    func refusals(arguments: [String], reason: String) async throws {
        let result = try await CLI.run(
            ["detect", "/nonexistent.npy"] + arguments + (arguments.contains("--model") ? [] : ["--model", "x"]))
        #expect(result.status != 0)
        #expect(result.stderr.contains(reason), "\(result.stderr)")
    }

    @Test("unreadable, 3-D and foreign files each get their own error; good files are still processed")
    func badFiles() async throws {
        let model = Self.folder.appendingPathComponent("model2.safetensors")
        try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
        try DefectDetector(architecture: .init(classes: 2, width: 4, depth: 2), pixelSize: 0.2).save(to: model)
        let text = Self.folder.appendingPathComponent("notes.txt")
        try Data("hello".utf8).write(to: text)
        let small = Self.folder.appendingPathComponent("small.tif")
        try Data([0x49, 0x49, 42, 0]).write(to: small)
        let result = try await CLI.run([
            "detect", "/nonexistent.npy", text.path, small.path, "--pixel-size", "0.2", "--model", model.path,
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent.npy: cannot read the file"), "\(result.stderr)")
        #expect(result.stderr.contains("unsupported file type '.txt'"))
        #expect(result.stderr.contains("small.tif"))
    }
}
