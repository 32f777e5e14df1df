import ArgumentParser
import Daemon
import DecisionLog
import DefectDetection
import Foundation
import Logging
import PolicyKit
import Simulator

extension PolicyCommand {
    /// `scopepilot policy eval`: policies side by side on the virtual microscope.
    struct Eval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run policies headless against the virtual microscope and compare them side by side.",
            discussion: """
                Each policy file runs as a full daemon session against the simulated driver (loopback \
                ZeroMQ, as in production), once per seed (each seed is another realisation of the \
                scenario's sample, and other noise). Defects are scored against ground truth in the \
                frames each policy chose to look at. Figures are means over the seeds.
                """)

        @Argument(help: "Policy files (YAML).") var files: [String]
        @Option(help: "Scenario: a name (standard, faults, day-a-to-day-b) or a YAML file.") var scenario = "standard"
        @Option(help: "Frames per session at most (overrides the files' stop conditions).") var frames = 24
        @Option(help: "Sessions per policy, each with another sample seed.") var seeds = 1
        @Option(help: "Detector model: se1, all or a path.") var model = "se1"
        @Option(help: "Keep the decision logs in this folder (default: a temporary folder, removed).")
        var keep: String?

        func validate() throws {
            guard (1...10_000).contains(frames) else { throw ValidationError("--frames must be 1 to 10000") }
            guard (1...100).contains(seeds) else { throw ValidationError("--seeds must be 1 to 100") }
        }

        struct Figures {
            var frames = 0.0
            var electrons = 0.0
            var area = 0.0
            var found = 0.0
            var present = 0.0
            var precision = 0.0
            var recall = 0.0
            var f1: [Double] = []
            var f1OverTime: [Double] = []
            var communities = 0.0
            var retrains = 0.0
            var refused = 0.0
            var seconds = 0.0
            var endings: [String] = []
            var phases: [String] = []
        }

        func run() async throws {
            let logger = RunCommand.bootstrapLogging(level: .warning)
            let base: Scenario
            do { base = try Scenario.load(nameOrPath: scenario) } catch { throw ValidationError("\(error)") }
            let policies = try files.map { try RunCommand.loadPolicy($0) }
            let folder = URL(
                fileURLWithPath: keep
                    ?? FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-eval-\(UUID())").path,
                isDirectory: true)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { if keep == nil { try? FileManager.default.removeItem(at: folder) } }
            let classes = SessionScore.classes(of: model)
            var results: [Figures] = []
            // A Python policy's own name is known once its process has started: the session row's.
            var names = policies.map(\.policy.name)
            for (index, file) in policies.enumerated() {
                var runs: [Figures] = []
                for seed in 1...seeds {
                    var policy = file
                    policy.stop.frames = min(policy.stop.frames ?? frames, frames)
                    var sample = base
                    sample.layout.seed = base.layout.seed &+ UInt64(seed - 1)
                    let name = "\(index + 1)-\(file.policy.name)-seed\(seed)"
                    let database = folder.appendingPathComponent("\(name).sqlite").path
                    let truth = folder.appendingPathComponent("\(name)-truth", isDirectory: true)
                    FileHandle.standardError.write(Data("running \(files[index]) (seed \(seed)) ...\n".utf8))
                    let started = ContinuousClock.now
                    let status = try await VirtualMicroscopeRun.run(
                        policy: policy, scenario: sample, noiseSeed: UInt64(seed), model: model, database: database,
                        truthRoot: truth, clientName: "scopepilot-policy-eval", logger: logger)
                    guard let session = status.session else {
                        throw ValidationError("\(files[index]): the session did not start: \(status.ending ?? "-")")
                    }
                    let log = try DecisionLog(path: database)
                    if file.policy.external != nil,
                        let named = try log.query("SELECT policy FROM sessions WHERE id = ?", arguments: [session])
                            .rows.first?.first ?? nil
                    {
                        names[index] = "\(named) (python)"
                    }
                    let score = try SessionScore.score(
                        log: log, session: session, truthRoot: truth, classes: classes)
                    var figures = Figures()
                    figures.frames = Double(status.framesAnalysed)
                    figures.electrons = status.electrons
                    figures.area = status.area
                    figures.found = Double(score.found)
                    figures.present = Double(score.present)
                    figures.precision = score.total.precision
                    figures.recall = score.total.recall
                    figures.f1 = [score.total.f1]
                    figures.f1OverTime = score.f1OverTime
                    figures.communities = Double(status.communities)
                    figures.retrains = Double(status.retrains)
                    figures.refused = Double(status.refusals)
                    figures.seconds = (ContinuousClock.now - started).milliseconds / 1000
                    figures.endings = [status.ending ?? "-"]
                    figures.phases = [score.phaseLines.joined(separator: "; ")]
                    runs.append(figures)
                }
                results.append(Self.mean(runs))
            }
            print(Self.table(names: names, results: results, seeds: seeds, scenario: base.name))
            if let keep { print("decision logs in \(keep)") }
        }

        static func mean(_ runs: [Figures]) -> Figures {
            let n = Double(runs.count)
            var m = Figures()
            for r in runs {
                m.frames += r.frames / n
                m.electrons += r.electrons / n
                m.area += r.area / n
                m.found += r.found / n
                m.present += r.present / n
                m.precision += r.precision / n
                m.recall += r.recall / n
                m.communities += r.communities / n
                m.retrains += r.retrains / n
                m.refused += r.refused / n
                m.seconds += r.seconds / n
                m.f1 += r.f1
                m.endings += r.endings
                m.phases += r.phases
            }
            let parts = runs.map(\.f1OverTime.count).min() ?? 0
            m.f1OverTime = (0..<parts).map { i in runs.reduce(0) { $0 + $1.f1OverTime[i] } / n }
            return m
        }

        static func table(names: [String], results: [Figures], seeds: Int, scenario: String) -> String {
            func f(_ v: Double, _ format: String) -> String { String(format: format, v) }
            func spread(_ values: [Double]) -> String {
                let mean = values.reduce(0, +) / Double(values.count)
                guard values.count > 1 else { return f(mean, "%.2f") }
                let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
                return f(mean, "%.2f") + " ± " + f(sd, "%.2f")
            }
            let rows: [(String, (Figures) -> String)] = [
                ("frames analysed", { f($0.frames, "%.0f") }),
                ("electrons", { f($0.electrons, "%.3g") }),
                ("area covered, nm²", { f($0.area, "%.0f") }),
                ("mean dose, e/Å²", { $0.area > 0 ? f($0.electrons / ($0.area * 100), "%.0f") : "-" }),
                ("defects found / present", { f($0.found, "%.0f") + " / " + f($0.present, "%.0f") }),
                ("precision / recall", { f($0.precision, "%.2f") + " / " + f($0.recall, "%.2f") }),
                ("F1", { spread($0.f1) }),
                ("F1 over time (quarters)", { $0.f1OverTime.map { f($0, "%.2f") }.joined(separator: " ") }),
                ("communities seen", { f($0.communities, "%.1f") }),
                ("retrains", { f($0.retrains, "%.1f") }),
                ("commands refused", { f($0.refused, "%.1f") }),
                ("wall time, s", { f($0.seconds, "%.0f") }),
            ]
            let width = max(14, names.map(\.count).max() ?? 0) + 2
            var lines = [
                "Policies on the \(scenario) scenario, \(seeds) seed(s) each; defects scored in the frames each policy looked at",
                "".padding(toLength: 26, withPad: " ", startingAt: 0)
                    + names.map { $0.padding(toLength: width, withPad: " ", startingAt: 0) }.joined(),
            ]
            for (label, value) in rows {
                lines.append(
                    label.padding(toLength: 26, withPad: " ", startingAt: 0)
                        + results.map { value($0).padding(toLength: width, withPad: " ", startingAt: 0) }.joined())
            }
            lines.append("How the sessions ended:")
            for (name, result) in zip(names, results) {
                for (seed, ending) in result.endings.enumerated() {
                    lines.append("  \(name), seed \(seed + 1): \(ending)")
                    if seed < result.phases.count, !result.phases[seed].isEmpty {
                        lines.append("    F1 by phase: " + result.phases[seed])
                    }
                }
            }
            return lines.joined(separator: "\n")
        }
    }
}
