import Daemon
import DecisionLog
import Foundation
import PolicyKit
import ScopePilotTestSupport
import SimulatedDriver
import Testing
import WireProtocol

/// Python policies in whole sessions against the virtual microscope: the policy file's
/// `policy: python`, the examples, and every way a policy can fail, each ending with the beam
/// blanked, nothing sent on the policy's behalf and the policy's own words in the log.
@Suite("Python policies in sessions", .serialized)
struct ExternalPolicySessionTests {
    /// A policy file and its script in a folder of their own.
    struct Fixture {
        let folder: URL
        let file: PolicyFile

        /// Writes `script` as `policy.py` and a policy file naming its class `TestPolicy`, with
        /// `parameters` (a YAML flow mapping, in which `$FOLDER` is the fixture's folder) and
        /// `extra` top-level lines.
        init(script: String, parameters: String = "{pid_file: \"$FOLDER/pid\"}", extra: String = "") throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-python-\(UUID())")
            self.folder = folder
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let parameters = parameters.replacingOccurrences(of: "$FOLDER", with: folder.path)
            try script.write(to: folder.appendingPathComponent("policy.py"), atomically: true, encoding: .utf8)
            let yaml = """
                policy: python
                script: policy.py
                class: TestPolicy
                python: \(try TestPython.interpreter.path)
                parameters: \(parameters)
                \(extra)
                """
            let url = folder.appendingPathComponent("policy.yaml")
            try yaml.write(to: url, atomically: true, encoding: .utf8)
            file = try PolicyFile.load(url, factories: [])
        }

        /// The policy process's pid, as it wrote it.
        func pid() throws -> pid_t {
            let text = try String(contentsOfFile: folder.appendingPathComponent("pid").path, encoding: .utf8)
            return try #require(pid_t(text))
        }

