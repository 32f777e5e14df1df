import ArgumentParser
import Daemon
import DecisionLog
import DefectDetection
import Foundation
import Logging
import PolicyKit
import ReplayDriver
import Simulator
import WireProtocol

extension PolicyCommand {
    /// `scopepilot policy eval`: policies side by side on the virtual microscope.
    struct Eval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Run policies headless against the virtual microscope, or a recording, and compare them side by side.",
            discussion: """
                Each policy file runs as a full daemon session against the simulated driver (loopback \
                ZeroMQ, as in production), once per seed (each seed is another realisation of the \
                scenario's sample, and other noise). Defects are scored against ground truth in the \
                frames each policy chose to look at. Figures are means over the seeds.

                With --replay LOG|FOLDER the driver is the replay driver instead (`scopepilot replay`): a \
                session recorded with --store-pixels, or a folder of your frames, served by region \
                (each scan gets the recorded frame covering it; a region nothing covers is refused and \
                counted) or in order. Defects are scored where ground truth exists: --truth DIR, the \
                simulator's truth of the recorded session (`demo --truth`, `policy eval --keep`), carried \
                into each served crop; without it the columns that need it say so.
                """)

        @Argument(help: "Policy files (YAML).") var files: [String]
        @Option(help: "Scenario: a name (standard, faults, day-a-to-day-b) or a YAML file.") var scenario = "standard"
        @Option(help: "Frames per session at most (overrides the files' stop conditions).") var frames = 24
        @Option(help: "Sessions per policy, each with another sample seed.") var seeds = 1
        @Option(help: "Detector model: se1, all, a path, or none.") var model = "se1"
        @Option(help: "Keep the decision logs in this folder (default: a temporary folder, removed).")
        var keep: String?
        @Option(help: "Replay this instead of the virtual microscope: a decision log or a folder of frames.")
        var replay: String?
        @Option(help: "With --replay LOG: the recorded session (default: the log's newest).") var session: String?
        @Option(
            help:
                "With --replay: region (each scan gets the frame covering it) or order (the recorded frames in turn); default region when every frame has a stage position."
        )
        var replayMode: String?
        @Option(
            help: "With --replay LOG: the simulator's ground truth of the recorded session (DRIVER-SESSION/SEQ.json).")
        var truth: String?
        @Option(help: "With --replay FOLDER: its positions CSV (default: FOLDER/positions.csv).") var positions: String?
        @Option(help: "With --replay FOLDER: pixel size, Å, of files that state none.") var pixelSize: Double?

        func validate() throws {
            if replay == nil {
                for (name, value) in [
                    ("--session", session), ("--replay-mode", replayMode), ("--truth", truth),
                    ("--positions", positions),
                ] where value != nil {
                    throw ValidationError("\(name) is for --replay")
                }
            } else {
                guard seeds == 1 else {
                    throw ValidationError("--seeds is for the virtual microscope; a recording is one")
                }
                if let replayMode, ReplayInstrument.Mode(rawValue: replayMode) == nil {
                    throw ValidationError("--replay-mode is region or order, not '\(replayMode)'")
                }
            }
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
            var notRecorded = 0.0
            var seconds = 0.0
            /// Whether the frames had ground truth to score against.
            var scored = true
            var endings: [String] = []
            var phases: [String] = []

            init() {}

            /// What the session's status says, and how long it took.
            init(_ status: DaemonStatus, seconds: Double) {
                frames = Double(status.framesAnalysed)
                electrons = status.electrons
                area = status.area
                communities = Double(status.communities)
                retrains = Double(status.retrains)
                refused = Double(status.refusals)
                self.seconds = seconds
                endings = [status.ending ?? "-"]
            }

            /// The defects scored against ground truth.
            mutating func take(_ score: SessionScore) {
                found = Double(score.found)
                present = Double(score.present)
                precision = score.total.precision
                recall = score.total.recall
                f1 = [score.total.f1]
                f1OverTime = score.f1OverTime
                phases = [score.phaseLines.joined(separator: "; ")]
            }
        }

        func run() async throws {
            if let replay {
                try await runReplay(replay)
                return
            }
            let logger = RunCommand.bootstrapLogging(level: .warning)
            let base: Scenario
            do { base = try Scenario.load(nameOrPath: scenario) } catch { throw ValidationError("\(error)") }
            let policies = try files.map { try RunCommand.loadPolicy($0) }
            let folder = try logFolder()
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
                        policy: policy, scenario: sample, noiseSeed: UInt64(seed), model: model == "none" ? nil : model,
                        database: database,
                        truthRoot: truth, clientName: "scopepilot-policy-eval", logger: logger)
                    guard let session = status.session else {
                        throw ValidationError("\(files[index]): the session did not start: \(status.ending ?? "-")")
                    }
                    let log = try DecisionLog(path: database)
                    if let named = try Self.pythonName(of: file, log: log, session: session) { names[index] = named }
                    let score = try SessionScore.score(
                        log: log, session: session, truthRoot: truth, classes: classes)
                    var figures = Figures(status, seconds: (ContinuousClock.now - started).milliseconds / 1000)
                    figures.take(score)
                    runs.append(figures)
                }
                results.append(Self.mean(runs))
            }
            print(
                Self.table(
                    names: names, results: results,
                    title: "Policies on the \(base.name) scenario, \(seeds) seed(s) each; defects scored in the frames "
                        + "each policy looked at"))
            if let keep { print("decision logs in \(keep)") }
        }

        /// Every policy against the recording `source` names, served by the replay driver.
        private func runReplay(_ source: String) async throws {
            let logger = RunCommand.bootstrapLogging(level: .warning)
            let recording = try ReplayCommand.recording(
                source, session: session, positions: positions, pixelSize: pixelSize, channel: "HAADF", dwell: 10)
            let mode =
                replayMode.flatMap(ReplayInstrument.Mode.init(rawValue:)) ?? (recording.positioned ? .region : .order)
            let policies = try files.map { try RunCommand.loadPolicy($0) }
            let folder = try logFolder()
            defer { if keep == nil { try? FileManager.default.removeItem(at: folder) } }
            let classes = SessionScore.classes(of: model)
            var results: [Figures] = []
            var names = policies.map(\.policy.name)
            for (index, file) in policies.enumerated() {
                var policy = file
                policy.stop.frames = min(policy.stop.frames ?? frames, frames)
                let name = "\(index + 1)-\(file.policy.name)-replay"
                let database = folder.appendingPathComponent("\(name).sqlite").path
                FileHandle.standardError.write(Data("running \(files[index]) on the recording ...\n".utf8))
                let started = ContinuousClock.now
                let status = try await ReplayRun.run(
                    policy: policy, recording: recording, mode: mode, model: model == "none" ? nil : model,
                    database: database,
                    clientName: "scopepilot-policy-eval", logger: logger)
                guard let id = status.session else {
                    throw ValidationError("\(files[index]): the session did not start: \(status.ending ?? "-")")
                }
                let log = try DecisionLog(path: database)
                if let named = try Self.pythonName(of: file, log: log, session: id) { names[index] = named }
                var figures = Figures(status, seconds: (ContinuousClock.now - started).milliseconds / 1000)
                if let truth {
                    let carried = folder.appendingPathComponent("\(name)-truth", isDirectory: true)
                    _ = try ReplayRun.carryTruth(
                        log: log, session: id, recordedTruth: URL(fileURLWithPath: truth, isDirectory: true),
                        into: carried)
                    figures.take(try SessionScore.score(log: log, session: id, truthRoot: carried, classes: classes))
                } else {
                    figures.scored = false
                    figures.found = try Self.count(
                        log, "SELECT COUNT(*) FROM detections JOIN frames f ON f.id = frame_id WHERE f.session_id = ?",
                        id)
                }
                figures.notRecorded = try Self.count(
                    log, "SELECT COUNT(*) FROM commands WHERE session_id = ? AND error LIKE 'not_recorded:%'", id)
                results.append(figures)
            }
            let what =
                recording.origin.session.map { "session \($0) of \(source)" } ?? "the folder \(source)"
            print(
                Self.table(
                    names: names, results: results,
                    title:
                        "Policies on the recording of \(what) (\(recording.frames.count) frames, served by \(mode.rawValue))"
                        + (truth == nil ? "; no ground truth (--truth DIR): defects counted, not scored" : ""),
                    replay: true))
            if let keep { print("decision logs in \(keep)") }
        }

        /// The folder the sessions' logs go to: --keep, else a new temporary one (the caller removes it).
        private func logFolder() throws -> URL {
            let folder = URL(
                fileURLWithPath: keep
                    ?? FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-eval-\(UUID())").path,
                isDirectory: true)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            return folder
        }

        /// A Python policy's own name, known once its process has started (the session row's).
        static func pythonName(of file: PolicyFile, log: DecisionLog, session: String) throws -> String? {
            guard file.policy.external != nil,
                let named = try log.query("SELECT policy FROM sessions WHERE id = ?", arguments: [session]).rows.first?
                    .first ?? nil
            else { return nil }
            return "\(named) (python)"
        }

        /// The one number `sql` (with the session id as its argument) counts.
        static func count(_ log: DecisionLog, _ sql: String, _ session: String) throws -> Double {
            Double(try log.query(sql, arguments: [session]).rows.first?.first?.flatMap { Int($0) } ?? 0)
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
                m.notRecorded += r.notRecorded / n
                m.scored = m.scored && r.scored
                m.seconds += r.seconds / n
                m.f1 += r.f1
                m.endings += r.endings
                m.phases += r.phases
            }
            let parts = runs.map(\.f1OverTime.count).min() ?? 0
            m.f1OverTime = (0..<parts).map { i in runs.reduce(0) { $0 + $1.f1OverTime[i] } / n }
            return m
        }

        static func table(names: [String], results: [Figures], title: String, replay: Bool = false) -> String {
            func f(_ v: Double, _ format: String) -> String { String(format: format, v) }
            func spread(_ values: [Double]) -> String {
                let mean = values.reduce(0, +) / Double(values.count)
                guard values.count > 1 else { return f(mean, "%.2f") }
                let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
                return f(mean, "%.2f") + " ± " + f(sd, "%.2f")
            }
            var rows: [(String, (Figures) -> String)] = [
                ("frames analysed", { f($0.frames, "%.0f") }),
                ("electrons", { f($0.electrons, "%.3g") }),
                ("area covered, nm²", { f($0.area, "%.0f") }),
                ("mean dose, e/Å²", { $0.area > 0 ? f($0.electrons / ($0.area * 100), "%.0f") : "-" }),
                (
                    "defects found / present",
                    { f($0.found, "%.0f") + " / " + ($0.scored ? f($0.present, "%.0f") : "no truth") }
                ),
                (
                    "precision / recall",
                    {
                        $0.frames == 0
                            ? "-"
                            : $0.scored ? f($0.precision, "%.2f") + " / " + f($0.recall, "%.2f") : "no ground truth"
                    }
                ),
                ("F1", { $0.frames == 0 ? "-" : $0.scored ? spread($0.f1) : "no ground truth" }),
                (
                    "F1 over time (quarters)",
                    { $0.scored ? $0.f1OverTime.map { f($0, "%.2f") }.joined(separator: " ") : "no ground truth" }
                ),
                ("communities seen", { f($0.communities, "%.1f") }),
                ("retrains", { f($0.retrains, "%.1f") }),
                ("commands refused", { f($0.refused, "%.1f") }),
                ("wall time, s", { f($0.seconds, "%.0f") }),
            ]
            if replay {
                rows.insert(("scans not recorded", { f($0.notRecorded, "%.0f") }), at: rows.count - 1)
            }
            let cells = rows.flatMap { row in results.map { row.1($0).count } }
            let width = max(14, names.map(\.count).max() ?? 0, cells.max() ?? 0) + 2
            var lines = [
                title,
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
