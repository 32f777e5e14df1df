import ArgumentParser
import BuiltInPolicies
import Daemon
import DecisionLog
import Foundation
import InstrumentDriver
import Logging
import PolicyKit
import SimulatedDriver
import Simulator
import Transport
import WireProtocol

/// `scopepilot-bench latency`: the daemon's end-to-end latency against the virtual microscope.
struct LatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "End-to-end latency: frame arrival -> analysis -> policy -> committed decision -> command ACKed.",
        discussion: """
            Runs the simulated driver and the daemon in this process over loopback ZeroMQ, exactly as \
            'scopepilot demo' does, with a raster of overlapping regions (drift measured on every frame), \
            the se1 detector and chip communities. Per stage and in total, p50 and p99; the frames and \
            decisions in the log are counted against what the driver published and received. Targets: \
            512² p50 ≤ 150 ms, 1024² p50 ≤ 600 ms, nothing lost. Drift registration alone, beside \
            scikit-image, is 'scopepilot-bench drift'.
            """)

    @Option(help: "Frames per size.") var frames = 200
    @Option(parsing: .upToNextOption, help: "Frame sides.") var sizes = [512, 1024]

    func run() async throws {
        var allMet = true
        for size in sizes {
            let target = size <= 512 ? 150.0 : 600.0
            let met = try await measure(size: size, target: target)
            allMet = allMet && met
        }
        print(allMet ? "all latency targets met" : "a latency target was missed")
    }

    private func measure(size: Int, target: Double) async throws -> Bool {
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        let driver = try await DriverRuntime(
            instrument: SimulatedInstrument(scope: VirtualMicroscope()),
            configuration: .init(feed: loopback, control: loopback), context: context)
        let serving = Task { await driver.run() }
        defer { serving.cancel() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-latency-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let columns = Int(Double(frames).squareRoot().rounded(.up))
        let fov = Double(size) * 0.02  // 0.2 Å per pixel: the detector's own pixel size
        var policy = PolicyFile(
            policy: RasterSurvey(
                center: (-120, 60), columns: columns, rows: (frames + columns - 1) / columns, fov: fov, pixels: size,
                dwell: 2, overlap: 0.3),
            source: "latency benchmark")
        policy.stop = StopConditions(frames: frames)
        policy.envelope.maximumStep = 4 * fov * Double(columns)
        let database = folder.appendingPathComponent("log.sqlite").path
        var configuration = DaemonConfiguration(
            feed: driver.feedEndpoint, control: driver.controlEndpoint, database: database, policy: policy)
        configuration.model = "se1"
        var logger = Logger(label: "latency")
        logger.logLevel = .error
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger)
        let started = ContinuousClock.now
        try await daemon.run()
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        let status = daemon.status
        let log = try DecisionLog(path: database)
        let session = status.session ?? ""
        let loggedFrames =
            try log.query("SELECT COUNT(*) FROM frames WHERE session_id = ?", arguments: [session])
            .rows.first?.first.flatMap { $0 }.flatMap(Int.init) ?? -1
        let commandIDs = Set(try log.query("SELECT id FROM commands", arguments: []).column("id").compactMap { $0 })
        let received = await driver.commandsReceived
        let published = received.count - 1  // every command but the final blank produced one frame
        let lostCommands = received.filter { !commandIDs.contains($0.description) }.count

        func figure(_ values: [Double]?) -> String {
            guard let values, let p50 = DaemonStatus.percentile(values, 50),
                let p99 = DaemonStatus.percentile(values, 99)
            else { return "       -" }
            return String(format: "%7.1f %7.1f", p50, p99)
        }
        print("\n\(size) x \(size), \(status.framesAnalysed) frames analysed in \(Int(seconds)) s (ms: p50 p99)")
        for stage in ["decode", "drift", "condition", "detect", "segment", "policy", "log_commit", "send"] {
            print(
                "  \(stage.padding(toLength: 11, withPad: " ", startingAt: 0)) \(figure(status.stageLatencies[stage]))")
        }
        print("  total       \(figure(status.latencies))   (frame arrival -> command ACKed by the driver)")
        let p50 = DaemonStatus.percentile(status.latencies, 50) ?? .infinity
        let nothingLost = loggedFrames == published && lostCommands == 0 && status.decisions == commandIDs.count + 1
        print(
            "  frames published \(published), logged \(loggedFrames); commands received by the driver \(received.count), "
                + "without a logged decision \(lostCommands)")
        print(
            "  target p50 ≤ \(Int(target)) ms: \(p50 <= target ? "met" : "MISSED") (\(String(format: "%.1f", p50)) ms); "
                + "nothing lost: \(nothingLost ? "yes" : "NO")")
        return p50 <= target && nothingLost
    }
}
