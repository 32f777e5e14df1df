import Daemon
import Dashboard
import Foundation
import InstrumentDriver
import Logging
import PolicyKit
import ServiceLifecycle
import SimulatedDriver
import Simulator
import Transport
import UnixSignals

/// One session of the daemon against the virtual microscope in this process, over loopback ZeroMQ
/// exactly as in production: what `scopepilot demo` and `scopepilot policy eval` run.
enum VirtualMicroscopeRun {
    /// Runs `policy` on `scenario` until the session ends; the simulator's ground truth goes to
    /// `truthRoot`, the decision log to `database` (and every frame's pixels beside it with
    /// `storePixels`). The driver and the daemon run as services of
    /// one group: SIGINT/SIGTERM stop the daemon first (it aborts the scan, blanks the beam, closes
    /// the log), then the driver; the daemon's end shuts the driver down.
    static func run(
        policy: PolicyFile, scenario: Scenario, noiseSeed: UInt64 = 1, model: String?, database: String,
        truthRoot: URL, clientName: String, logger: Logger, storePixels: Bool = false,
        onStatus: (@Sendable (DaemonStatus) -> Void)? = nil,
        dashboard: DashboardServer? = nil, announce: (DriverRuntime) -> Void = { _ in }
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
        announce(driver)
        var configuration = DaemonConfiguration(
            feed: driver.feedEndpoint, control: driver.controlEndpoint, database: database, policy: policy)
        configuration.model = model
        configuration.clientName = clientName
        configuration.storePixels = storePixels
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger) { status in
            onStatus?(status)
            dashboard?.show(status)
        }
        // Shut down in reverse order: the daemon first, then the driver it talks to, then the
        // live view (which shows the session's end).
        let group = ServiceGroup(
            configuration: .init(
                services: (dashboard.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + [
                    .init(service: driver),
                    .init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup),
                ], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        return daemon.status
    }
}
