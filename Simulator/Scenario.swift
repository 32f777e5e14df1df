public import Foundation
public import YAMLConfig

/// One set of microscope conditions, in force from `start` (simulated seconds) until the next set.
/// Fields left nil keep the value in force before.
public struct ConditionSet: Sendable, Hashable {
    /// A name for logs and ground truth, e.g. "day A".
    public var name: String
    /// When it takes effect, simulated seconds since the session began.
    public var start: Double
    /// Optics overrides.
    public var beamEnergy: Double?
    /// Convergence semi-angle, mrad.
    public var convergence: Double?
    /// Defocus C1, nm.
    public var defocus: Double?
    /// Twofold astigmatism A1, nm.
    public var astigmatism: Double?
    /// Azimuth of A1, degrees.
    public var astigmatismAngle: Double?
    /// Axial coma B2, nm.
    public var coma: Double?
    /// Azimuth of B2, degrees.
    public var comaAngle: Double?
    /// Spherical aberration C3, um.
    public var sphericalAberration: Double?
    /// Source size FWHM, nm.
    public var sourceSize: Double?
    /// Probe current, pA.
    public var current: Double?
    /// Detector read noise, ADU, for every detector.
    public var readNoise: Double?
    /// Detector gain, ADU per count, for every detector.
    public var gain: Double?
    /// HAADF contrast exponent n.
    public var exponent: Double?
    /// Drift velocity from this set on, nm/s.
    public var drift: (x: Double, y: Double)?

    /// A set that changes nothing.
    public init(name: String, start: Double) {
        self.name = name
        self.start = start
    }

    public static func == (a: ConditionSet, b: ConditionSet) -> Bool {
        a.name == b.name && a.start == b.start && a.defocus == b.defocus && a.astigmatism == b.astigmatism
            && a.current == b.current && a.drift?.x == b.drift?.x && a.drift?.y == b.drift?.y
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(start)
    }
}

/// Faults the simulated driver injects, by frame seq.
public struct ScenarioFaults: Sendable, Hashable {
    /// Frames not published (they stay in the ring buffer, so `resend_frames` recovers them).
    public var dropFrames: Set<UInt64> = []
    /// Frames published twice.
    public var duplicateFrames: Set<UInt64> = []
    /// Frames published after the frame that follows them (out of order).
    public var delayFrames: Set<UInt64> = []
    /// Frames published as float32 with a NaN pixel.
    public var nanFrames: Set<UInt64> = []
    /// Frames published with a broken header.
    public var malformedFrames: Set<UInt64> = []
    /// Frames neither published nor kept: `resend_frames` answers them `missing`.
    public var lostFrames: Set<UInt64> = []
    /// Frames whose copy kept for `resend_frames` has a NaN pixel, so a re-sent copy is refused too.
    public var nanResentFrames: Set<UInt64> = []
    /// Actions the driver REJECTs with `hardware` (e.g. `blank_beam`: a blanker that does not answer).
    public var rejectActions: Set<String> = []
    /// The beam is blanked after these frames are published, as a watchdog or an operator would.
    public var blankAfterFrames: Set<UInt64> = []
    /// The driver restarts (new session, seq from 0, peers forgotten) after this many frames.
    public var restartAfterFrames: Int?
    /// Every n-th DONE is sent late.
    public var slowReplyEvery: Int?
    /// How late, ms.
    public var slowReplyDelayMilliseconds = 0

    /// No faults.
    public init() {}
}

/// A virtual-microscope scenario: the sample, the conditions over time, and faults. Read from YAML
/// with ``load(_:)``; see `Simulator/scenarios/` for examples and every key.
public struct Scenario: Sendable {
    /// Its name.
    public var name: String
    /// The sample's layout.
    public var layout: SampleLayout
    /// Knock-on cross-section of Se, nm².
    public var knockOnCrossSection: Double
    /// Hydrocarbon growth, nm of thickness per electron per nm².
    public var contaminationGrowth: Double
    /// Condition sets, ordered by start.
    public var conditions: [ConditionSet]
    /// Injected faults.
    public var faults: ScenarioFaults

    /// The default: the standard sample, constant conditions, no faults.
    public static func standard(seed: UInt64 = 1) -> Scenario {
        Scenario(
            name: "standard", layout: .standard(seed: seed), knockOnCrossSection: 3e-11, contaminationGrowth: 0,
            conditions: [], faults: ScenarioFaults())
    }

