import Foundation
import ImageNumerics
import PolicyKit
import Testing
import WireProtocol

@testable import Daemon

/// Emits random actions, in range and out of it, including non-numbers.
struct RandomPolicy: ScanPolicy {
    let name = "random"
    let version = "1"
    var parameters: [String: String] { ["seed": "\(seed)"] }
    let seed: UInt64
    private var random: SplitMix64

    init(seed: UInt64) {
        self.seed = seed
        random = SplitMix64(seed: seed)
    }

    private mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(random.next() >> 11) / Double(1 << 53)
    }

    private mutating func region() -> ScanGeometry {
        let side = Int(uniform(8...4200))
        var region = ScanGeometry(
            centerX: uniform(-2200...2200), centerY: uniform(-2200...2200), fovX: uniform(0.2...3000), width: side,
            height: side, dwell: uniform(0.05...200))
        if random.next() % 40 == 0 { region.centerX = .nan }
        if random.next() % 40 == 0 { region.dwell = .infinity }
        return region
    }

    mutating func decide(_ observation: Observation) -> PolicyDecision {
        let action: PolicyAction
        switch random.next() % 6 {
        case 0, 1, 2: action = .scan(region())
        case 3: action = .moveStage(x: uniform(-2500...2500), y: uniform(-2500...2500))
        case 4: action = .acquireReference(region(), count: Int(random.next() % 40))
        default: action = random.next() % 2 == 0 ? .blank : .unblank
        }
        return PolicyDecision(action, reason: "random")
    }
}

@Suite("The safety envelope")
struct EnvelopePropertyTests {
    static let envelope = SafetyEnvelope(
        stageX: -500...500, stageY: -400...400, maximumStep: 600, fov: 1...200, dwell: 0.5...40, pixels: 64...1024,
        dosePerArea: 3e5, dosePerSession: 1e13, commandsPerMinute: 1000, referenceFrames: 8)

    /// Whether a command the runner lets through lies inside the envelope, checked field by field.
    static func inside(_ command: CommandAction, previous: (x: Double, y: Double)?) -> Bool {
        let e = envelope
        func geometryInside(_ g: ScanGeometry) -> Bool {
            e.stageX.contains(g.centerX) && e.stageY.contains(g.centerY) && e.fov.contains(g.fovX)
                && e.fov.contains(g.fovY) && e.dwell.contains(g.dwell) && e.pixels.contains(g.width)
                && e.pixels.contains(g.height) && stepInside(g.centerX, g.centerY)
        }
        func stepInside(_ x: Double, _ y: Double) -> Bool {
            guard let previous else { return true }
            return hypot(x - previous.x, y - previous.y) <= e.maximumStep
        }
        switch command {
        case .scanRegion(let request): return geometryInside(request.geometry)
        case .acquireReference(let request):
            return geometryInside(request.scan.geometry) && (1...e.referenceFrames).contains(request.count)
        case .moveStage(let p): return e.stageX.contains(p.x) && e.stageY.contains(p.y) && stepInside(p.x, p.y)
        case .blankBeam, .unblankBeam: return true
        default: return false
        }
    }

    @Test("random policies emitting random actions never get a command outside the envelope", arguments: 1...8)
    func randomPolicies(seed: UInt64) {
        var policy = RandomPolicy(seed: seed)
        var runner = PolicyRunner(policy: policy, envelope: Self.envelope, stop: StopConditions(), assumedCurrent: 30)
        var previous: (x: Double, y: Double)?
        var sent = 0
        var refused = 0
        var seq: UInt64 = 0
        for _ in 0..<1500 {
            guard
                case .ask(let observation) = runner.observe(latest: nil, elapsed: 0, analysedFrames: 0, retraining: nil)
            else {
                Issue.record("no stop condition is set, yet the runner ended the session")
                return
            }
            switch runner.plan(policy.decide(observation)) {
            case .send(let decision, let command):
                #expect(
                    Self.inside(command, previous: previous), "sent \(command) after \(String(describing: previous))")
                sent += 1
                runner.outcome(.done(decision.action))
                if let target = decision.action.target { previous = target }
                // The instrument scanned it: the dose goes on the map.
                if case .scanRegion(let request) = command {
                    let header = FrameHeader(
                        session: "drv", seq: seq, time: .init(start: 0, end: 1), scan: request.geometry,
                        stage: StagePosition(x: 0, y: 0), channels: ["HAADF"], dtype: .uint16)
                    seq += 1
                    runner.frameReceived(header)
                }
            case .refuse:
                refused += 1
            case .local, .end:
                break
            }
        }
        #expect(sent > 20, "some random actions fall inside")
        #expect(refused > 500, "most random actions fall outside")
        // The dose budgets held: no visited point above the per-area budget, the session within its own.
        let map = runner.map
        for visit in map.visits {
            #expect(map.dose(atX: visit.scan.centerX, y: visit.scan.centerY) <= Self.envelope.dosePerArea * 1.000001)
        }
        #expect(map.electrons <= Self.envelope.dosePerSession)
    }
}
