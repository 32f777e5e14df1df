import ChildProcess
import Foundation
import PolicyHost
import PolicyKit
import ScopePilotTestSupport
import Testing
import Transport
import WireProtocol

/// The daemon's end of the policy protocol against the `scopepilot` Python package's policy
/// process: a good policy, and each way a policy fails.
@Suite("External policy host and the Python policy process", .serialized)
struct ExternalPolicyHostTests {
    /// Writes `source` as a script and starts a host on its class `TestPolicy`.
    static func host(
        _ source: String, parameters: String = "{}", deadline: Duration = .seconds(3)
    ) async throws -> (ExternalPolicyHost, URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-policy-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let script = folder.appendingPathComponent("test_policy.py")
        try source.write(to: script, atomically: true, encoding: .utf8)
        let spec = ExternalPolicySpec(
            python: try TestPython.interpreter, script: script.path, className: "TestPolicy",
            parametersJSON: Data(parameters.utf8), startTimeout: .seconds(30), deadline: deadline)
        return (try await ExternalPolicyHost(spec, context: try ZMQContext()), folder)
    }

    /// An observation of a survey frame with two communities, the left one darker.
    static func observation(step: Int = 1) -> Observation {
        let scan = ScanGeometry(centerX: 100, centerY: -50, fovX: 200, width: 128, height: 128, dwell: 2)
        let frame = FrameSummary(
            seq: 4, scan: scan, stage: StagePosition(x: 100, y: -50), time: 1, dose: 12.5,
            channels: [ChannelStatistics(name: "HAADF", mean: 0.5, std: 0.3)])
        return Observation(
            step: step, elapsed: 2, frame: frame,
            communities: [
                CommunityObservation(
                    id: 3, chips: 10, area: 6000, defects: 0, x: 50, y: -40,
                    channels: [ChannelStatistics(name: "HAADF", mean: 0.1, std: 0.02)]),
                CommunityObservation(
                    id: 7, chips: 6, area: 3000, defects: 2, x: 160, y: -60,
                    channels: [ChannelStatistics(name: "HAADF", mean: 0.9, std: 0.02)]),
            ],
            lastOutcome: .refused(.moveStage(x: 1e9, y: 0), reason: "outside stage_x_nm"), map: SessionMap(),
            envelope: SafetyEnvelope(),
            thumbnail: FrameThumbnail(width: 4, height: 2, pixels: [0, 0, 1, 1, 0, 0, 1, 1]))
    }

    static let darkest = """
        from scopepilot import Policy, Decision, Scan, EndSession, Candidate

        class TestPolicy(Policy):
            name, version = "darkest", "1.2"

            def __init__(self, fov_nm=8.0, zooms=1):
                self.fov_nm, self.zooms, self.done = fov_nm, zooms, 0

            def decide(self, observation):
                if self.done == self.zooms:
                    return Decision(EndSession(), "enough zooms")
                self.done += 1
                darkest = min(observation.communities, key=lambda c: c.channels[0].mean)
                return Decision(
                    Scan(darkest.x_nm, darkest.y_nm, self.fov_nm, pixels=256, dwell_us=5),
                    f"community {darkest.id} is the darkest (thumbnail {observation.thumbnail.shape}, "
                    f"dose {observation.frame.dose_e_per_A2}, last {observation.last_outcome.status})",
                    [Candidate(Scan(c.x_nm, c.y_nm, self.fov_nm, pixels=256), -c.channels[0].mean)
                     for c in observation.communities])
        """

    @Test("a Python policy is set up with the file's parameters and answers observations with checked decisions")
    func decisions() async throws {
        let (host, folder) = try await Self.host(Self.darkest, parameters: #"{"fov_nm": 6.5, "zooms": 1}"#)
        defer { try? FileManager.default.removeItem(at: folder) }
        let identity = try await host.start(session: "s-test", envelope: SafetyEnvelope())
        #expect(identity.name == "darkest" && identity.version == "1.2")
        #expect(identity.parametersJSON.contains(#""fov_nm":6.5"#), "\(identity.parametersJSON)")
        #expect(identity.waitsForAnalysis)
        let decision = try await host.decide(Self.observation())
        #expect(
            decision.action
                == .scan(ScanGeometry(centerX: 50, centerY: -40, fovX: 6.5, width: 256, height: 256, dwell: 5)))
        #expect(decision.reason.contains("community 3 is the darkest"), "\(decision.reason)")
        #expect(decision.reason.contains("thumbnail (2, 4)") && decision.reason.contains("dose 12.5"))
        #expect(decision.reason.contains("last refused"))
        #expect(decision.candidates.map(\.score) == [-0.1, -0.9])
        let last = try await host.decide(Self.observation(step: 2))
        #expect(last.action == .endSession)
        #expect(await host.stop(reason: "done") == .exited(0))
    }

