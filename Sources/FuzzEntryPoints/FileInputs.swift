import BuiltInPolicies
import ImageNumerics
import PolicyKit
import Simulator
import WireProtocol
import YAMLConfig

/// The readers of the files a user writes, and what their callers do with a file they accepted.
enum FileInputs {
    /// Limits of a typical instrument, which a policy file's envelope is narrowed to.
    static let limits = InstrumentLimits(
        stageX: -50_000...50_000, stageY: -50_000...50_000, fov: 0.5...5000, dwell: 0.1...1000, pixels: 16...4096,
        detectors: ["HAADF", "MAADF"])

    /// A policy file: refused with a located error, or accepted and then asked for its first
    /// decisions within its envelope narrowed to the instrument's limits.
    static func policyFile(_ text: String) -> FuzzOutcome {
        let file: PolicyFile
        do {
            file = try PolicyFile.parse(text, file: "fuzz.yaml", factories: BuiltInPolicies.factories)
        } catch {
            var violations: [String] = []
            if error.message.isEmpty { violations.append("a refusal without a message") }
            if error.line < 0 || error.column < 0 { violations.append("a refusal at line \(error.line)") }
            return .refused(violations)
        }
        _ = file.stop.reached(frames: 0, elapsed: 0, map: SessionMap())
        _ = "\(file.envelope) \(String(describing: file.retraining))"
        guard let policy = file.policy.builtIn else {
            // An external policy is not started by a fuzz run; its spec must name what it needs.
            guard let spec = file.policy.external else { return .accepted(["neither built-in nor external"]) }
            return .accepted(
                spec.script.isEmpty || spec.className.isEmpty ? ["an external policy without a script"] : [])
        }
        return .accepted(PolicyRun.decisions(of: policy, within: file.envelope.narrowed(to: limits), steps: 4))
    }

    /// A scenario file: refused with a located error, or accepted and then a 16 x 16 scan of its
    /// sample under each of its condition sets in turn, whose pixels must be numbers.
    static func scenario(_ text: String) -> FuzzOutcome {
        let scenario: Scenario
        do {
            scenario = try Scenario.parse(text, file: "fuzz.yaml")
        } catch {
            return .refused(error.message.isEmpty ? ["a refusal without a message"] : [])
        }
        let microscope = VirtualMicroscope(scenario: scenario)
        let scan = ScanGeometry(
            centerX: scenario.layout.flakeCenterX, centerY: scenario.layout.flakeCenterY, fovX: 2, width: 16,
            height: 16, dwell: 1)
        var violations: [String] = []
        for set in [nil] + scenario.conditions.prefix(3).map(Optional.some) {
            if let set { microscope.advance(by: min(max(set.start - microscope.clock, 0), 3600)) }
            let frame = microscope.acquire(scan)
            for (name, image) in frame.channels where !image.pixels.allSatisfy(\.isFinite) {
                violations.append("channel \(name) has pixels that are not numbers under '\(set?.name ?? "start")'")
            }
        }
        return .accepted(violations)
    }
}
