import ArgumentParser
import Foundation
import ImageIO
import ImageNumerics
import Simulator
import WireProtocol

/// `scopepilot-bench drift`: sub-pixel drift registration on virtual-microscope frame pairs with
/// known displacements at several doses, beside scikit-image's `phase_cross_correlation`
/// (upsample factor 100) on the same pairs in the same run.
struct DriftBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift", abstract: "Drift registration: error and time beside scikit-image.")

    @Option(help: "Frame side, pixels.") var pixels = 512
    @Option(help: "Pairs per dose.") var pairs = 10
    @Option(help: "Python with scikit-image for the peer (default: .venv/bin/python).") var python = ".venv/bin/python"

    func run() async throws {
        let pixelSize = 0.2  // Å
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-drift-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        print(
            "Frame pairs of \(pixels) x \(pixels) at \(pixelSize) Å/px (WSe2 lattice, Poisson and read noise), the second scanned"
        )
        print("with its centre moved by a known sub-pixel amount (within ±3 px); \(pairs) pairs per dose.")
        print("ScopePilot: band 0.4 of Nyquist, search within 8 px; scikit-image: its defaults.\n")
        print(
            "dwell  e/px     ScopePilot: error mean/median   time      scikit-image: error mean/median   time     speed-up"
        )
        var random = SplitMix64(seed: 5)
        // For atomic-resolution frames: frequencies up to 0.4 of Nyquist (the probe passes nothing
        // finer at 0.2 Å/px), displacements up to half a lattice period.
        let registration = PhaseCorrelation(width: pixels, height: pixels, band: 0.4, maximumShift: 8)
        var allOK = true
        for dwell in [1.0, 4.0, 16.0] {
            let scope = VirtualMicroscope(distortion: .none, noiseSeed: UInt64(dwell * 10))
            var records: [[String: Any]] = []
            var errors: [Double] = []
            var seconds = 0.0
            for index in 0..<pairs {
                let dx = (random.unit() * 6 - 3)
                let dy = (random.unit() * 6 - 3)
                let fov = Double(pixels) * pixelSize / 10
                let base = ScanGeometry(
                    centerX: -100 + 3 * Double(index), centerY: 40, fovX: fov, width: pixels, height: pixels,
                    dwell: dwell)
                var moved = base
                // Moving the scan by +δ moves the content by −δ.
                moved.centerX -= dx * pixelSize / 10
                moved.centerY -= dy * pixelSize / 10
                guard let reference = scope.acquire(base, channels: ["HAADF"], deposit: false).channels["HAADF"],
                    let moving = scope.acquire(moved, channels: ["HAADF"], deposit: false).channels["HAADF"]
                else { throw ValidationError("the virtual microscope gave no HAADF frame") }
                let start = ContinuousClock.now
                let found = try registration.shift(of: moving, against: reference)
                seconds += (ContinuousClock.now - start).seconds
                errors.append(((found.x - dx) * (found.x - dx) + (found.y - dy) * (found.y - dy)).squareRoot())
                let r = directory.appendingPathComponent("r\(Int(dwell))-\(index).npy")
                let m = directory.appendingPathComponent("m\(Int(dwell))-\(index).npy")
                try NumpyFile.write(reference, as: .float32, to: r)
                try NumpyFile.write(moving, as: .float32, to: m)
                records.append(["reference": r.path, "moving": m.path, "dx": dx, "dy": dy])
            }
            try JSONSerialization.data(withJSONObject: ["pairs": records]).write(
                to: directory.appendingPathComponent("pairs.json"))
            let peer = try await runPeer(directory)
            let sorted = errors.sorted()
            let mean = errors.reduce(0, +) / Double(errors.count)
            let ours = seconds / Double(pairs)
            let electrons = 30e-12 * dwell * 1e-6 / 1.602e-19
            allOK = allOK && mean <= peer.mean * 1.05 && peer.seconds / ours >= 2
            print(
                String(
                    format: "%3.0f µs %6.0f   %10.3f / %.3f px   %7.1f ms   %14.3f / %.3f px   %7.1f ms   %5.1fx",
                    dwell,
                    electrons, mean, sorted[sorted.count / 2], ours * 1000, peer.mean, peer.median, peer.seconds * 1000,
                    peer.seconds / ours))
        }
        print(
            "\ntargets: error no larger than scikit-image's and at least 2x faster at every dose: \(allOK ? "met" : "NOT met")"
        )
    }

    private func runPeer(_ directory: URL) async throws -> (seconds: Double, mean: Double, median: Double) {
        let result = try await PythonPeer.run(
            python: python, script: "skimage_registration.py", arguments: [directory.path],
            requirement: "scikit-image")
        guard let seconds = result["seconds"] as? Double, let mean = result["mean_error"] as? Double,
            let median = result["median_error"] as? Double
        else { throw ValidationError("the scikit-image peer printed an incomplete result") }
        return (seconds, mean, median)
    }
}
