import Daemon
import Foundation
import PolicyKit
import Synchronization
import Testing
import WireProtocol

/// What a policy is shown in a real session, against the virtual microscope.
@Suite("Observations in a session", .serialized)
struct ObservationInSessionTests {
    /// Keeps every observation its policy is shown.
    final class Recorder: Sendable {
        let seen = Mutex<[Observation]>([])
    }

    /// Two survey frames, then the end; records what it was shown.
    struct LookAround: ScanPolicy {
        let name = "look-around"
        let version = "1"
        var parameters: [String: String] { [:] }
        let recorder: Recorder
        var looks = 0

        mutating func decide(_ observation: Observation) -> PolicyDecision {
            recorder.seen.withLock { $0.append(observation) }
            guard looks < 2 else { return PolicyDecision(.endSession, reason: "two looks") }
            looks += 1
            let region = ScanGeometry(
                centerX: Double(looks) * 150, centerY: 0, fovX: 204.8, width: 128, height: 128, dwell: 2)
            return PolicyDecision(.scan(region), reason: "look \(looks)")
        }
    }

    @Test("each frame's dose and brightness, its communities' places and brightness, and a thumbnail reach the policy")
    func detailsReachThePolicy() async throws {
        let recorder = Recorder()
        let harness = try await DaemonHarness(
            policy: PolicyFile(policy: LookAround(recorder: recorder), source: "tests"))
        defer { harness.finish() }
        let daemon = try await harness.run()
        #expect(daemon.status.endStatus == "finished", "\(daemon.status.ending ?? "-")")
        let seen = recorder.seen.withLock { $0 }
        #expect(seen.count == 3)
        #expect(seen.first?.frame == nil && seen.first?.thumbnail == nil, "nothing before the first frame")
        for observation in seen.dropFirst() {
            let frame = try #require(observation.frame)
            let dose = try #require(frame.dose)
            #expect(dose > 0 && dose.isFinite)
            // The map's dose for the frame's place includes this frame's.
            #expect(observation.map.dose(atX: frame.scan.centerX, y: frame.scan.centerY) >= dose * 0.999)
            #expect(!frame.channels.isEmpty)
            let thumbnail = try #require(observation.thumbnail)
            #expect(thumbnail.width <= 128 && thumbnail.height <= 128 && thumbnail.pixels.count > 0)
            #expect(!observation.communities.isEmpty)
            for community in observation.communities {
                let x = try #require(community.x)
                let y = try #require(community.y)
                // Its centre lies inside the frame it was seen in.
                #expect(abs(x - frame.scan.centerX) <= frame.scan.fovX / 2)
                #expect(abs(y - frame.scan.centerY) <= frame.scan.fovY / 2)
                #expect(community.channels.count == frame.channels.count)
            }
            #expect(observation.chips.allSatisfy { $0.channels.count == frame.channels.count })
        }
        let dose = try #require(seen.last?.map.doseMap())
        #expect(dose.peak > 0)
    }
}