    /// Names of the scenarios that ship with ScopePilot (Simulator/scenarios), without `.yaml`.
    public static var bundledNames: [String] {
        guard let directory = Bundle.module.url(forResource: "scenarios", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        else { return [] }
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// A scenario file's path, or the name of a shipped scenario (`day-a-to-day-b`).
    public static func load(nameOrPath: String) throws(ConfigError) -> Scenario {
        if !nameOrPath.contains("/") && !nameOrPath.hasSuffix(".yaml"),
            let url = Bundle.module.url(
                forResource: nameOrPath, withExtension: "yaml", subdirectory: "scenarios")
        {
            return try load(url)
        }
        if !FileManager.default.fileExists(atPath: nameOrPath) && !nameOrPath.contains("/") {
            throw ConfigError(
                .unreadable, file: nameOrPath, line: 0, column: 0, key: "",
                message:
                    "no such file, and no shipped scenario of that name (shipped: \(bundledNames.joined(separator: ", ")))"
            )
        }
        return try load(URL(fileURLWithPath: nameOrPath))
    }

    /// Reads a scenario file.
    public static func load(_ url: URL) throws(ConfigError) -> Scenario {
        try parse(ConfigNode.load(url))
    }

    /// Parses scenario YAML.
    public static func parse(_ text: String, file: String = "<scenario>") throws(ConfigError) -> Scenario {
        try parse(ConfigNode.parse(text, file: file))
    }

    private static func parse(_ root: ConfigNode) throws(ConfigError) -> Scenario {
        try root.onlyKeys(["name", "seed", "sample", "conditions", "faults"])
        let seed = UInt64(try root.int("seed", in: 0...Int.max) ?? 1)
        var scenario = Scenario.standard(seed: seed)
        scenario.name = try root.string("name") ?? "unnamed"
        if let sample = try root.child("sample") { try parseSample(sample, into: &scenario) }
        if let sets = try root.children("conditions") {
            for node in sets { scenario.conditions.append(try parseConditions(node)) }
            for (index, (a, b)) in zip(scenario.conditions, scenario.conditions.dropFirst()).enumerated()
            where b.start < a.start {
                throw sets[index + 1].error(
                    "from_minute", "condition sets must be in time order; '\(b.name)' starts before '\(a.name)'")
            }
        }
        if let faults = try root.child("faults") { scenario.faults = try parseFaults(faults) }
        return scenario
    }

    private static func parseSample(_ node: ConfigNode, into scenario: inout Scenario) throws(ConfigError) {
        try node.onlyKeys([
            "flake_center_nm", "flake_size_nm", "roughness_nm", "edge_width_nm", "holes", "vacancy_rich", "damaged",
            "contamination", "contamination_thickness_nm", "contamination_growth_nm_per_dose",
            "pristine_vacancies", "rich_vacancies", "knock_on_cross_section_nm2",
        ])
        var layout = scenario.layout
        if let centre = try node.doubles("flake_center_nm", count: 2) {
            (layout.flakeCenterX, layout.flakeCenterY) = (centre[0], centre[1])
        }
        if let size = try node.doubles("flake_size_nm", count: 2) {
            guard size.allSatisfy({ $0 >= 2000 }) else {
                throw node.error("flake_size_nm", "the flake must be at least 2000 nm on each side")
            }
            (layout.flakeWidth, layout.flakeHeight) = (size[0], size[1])
        }
        layout.roughness = try node.double("roughness_nm", in: 0...200) ?? layout.roughness
        layout.edgeWidth = try node.double("edge_width_nm", in: 0...100) ?? layout.edgeWidth
        layout.contaminationThickness =
            try node.double("contamination_thickness_nm", in: 0...50) ?? layout.contaminationThickness
        for (key, path) in [
            ("holes", \SampleLayout.holes), ("vacancy_rich", \.vacancyRich), ("damaged", \.damaged),
            ("contamination", \.contamination),
        ] {
            guard let discs = try node.children(key) else { continue }
            var parsed: [Disc] = []
            for disc in discs {
                try disc.onlyKeys(["x_nm", "y_nm", "radius_nm"])
                guard let x = try disc.double("x_nm"), let y = try disc.double("y_nm"),
                    let radius = try disc.double("radius_nm", in: 0.1...5000)
                else { throw disc.error(nil, "a zone needs x_nm, y_nm and radius_nm") }
                parsed.append(Disc(x: x, y: y, radius: radius))
            }
            layout[keyPath: path] = parsed
        }
        func vacancies(_ key: String, _ current: VacancyConcentrations) throws(ConfigError) -> VacancyConcentrations {
            guard let child = try node.child(key) else { return current }
            try child.onlyKeys(["se1", "se2", "w"])
            return VacancyConcentrations(
                se1: try child.double("se1", in: 0...0.5) ?? current.se1,
                se2: try child.double("se2", in: 0...0.5) ?? current.se2,
                w: try child.double("w", in: 0...0.5) ?? current.w)
        }
        layout.pristineVacancies = try vacancies("pristine_vacancies", layout.pristineVacancies)
        layout.richVacancies = try vacancies("rich_vacancies", layout.richVacancies)
        scenario.layout = layout
        scenario.knockOnCrossSection =
            try node.double("knock_on_cross_section_nm2", in: 0...1e-3) ?? scenario.knockOnCrossSection
        scenario.contaminationGrowth = try node.double("contamination_growth_nm_per_dose", in: 0...1e-3) ?? 0
    }

    private static func parseConditions(_ node: ConfigNode) throws(ConfigError) -> ConditionSet {
        try node.onlyKeys([
            "name", "from_minute", "beam_energy_kv", "convergence_mrad", "defocus_nm", "astigmatism_nm",
            "astigmatism_angle_deg", "coma_nm", "coma_angle_deg", "cs_um", "source_size_nm", "current_pa",
            "read_noise_adu", "gain_adu_per_count", "contrast_exponent", "drift_nm_per_s",
        ])
        guard let name = try node.string("name") else { throw node.error(nil, "a condition set needs a name") }
        var set = ConditionSet(name: name, start: 60 * (try node.double("from_minute", in: 0...100_000) ?? 0))
        set.beamEnergy = try node.double("beam_energy_kv", in: 60...300)
        set.convergence = try node.double("convergence_mrad", in: 1...100)
        set.defocus = try node.double("defocus_nm", in: -1000...1000)
        set.astigmatism = try node.double("astigmatism_nm", in: 0...1000)
        set.astigmatismAngle = try node.double("astigmatism_angle_deg")
        set.coma = try node.double("coma_nm", in: 0...10_000)
        set.comaAngle = try node.double("coma_angle_deg")
        set.sphericalAberration = try node.double("cs_um", in: -5000...5000)
        set.sourceSize = try node.double("source_size_nm", in: 0...2)
        set.current = try node.double("current_pa", in: 0.01...10_000)
        set.readNoise = try node.double("read_noise_adu", in: 0...10_000)
        set.gain = try node.double("gain_adu_per_count", in: 0.001...1000)
        set.exponent = try node.double("contrast_exponent", in: 1...2.5)
        if let drift = try node.doubles("drift_nm_per_s", count: 2) { set.drift = (drift[0], drift[1]) }
        return set
    }

    private static func parseFaults(_ node: ConfigNode) throws(ConfigError) -> ScenarioFaults {
        try node.onlyKeys([
            "drop_frames", "duplicate_frames", "delay_frames", "nan_frames", "malformed_frames", "lose_frames",
            "nan_resent_frames", "reject_actions", "blank_after_frames", "restart_after_frames", "slow_reply_every",
            "slow_reply_ms",
        ])
        func seqs(_ key: String) throws(ConfigError) -> Set<UInt64> {
            guard let values = try node.ints(key) else { return [] }
            guard values.allSatisfy({ $0 >= 0 }) else { throw node.error(key, "frame numbers (seq) are 0 or more") }
            return Set(values.map(UInt64.init))
        }
        var faults = ScenarioFaults()
        faults.dropFrames = try seqs("drop_frames")
        faults.duplicateFrames = try seqs("duplicate_frames")
        faults.delayFrames = try seqs("delay_frames")
        faults.nanFrames = try seqs("nan_frames")
        faults.malformedFrames = try seqs("malformed_frames")
        faults.lostFrames = try seqs("lose_frames")
        faults.nanResentFrames = try seqs("nan_resent_frames")
        faults.blankAfterFrames = try seqs("blank_after_frames")
        let actions = ["scan_region", "move_stage", "acquire_reference", "blank_beam", "unblank_beam", "get_state"]
        for action in try node.strings("reject_actions") ?? [] {
            guard actions.contains(action) else {
                throw node.error("reject_actions", "no action '\(action)'; actions: \(actions.joined(separator: ", "))")
            }
            faults.rejectActions.insert(action)
        }
        faults.restartAfterFrames = try node.int("restart_after_frames", in: 1...1_000_000)
        faults.slowReplyEvery = try node.int("slow_reply_every", in: 1...1_000_000)
        faults.slowReplyDelayMilliseconds = try node.int("slow_reply_ms", in: 0...600_000) ?? 0
        if faults.slowReplyEvery != nil && !node.has("slow_reply_ms") {
            throw node.error("slow_reply_every", "give slow_reply_ms too: how late the reply comes")
        }
        return faults
    }
}
