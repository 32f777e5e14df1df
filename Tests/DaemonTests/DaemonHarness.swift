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

/// A virtual microscope served over loopback and a daemon configured against it, with a fresh
/// decision log in a temporary folder.
struct DaemonHarness {
    let driver: DriverRuntime
    let instrument: SimulatedInstrument
    let serving: Task<Void, Never>
    let folder: URL
    var configuration: DaemonConfiguration

    init(
        policy: PolicyFile, faults: FaultPlan = FaultPlan(), model: String? = nil,
        scenario: Scenario = .standard()
    ) async throws {
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        var driverConfiguration = DriverRuntime.Configuration(feed: loopback, control: loopback)
        driverConfiguration.faults = faults
        instrument = SimulatedInstrument(scope: VirtualMicroscope(scenario: scenario))
        driver = try await DriverRuntime(instrument: instrument, configuration: driverConfiguration, context: context)
        let runtime = driver
        serving = Task { await runtime.run() }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        configuration = DaemonConfiguration(
            feed: driver.feedEndpoint, control: driver.controlEndpoint,
            database: folder.appendingPathComponent("log.sqlite").path, policy: policy)
        configuration.model = model
        configuration.frameWait = .milliseconds(800)
        configuration.commandDeadline = .seconds(3)
        configuration.retry.ackTimeout = .seconds(1)
        configuration.retry.grace = .milliseconds(500)
        configuration.retry.helloTimeout = .seconds(2)
    }

    /// Runs a daemon to the end of its session (at most `limit`), returning it.
    func run(limit: Duration = .seconds(120)) async throws -> ScopePilotDaemon {
        var logger = Logger(label: "daemon-tests")
        logger.logLevel = .error
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger)
        let running = Task { try await daemon.run() }
        let watchdog = Task {
            try await Task.sleep(for: limit)
            daemon.requestStop()
        }
        defer { watchdog.cancel() }
        try await running.value
        return daemon
    }

    /// The log, opened again after the daemon finished.
    func log() throws -> DecisionLog { try DecisionLog(path: configuration.database) }

    func finish() {
        serving.cancel()
        try? FileManager.default.removeItem(at: folder)
    }
}

/// The built-in raster survey: `columns` x `rows` regions of `pixels` px at 0.25 Å/px around the
/// edge of the vacancy-rich zone.
func raster(columns: Int, rows: Int, pixels: Int = 256, overlap: Double = 0.3) -> PolicyFile {
    PolicyFile(
        policy: RasterSurvey(
            center: (-120, 60), columns: columns, rows: rows, fov: Double(pixels) * 0.025, pixels: pixels, dwell: 10,
            overlap: overlap),
        source: "tests")
}
