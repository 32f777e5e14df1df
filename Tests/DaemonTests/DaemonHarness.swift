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
    /// What the driver was asked to do, as the instrument saw it.
    let recorder: RecordingInstrument
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
        recorder = RecordingInstrument(instrument)
        driver = try await DriverRuntime(instrument: recorder, configuration: driverConfiguration, context: context)
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
        try await Self.run(configuration, limit: limit)
    }

    /// Runs a daemon with `configuration` to the end of its session (at most `limit`).
    static func run(
        _ configuration: DaemonConfiguration, limit: Duration = .seconds(120)
    ) async throws
        -> ScopePilotDaemon
    {
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

/// An instrument that records every scan and stage move before its instrument carries it out: the
/// driver's side of what the daemon sent, for checks that do not trust the daemon's own log.
actor RecordingInstrument: Instrument {
    /// One thing the instrument was asked to do.
    enum Request: Sendable {
        case scan(ScanRequest, FrameHeader.Purpose)
        case move(StagePosition)
        case blank(Bool)
    }

    nonisolated let identity: InstrumentIdentity
    nonisolated let limits: InstrumentLimits
    private let instrument: SimulatedInstrument
    /// Everything asked, in order.
    private(set) var requests: [Request] = []
    /// How much larger than the truth the frames' headers report their field of view (1: true);
    /// an instrument whose calibration is off.
    private var fieldOfViewError = 1.0

    /// Reports every later frame's field of view `factor` times the truth.
    func miscalibrate(by factor: Double) { fieldOfViewError = factor }

    init(_ instrument: SimulatedInstrument) {
        self.instrument = instrument
        identity = instrument.identity
        limits = instrument.limits
    }

    func acquire(_ request: ScanRequest, purpose: FrameHeader.Purpose) async throws -> AcquiredFrame {
        requests.append(.scan(request, purpose))
        var frame = try await instrument.acquire(request, purpose: purpose)
        frame.scan.fovX *= fieldOfViewError
        frame.scan.fovY *= fieldOfViewError
        return frame
    }

    func moveStage(to position: StagePosition) async throws -> StagePosition {
        requests.append(.move(position))
        return try await instrument.moveStage(to: position)
    }

    func setBeamBlanked(_ blanked: Bool) async throws {
        requests.append(.blank(blanked))
        try await instrument.setBeamBlanked(blanked)
    }

    func state() async -> InstrumentState { await instrument.state() }

    /// Every frame published, with its pixels as sent.
    private(set) var sent: [(seq: UInt64, channels: [String], bytes: [[UInt8]])] = []

    func published(_ frame: AcquiredFrame, seq: UInt64, session: String) async {
        sent.append((seq, frame.channels, frame.buffers.map(\.storage.bytes)))
        await instrument.published(frame, seq: seq, session: session)
    }
}
