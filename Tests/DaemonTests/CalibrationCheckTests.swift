import Daemon
import DecisionLog
import Foundation
import PolicyKit
import Synchronization
import Testing
import WireProtocol

/// The daemon checks each atomic-resolution frame's pixel size against its lattice.
@Suite("The pixel-size check in a session", .serialized)
struct CalibrationCheckTests {
    final class Recorder: Sendable {
        let frames = Mutex<[FrameSummary]>([])
    }

    /// Three atomic-resolution frames in a row, then the end; records each frame it was shown.
    struct ThreeFrames: ScanPolicy {
        let name = "three-frames"
        let version = "1"
        var parameters: [String: String] { [:] }
        let recorder: Recorder
        var scans = 0

        mutating func decide(_ observation: Observation) -> PolicyDecision {
            if let frame = observation.frame { recorder.frames.withLock { $0.append(frame) } }
            guard scans < 3 else { return PolicyDecision(.endSession, reason: "three frames") }
            scans += 1
            let region = ScanGeometry(
                centerX: -120 + Double(scans) * 3, centerY: 60, fovX: 2.56, width: 128, height: 128, dwell: 10)
            return PolicyDecision(.scan(region), reason: "frame \(scans)")
        }
    }

    /// A session of three frames whose headers report `factor` times the true field of view.
    static func session(
        fieldOfViewError factor: Double
    ) async throws -> (
        frames: [FrameSummary], detections: Int, refusals: [String], logged: Int
    ) {
        let recorder = Recorder()
        let harness = try await DaemonHarness(
            policy: PolicyFile(policy: ThreeFrames(recorder: recorder), source: "tests"), model: "se1")
        defer { harness.finish() }
        await harness.recorder.miscalibrate(by: factor)
        let daemon = try await harness.run()
        #expect(daemon.status.endStatus == "finished", "\(daemon.status.ending ?? "-")")
        let log = try harness.log()
        let refusals = try log.query("SELECT error FROM rejected_inputs WHERE source = 'calibration'").column("error")
        return (
            recorder.frames.withLock { $0 }, try log.count("detections"), refusals.compactMap { $0 },
            try log.count("frames")
        )
    }

    @Test("A frame whose header is 1.6 times off is logged, not analysed for defects, and the policy is told")
    func miscalibrated() async throws {
        let run = try await Self.session(fieldOfViewError: 1.6)
        #expect(run.logged == 3, "every frame is still logged")
        #expect(run.detections == 0, "no defects judged at the wrong scale")
        #expect(run.refusals.count == 3)
        #expect(run.refusals.allSatisfy { $0.contains("not analysed for defects") && $0.contains("0.32 Å given") })
        #expect(run.frames.count == 3)
        for frame in run.frames {
            let reading = try #require(frame.pixelSize, "the policy sees the reading")
            #expect(!reading.consistent)
            #expect(abs(reading.claimed - 0.32) < 1e-9)
            #expect(abs(reading.measured / 0.2 - 1) < 0.06, "\(reading)")
        }
    }

    @Test("A true calibration passes: defects found, no refusal, the policy sees it agree")
    func calibrated() async throws {
        let run = try await Self.session(fieldOfViewError: 1)
        #expect(run.logged == 3)
        #expect(run.detections > 0)
        #expect(run.refusals.isEmpty)
        #expect(run.frames.count == 3 && run.frames.allSatisfy { $0.pixelSize?.consistent == true })
    }
}
