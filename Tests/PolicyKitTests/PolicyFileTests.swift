import BuiltInPolicies
import PolicyKit
import Testing
import WireProtocol

@Suite("Policy files")
struct PolicyFileTests {
    @Test("A raster-survey file gives the policy, envelope and stop conditions it states")
    func readsRasterSurvey() throws {
        let file = try PolicyFile.parse(
            """
            policy: raster-survey
            parameters:
              center_nm: [10, -20]
              columns: 2
              rows: 1
              fov_nm: 20
            envelope:
              dwell_us: [1, 30]
              max_step_nm: 50
            stop:
              frames: 7
            """, factories: BuiltInPolicies.factories)
        #expect(file.policy.name == "raster-survey")
        #expect(file.policy.parameters["columns"] == "2")
        #expect(file.envelope.dwell == 1...30)
        #expect(file.envelope.maximumStep == 50)
        #expect(file.stop.frames == 7)
        var policy = try #require(file.policy.builtIn)
        let map = SessionMap()
        let first = policy.decide(Observation(step: 0, elapsed: 0, frame: nil, map: map, envelope: file.envelope))
        guard case .scan(let region) = first.action else {
            Issue.record("expected a scan, got \(first.action)")
            return
        }
        #expect(region.centerX == 10 - 7.5)
        #expect(region.centerY == -20)
        _ = policy.decide(Observation(step: 1, elapsed: 0, frame: nil, map: map, envelope: file.envelope))
        let last = policy.decide(Observation(step: 2, elapsed: 0, frame: nil, map: map, envelope: file.envelope))
        #expect(last.action == .endSession)
    }

    @Test("A retraining rule is read, and must fit inside the envelope")
    func retrainingRule() throws {
        let file = try PolicyFile.parse(
            """
            policy: raster-survey
            retraining: {condition_score_above: 2.5, frames_in_a_row: 4, reference_frames: 6, cooldown_frames: 30}
            """, factories: BuiltInPolicies.factories)
        #expect(
            file.retraining
                == RetrainingRule(conditionScore: 2.5, framesInARow: 4, referenceFrames: 6, cooldownFrames: 30))
        #expect(try PolicyFile.parse("policy: raster-survey\n", factories: BuiltInPolicies.factories).retraining == nil)
        do {
            _ = try PolicyFile.parse(
                "policy: raster-survey\nenvelope: {reference_frames: 4}\nretraining:\n  reference_frames: 8\n",
                factories: BuiltInPolicies.factories)
            Issue.record("accepted more reference frames than the envelope allows")
        } catch {
            #expect(error.key == "retraining.reference_frames")
            #expect(error.line == 4)
        }
    }

    @Test("A retraining rule chooses its realism model; a wrong choice says what the choices are")
    func retrainingRealism() throws {
        let file = try PolicyFile.parse(
            "policy: raster-survey\nretraining: {realism: both, cyclegan_steps: 300}\n",
            factories: BuiltInPolicies.factories)
        #expect(file.retraining?.realism == .both)
        #expect(file.retraining?.cycleganSteps == 300)
        let fitted = try PolicyFile.parse(
            "policy: raster-survey\nretraining: {frames_in_a_row: 2}\n", factories: BuiltInPolicies.factories)
        #expect(fitted.retraining?.realism == .fitted)
        #expect(fitted.retraining?.cycleganSteps == nil)
        for (text, key, words) in [
            ("retraining: {realism: gan}", "retraining.realism", "fitted, cyclegan, both"),
            ("retraining: {cyclegan_steps: 100}", "retraining.cyclegan_steps", "realism: cyclegan or both"),
            ("retraining: {realism: cyclegan, cyclegan_steps: 0}", "retraining.cyclegan_steps", "1"),
        ] {
            do {
                _ = try PolicyFile.parse("policy: raster-survey\n" + text + "\n", factories: BuiltInPolicies.factories)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.key == key, "\(text): \(error)")
                #expect("\(error)".contains(words), "\(text): \(error)")
            }
        }
    }

    @Test("A give-up rule is read; without one a give-up ends the session")
    func giveUpRule() throws {
        let file = try PolicyFile.parse(
            "policy: raster-survey\ngive_up: {then: pause, pause_seconds: 30, pauses: 2}\n",
            factories: BuiltInPolicies.factories)
        #expect(file.giveUp == GiveUpRule(then: .pause, pauseSeconds: 30, pauses: 2))
        let plain = try PolicyFile.parse("policy: raster-survey\n", factories: BuiltInPolicies.factories)
        #expect(plain.giveUp.then == .end)
        let partial = try PolicyFile.parse(
            "policy: raster-survey\ngive_up: {then: pause}\n", factories: BuiltInPolicies.factories)
        #expect(partial.giveUp == GiveUpRule(then: .pause, pauseSeconds: 60, pauses: 3))
    }

    @Test(
        "Mistakes point at the key and line",
        arguments: [
            ("policy: raster-survey\nparameters:\n  colums: 3\n", "parameters.colums", 3, "did you mean 'columns'"),
            ("policy: raster-survy\n", "policy", 1, "no policy 'raster-survy'"),
            ("policy: raster-survey\nenvelope:\n  dwell_us: [30, 1]\n", "envelope.dwell_us", 3, "min <= max"),
            ("policy: raster-survey\nstop:\n  frames: many\n", "stop.frames", 3, "whole number"),
            ("parameters: {}\n", "", 1, "needs 'policy: NAME'"),
            ("policy: raster-survey\ngive_up:\n  then: wait\n", "give_up.then", 3, "expected end or pause"),
            ("policy: raster-survey\ngive_up:\n  pause_seconds: 0\n", "give_up.pause_seconds", 3, "between"),
            ("policy: raster-survey\ngive_up:\n  pauses: 3\n  pause: 1\n", "give_up.pause", 4, "did you mean"),
        ])
    func pointsAtMistakes(text: String, key: String, line: Int, words: String) {
        do {
            _ = try PolicyFile.parse(text, file: "p.yaml", factories: BuiltInPolicies.factories)
            Issue.record("accepted a broken file")
        } catch {
            #expect(error.key == key)
            #expect(error.line == line)
            #expect(error.message.contains(words), "\(error.message)")
        }
    }
}
