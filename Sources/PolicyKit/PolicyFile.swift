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
    /// The policy: a built-in one ready to run, or one in a process of its own.
    public var policy: PolicyChoice
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
        self.init(choice: .builtIn(policy), envelope: envelope, stop: stop, source: source)
    }

    /// Creates a configuration for a built-in or an external policy.
    public init(
        choice: PolicyChoice, envelope: SafetyEnvelope = SafetyEnvelope(), stop: StopConditions = StopConditions(),
        source: String = "<code>"
    ) {
        self.policy = choice
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
        try root.onlyKeys(
            [
                "policy", "parameters", "envelope", "stop", "drift_compensation", "retraining", "give_up",
            ] + externalKeys)
        let names = (factories.map(\.name) + ["python"]).joined(separator: ", ")
        guard let name = try root.string("policy") else {
            throw root.error(nil, "a policy file needs 'policy: NAME'; policies: \(names)")
        }
        let policy: PolicyChoice
        if name == "python" {
            policy = .external(try parseExternal(root))
        } else {
            guard let factory = factories.first(where: { $0.name == name }) else {
                throw root.error("policy", "no policy '\(name)'; policies: \(names)")
            }
            if let key = externalKeys.first(where: root.has) {
                throw root.error(key, "'\(key)' belongs to 'policy: python' only", code: .unknownKey)
            }
            let parameters = try root.child("parameters").map(PolicyParameters.init)
            do {
                policy = .builtIn(try factory.make(parameters))
            } catch {
                throw ConfigError(
                    error.code == .unknownKey ? .unknownKey : .invalidValue, file: error.file, line: error.line,
                    column: error.column, key: error.key, message: error.message)
            }
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
        var file = PolicyFile(choice: policy, envelope: envelope, stop: stop, source: root.file)
        if let node = try root.child("retraining") {
            try node.onlyKeys([
                "condition_score_above", "frames_in_a_row", "reference_frames", "cooldown_frames", "realism",
                "cyclegan_steps",
            ])
            var rule = RetrainingRule()
            rule.conditionScore = try node.double("condition_score_above", in: 0...1000) ?? rule.conditionScore
            rule.framesInARow = try node.int("frames_in_a_row", in: 1...10_000) ?? rule.framesInARow
            rule.referenceFrames = try node.int("reference_frames", in: 1...64) ?? rule.referenceFrames
            rule.cooldownFrames = try node.int("cooldown_frames", in: 0...1_000_000) ?? rule.cooldownFrames
            if let realism = try node.string("realism") {
                guard let choice = RetrainingRule.Realism(rawValue: realism) else {
                    throw node.error(
                        "realism",
                        "expected \(RetrainingRule.Realism.allCases.map(\.rawValue).joined(separator: ", ")), got '\(realism)'"
                    )
                }
                rule.realism = choice
            }
            rule.cycleganSteps = try node.int("cyclegan_steps", in: 1...1_000_000)
            if rule.cycleganSteps != nil, !rule.realism.usesCycleGAN {
                throw node.error("cyclegan_steps", "is for realism: cyclegan or both (this rule uses \(rule.realism))")
            }
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

    /// The keys only `policy: python` has.
    static let externalKeys = ["script", "class", "python", "deadline_s", "start_timeout_s"]

    /// `policy: python`: the script (relative to the policy file), its class, the interpreter.
    private static func parseExternal(_ root: ConfigNode) throws(ConfigError) -> ExternalPolicySpec {
        let directory =
            root.file.hasPrefix("<")
            ? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            : URL(fileURLWithPath: root.file).deletingLastPathComponent()
        guard let script = try root.string("script") else {
            throw root.error(nil, "'policy: python' needs 'script: FILE.py' (relative to the policy file)")
        }
        let scriptURL =
            (script.hasPrefix("/") ? URL(fileURLWithPath: script) : directory.appendingPathComponent(script))
            .standardizedFileURL
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: scriptURL.path, isDirectory: &isFolder), !isFolder.boolValue else {
            throw root.error("script", "no file \(scriptURL.path)")
        }
        guard let className = try root.string("class") else {
            throw root.error(nil, "'policy: python' needs 'class: NAME', the policy class in \(script)")
        }
        guard className.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), className.first?.isNumber == false
        else { throw root.error("class", "'\(className)' is not a Python class name") }
        let environment = ProcessInfo.processInfo.environment
        let python: URL
        if let named = try root.string("python") {
            guard let found = ExternalPolicySpec.interpreter(named, relativeTo: directory) else {
                throw root.error("python", "no program '\(named)' (a path relative to the policy file, or on PATH)")
            }
            python = found
        } else if let named = environment["SCOPEPILOT_PYTHON"], !named.isEmpty {
            let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            guard let found = ExternalPolicySpec.interpreter(named, relativeTo: here) else {
                throw root.error(nil, "SCOPEPILOT_PYTHON names '\(named)', which is not a program")
            }
            python = found
        } else {
            guard let found = ExternalPolicySpec.interpreter("python3", relativeTo: directory) else {
                throw root.error(
                    nil,
                    "no python3 on PATH; name the Python with the scopepilot package in 'python:' "
                        + "or in SCOPEPILOT_PYTHON")
            }
            python = found
        }
        _ = try root.child("parameters")  // absent, or a mapping: anything else is an error at its line
        let parameters = try root.json("parameters") ?? Data("{}".utf8)
        var spec = ExternalPolicySpec(
            python: python, script: scriptURL.path, className: className, parametersJSON: parameters)
        if let seconds = try root.double("deadline_s", in: 0.01...600) {
            spec.deadline = .milliseconds(Int64(seconds * 1000))
        }
        if let seconds = try root.double("start_timeout_s", in: 1...600) {
            spec.startTimeout = .milliseconds(Int64(seconds * 1000))
        }
        return spec
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
