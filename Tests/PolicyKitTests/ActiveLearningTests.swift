import Foundation
import PolicyKit
import Testing
import WireProtocol

@testable import BuiltInPolicies

@Suite("Active learning")
struct ActiveLearningTests {
    @Test("the Gaussian process interpolates what it saw and is unsure far from it")
    func gaussianProcess() {
        var gp = GaussianProcess(lengthScale: 40, noise: 0.001)
        var points: [(Double, Double, Double)] = []
        for i in 0..<20 {
            let x = Double(i % 5) * 25
            let y = Double(i / 5) * 25
            points.append((x, y, sin(x / 50) + cos(y / 40)))
        }
        for (x, y, value) in points { gp.add(x: x, y: y, value: value) }
        for (x, y, value) in points {
            let (mean, deviation) = gp.predict(x: x, y: y)
            #expect(abs(mean - value) < 0.02)
            #expect(deviation < 0.05)
        }
        let between = gp.predict(x: 37.5, y: 37.5)
        #expect(abs(between.mean - (sin(37.5 / 50) + cos(37.5 / 40))) < 0.1)
        let far = gp.predict(x: 1000, y: 1000)
        #expect(far.deviation > 10 * between.deviation)
    }

    /// A smooth hill of defect density peaking at `peak`.
    static func density(_ x: Double, _ y: Double, peak: (Double, Double)) -> Double {
        0.2 * exp(-((x - peak.0) * (x - peak.0) + (y - peak.1) * (y - peak.1)) / (2 * 40 * 40))
    }

    @Test("it finds the hill of defect density and spends zooms there", arguments: ["ei", "ucb"])
    func findsTheHill(acquisition: String) throws {
        let peak = (-60.0, 100.0)
        var policy = try #require(
            try PolicyFile.parse(
                "policy: active-learning\nparameters: {zooms: 20, acquisition: \(acquisition)}\n",
                factories: BuiltInPolicies.factories
            ).policy.builtIn as? ActiveLearning)
        var observation = Observation(step: 0, elapsed: 0, frame: nil, map: SessionMap(), envelope: SafetyEnvelope())
        var zooms: [(Double, Double, Double)] = []
        for step in 0..<30 {
            let decision = policy.decide(observation)
            guard case .scan(let region) = decision.action else {
                #expect(decision.action == .endSession)
                break
            }
            let truth = Self.density(region.centerX, region.centerY, peak: peak)
            let count = Int((truth * region.fovX * region.fovY).rounded())
            zooms.append((region.centerX, region.centerY, truth))
            observation = Observation(
                step: step + 1, elapsed: 0,
                frame: FrameSummary(seq: UInt64(step), scan: region, stage: StagePosition(x: 0, y: 0), time: 0),
                defects: (0..<count).map { _ in
                    DefectObservation(x: region.centerX, y: region.centerY, kind: "Se1", confidence: 0.9)
                }, lastOutcome: .done(decision.action), map: SessionMap(), envelope: SafetyEnvelope())
        }
        #expect(zooms.count == 20)
        let best = zooms.map(\.2).max() ?? 0
        #expect(best > 0.8 * 0.2, "best density found \(best)")
        func distance(_ z: (Double, Double, Double)) -> Double { hypot(z.0 - peak.0, z.1 - peak.1) }
        // The four space-filling zooms land anywhere; the surrogate's choices gather on the hill (a
        // tenth of the area lies within 50 nm of the peak).
        let near = zooms.dropFirst(4).filter { distance($0) < 50 }.count
        #expect(near >= 5, "\(near) of 16 chosen zooms within 50 nm of the peak")
    }
}