        func remove() { try? FileManager.default.removeItem(at: folder) }
    }

    /// Looks at `looks` places near the standard sample's vacancy-rich zone, then ends; at step
    /// `fail_at` it fails as `fail` says. Writes its pid to `pid_file`.
    static let looker = """
        import os, time
        from scopepilot import Policy, Decision, Scan, EndSession

        class TestPolicy(Policy):
            name, version = "looker", "2.1"

            def __init__(self, looks=2, fail=None, fail_at=1, pid_file=None, marker=None):
                self.looks, self.fail, self.fail_at, self.looked = looks, fail, fail_at, 0
                self.marker = marker
                if pid_file:
                    with open(pid_file, "w") as f:
                        f.write(str(os.getpid()))

            def decide(self, observation):
                if observation.step == self.fail_at and self.fail:
                    if self.marker and os.path.exists(self.marker):
                        pass  # failed once already: behave this time
                    else:
                        if self.marker:
                            open(self.marker, "w").close()
                        if self.fail == "raise":
                            raise ValueError("the policy cannot go on: boom")
                        if self.fail == "garbage":
                            return "left, a bit"
                        if self.fail == "sleep":
                            time.sleep(3600)
                        if self.fail == "exit":
                            os._exit(3)
                if self.looked >= self.looks:
                    return Decision(EndSession(), f"looked {self.looked} times")
                self.looked += 1
                return Decision(Scan(-120 + 4 * self.looked, 60, 3.2, pixels=128, dwell_us=5), f"look {self.looked}")
        """

    /// Runs `fixture`'s policy to the end of its session; returns the daemon and the log.
    static func run(_ fixture: Fixture) async throws -> (ScopePilotDaemon, DecisionLog, DaemonHarness) {
        let harness = try await DaemonHarness(policy: fixture.file)
        let daemon = try await harness.run(limit: .seconds(90))
        return (daemon, try harness.log(), harness)
    }

    /// The session's decisions: (maker, action, chosen JSON, reason, command id or nil).
    static func decisions(_ log: DecisionLog, _ session: String) throws -> [(String, String, String, String, String?)] {
        try log.query(
            """
            SELECT d.policy, json_extract(d.chosen, '$.action'), d.chosen, d.reason, c.id
            FROM decisions d LEFT JOIN commands c ON c.decision_id = d.id WHERE d.session_id = ? ORDER BY d.id
            """, arguments: [session]
        ).rows.map { ($0[0] ?? "", $0[1] ?? "", $0[2] ?? "", $0[3] ?? "", $0[4]) }
    }

    /// What every failing policy's session shows: failed, the failure logged with `words` as a
    /// decision with no command, no scan after it, the beam blanked last, the process gone.
    static func expectSafeEnd(
        _ fixture: Fixture, kind: String, words: [String], scansBefore: Int
    ) async throws {
        defer { fixture.remove() }
        let (daemon, log, harness) = try await run(fixture)
        defer { harness.finish() }
        let status = daemon.status
        let session = try #require(status.session)
        #expect(status.endStatus == "failed", "\(status.ending ?? "")")
        #expect(status.ending?.contains("failed (\(kind))") == true, "\(status.ending ?? "")")
        let rows = try decisions(log, session)
        let failure = try #require(rows.first { $0.2.contains(#""policy_failed":"\#(kind)""#) }, "\(rows)")
        #expect(failure.4 == nil, "nothing is sent on a failed policy's behalf")
        for word in words { #expect(failure.3.contains(word), "\(word) not in: \(failure.3)") }
        let requests = await harness.recorder.requests
        let scans = requests.filter { if case .scan = $0 { true } else { false } }.count
        #expect(scans == scansBefore, "\(requests)")
        guard case .blank(true)? = requests.last else {
            Issue.record("the last thing the instrument did was not blanking the beam: \(requests)")
            return
        }
        #expect(await harness.instrument.isBlanked)
        let pid = try fixture.pid()
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the policy process \(pid) outlived its session")
        try await DaemonSessionTests.checkAccountability(log, session: session, driver: harness.driver)
    }

    @Test("a Python policy runs a session: started, logged under its own name, its scans carried out")
    func runs() async throws {
        let fixture = try Fixture(script: Self.looker, parameters: #"{looks: 3, pid_file: "$FOLDER/pid"}"#)
        defer { fixture.remove() }
        let (daemon, log, harness) = try await Self.run(fixture)
        defer { harness.finish() }
        let session = try #require(daemon.status.session)
        #expect(daemon.status.endStatus == "finished", "\(daemon.status.ending ?? "")")
        #expect(daemon.status.ending == "looked 3 times")
        let rows = try Self.decisions(log, session)
        #expect(rows.first?.1 == "start_policy")
        #expect(rows.first?.3.contains("started the policy looker 2.1") == true, "\(rows.first?.3 ?? "")")
        let policyRows = rows.filter { $0.0 == "looker" }
        #expect(policyRows.map(\.1) == ["scan", "scan", "scan", "end_session"])
        #expect(policyRows.prefix(3).allSatisfy { $0.4 != nil }, "each scan has its command")
        let sessionRow = try log.query("SELECT policy, policy_version, policy_parameters FROM sessions", arguments: [])
        #expect(sessionRow.rows.first?[0] == "looker" && sessionRow.rows.first?[1] == "2.1")
        #expect(sessionRow.rows.first?[2]?.contains(#""looks":3"#) == true, "\(sessionRow.rows)")
        let scans = await harness.recorder.requests.filter { if case .scan = $0 { true } else { false } }
        #expect(scans.count == 3)
        // What the policy was shown is logged with each of its decisions, each visit once.
        let shown = try log.query(
            """
            SELECT o.step, json_extract(o.observation, '$.map.first_visit'),
                   json_extract(o.observation, '$.map.visit_count'), json_array_length(o.observation, '$.map.visits')
            FROM observations o JOIN decisions d ON d.id = o.decision_id WHERE o.session_id = ? ORDER BY o.step
            """, arguments: [session])
        #expect(shown.rows.map { $0[0] } == ["0", "1", "2", "3"])
        #expect(shown.rows.map { $0[2] } == ["0", "1", "2", "3"], "a visit more each step")
        for row in shown.rows {
            let (first, count, sent) = (Int(row[1] ?? "") ?? -1, Int(row[2] ?? "") ?? -1, Int(row[3] ?? "") ?? -1)
            #expect(first + sent == count && sent <= 2, "visits \(first)..<\(count) sent: \(sent)")
        }
        let pid = try fixture.pid()
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the policy process \(pid) outlived its session")
        try await DaemonSessionTests.checkAccountability(log, session: session, driver: harness.driver)
    }

    @Test("a policy that raises at import ends the session before any scan, its traceback logged")
    func raisesAtImport() async throws {
        let script = """
            import os
            with open(os.path.join(os.path.dirname(__file__), "pid"), "w") as f:
                f.write(str(os.getpid()))
            ratio = 1 / 0
            """
        let fixture = try Fixture(script: script)
        try await Self.expectSafeEnd(
            fixture, kind: "policy", words: ["ZeroDivisionError", "policy.py"], scansBefore: 0)
    }

    @Test("a policy that raises in decide: its traceback logged, nothing more sent, the beam blanked")
    func raisesInDecide() async throws {
        let fixture = try Fixture(
            script: Self.looker, parameters: #"{fail: raise, fail_at: 1, pid_file: "$FOLDER/pid"}"#)
        try await Self.expectSafeEnd(
            fixture, kind: "policy", words: ["ValueError: the policy cannot go on: boom", "Traceback"],
            scansBefore: 1)
    }

    @Test("a policy that returns something other than a Decision ends safely")
    func returnsGarbage() async throws {
        let fixture = try Fixture(
            script: Self.looker, parameters: #"{fail: garbage, fail_at: 2, pid_file: "$FOLDER/pid"}"#)
        try await Self.expectSafeEnd(
            fixture, kind: "policy", words: ["not a scopepilot.Decision", "left, a bit"], scansBefore: 2)
    }

    @Test("a policy that sleeps past its deadline is ended and the session ends safely")
    func sleepsForever() async throws {
        let fixture = try Fixture(
            script: Self.looker, parameters: #"{fail: sleep, fail_at: 1, pid_file: "$FOLDER/pid"}"#,
            extra: "deadline_s: 0.5")
        try await Self.expectSafeEnd(fixture, kind: "deadline", words: ["within 0.5 s"], scansBefore: 1)
    }

    @Test("a policy process that exits mid-session ends it safely")
    func exitsMidSession() async throws {
        let fixture = try Fixture(
            script: Self.looker, parameters: #"{fail: exit, fail_at: 1, pid_file: "$FOLDER/pid"}"#)
        try await Self.expectSafeEnd(fixture, kind: "exited", words: ["exited with status 3"], scansBefore: 1)
    }

    @Test("with give_up: pause, a failed policy is started again after the pause and the session goes on")
    func restartsAfterPause() async throws {
        let fixture = try Fixture(
            script: Self.looker, parameters: #"{looks: 2, fail: raise, fail_at: 1, marker: "$FOLDER/failed-once"}"#,
            extra: "give_up: {then: pause, pause_seconds: 1, pauses: 1}")
        defer { fixture.remove() }
        let (daemon, log, harness) = try await Self.run(fixture)
        defer { harness.finish() }
        let session = try #require(daemon.status.session)
        #expect(daemon.status.endStatus == "finished", "\(daemon.status.ending ?? "")")
        let rows = try Self.decisions(log, session)
        #expect(
            rows.map(\.1) == [
                "start_policy", "scan", "none", "pause", "blank_beam", "start_policy", "unblank_beam", "scan", "scan",
                "end_session", "blank_beam",
            ], "\(rows.map(\.1))")
        #expect(rows.filter { $0.1 == "start_policy" }.last?.2.contains(#""start":"2""#) == true)
        // A new process, so a new policy: it looks twice from the start (one look before the failure).
        let scans = await harness.recorder.requests.filter { if case .scan = $0 { true } else { false } }
        #expect(scans.count == 3)
    }

    /// A shipped example, loaded from its own file, with `parameters` merged over the file's to
    /// keep the session small.
    static func example(_ name: String, parameters: [String: Any]) throws -> PolicyFile {
        let url = TestPython.repository.appendingPathComponent("Policies/examples/python/\(name)")
        var file = try PolicyFile.load(url, factories: [])
        var spec = try #require(file.policy.external)
        var merged = try #require(try JSONSerialization.jsonObject(with: spec.parametersJSON) as? [String: Any])
        merged.merge(parameters) { $1 }
        spec.parametersJSON = try JSONSerialization.data(withJSONObject: merged)
        spec.executable = try TestPython.interpreter
        file.policy = .external(spec)
        return file
    }

    @Test("the darkest-communities example surveys, then zooms into the darkest communities' chips")
    func darkestCommunitiesExample() async throws {
        let file = try Self.example(
            "darkest-communities.yaml", parameters: ["survey_fov_nm": 400, "survey_pixels": 256, "zooms": 4])
        let harness = try await DaemonHarness(policy: file)
        defer { harness.finish() }
        let daemon = try await harness.run(limit: .seconds(90))
        let session = try #require(daemon.status.session)
        #expect(daemon.status.endStatus == "finished", "\(daemon.status.ending ?? "")")
        #expect(daemon.status.ending == "4 zooms made")
        let scans = await harness.recorder.requests.compactMap { request -> ScanGeometry? in
            if case .scan(let scan, _) = request { return scan.geometry } else { return nil }
        }
        #expect(scans.count == 5)
        #expect(scans.first?.fovX == 400)
        #expect(scans.dropFirst().allSatisfy { $0.fovX == 10.24 }, "\(scans)")
        // The zooms go to the darkest communities in turn: the communities of the zooms' reasons
        // are the survey's darkest first.
        let log = try harness.log()
        let reasons = try Self.decisions(log, session).filter { $0.0 == "darkest-communities" }.map(\.3)
        #expect(reasons.dropFirst().first?.contains("the survey's darkest") == true, "\(reasons)")
        #expect(reasons.contains { $0.contains("2nd darkest") }, "\(reasons)")
    }

    @Test("the scikit-learn active-learning example chooses zooms by its surrogate, with the dose map")
    func activeLearningExample() async throws {
        let file = try Self.example(
            "gp-active-learning.yaml", parameters: ["zooms": 5, "initial": 2, "zoom_pixels": 128, "grid": 8])
        let harness = try await DaemonHarness(policy: file)
        defer { harness.finish() }
        let daemon = try await harness.run(limit: .seconds(90))
        let session = try #require(daemon.status.session)
        #expect(daemon.status.endStatus == "finished", "\(daemon.status.ending ?? "")")
        let rows = try Self.decisions(try harness.log(), session)
        #expect(rows.first?.2.contains(#""wants":"dose_map""#) == true, "\(rows.first?.2 ?? "")")
        let reasons = rows.filter { $0.0 == "gp-active-learning" }.map(\.3)
        #expect(reasons.filter { $0.hasPrefix("space-filling") }.count == 2, "\(reasons)")
        #expect(reasons.filter { $0.hasPrefix("EI zoom") }.count == 3, "\(reasons)")
        #expect(reasons.last?.hasPrefix("5 zooms made") == true, "\(reasons)")
    }

    /// Random actions, half of them inside the envelope and half with one field outside it.
    static let random = """
        import random
        from scopepilot import Policy, Decision, Scan, MoveStage, AcquireReference, EndSession

        class TestPolicy(Policy):
            name, version = "random", "1"

            def __init__(self, seed=1, steps=40):
                self.random, self.steps = random.Random(seed), steps

            def decide(self, observation):
                r = self.random
                if observation.step >= self.steps:
                    return Decision(EndSession(), "enough")
                x, y, fov, pixels, dwell, count = r.uniform(-480, 480), r.uniform(-480, 480), r.uniform(1, 8), 64, r.uniform(1, 8), 2
                if r.random() < 0.5:
                    bad = r.randrange(6)
                    if bad == 0: x = r.choice([-1, 1]) * r.uniform(501, 5000)
                    if bad == 1: y = r.choice([-1, 1]) * r.uniform(501, 5000)
                    if bad == 2: fov = r.choice([r.uniform(0.01, 0.99), r.uniform(201, 1e4)])
                    if bad == 3: pixels = r.choice([8, 16, 600, 4096])
                    if bad == 4: dwell = r.choice([r.uniform(0.001, 0.99), r.uniform(41, 1e5)])
                    if bad == 5: count = r.randrange(9, 64)
                kind = r.randrange(3)
                region = Scan(x, y, fov, pixels=pixels, dwell_us=dwell)
                if kind == 0:
                    action = region
                elif kind == 1:
                    action = MoveStage(x, y)
                else:
                    action = AcquireReference(region, count=count)
                return Decision(action, "random")
        """

    @Test("random Python decisions never reach the instrument outside the envelope", arguments: [7, 8])
    func randomDecisions(seed: Int) async throws {
        let fixture = try Fixture(
            script: Self.random, parameters: "{seed: \(seed), steps: 40}",
            extra: """
                envelope:
                  stage_x_nm: [-500, 500]
                  stage_y_nm: [-500, 500]
                  max_step_nm: 5000
                  fov_nm: [1, 200]
                  dwell_us: [1, 40]
                  pixels: [64, 512]
                  reference_frames: 8
                  dose_per_area_e_per_A2: 1.0e12
                  commands_per_minute: 10000
                """)
        defer { fixture.remove() }
        let (daemon, log, harness) = try await Self.run(fixture)
        defer { harness.finish() }
        let session = try #require(daemon.status.session)
        #expect(daemon.status.refusals > 3, "some random actions fall outside")
        #expect(daemon.status.ending == "enough", "\(daemon.status.ending ?? "")")
        var carried = 0
        for request in await harness.recorder.requests {
            switch request {
            case .scan(let scan, _):
                let g = scan.geometry
                #expect((-500...500).contains(g.centerX) && (-500...500).contains(g.centerY), "\(g)")
                #expect((1...200).contains(g.fovX) && (1...200).contains(g.fovY), "\(g)")
                #expect((1...40).contains(g.dwell) && (64...512).contains(g.width) && (64...512).contains(g.height))
                carried += 1
            case .move(let position):
                #expect((-500...500).contains(position.x) && (-500...500).contains(position.y), "\(position)")
                carried += 1
            case .blank:
                break
            }
        }
        #expect(carried > 3, "some random actions fall inside")
        let refusedRows = try log.query(
            "SELECT COUNT(*) FROM decisions WHERE session_id = ? AND json_extract(chosen, '$.refused') IS NOT NULL",
            arguments: [session])
        #expect(refusedRows.rows.first?.first == "\(daemon.status.refusals)", "every refusal is logged")
    }
}
