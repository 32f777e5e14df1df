import Daemon
import Foundation
import InstrumentDriver
import Logging
import PolicyKit
import SimulatedDriver
import Simulator
import Transport

/// One session of the daemon against the virtual microscope in this process, over loopback ZeroMQ
/// exactly as in production: what `scopepilot demo` and `scopepilot policy eval` run.
enum VirtualMicroscopeRun {
    /// Runs `policy` on `scenario` until the session ends; the simulator's ground truth goes to
    /// `truthRoot`, the decision log to `database`.
    static func run(
        policy: PolicyFile, scenario: Scenario, noiseSeed: UInt64 = 1, model: String?, database: String,
        truthRoot: URL, clientName: String, logger: Logger, onStatus: (@Sendable (DaemonStatus) -> Void)? = nil,
        announce: (DriverRuntime) -> Void = { _ in }
    ) async throws -> DaemonStatus {
        FrameBufferReuse.enable()
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        var driverConfiguration = DriverRuntime.Configuration(feed: loopback, control: loopback)
        driverConfiguration.faults = FaultPlan(scenario.faults)
        let driver = try await DriverRuntime(
            instrument: SimulatedInstrument(
                scope: VirtualMicroscope(scenario: scenario, noiseSeed: noiseSeed), truthDirectory: truthRoot),
            configuration: driverConfiguration, context: context)
        let serving = Task { await driver.run() }
        defer { serving.cancel() }
        announce(driver)
        var configuration = DaemonConfiguration(
            feed: driver.feedEndpoint, control: driver.controlEndpoint, database: database, policy: policy)
        configuration.model = model
        configuration.clientName = clientName
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger, onStatus: onStatus)
        try await daemon.run()
        return daemon.status
    }
}
