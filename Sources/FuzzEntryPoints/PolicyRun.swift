import PolicyKit
import WireProtocol

/// A policy's first decisions without a microscope: what the daemon's decision stage does with
/// them before anything is sent (the envelope's check, the words of the log).
enum PolicyRun {
    /// Asks `policy` for `steps` decisions on an empty session; returns broken invariants.
    static func decisions(of policy: any ScanPolicy, within envelope: SafetyEnvelope, steps: Int) -> [String] {
        var policy = policy
        var map = SessionMap()
        var violations: [String] = []
        for step in 0..<steps {
            let observation = Observation(
                step: step, elapsed: Double(step), frame: nil, map: map, envelope: envelope)
            let decision = policy.decide(observation)
            _ = "\(decision.action) \(decision.reason)"
            let refusal = envelope.refusal(of: decision.action, from: nil, map: map, current: 30)
            if refusal?.isEmpty == true { violations.append("an empty refusal of \(decision.action)") }
            if refusal == nil, case .scan(let region) = decision.action {
                if !region.fovX.isFinite || region.width <= 0 || region.height <= 0 {
                    violations.append("the envelope let through \(decision.action)")
                }
                map.record(
                    SessionMap.Visit(
                        seq: UInt64(step), scan: region, dose: Dose.perArea(of: region, current: 30), defects: 0,
                        communities: []))
            }
            if case .endSession = decision.action { break }
        }
        return violations
    }
}
