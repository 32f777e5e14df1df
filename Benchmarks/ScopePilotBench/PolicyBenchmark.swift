import ArgumentParser
import Foundation
import ImageNumerics
import PolicyHost
import PolicyKit
import Transport
import WireProtocol

/// `scopepilot-bench policy`: the decision latency a Python policy adds, beside the same policy
/// written in Swift and run in place, on the same observations in the same run; then the cost of
/// asking for a frame's whole pixels.
struct PolicyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Python policy round trip beside the same policy in Swift.")

    @Option(help: "Decisions per measurement.") var decisions = 500
    @Option(help: "Side of the frame whose pixels the policy asks for.") var pixels = 1024
    @Option(help: "Python with the scopepilot package (default: .venv/bin/python).") var python = ".venv/bin/python"

    /// Zoom into the darkest community of the newest frame: the same policy in both languages.
    struct DarkestCommunity: ScanPolicy {
        let name = "darkest-community"
        let version = "1"
        var parameters: [String: String] { [:] }

        func decide(_ observation: Observation) -> PolicyDecision {
            guard
                let darkest = observation.communities.min(by: {
                    ($0.channels.first?.mean ?? .infinity) < ($1.channels.first?.mean ?? .infinity)
                }), let x = darkest.x, let y = darkest.y
            else { return PolicyDecision(.endSession, reason: "no communities") }
            return PolicyDecision(
                .scan(ScanGeometry(centerX: x, centerY: y, fovX: 10.24, width: 512, height: 512, dwell: 10)),
                reason: "community \(darkest.id) is the darkest")
        }
    }

    static func script(wants: String) -> String {
        """
        from scopepilot import Policy, Decision, Scan, EndSession

        class Darkest(Policy):
            name, version, wants = "darkest-community", "1", \(wants)

            def decide(self, observation):
                if not observation.communities:
                    return Decision(EndSession(), "no communities")
                darkest = min(observation.communities, key=lambda c: c.channels[0].mean if c.channels else 1e300)
                return Decision(Scan(darkest.x_nm, darkest.y_nm, 10.24, pixels=512, dwell_us=10),
                                f"community {darkest.id} is the darkest")
        """
    }

    /// A survey frame's observation: 64 chips in 8 communities, 30 defects, 40 + `step` earlier
    /// visits (one more each decision, as in a session), a 128 x 128 thumbnail.
    static func observation(step: Int, random: inout SplitMix64) -> Observation {
        let scan = ScanGeometry(centerX: -40, centerY: 40, fovX: 400, width: 512, height: 512, dwell: 2)
        var map = SessionMap()
        for index in 0..<(40 + step) {
            let region = ScanGeometry(
                centerX: -200 + 10 * Double(index), centerY: 40, fovX: 10.24, width: 512, height: 512, dwell: 10)
            map.record(SessionMap.Visit(seq: UInt64(index), scan: region, dose: 5e4, defects: 6, communities: [1]))
        }
        let communities = (0..<8).map { id in
            CommunityObservation(
                id: id, chips: 8, area: 20_000, defects: id, x: -200 + 50 * Double(id), y: 40,
                channels: [ChannelStatistics(name: "HAADF", mean: 100 + random.unit() * 20, std: 3)])
        }
        let chips = (0..<64).map { index in
            ChipObservation(
                x: -200 + 50 * Double(index % 8), y: -160 + 50 * Double(index / 8), size: 50, community: index % 8,
                defects: nil, channels: [ChannelStatistics(name: "HAADF", mean: 100 + random.unit() * 20, std: 3)])
        }
        let defects = (0..<30).map { _ in
            DefectObservation(x: random.unit() * 400 - 240, y: random.unit() * 400 - 160, kind: "se1", confidence: 0.9)
        }
        let frame = FrameSummary(
            seq: UInt64(step), scan: scan, stage: StagePosition(x: -40, y: 40), time: Double(step), dose: 1.5,
            channels: [ChannelStatistics(name: "HAADF", mean: 110, std: 8)])
        let thumbnail = FrameThumbnail(
            width: 128, height: 128, pixels: (0..<(128 * 128)).map { _ in Float(random.unit()) })
        return Observation(
            step: step, elapsed: Double(step), frame: frame, defects: defects, communities: communities, chips: chips,
            lastOutcome: .done(.scan(scan)), map: map, envelope: SafetyEnvelope(), thumbnail: thumbnail)
    }

    static func percentiles(_ samples: [Double]) -> (p50: Double, p99: Double) {
        let sorted = samples.sorted()
        return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))])
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-policy-bench-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let interpreter = URL(fileURLWithPath: python).standardizedFileURL
        var random = SplitMix64(seed: 11)
        let observations = (0..<decisions).map { Self.observation(step: $0, random: &random) }

        // Swift, in place.
        let policy = DarkestCommunity()
        var swift: [Double] = []
        var swiftChoices: [PolicyAction] = []
        for observation in observations {
            let start = ContinuousClock.now
            let decision = policy.decide(observation)
            swift.append((ContinuousClock.now - start).seconds * 1000)
            swiftChoices.append(decision.action)
        }

        let context = try ZMQContext()
        func measure(wants: String, arrays: () -> [PolicyArray]) async throws -> ([Double], [PolicyAction]) {
            let script = folder.appendingPathComponent("darkest_\(wants.count).py")
            try Self.script(wants: wants).write(to: script, atomically: true, encoding: .utf8)
            let spec = ExternalPolicySpec(
                python: interpreter, script: script.path, className: "Darkest", deadline: .seconds(10))
            let host = try await ExternalPolicyHost(spec, context: context)
            _ = try await host.start(session: "bench", envelope: SafetyEnvelope())
            var times: [Double] = []
            var choices: [PolicyAction] = []
            for (index, observation) in observations.enumerated() {
                let extra = arrays()
                let start = ContinuousClock.now
                let decision = try await host.decide(observation, arrays: extra)
                // The first few warm up Python's caches and the socket.
                if index >= 10 { times.append((ContinuousClock.now - start).seconds * 1000) }
                choices.append(decision.action)
            }
            _ = await host.stop(reason: "benchmark over")
            return (times, choices)
        }
        let (python, pythonChoices) = try await measure(wants: #"["thumbnail"]"#) { [] }
        let side = pixels
        let frame = (0..<(side * side)).map { Float($0 % 251) }
        let (withPixels, _) = try await measure(wants: #"["thumbnail", "pixels"]"#) {
            [.image("pixels", width: side, height: side, pixels: frame)]
        }
        let same = zip(swiftChoices, pythonChoices).allSatisfy { $0 == $1 }

        let s = Self.percentiles(swift)
        let p = Self.percentiles(python)
        let q = Self.percentiles(withPixels)
        print("A policy that zooms into the darkest community, in Swift (in place) and in Python (its own process,")
        print("the policy protocol over loopback ZeroMQ), on the same \(decisions) observations: a survey frame with")
        print("64 chips in 8 communities, 30 defects, a 128 x 128 thumbnail, and a session map of 40 visits that")
        print("grows by one each decision (the policy process receives each visit once).\n")
        print("                                   p50 ms    p99 ms")
        print(String(format: "Swift, in place                  %7.3f   %7.3f", s.p50, s.p99))
        print(String(format: "Python, thumbnail                %7.3f   %7.3f", p.p50, p.p99))
        print(
            String(format: "Python, thumbnail + %4d² pixels  %7.3f   %7.3f", side, q.p50, q.p99))
        print(
            String(
                format: "\nAdded by Python: p50 %.2f ms, p99 %.2f ms (target: at most 3 ms p50 without pixels: %@).",
                p.p50 - s.p50, p.p99 - s.p99, p.p50 - s.p50 <= 3 ? "met" : "NOT met"))
        print(
            String(
                format: "Asking for the %d² frame's pixels (%.1f MB per decision) adds p50 %.2f ms more.", side,
                Double(side * side * 4) / 1e6, q.p50 - p.p50))
        print("Both languages chose the same action every time: \(same ? "yes" : "NO")")
        if !same { throw ExitCode(1) }
    }
}
