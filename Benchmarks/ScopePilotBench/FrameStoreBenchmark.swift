import ArgumentParser
import Foundation
import ImageIO
import ImageNumerics
import Simulator
import WireProtocol

/// `scopepilot-bench store`: the cost of keeping frames of record (`--store-pixels`): virtual-
/// microscope frames as the simulated driver sends them (16-bit counts, HAADF and MAADF), each
/// channel deflated (level 1) after TIFF's predictor, as the daemon's frame store writes them,
/// beside tifffile writing the same arrays with the same settings in the same run (its deflate is
/// libdeflate's, through imagecodecs; ScopePilot's the system zlib's).
struct FrameStoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Frames of record: write cost, size and compression beside tifffile.")

    @Option(help: "Frame side, pixels.") var pixels = 1024
    @Option(help: "Frames.") var frames = 6
    @Option(help: "Python with tifffile for the peer (default: .venv/bin/python).") var python = ".venv/bin/python"

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-store-\(ProcessInfo.processInfo.processIdentifier)")
        let ours = directory.appendingPathComponent("scopepilot")
        try FileManager.default.createDirectory(at: ours, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pixelSize = 0.2
        let scope = VirtualMicroscope(noiseSeed: 3)
        var seconds = 0.0
        var written = 0
        var raw = 0
        var files = 0
        for index in 0..<frames {
            let geometry = ScanGeometry(
                centerX: -120 + 13 * Double(index), centerY: 60, fovX: Double(pixels) * pixelSize / 10, width: pixels,
                height: pixels, dwell: 10)
            let acquired = scope.acquire(geometry, channels: ["HAADF", "MAADF"], deposit: false)
            for name in ["HAADF", "MAADF"] {
                guard let image = acquired.channels[name] else { throw ValidationError("no \(name) frame") }
                var bytes = [UInt8](repeating: 0, count: 2 * image.pixels.count)
                for (i, value) in image.pixels.enumerated() {
                    let count = UInt16(clamping: Int(value.rounded()))
                    bytes[2 * i] = UInt8(count & 0xFF)
                    bytes[2 * i + 1] = UInt8(count >> 8)
                }
                let stem = "frame-\(index)-\(name)"
                let counts = Image(
                    width: image.width, height: image.height,
                    pixels: image.pixels.map { Float(UInt16(clamping: Int($0.rounded()))) })
                try NumpyFile.write(counts, as: .uint16, to: directory.appendingPathComponent("\(stem).npy"))
                let start = ContinuousClock.now
                let encoded = TIFFFile.encode(
                    samples: bytes, width: pixels, height: pixels, type: .uint16, compression: .deflate(level: 1),
                    pixelSize: pixelSize)
                try Data(encoded).write(to: ours.appendingPathComponent("\(stem).tif"))
                seconds += (ContinuousClock.now - start).seconds
                written += encoded.count
                raw += bytes.count
                files += 1
            }
        }
        let peer = try await PythonPeer.run(
            python: python, script: "tifffile_store.py", arguments: [directory.path], requirement: "tifffile")
        guard let peerSeconds = peer["seconds_per_file"] as? Double, let peerBytes = peer["bytes"] as? Int,
            let identical = peer["identical"] as? Bool
        else { throw ValidationError("the tifffile peer printed an incomplete result") }
        let perFile = seconds / Double(files)
        let perFrame = written / frames
        print("\(frames) frames of \(pixels) x \(pixels), HAADF and MAADF as 16-bit counts (10 µs, virtual microscope)")
        print("one TIFF per channel, deflate level 1 after the horizontal predictor, pixel size in the file\n")
        print("                     write per channel   per frame (2 ch)   bytes per frame   ratio   1000 frames")
        print(
            String(
                format: "ScopePilot           %10.1f ms      %10.1f ms      %12.2f MB    %4.2fx   %6.2f GB",
                perFile * 1000,
                2 * perFile * 1000, Double(perFrame) / 1e6, Double(raw) / Double(written), Double(perFrame) * 1000 / 1e9
            ))
        print(
            String(
                format: "tifffile (same)      %10.1f ms      %10.1f ms      %12.2f MB    %4.2fx   %6.2f GB",
                peerSeconds * 1000,
                2 * peerSeconds * 1000, Double(peerBytes / frames) / 1e6, Double(raw) / Double(peerBytes),
                Double(peerBytes / frames) * 1000 / 1e9))
        print("\ntifffile reads ScopePilot's files back exactly: \(identical ? "yes" : "NO")")
        // The fastest frame a STEM takes at this size: 1 µs a pixel.
        let acquisition = Double(pixels * pixels) * 1e-6
        let met = 2 * perFile <= acquisition / 10 && Double(written) <= 1.02 * Double(peerBytes)
        print(
            String(
                format:
                    "target: a frame's channels written in under a tenth of its fastest acquisition (%.0f ms at 1 µs) and files within 2 %% of tifffile's: %@",
                acquisition * 100, met ? "met" : "NOT met"))
        print("(tifffile deflates with libdeflate through imagecodecs; ScopePilot with the system zlib)")
    }
}
