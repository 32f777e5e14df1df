import BuiltInPolicies
import Foundation
import PolicyKit
import Testing
import WireProtocol

/// Plays a survey-then-zoom policy against a made-up sample: the survey shows `communities`
/// (id -> chip centres); a zoom into community c finds `defects[c]` defects.
struct SurveyWorld {
    let communities: [Int: [(Double, Double)]]
    let defects: [Int: Int]

    func community(near x: Double, _ y: Double) -> Int {
        communities.min { a, b in
            a.value.map { hypot($0.0 - x, $0.1 - y) }.min()! < b.value.map { hypot($0.0 - x, $0.1 - y) }.min()!
        }!.key
    }

    /// Runs the policy to the end (at most `limit` decisions); returns the zoomed communities in order.
    func play(_ policy: inout some ScanPolicy, limit: Int = 200) -> (zooms: [Int], ending: String) {
        var zooms: [Int] = []
        var last: Observation?
        let envelope = SafetyEnvelope()
        for step in 0..<limit {
            let decision = policy.decide(
                last ?? Observation(step: step, elapsed: 0, frame: nil, map: SessionMap(), envelope: envelope))
            guard case .scan(let region) = decision.action else { return (zooms, decision.reason) }
            let frame = FrameSummary(seq: UInt64(step), scan: region, stage: StagePosition(x: 0, y: 0), time: 0)
            if region.fovX > 100 {
                let chips = communities.flatMap { id, centres in
                    centres.map { ChipObservation(x: $0.0, y: $0.1, size: 25, community: id, defects: nil) }
                }
                last = Observation(
                    step: step + 1, elapsed: 0, frame: frame, chips: chips, lastOutcome: .done(decision.action),
                    map: SessionMap(), envelope: envelope)
            } else {
                let id = community(near: region.centerX, region.centerY)
                zooms.append(id)
                let found = (0..<(defects[id] ?? 0)).map { _ in
                    DefectObservation(x: region.centerX, y: region.centerY, kind: "Se1", confidence: 0.9)
                }
                last = Observation(
                    step: step + 1, elapsed: 0, frame: frame, defects: found, lastOutcome: .done(decision.action),
                    map: SessionMap(), envelope: envelope)
            }
        }
        return (zooms, "limit")
    }

    /// Chip centres on a line, 25 nm apart, starting at (x, y).
    static func row(_ count: Int, x: Double, y: Double) -> [(Double, Double)] {
        (0..<count).map { (x + 25 * Double($0), y) }
    }
}

@Suite("Survey-then-zoom policies")
struct SurveyPoliciesTests {
    @Test("the defect hunter tries every community, then keeps to the one where it finds defects")
    func defectHunterLearns() throws {
        let world = SurveyWorld(
            communities: [7: SurveyWorld.row(12, x: -150, y: -100), 8: SurveyWorld.row(12, x: -150, y: 100)],
            defects: [7: 0, 8: 9])
        var policy = try #require(
            try PolicyFile.parse(
                "policy: defect-hunter\nparameters: {zooms: 10}\n", factories: BuiltInPolicies.factories
            ).policy.builtIn as? DefectHunter)
        let (zooms, ending) = world.play(&policy)
        #expect(zooms.count == 10)
        #expect(Set(zooms) == [7, 8], "explores both")
        #expect(zooms.filter { $0 == 8 }.count >= 7, "exploits the defect-rich community: \(zooms)")
        #expect(ending.contains("densest community 8"), "\(ending)")
    }

    @Test("the community explorer covers every community, rarest first")
    func explorerCoversRarestFirst() throws {
        let world = SurveyWorld(
            communities: [
                1: SurveyWorld.row(20, x: -200, y: 0), 2: SurveyWorld.row(2, x: -200, y: 150),
                3: SurveyWorld.row(6, x: -200, y: -150),
            ], defects: [:])
        var policy = try #require(
            try PolicyFile.parse(
                "policy: community-explorer\nparameters: {per_community: 1}\n", factories: BuiltInPolicies.factories
            ).policy.builtIn as? CommunityExplorer)
        let (zooms, ending) = world.play(&policy)
        #expect(zooms == [2, 3, 1])
        #expect(ending.contains("every one of the 3 communities"), "\(ending)")
    }

    @Test("survey parameters are checked against each other")
    func parameterErrors() {
        #expect(throws: PolicyFileError.self) {
            try PolicyFile.parse(
                "policy: defect-hunter\nparameters:\n  survey_fov_nm: 50\n  zoom_fov_nm: 60\n",
                factories: BuiltInPolicies.factories)
        }
        do {
            _ = try PolicyFile.parse(
                "policy: community-explorer\nparameters:\n  survey_grid: [2]\n", factories: BuiltInPolicies.factories)
            Issue.record("accepted a one-number grid")
        } catch {
            #expect(error.key == "parameters.survey_grid")
            #expect(error.line == 3)
        }
    }
}
