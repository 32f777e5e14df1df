import ArgumentParser
import BuiltInPolicies
import Daemon
import Dashboard
import Foundation
import Logging
import PolicyKit
import ServiceLifecycle
import Synchronization
import Transport
import UnixSignals
import YAMLConfig

/// `scopepilot run`: the daemon, beside the instrument.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: analyse the driver's frames, run the scan policy, log every decision.",
        discussion: """
            Runs until the policy ends the session, a stop condition in the policy file holds, or \
            SIGINT/SIGTERM arrives (in any state, within a second); then it aborts the scan, blanks the \
            beam, closes the session in the log and exits 0. It exits 1 when no session could run (the \
            log, the model or the driver: the message says which, e.g. a driver of another protocol \
            version) and 2 when the session failed (its reason is printed and in the log). Review the \
            session afterwards with 'scopepilot log'.
            """)

    @Option(help: "The driver's frame feed, e.g. tcp://scope-pc:5555.") var feed: String
    @Option(help: "The driver's command channel, e.g. tcp://scope-pc:5556.") var control: String
    @Option(help: "Policy file (YAML); see Policies/examples. Default: the built-in raster survey.")
    var policy: String?
    @Option(help: "Decision log (SQLite) to create or append to.") var db: String
    @Option(help: "Folder with daemon.key_secret and driver.key: CURVE on both channels.") var keys: String?
    @Option(help: "Detector model: se1, all, a path to MODEL.json, or none.") var model = "se1"
    @Flag(help: ArgumentHelp(storePixelsHelp)) var storePixels = false

    /// What --store-pixels does, for `run` and `demo`.
    static let storePixelsHelp = """
        Keep every frame's pixels losslessly beside the log: one deflated TIFF per channel with its \
        pixel size, under LOG.frames/SESSION/ (docs/LOG.md, "Frames of record"); the log's frames.pixels_files \
        names them. Without it only a thumbnail is kept.
        """
    @Option(help: "Probe current, pA, for the dose of frames whose header reports none (and the dose budgets).")
    var assumedCurrent = 30.0
    @Option(help: ArgumentHelp(RunCommand.dashboardHelp, valueName: "host:port")) var dashboard: String?

    func validate() throws {
        _ = try Self.dashboardAddress(dashboard)
        guard assumedCurrent.isFinite, (0.001...1e6).contains(assumedCurrent) else {
            throw ValidationError("--assumed-current is in pA, 0.001 to 1000000")
        }
    }

    func run() async throws {
        let logger = Self.bootstrapLogging()
        var configuration = try DaemonConfiguration(
            feed: Endpoint(feed), control: Endpoint(control), database: db, policy: Self.loadPolicy(policy))
        configuration.model = model == "none" ? nil : model
        configuration.storePixels = storePixels
        configuration.assumedCurrent = assumedCurrent
        if let keys {
            let folder = URL(fileURLWithPath: keys, isDirectory: true)
            configuration.security = .curveClient(
                keys: try CurveCertificate.readKeyPair(folder.appendingPathComponent("daemon.key_secret")),
                serverPublicKey: try CurveCertificate.read(folder.appendingPathComponent("driver.key")).publicKey)
        }
        let status = LiveStatus()
        let view = try Self.dashboardServer(dashboard, database: db, logger: logger)
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger) {
            status.show($0)
            view?.show($0)
        }
        // The live view is listed first so that it shuts down last, after showing the session's end.
        let group = ServiceGroup(
            configuration: .init(
                services: (view.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + [
                    .init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)
                ], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        status.finish()
        let final = daemon.status
        print("session \(final.session ?? "-") ended: \(final.ending ?? "before it began")")
        print(final.line)
        print("review it: scopepilot log decisions \(final.session ?? "SESSION") --db \(db)")
        if final.endStatus == "failed" { throw ExitCode(2) }
    }

    static let dashboardHelp =
        "Serve a live view of the session at HOST:PORT (e.g. 127.0.0.1:8080, :0 for any free port). Off by "
        + "default; on loopback unless an address is given, and then every request needs the token printed at start."

    /// The live view's address, if one was asked for.
    static func dashboardAddress(_ text: String?) throws -> DashboardAddress? {
        guard let text else { return nil }
        do { return try DashboardAddress(text) } catch { throw ValidationError("\(error)") }
    }

    /// The live view asked for by `--dashboard`, printing its address once it listens.
    static func dashboardServer(_ text: String?, database: String, logger: Logger) throws -> DashboardServer? {
        guard let address = try dashboardAddress(text) else { return nil }
        return DashboardServer(address: address, database: database, logger: logger) { url in
            let note =
                address.isLoopback
                ? "" : " (the token is needed on this address; anyone with it can read the session)"
            print("live view: \(url)\(note)")
            fflush(nil)  // every stream: a test or script reading the pipe sees the address at once
        }
    }

    /// Structured logs on stderr.
    static func bootstrapLogging(level: Logger.Level = .info) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel =
                ProcessInfo.processInfo.environment["SCOPEPILOT_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
                ?? level
            return handler
        }
        return Logger(label: "scopepilot")
    }

    /// The policy file at `path`, or the built-in default.
    static func loadPolicy(_ path: String?) throws -> PolicyFile {
        guard let path else { return BuiltInPolicies.default }
        do {
            return try PolicyFile.load(URL(fileURLWithPath: path), factories: BuiltInPolicies.factories)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// The one-line live status on a terminal (nothing when stderr is not one).
final class LiveStatus: Sendable {
    private let terminal = isatty(STDERR_FILENO) == 1
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    func show(_ status: DaemonStatus) {
        guard terminal else { return }
        let now = ContinuousClock.now
        let due = last.withLock { last -> Bool in
            if let previous = last, now - previous < .milliseconds(200) { return false }
            last = now
            return true
        }
        guard due else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(status.line)".utf8))
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
