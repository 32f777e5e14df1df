public import PolicyKit
import Testing
import WireProtocol

/// The policy of the README's "Writing a scan policy", word for word: it must build and behave.
public struct RevisitRichest: ScanPolicy {
    public let name = "revisit-richest"
    public let version = "1.0"
    public var maximumDose = 2e5  // e/Å² per region
    public var parameters: [String: String] { ["maximum_dose": "\(maximumDose)"] }
    public init() {}

    public mutating func decide(_ observation: Observation) -> PolicyDecision {
        let richest = observation.map.visits
            .filter { $0.defects != nil && observation.map.peakDose(in: $0.scan) < maximumDose }
            .max { ($0.defectDensity ?? 0) < ($1.defectDensity ?? 0) }
        guard let target = richest else {
            if observation.step == 0 {
                let first = ScanGeometry(centerX: -120, centerY: 60, fovX: 10.24, width: 512, height: 512, dwell: 10)
                return PolicyDecision(.scan(first), reason: "a first look at the vacancy-rich zone")
            }
            return PolicyDecision(.endSession, reason: "every region has reached \(maximumDose) e/Å²")
        }
        return PolicyDecision(
            .scan(target.scan),
            reason:
                "region \(target.seq) has the most defects per nm² (\(target.defectDensity!)) within its dose budget",
            candidates: observation.map.visits.map {
                .init(.scan($0.scan), score: $0.defectDensity ?? 0, note: "seq \($0.seq)")
            })
    }
}

extension RevisitRichest {
    public static let factory = PolicyFactory(name: "revisit-richest", summary: "revisit the richest region") {
        (parameters: PolicyParameters?) throws(PolicyFileError) -> any ScanPolicy in
        var policy = RevisitRichest()
        try parameters?.only(["maximum_dose"])  // any other key: an error at its line, "did you mean"
        policy.maximumDose = try parameters?.double("maximum_dose", in: 1...1e9) ?? policy.maximumDose
        return policy
    }
}

@Suite("The README's example policy")
struct ReadmeExampleTests {
    @Test("its factory reads its parameter from a policy file and refuses a mistyped key at its line")
    func factory() throws {
        let file = try PolicyFile.parse(
            "policy: revisit-richest\nparameters: {maximum_dose: 5000}\n", factories: [RevisitRichest.factory])
        #expect(file.policy.parameters["maximum_dose"] == "5000.0")
        do {
            _ = try PolicyFile.parse(
                "policy: revisit-richest\nparameters:\n  maximum_dos: 5000\n", factories: [RevisitRichest.factory])
            Issue.record("a mistyped key must be refused")
        } catch {
            #expect(error.code == .unknownKey)
            #expect(error.line == 3)
            #expect(error.message.contains("did you mean 'maximum_dose'"), "\(error)")
        }
    }

    @Test("looks first, revisits the richest region, and ends when its dose budget is spent")
    func revisitsUntilBudget() {
        var policy = RevisitRichest()
        var map = SessionMap()
        let envelope = SafetyEnvelope()
        let first = policy.decide(Observation(step: 0, elapsed: 0, frame: nil, map: map, envelope: envelope))
        guard case .scan(let region) = first.action else {
            Issue.record("expected a first scan")
            return
        }
        let poor = ScanGeometry(centerX: 0, centerY: 0, fovX: 10.24, width: 512, height: 512, dwell: 10)
        let perVisit = Dose.perArea(of: region, current: 30)
        map.record(.init(seq: 0, scan: region, dose: perVisit, defects: 12, communities: [0]))
        map.record(.init(seq: 1, scan: poor, dose: perVisit, defects: 1, communities: [1]))
        var step = 1
        var revisits = 0
        while true {
            let decision = policy.decide(Observation(step: step, elapsed: 0, frame: nil, map: map, envelope: envelope))
            step += 1
            guard case .scan(let next) = decision.action else {
                #expect(decision.action == .endSession)
                break
            }
            if next == region { revisits += 1 }
            #expect(decision.candidates.count == map.visits.count)
            map.record(
                .init(seq: UInt64(step), scan: next, dose: perVisit, defects: next == region ? 12 : 1, communities: []))
            if step > 1000 { break }
        }
        // The rich region is revisited until it reaches the budget, then the poor one.
        #expect(revisits == Int((2e5 / perVisit).rounded(.up)) - 1)
        #expect(map.peakDose(in: region) >= 2e5)
        #expect(map.peakDose(in: poor) >= 2e5)
    }
}
