public import Foundation
import YAMLConfig

/// A policy file: which policy with which parameters, the safety envelope and the stop conditions.
///
/// ```yaml
/// policy: raster-survey
/// parameters:
///   center_nm: [-120, 60]
///   columns: 3
///   rows: 2
/// envelope:
///   stage_x_nm: [-500, 500]
///   dwell_us: [1, 40]
/// stop:
///   frames: 20
/// give_up:
///   then: pause
/// ```
public struct PolicyFile: Sendable {
    /// The policy, ready to run.
    public var policy: any ScanPolicy
    /// The envelope (the daemon narrows it further to the instrument's limits).
    public var envelope: SafetyEnvelope
    /// When the session ends regardless of the policy.
    public var stop: StopConditions
    /// Whether the daemon shifts every target by the sample's predicted drift (policies work in
    /// sample coordinates either way).
    public var driftCompensation = true
    /// When the daemon retrains the detector by itself (nil: only when the policy asks).
    public var retraining: RetrainingRule?
    /// What the daemon does when the instrument keeps failing (default: end the session).
    public var giveUp = GiveUpRule()
    /// Where it was read from.
    public var source: String

    /// Creates a configuration directly (for tests and `policy eval`).
    public init(
        policy: any ScanPolicy, envelope: SafetyEnvelope = SafetyEnvelope(), stop: StopConditions = StopConditions(),
        source: String = "<code>"
    ) {
        self.policy = policy
        self.envelope = envelope
        self.stop = stop
        self.source = source
    }

    /// Reads a policy file, building the policy it names from `factories`.
    public static func load(_ url: URL, factories: [PolicyFactory]) throws(PolicyFileError) -> PolicyFile {
        do { return try parse(ConfigNode.load(url), factories: factories) } catch { throw PolicyFileError(error) }
    }

    /// Parses policy-file YAML.
    public static func parse(
        _ text: String, file: String = "<policy>", factories: [PolicyFactory]
    ) throws(PolicyFileError) -> PolicyFile {
        do { return try parse(ConfigNode.parse(text, file: file), factories: factories) } catch {
            throw PolicyFileError(error)
        }
    }

    private static func parse(_ root: ConfigNode, factories: [PolicyFactory]) throws(ConfigError) -> PolicyFile {
        try root.onlyKeys(["policy", "parameters", "envelope", "stop", "drift_compensation", "retraining", "give_up"])
        guard let name = try root.string("policy") else {
            throw root.error(
                nil, "a policy file needs 'policy: NAME'; policies: \(factories.map(\.name).joined(separator: ", "))")
        }
        guard let factory = factories.first(where: { $0.name == name }) else {
            throw root.error(
                "policy", "no policy '\(name)'; policies: \(factories.map(\.name).joined(separator: ", "))")
        }
        let parameters = try root.child("parameters").map(PolicyParameters.init)
        let policy: any ScanPolicy
        do {
            policy = try factory.make(parameters)
        } catch {
            throw ConfigError(
                error.code == .unknownKey ? .unknownKey : .invalidValue, file: error.file, line: error.line,
                column: error.column, key: error.key, message: error.message)
        }
        var envelope = SafetyEnvelope()
        if let node = try root.child("envelope") { envelope = try parseEnvelope(node) }
        var stop = StopConditions()
        if let node = try root.child("stop") {
            try node.onlyKeys(["frames", "minutes", "electrons", "defects"])
            stop.frames = try node.int("frames", in: 1...10_000_000)
            stop.minutes = try node.double("minutes", in: 0.01...100_000)
            stop.electrons = try node.double("electrons", in: 1...1e30)
            stop.defects = try node.int("defects", in: 1...Int.max)
        }
        var file = PolicyFile(policy: policy, envelope: envelope, stop: stop, source: root.file)
        if let node = try root.child("retraining") {
            try node.onlyKeys(["condition_score_above", "frames_in_a_row", "reference_frames", "cooldown_frames"])
            var rule = RetrainingRule()
            rule.conditionScore = try node.double("condition_score_above", in: 0...1000) ?? rule.conditionScore
            rule.framesInARow = try node.int("frames_in_a_row", in: 1...10_000) ?? rule.framesInARow
            rule.referenceFrames = try node.int("reference_frames", in: 1...64) ?? rule.referenceFrames
            rule.cooldownFrames = try node.int("cooldown_frames", in: 0...1_000_000) ?? rule.cooldownFrames
            guard rule.referenceFrames <= envelope.referenceFrames else {
                throw node.error(
                    "reference_frames",
                    "\(rule.referenceFrames) is more than the envelope allows (reference_frames: \(envelope.referenceFrames))"
                )
            }
            file.retraining = rule
        }
        if let node = try root.child("give_up") { file.giveUp = try parseGiveUp(node) }
        switch try root.string("drift_compensation") {
        case nil, "true", "on", "yes": file.driftCompensation = true
        case "false", "off", "no": file.driftCompensation = false
        case let other?:
            throw root.error("drift_compensation", "expected true or false, got '\(other)'")
        }
        return file
    }

