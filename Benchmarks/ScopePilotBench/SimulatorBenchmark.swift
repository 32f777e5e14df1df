import ArgumentParser
import ChildProcess
import Foundation
import Simulator
import WireProtocol

/// `scopepilot-bench sim`: time to render virtual-microscope frames with noise, beside
/// nionswift-usim's image generator on the same frame sizes in the same run.
struct SimulatorBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim", abstract: "Virtual-microscope render time beside nionswift-usim.")

    @Option(help: "Repetitions per case; the best is reported.") var repeats = 5
    @Option(help: "Python with nionswift-usim for the peer (default: .venv/bin/python).") var python =
        ".venv/bin/python"

    struct Case {
        let name: String
        let geometry: ScanGeometry
    }

    func run() async throws {
        let cases = [
            Case(
                name: "atomic 512x512 (0.2 Å/px)",
                geometry: ScanGeometry(centerX: -120, centerY: 60, fovX: 10.24, width: 512, height: 512, dwell: 20)),
            Case(
                name: "atomic 1024x1024 (0.2 Å/px)",
                geometry: ScanGeometry(centerX: -120, centerY: 60, fovX: 20.48, width: 1024, height: 1024, dwell: 20)),
            Case(
                name: "survey 1024x1024 (1 nm/px)",
                geometry: ScanGeometry(centerX: 0, centerY: 0, fovX: 1024, width: 1024, height: 1024, dwell: 20)),
        ]
        print(
            "Virtual microscope: one HAADF frame with drift, scan distortion, Poisson and read noise, and ground truth;"
        )
        print("best of \(repeats) on this machine (one core of floating point).\n")
        let scope = VirtualMicroscope()
        var ours: [String: Double] = [:]
        for entry in cases {
            _ = scope.acquire(entry.geometry, channels: ["HAADF"], deposit: false)
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = ContinuousClock.now
                _ = scope.acquire(entry.geometry, channels: ["HAADF"], deposit: false)
                best = min(best, (ContinuousClock.now - start).seconds)
            }
            ours[entry.name] = best * 1000
            print(String(format: "%-30@ %8.1f ms", entry.name as NSString, best * 1000))
        }
        print(
            String(
                format: "target: 512x512 atomic in at most 30 ms: %@",
                (ours[cases[0].name]! <= 30 ? "met" : "NOT met") as NSString))

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("peers/usim_render.py").path
        let peer = try await ChildProcess.run(URL(fileURLWithPath: python), [script, "--repeats", "\(repeats)"])
        print("\nPeer, same run:\n" + peer.stdout + peer.stderr)
        print(
            """
            How the physics differs. nionswift-usim draws features (a flake, gold balls, an amorphous
            background) as smooth shapes with noise whose signal-to-noise ratio does not depend on dwell
            or current; its HAADF image ignores focus, its drift is switched off, and it has no ground
            truth. ScopePilot's virtual microscope places every W and Se
            column of the WSe2 lattice (with vacancies, damage and contamination) on the grid, convolves
            them with the probe intensity computed from the aberration function (defocus, astigmatism,
            coma, Cs) and a source blur, samples each pixel where drift and the scan's distortions put the
            beam, draws Poisson counts from the dose, adds detector gain, offset and read noise, and
            returns the ground truth; that is where its extra time goes.
            """)
    }
}
