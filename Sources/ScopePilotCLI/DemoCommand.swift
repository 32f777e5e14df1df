import ArgumentParser
import BuiltInPolicies
import Daemon
import DecisionLog
import DefectDetection
import Foundation
import InstrumentDriver
import PolicyKit
import Simulator
import Synchronization

/// `scopepilot demo`: the virtual microscope and the daemon together, end to end.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the virtual microscope and the daemon together over loopback ZeroMQ, then summarise.",
        discussion: """
            The simulated driver serves the virtual microscope exactly as a real driver serves an \
            instrument; the daemon subscribes to its feed, analyses every frame, runs the raster-survey \
            policy (or --policy FILE) and logs every decision. The summary scores the detections against \
            the simulator's ground truth, which the daemon never sees.
            """)

    @Option(help: "Frames to scan (a raster of about this many regions).") var frames: Int?
    @Option(help: "Run for this many minutes instead (a large raster, stopped by time).") var minutes: Double?
    @Option(help: "Pixels per side of each frame (0.2 Å per pixel).") var pixels = 512
    @Option(help: "Scenario: a name (standard, faults, day-a-to-day-b) or a YAML file.") var scenario = "standard"
    @Option(help: "The decision log to write.") var db = "scopepilot-demo.sqlite"
    @Option(help: "Folder for the simulator's ground truth (default: a temporary folder).") var truth: String?
    @Option(help: "Detector model: se1, all, a path, or none.") var model = "se1"
    @Flag(help: ArgumentHelp(RunCommand.storePixelsHelp)) var storePixels = false
    @Option(help: "A policy file to run instead of the demo's raster survey (see Policies/examples).")
    var policy: String?
    @Option(help: ArgumentHelp(RunCommand.dashboardHelp, valueName: "host:port")) var dashboard: String?

    func validate() throws {
        if frames != nil && minutes != nil { throw ValidationError("give --frames or --minutes, not both") }
        if let frames, !(1...10_000).contains(frames) { throw ValidationError("--frames must be 1 to 10000") }
        if let minutes, !(minutes > 0 && minutes <= 24 * 60) { throw ValidationError("--minutes must be 0 to 1440") }
        guard (128...2048).contains(pixels) else { throw ValidationError("--pixels must be 128 to 2048") }
        _ = try RunCommand.dashboardAddress(dashboard)
    }

    func run() async throws {
        let logger = RunCommand.bootstrapLogging()
        let loaded: Scenario
        do { loaded = try Scenario.load(nameOrPath: scenario) } catch { throw ValidationError("\(error)") }
        let truthRoot = URL(
            fileURLWithPath: truth
                ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                    "scopepilot-demo-truth-\(ProcessInfo.processInfo.processIdentifier)"
                ).path, isDirectory: true)
        let (policy, described) = try choosePolicy()
        let progress = DemoProgress()
        let started = ContinuousClock.now
        let status = try await VirtualMicroscopeRun.run(
            policy: policy, scenario: loaded, model: model == "none" ? nil : model, database: db,
            truthRoot: truthRoot, clientName: "scopepilot-demo/\(BuildInfo.version)", logger: logger,
            storePixels: storePixels, onStatus: { progress.show($0) },
            dashboard: try RunCommand.dashboardServer(dashboard, database: db, logger: logger)
        ) { driver in
            print(
                """
                ScopePilot demo \(BuildInfo.version): the virtual microscope (\(loaded.name) scenario) and the daemon over loopback ZeroMQ
                  driver   feed \(driver.feedEndpoint), commands \(driver.controlEndpoint)
                  policy   \(described)
                  model    \(model); decision log \(db)

                """)
        }
        progress.finish()
        try printSummary(status, seconds: (ContinuousClock.now - started).milliseconds / 1000, truthRoot: truthRoot)
    }

    /// The policy file given, or the demo's raster survey sized to `--frames`.
    private func choosePolicy() throws -> (PolicyFile, String) {
        if let path = policy {
            var file = try RunCommand.loadPolicy(path)
            if frames != nil || minutes != nil {
                file.stop.frames = frames
                file.stop.minutes = minutes
            }
            return (file, "\(file.policy.name) from \(path)")
        }
        let count = frames ?? (minutes == nil ? 12 : 10_000)
        let columns = Int(Double(count).squareRoot().rounded(.up))
        let rows = (count + columns - 1) / columns
        let fov = Double(pixels) * 0.02  // 0.2 Å per pixel: the detector's own pixel size
        var file = PolicyFile(
            policy: RasterSurvey(
                center: (-120, 60), columns: columns, rows: rows, fov: fov, pixels: pixels, dwell: 10, overlap: 0.25),
            source: "demo raster-survey")
        file.stop = StopConditions(frames: minutes == nil ? count : nil, minutes: minutes)
        file.envelope.maximumStep = 4 * fov
        let length = minutes.map { ", for \($0) minutes" } ?? ""
        return (
            file,
            "raster-survey, \(columns) x \(rows) regions of \(fov) nm at \(pixels) x \(pixels) px, 10 µs dwell\(length)"
        )
    }

    private func printSummary(_ status: DaemonStatus, seconds: Double, truthRoot: URL) throws {
        guard let session = status.session else {
            print("The daemon did not start a session: \(status.ending ?? "see the messages above").")
            throw ExitCode.failure
        }
        let classes = SessionScore.classes(of: model)
        let score = try SessionScore.score(
            log: DecisionLog(path: db), session: session, truthRoot: truthRoot, classes: classes)
        let p50 = DaemonStatus.percentile(status.latencies, 50)
        let p99 = DaemonStatus.percentile(status.latencies, 99)
        func ms(_ value: Double?) -> String { value.map { String(format: "%.0f ms", $0) } ?? "-" }
        let stages = ["decode", "drift", "condition", "detect", "segment", "policy", "log_commit", "send"].compactMap {
            stage -> String? in
            guard let values = status.stageLatencies[stage] else { return nil }
            return "\(stage) \(ms(DaemonStatus.percentile(values, 50)))"
        }.joined(separator: ", ")
        let defects =
            classes.isEmpty
            ? "no detector"
            : "\(score.found) found, \(score.present) present (\(classes.sorted().joined(separator: ", ")), ground truth); "
                + String(
                    format: "precision %.2f, recall %.2f, F1 %.2f", score.total.precision, score.total.recall,
                    score.total.f1)
                + (score.withoutDetector > 0
                    ? "; \(score.withoutDetector) frames not analysed for defects, not scored" : "")
        let phases = score.phaseSummary.map { "\n  F1 by phase       \($0)" } ?? ""
        print(
            """

            Summary (\(String(format: "%.1f", seconds)) s; session \(session), \(status.endStatus ?? "-"): \(status.ending ?? "-"))
              frames            \(status.framesReceived) received and logged, \(status.framesAnalysed) analysed, \(status.framesSkipped) skipped by analysis, \(status.missing) missing on the feed (\(status.recovered) recovered, \(status.lost) lost), \(status.rejected) refused, \(status.duplicates) duplicate copies ignored
              area covered      \(String(format: "%.0f", status.area)) nm², \(String(format: "%.3g", status.electrons)) electrons
              defects           \(defects)
              communities       \(status.communities)\(phases)
              decisions         \(status.decisions)\(status.logWriteFailures > 0 ? " (\(status.logWriteFailures) log writes FAILED)" : ""), commands \(status.commands) (\(status.commandsFailed) not done), refused by the envelope \(status.refusals)
              drift             \(status.drift.map { String(format: "%.3f, %.3f nm/s", $0.vx, $0.vy) } ?? "not measured")
              driver restarts   \(status.driverRestarts) survived
              retrains          \(status.retrainingsStarted) started, \(status.retrains) swapped in a better model
              latency           frame received -> command acknowledged: \(p50 == nil ? "- (the policy decides ahead of the analysis)" : "p50 \(ms(p50)), p99 \(ms(p99))")\(stages.isEmpty ? "" : "\n                    per stage (p50): \(stages)")
              the log           \(db) (SQLite). Review it:
                                  \(binary) log sessions --db \(db)
                                  \(binary) log decisions \(session) --db \(db)
                                  \(binary) log export \(session) --db \(db) --format csv --out \(session)
                                  \(binary) report \(session) --db \(db) --out \(session)-report
            """)
    }
}

/// This program's own path, so that the review commands the summary prints run as they are.
private var binary: String {
    // Linux appends " (deleted)" when the file was replaced while running (a rebuild).
    if let real = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        return real.hasSuffix(" (deleted)") ? String(real.dropLast(" (deleted)".count)) : real
    }
    let first = CommandLine.arguments.first ?? "scopepilot"
    return first.contains("/") ? URL(fileURLWithPath: first).standardizedFileURL.path : first
}

/// Progress lines for the demo: one per analysed frame (a live line on a terminal).
final class DemoProgress: Sendable {
    private let printed = Mutex(0)
    private let terminal = isatty(STDOUT_FILENO) == 1

    func show(_ status: DaemonStatus) {
        let due = printed.withLock { last -> Bool in
            guard status.framesAnalysed > last else { return false }
            last = status.framesAnalysed
            return true
        }
        guard due else { return }
        if terminal {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + status.line).utf8))
        } else {
            print(status.line)
        }
    }

    func finish() { if terminal { print("") } }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