    private static func parseGiveUp(_ node: ConfigNode) throws(ConfigError) -> GiveUpRule {
        try node.onlyKeys(["then", "pause_seconds", "pauses"])
        var rule = GiveUpRule()
        if let then = try node.string("then") {
            guard let value = GiveUpRule.Then(rawValue: then) else {
                throw node.error("then", "expected end or pause, got '\(then)'")
            }
            rule.then = value
        }
        rule.pauseSeconds = try node.double("pause_seconds", in: 1...86_400) ?? rule.pauseSeconds
        rule.pauses = try node.int("pauses", in: 1...1_000) ?? rule.pauses
        return rule
    }

    private static func parseEnvelope(_ node: ConfigNode) throws(ConfigError) -> SafetyEnvelope {
        try node.onlyKeys([
            "stage_x_nm", "stage_y_nm", "max_step_nm", "fov_nm", "dwell_us", "pixels", "dose_per_area_e_per_A2",
            "dose_per_session_e", "commands_per_minute", "reference_frames",
        ])
        var envelope = SafetyEnvelope()
        func range(_ key: String, positive: Bool = false) throws(ConfigError) -> ClosedRange<Double>? {
            guard let pair = try node.doubles(key, count: 2) else { return nil }
            guard pair[0] <= pair[1] else { throw node.error(key, "must be [min, max] with min <= max") }
            if positive && pair[0] <= 0 { throw node.error(key, "must be positive") }
            return pair[0]...pair[1]
        }
        envelope.stageX = try range("stage_x_nm") ?? envelope.stageX
        envelope.stageY = try range("stage_y_nm") ?? envelope.stageY
        envelope.fov = try range("fov_nm", positive: true) ?? envelope.fov
        envelope.dwell = try range("dwell_us", positive: true) ?? envelope.dwell
        if let pair = try node.ints("pixels") {
            guard pair.count == 2, pair[0] >= 1, pair[0] <= pair[1] else {
                throw node.error("pixels", "must be [min, max] pixels per side with 1 <= min <= max")
            }
            envelope.pixels = pair[0]...pair[1]
        }
        envelope.maximumStep = try node.double("max_step_nm", in: 0.001...1e7) ?? envelope.maximumStep
        envelope.dosePerArea = try node.double("dose_per_area_e_per_A2", in: 1e-3...1e12) ?? envelope.dosePerArea
        envelope.dosePerSession = try node.double("dose_per_session_e", in: 1...1e30) ?? envelope.dosePerSession
        envelope.commandsPerMinute = try node.int("commands_per_minute", in: 1...100_000) ?? envelope.commandsPerMinute
        envelope.referenceFrames = try node.int("reference_frames", in: 1...64) ?? envelope.referenceFrames
        return envelope
    }
}
