import BuiltInPolicies
import PolicyKit
import Testing
import WireProtocol

@Suite("Raster survey")
struct RasterSurveyTests {
    @Test("a region beyond the envelope's longest move is reached in stage moves, then scanned")
    func stepsTowardsAFarRegion() {
        var raster = RasterSurvey(center: (0, 0), columns: 2, rows: 1, fov: 100, pixels: 64, dwell: 1, overlap: 0)
        var envelope = SafetyEnvelope()
        envelope.maximumStep = 40
        // The first region is at x = -50; the beam was last at x = -200: 150 nm away.
        var position = (x: -200.0, y: 0.0)
        var moves = 0
        while true {
            let decision = raster.decide(
                Observation(
                    step: moves, elapsed: 0, frame: nil, position: position, map: SessionMap(), envelope: envelope))
            guard case .moveStage(let x, let y) = decision.action else {
                guard case .scan(let region) = decision.action else {
                    Issue.record("expected a move or the scan, got \(decision.action)")
                    return
                }
                #expect(region.centerX == -50)
                #expect(abs(region.centerX - position.x) <= envelope.maximumStep)
                break
            }
            #expect(((x - position.x) * (x - position.x) + (y - position.y) * (y - position.y)).squareRoot() <= 40)
            #expect(decision.reason.contains("at most 40 nm"))
            position = (x, y)
            moves += 1
            guard moves < 10 else {
                Issue.record("never arrived")
                return
            }
        }
        #expect(moves == 4)
    }

    @Test("the ending counts the regions visited, refused and failed")
    func ending() {
        var raster = RasterSurvey(center: (0, 0), columns: 3, rows: 1, fov: 10, pixels: 64, dwell: 1, overlap: 0)
        let envelope = SafetyEnvelope()
        var outcomes: [ActionOutcome] = []
        var decision = PolicyDecision(.endSession, reason: "")
        for step in 0..<4 {
            decision = raster.decide(
                Observation(
                    step: step, elapsed: 0, frame: nil, outcomes: outcomes, map: SessionMap(), envelope: envelope))
            switch step {
            case 0: outcomes = [.done(decision.action)]
            case 1: outcomes = [.refused(decision.action, reason: "outside")]
            case 2: outcomes = [.failed(decision.action, code: "hardware", reason: "stuck")]
            default: break
            }
        }
        #expect(decision.action == .endSession)
        #expect(
            decision.reason.hasPrefix("raster complete: 1 of 3 regions visited, 1 refused by the envelope, 1 failed"))
    }
}