    @Test("the map's visits travel once each, and again when their analysis changed them; the policy sees them all")
    func visitsTravelOnce() async throws {
        let (host, folder) = try await Self.host(
            """
            from scopepilot import Policy, Decision, EndSession
            class TestPolicy(Policy):
                def decide(self, observation):
                    seen = observation.raw["map"]
                    return Decision(EndSession(), f"{[v.defects for v in observation.map.visits]} "
                                                  f"from {seen['first_visit']} of {seen['visit_count']}")
            """)
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try await host.start(session: "s-test", envelope: SafetyEnvelope())
        func visit(_ seq: UInt64, _ defects: Int?) -> SessionMap.Visit {
            let scan = ScanGeometry(centerX: Double(seq), centerY: 0, fovX: 10, width: 64, height: 64, dwell: 1)
            return SessionMap.Visit(seq: seq, scan: scan, dose: 1, defects: defects, communities: [])
        }
        func observation(_ visits: [SessionMap.Visit]) -> Observation {
            var map = SessionMap()
            for v in visits { map.record(v) }
            return Observation(step: 0, elapsed: 0, frame: nil, map: map, envelope: SafetyEnvelope())
        }
        let first = try await host.decide(observation([visit(0, 2), visit(1, nil)]))
        #expect(first.reason == "[2, None] from 0 of 2")
        let second = try await host.decide(observation([visit(0, 2), visit(1, 5), visit(2, nil)]))
        #expect(second.reason == "[2, 5, None] from 1 of 3", "the changed visit is sent again")
        let third = try await host.decide(observation([visit(0, 2), visit(1, 5), visit(2, nil), visit(3, 1)]))
        #expect(third.reason == "[2, 5, None, 1] from 3 of 4", "only the new visit")
        _ = await host.stop(reason: "done")
    }

    /// How the policy in `source` fails: at the start, or at its first decision.
    static func failure(
        _ source: String, deadline: Duration = .seconds(3), starting: Bool = false
    ) async throws -> ExternalPolicyError {
        let (host, folder) = try await Self.host(source, deadline: deadline)
        defer { try? FileManager.default.removeItem(at: folder) }
        var failure: ExternalPolicyError?
        do {
            _ = try await host.start(session: "s-test", envelope: SafetyEnvelope())
            if starting { Issue.record("the policy started") }
            _ = try await host.decide(Self.observation())
        } catch {
            failure = error
        }
        _ = await host.stop(reason: "the test is over")
        return try #require(failure, "the policy did not fail")
    }

    @Test("a policy that raises at import fails the start with its own traceback")
    func raisesAtImport() async throws {
        let error = try await Self.failure("import numpy\nraise RuntimeError('no calibration file')\n", starting: true)
        #expect(error.kind == .policy)
        #expect(error.message.contains("RuntimeError: no calibration file"))
        #expect(error.traceback?.contains("test_policy.py") == true && error.traceback?.contains("line 2") == true)
    }

    @Test("a policy that raises in decide, or returns what is not a decision, fails that decision with why")
    func raisesInDecide() async throws {
        let raising = try await Self.failure(
            """
            from scopepilot import Policy
            class TestPolicy(Policy):
                def decide(self, observation):
                    return 1 / 0
            """)
        #expect(raising.kind == .policy && raising.message.contains("ZeroDivisionError"))
        #expect(raising.traceback?.contains("decide") == true)
        let garbage = try await Self.failure(
            """
            from scopepilot import Policy
            class TestPolicy(Policy):
                def decide(self, observation):
                    return {"type": "scan", "center_x_nm": 0}
            """)
        #expect(garbage.kind == .policy && garbage.message.contains("not a scopepilot.Decision"))
    }

    @Test("a policy that never answers fails at the deadline; one that exits is noticed at once")
    func hangsOrExits() async throws {
        let hanging = try await Self.failure(
            """
            import time
            from scopepilot import Policy
            class TestPolicy(Policy):
                def decide(self, observation):
                    time.sleep(3600)
            """, deadline: .milliseconds(700))
        #expect(hanging.kind == .deadline, "\(hanging)")
        #expect(hanging.message.contains("within"))
        let exiting = try await Self.failure(
            """
            import os, sys
            from scopepilot import Policy
            class TestPolicy(Policy):
                def decide(self, observation):
                    print("giving up", file=sys.stderr, flush=True)
                    os._exit(3)
            """, deadline: .seconds(20))
        // An exit is noticed at once: within the 20 s deadline it would be a `.deadline` failure.
        #expect(exiting.kind == .exited, "\(exiting)")
        #expect(exiting.message.contains("3"), "\(exiting.message)")
        #expect(exiting.traceback?.contains("giving up") == true, "the policy's stderr is kept: \(exiting)")
    }
}
