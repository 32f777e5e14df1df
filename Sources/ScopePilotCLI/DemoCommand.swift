import ArgumentParser
import BuiltInPolicies
import Daemon
import DecisionLog
import DefectDetection
import Foundation
import InstrumentDriver
import Logging
import PolicyKit
import SimulatedDriver
import Simulator
import Synchronization
import Transport
import WireProtocol

/// `scopepilot demo`: the virtual microscope and the daemon together, end to end.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the virtual microscope and the daemon together over loopback ZeroMQ, then summarise.",
        discussion: """
            The simulated driver serves the virtual microscope exactly as a real driver serves an \
            instrument; the daemon subscribes to its feed, analyses every frame, runs the raster-survey \
            policy and logs every decision. The summary scores the detections against the simulator's \
            ground truth, which the daemon never sees.
            """)

    @Option(help: "Frames to scan (a raster of about this many regions).") var frames: Int?
    @Option(help: "Run for this many minutes instead (a large raster, stopped by time).") var minutes: Double?
    @Option(help: "Pixels per side of each frame (0.2 Å per pixel).") var pixels = 512
    @Option(help: "Scenario: a name (standard, faults, day-a-to-day-b) or a YAML file.") var scenario = "standard"
    @Option(help: "The decision log to write.") var db = "scopepilot-demo.sqlite"
    @Option(help: "Folder for the simulator's ground truth (default: a temporary folder).") var truth: String?
    @Option(help: "Detector model: se1, all, a path, or none.") var model = "se1"
    @Option(help: "A policy file to run instead of the demo's raster survey (see Policies/examples).")
    var policy: String?

    func validate() throws {
        if frames != nil && minutes != nil { throw ValidationError("give --frames or --minutes, not both") }
        if let frames, !(1...10_000).contains(frames) { throw ValidationError("--frames must be 1 to 10000") }
        if let minutes, !(minutes > 0 && minutes <= 24 * 60) { throw ValidationError("--minutes must be 0 to 1440") }
        guard (128...2048).contains(pixels) else { throw ValidationError("--pixels must be 128 to 2048") }
    }

    func run() async throws {
        let logger = RunCommand.bootstrapLogging()
        let loaded: Scenario
        do { loaded = try Scenario.load(nameOrPath: scenario) } catch { throw ValidationError("\(error)") }
        let truthFolder = URL(
            fileURLWithPath: truth
                ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                    "scopepilot-demo-truth-\(ProcessInfo.processInfo.processIdentifier)"
                ).path, isDirectory: true)
        FrameBufferReuse.enable()
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        var driverConfiguration = DriverRuntime.Configuration(feed: loopback, control: loopback)
        driverConfiguration.faults = FaultPlan(loaded.faults)
        let driver = try await DriverRuntime(
            instrument: SimulatedInstrument(
                scope: VirtualMicroscope(scenario: loaded), truthDirectory: truthFolder),
            configuration: driverConfiguration, context: context)
        let driverTask = Task { await driver.run() }
        defer { driverTask.cancel() }

        let count = frames ?? (minutes == nil ? 12 : 10_000)
        let columns = Int(Double(count).squareRoot().rounded(.up))
        let rows = (count + columns - 1) / columns
        let fov = Double(pixels) * 0.02  // 0.2 Å per pixel: the detector's own pixel size
        var policy: PolicyFile
        let described: String
        if let path = self.policy {
            policy = try RunCommand.loadPolicy(path)
            described = "\(policy.policy.name) from \(path)"
            if frames != nil || minutes != nil {
                policy.stop.frames = frames
                policy.stop.minutes = minutes
            }
        } else {
            policy = PolicyFile(
                policy: RasterSurvey(
                    center: (-120, 60), columns: columns, rows: rows, fov: fov, pixels: pixels, dwell: 10,
                    overlap: 0.25),
                source: "demo raster-survey")
            policy.stop = StopConditions(frames: minutes == nil ? count : nil, minutes: minutes)
            policy.envelope.maximumStep = 4 * fov
            described =
                "raster-survey, \(columns) x \(rows) regions of \(fov) nm at \(pixels) x \(pixels) px, 10 µs dwell"
        }
        var configuration = DaemonConfiguration(
            feed: driver.feedEndpoint, control: driver.controlEndpoint, database: db, policy: policy)
        configuration.model = model == "none" ? nil : model
        configuration.clientName = "scopepilot-demo/\(BuildInfo.version)"

        print(
            """
            ScopePilot demo \(BuildInfo.version): the virtual microscope (\(loaded.name) scenario) and the daemon over loopback ZeroMQ
              driver   feed \(driver.feedEndpoint), commands \(driver.controlEndpoint)
              policy   \(described)\(minutes.map { ", for \($0) minutes" } ?? "")
              model    \(model); decision log \(db)

            """)
        let progress = DemoProgress()
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger) { progress.show($0) }
        let started = ContinuousClock.now
        try await daemon.run()
        progress.finish()
        let seconds = (ContinuousClock.now - started).milliseconds / 1000
        let status = daemon.status
        let session = await driver.session
        try printSummary(status, seconds: seconds, truthFolder: truthFolder.appendingPathComponent(session))
    }

    private func printSummary(_ status: DaemonStatus, seconds: Double, truthFolder: URL) throws {
        let log = try DecisionLog(path: db)
        guard let session = status.session else {
            print("The daemon did not start a session: \(status.ending ?? "see the messages above").")
            throw ExitCode.failure
        }
        // Detections per analysed frame, scored against the simulator's ground truth.
        let frames = try log.query(
            "SELECT id, seq, pixel_size_angstrom, width, height FROM frames WHERE session_id = ? AND analysed = 1",
            arguments: [session])
        let classes = Set((try? DefectDetector.load(model).detector.metadata.classes) ?? ["Se1"]).subtracting([
            "background"
        ])
        var score = DetectionScore()
        var present = 0
        var found = 0
        for row in frames.rows {
            guard let id = row[0], let seq = row[1], let pixel = row[2].flatMap(Double.init),
                let width = row[3].flatMap(Int.init), let height = row[4].flatMap(Int.init)
            else { continue }
            let detected = try log.query("SELECT x, y FROM detections WHERE frame_id = ?", arguments: [id]).rows
                .compactMap {
                    row -> (x: Double, y: Double)? in
                    guard let x = row[0].flatMap(Double.init), let y = row[1].flatMap(Double.init) else { return nil }
                    return (x, y)
                }
            found += detected.count
            let truth = Self.truthDefects(truthFolder.appendingPathComponent("\(seq).json")).filter {
                classes.contains($0.type)
            }
            present += truth.count
            score =
                score
                + DetectionScore.score(
                    detected: detected, truth: truth.map { ($0.x, $0.y) }, radius: 1.5 / pixel, width: width,
                    height: height)
        }
        let p50 = DaemonStatus.percentile(status.latencies, 50)
        let p99 = DaemonStatus.percentile(status.latencies, 99)
        func ms(_ value: Double?) -> String { value.map { String(format: "%.0f ms", $0) } ?? "-" }
        let stages = ["decode", "drift", "condition", "detect", "segment", "policy", "log_commit", "send"].compactMap {
            stage -> String? in
            guard let values = status.stageLatencies[stage] else { return nil }
            return "\(stage) \(ms(DaemonStatus.percentile(values, 50)))"
        }.joined(separator: ", ")
        print(
            """

            Summary (\(String(format: "%.1f", seconds)) s; session \(session): \(status.ending ?? "-"))
              frames            \(status.framesReceived) received, \(status.framesAnalysed) analysed, \(status.framesSkipped) skipped by analysis, \(status.missing) missing on the feed (\(status.recovered) recovered), \(status.rejected) refused
              area covered      \(String(format: "%.0f", status.area)) nm², \(String(format: "%.3g", status.electrons)) electrons
              defects           \(found) found, \(present) present (\(classes.sorted().joined(separator: ", ")), ground truth); precision \(String(format: "%.2f", score.precision)), recall \(String(format: "%.2f", score.recall)), F1 \(String(format: "%.2f", score.f1))
              communities       \(status.communities)
              decisions         \(status.decisions), commands \(status.commands) (\(status.commandsFailed) not done), refused by the envelope \(status.refusals)
              drift             \(status.drift.map { String(format: "%.3f, %.3f nm/s", $0.vx, $0.vy) } ?? "not measured")
              driver restarts   \(status.driverRestarts) survived
              retrains          \(status.retrainingsStarted) started, \(status.retrains) swapped in a better model
              latency           frame received -> command acknowledged: p50 \(ms(p50)), p99 \(ms(p99))
                                per stage (p50): \(stages)
              the log           \(db) (SQLite). Review it:
                                  scopepilot log sessions --db \(db)
                                  scopepilot log decisions \(session) --db \(db)
                                  scopepilot log export \(session) --db \(db) --format csv --out \(session)
            """)
    }

    struct TruthDefect: Decodable {
        let x: Double
        let y: Double
        let type: String
    }

    struct TruthFile: Decodable {
        let defects: [TruthDefect]
    }

    static func truthDefects(_ url: URL) -> [TruthDefect] {
        guard let data = try? Data(contentsOf: url) else { return [] }
        return (try? JSONDecoder().decode(TruthFile.self, from: data))?.defects ?? []
    }
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
