import ArgumentParser
import Foundation
import InstrumentDriver
import Logging
import ServiceLifecycle
import Transport
import UnixSignals

/// The options every driver command shares (`sim`, `replay`): its endpoints, CURVE keys,
/// heartbeat and watchdog.
struct DriverOptions: ParsableArguments {
    @Option(help: "Frame feed endpoint to bind.") var feed = "tcp://127.0.0.1:5555"
    @Option(help: "Command endpoint to bind.") var control = "tcp://127.0.0.1:5556"
    @Option(help: "Folder with driver.key_secret and authorized/*.key: CURVE on both sockets.") var keys: String?
    @Option(help: "Heartbeat interval, ms.") var heartbeatMs = 1000
    @Option(help: "Blank the beam after this long without word from the daemon, ms.") var watchdogMs = 5000

    /// The runtime's configuration these options describe.
    func configuration() throws -> DriverRuntime.Configuration {
        var configuration = DriverRuntime.Configuration(feed: try Endpoint(feed), control: try Endpoint(control))
        configuration.heartbeat = .milliseconds(heartbeatMs)
        configuration.watchdog = .milliseconds(watchdogMs)
        if let keys {
            let folder = URL(fileURLWithPath: keys, isDirectory: true)
            configuration.security = .curveServer(
                keys: try CurveCertificate.readKeyPair(folder.appendingPathComponent("driver.key_secret")),
                allowedClients: try CurveCertificate.readAllowList(folder.appendingPathComponent("authorized")))
        }
        return configuration
    }

    /// Serves `instrument` until SIGINT or SIGTERM, which shut the driver down gracefully (it
    /// blanks the beam and flushes its sockets); `announce` is told the bound endpoints first.
    static func serve(
        _ instrument: some Instrument, configuration: DriverRuntime.Configuration, label: String,
        announce: (DriverRuntime) async -> Void
    ) async throws {
        FrameBufferReuse.enable()
        let context = try ZMQContext()
        let runtime = try await DriverRuntime(instrument: instrument, configuration: configuration, context: context)
        await announce(runtime)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: runtime)], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: label)))
        try await group.run()
    }
}
