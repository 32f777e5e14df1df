import CoreMetrics
import DecisionLog
import DefectDetection
import Foundation
public import Logging
import Metrics
import PolicyKit
public import ServiceLifecycle
import Transport
import WireProtocol

/// The daemon: subscribes to the driver's feed, analyses each frame, runs the scan policy within
/// its safety envelope, and sends the policy's commands, logging every frame, analysis, decision
/// and command to the decision log. A decision is committed before its command is sent.
///
/// Runs as a swift-service-lifecycle `Service`. Its states, in order: opening the log and the
/// model, connecting, introducing itself to the driver (HELLO, retried with back-off while the
/// driver does not answer; refused for good when the driver speaks another protocol major
/// version), running the session (``SessionPipeline``), ended. A graceful shutdown (SIGINT/SIGTERM
/// in a `ServiceGroup`), task cancellation or ``requestStop()`` takes effect at once in every
/// state: no more policy commands, the running scan aborted, the beam blanked, the session closed
/// in the log, the sockets and threads closed.
public final class ScopePilotDaemon: Service, Sendable {
    /// The configuration.
    public let configuration: DaemonConfiguration
    private let logger: Logger
    private let board: StatusBoard
    private let stop = StopSignal()
    private let metrics = DaemonMetrics()

    /// A daemon; `onStatus` is called with a fresh snapshot after every change.
    public init(
        configuration: DaemonConfiguration, logger: Logger = Logger(label: "scopepilot"),
        onStatus: (@Sendable (DaemonStatus) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        board = StatusBoard(onChange: onStatus)
    }

    /// The session's state now.
    public var status: DaemonStatus { board.snapshot }

    /// Asks the daemon to end the session as on SIGTERM.
    public func requestStop() { stop.fire() }

    /// Runs one session to its end. Returns when the session ended (its status, `finished`,
    /// `stopped` or `failed`, is in ``status`` and in the log); throws a ``DaemonError`` when no
    /// session could be run: the log or the model cannot be opened, the driver cannot be reached
    /// or refuses the daemon, or speaks another protocol major version.
    public func run() async throws {
        let stop = self.stop
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await runSession()
            } onCancel: {
                stop.fire()
            }
        } onGracefulShutdown: {
            stop.fire()
        }
    }

    private func runSession() async throws {
        board.update { $0.phase = .starting }
        let log = try Self.openLog(configuration.database)
        let model = try LoadedModel.load(configuration.model)
        try await DriverConnections.with(configuration) { connections in
            let link = InstrumentLink(
                client: connections.client, name: configuration.clientName, retry: configuration.retry,
                logger: logger)
            board.update { $0.phase = .introducing }
            guard let welcome = try await introduce(link, log: log, model: model) else {
                board.update {
                    $0.phase = .ended
                    $0.ending = "stopped before the driver answered"
                }
                logger.info("stopped before the driver answered")
                return
            }
            logger.info(
                "driver answered", metadata: ["driver": "\(welcome.driver)", "instrument": "\(welcome.instrument)"])
            await connections.client.startHeartbeats(every: .seconds(1))
            let session = try await begin(log: log, welcome: welcome, model: model)
            board.update { $0.phase = .running }
            let pipeline = SessionPipeline(
                configuration: configuration, logger: logger, board: board, metrics: metrics, stop: stop)
            let ending = await pipeline.run(
                session: session, log: log, connections: connections, link: link, welcome: welcome, model: model)
            let restarts = await link.restartsSeen
            board.update {
                $0.phase = .ended
                $0.ending = ending.reason
                $0.endStatus = ending.status.rawValue
                $0.driverRestarts = restarts
            }
            logger.info("session ended", metadata: ["status": "\(ending.status.rawValue)", "how": "\(ending.reason)"])
        }
    }

    /// Says HELLO until the driver answers (nil: stopped first). A driver of another protocol major
    /// version is refused for good: the refusal is logged as a failed session and thrown.
    private func introduce(_ link: InstrumentLink, log: DecisionLog, model: LoadedModel?) async throws -> Welcome? {
        var attempt = 0
        var pause = Duration.milliseconds(500)
        while !stop.isFired {
            attempt += 1
            do {
                return try await stop.unlessFired { try await link.introduce() }
            } catch let error as ProtocolError where error.code == .incompatibleVersion {
                let refusal = Self.versionRefusal(error, endpoint: configuration.control)
                logger.critical("\(refusal)")
                try await logRefusedSession(log: log, model: model, reason: refusal.description)
                throw refusal
            } catch let error as ProtocolError {
                let refusal = DaemonError(
                    .driverMalformed,
                    "the driver at \(configuration.control) answered HELLO with a message the protocol does not allow "
                        + "(\(SessionLog.bounded(error.message))); fix the driver adapter (docs/PROTOCOL.md 4.2)")
                logger.critical("\(refusal)")
                try await logRefusedSession(log: log, model: model, reason: refusal.description)
                throw refusal
            } catch let error as TransportError where error.code == .refused {
                let refusal = DaemonError(
                    .driverRefused,
                    "\(error.message). Check the driver's allow-list and configuration at \(configuration.control)")
                logger.critical("\(refusal)")
                try await logRefusedSession(log: log, model: model, reason: refusal.description)
                throw refusal
            } catch {
                // Waits longer each time (to 10 s), so a driver that is down does not flood the log.
                logger.warning(
                    "no answer from the driver yet; is it running at \(configuration.control)? Trying again in \(pause)",
                    metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                guard await stop.sleep(for: pause) else { return nil }
                pause = min(pause * 2, .seconds(10))
            }
        }
        return nil
    }

    /// The refusal of a driver that speaks another major version, saying which side to upgrade.
    static func versionRefusal(_ error: ProtocolError, endpoint: Endpoint) -> DaemonError {
        let ours = ProtocolVersion.current
        guard let theirs = error.peerVersion else {
            return DaemonError(
                .protocolVersion,
                "the driver at \(endpoint) refused this daemon's protocol version \(ours) (\(error.message)); "
                    + "upgrade the older of the two so that both speak the same major version")
        }
        let upgrade =
            theirs.major > ours.major
            ? "upgrade ScopePilot to a release that speaks protocol \(theirs.major).x"
            : "upgrade the driver adapter to protocol \(ours.major).x (docs/PROTOCOL.md)"
        return DaemonError(
            .protocolVersion,
            "the driver at \(endpoint) speaks protocol \(theirs); this daemon speaks \(ours), and major versions "
                + "must match: \(upgrade). No command was sent")
    }

    /// Logs a session that never ran: the driver refused it or speaks another version.
    private func logRefusedSession(log: DecisionLog, model: LoadedModel?, reason: String) async throws {
        let id = try await begin(log: log, welcome: nil, model: model)
        do {
            try await log.endSession(id, status: SessionEnding.Status.failed.rawValue, reason: reason)
        } catch {
            throw DaemonError(.log, "cannot close the session in the decision log: \(error)")
        }
        board.update {
            $0.phase = .ended
            $0.ending = reason
            $0.endStatus = SessionEnding.Status.failed.rawValue
        }
    }

    private func begin(log: DecisionLog, welcome: Welcome?, model: LoadedModel?) async throws -> String {
        let policy = configuration.policy.policy
        let parameters = (try? JSONEncoder.sorted.encode(policy.parameters)).map { String(decoding: $0, as: UTF8.self) }
        let instrument = welcome.flatMap { welcome in
            (try? JSONEncoder.sorted.encode(InstrumentRecord(welcome))).map { String(decoding: $0, as: UTF8.self) }
        }
        let id = Self.sessionID()
        do {
            try await log.beginSession(
                SessionRecord(
                    id: id, policy: policy.name, policyVersion: policy.version, policyParameters: parameters ?? "{}",
                    model: model?.id, instrument: instrument ?? "{}",
                    replays: welcome?.replays.flatMap { try? JSONEncoder.sorted.encode($0) }.map {
                        String(decoding: $0, as: UTF8.self)
                    }))
            if let model {
                try await log.recordModel(id: model.id, path: model.path, metadata: model.metadata)
            }
        } catch {
            throw DaemonError(.log, "cannot begin the session in the decision log: \(error)")
        }
        board.update { $0.session = id }
        logger.info("session started", metadata: ["session": "\(id)", "log": "\(log.path)"])
        return id
    }

    static func openLog(_ path: String) throws -> DecisionLog {
        do {
            return try DecisionLog(path: path)
        } catch {
            throw DaemonError(.log, "cannot open the decision log: \(error)")
        }
    }

    static func sessionID() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "s-\(formatter.string(from: Date()))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }
}

/// A detector model, loaded, and how the log knows it.
struct LoadedModel: @unchecked Sendable {
    // @unchecked Sendable: the detector is handed to the analysis stage once, at the start of a
    // session, and used only there; the other fields are immutable values.
    let detector: DefectDetector
    let id: String
    let path: String
    let metadata: String

    /// Loads `name` (a shipped name or a path); nil for no detector.
    static func load(_ name: String?) throws -> LoadedModel? {
        guard let name else { return nil }
        do {
            let (detector, url) = try DefectDetector.load(name)
            let metadata = (try? JSONEncoder.sorted.encode(detector.metadata)).map {
                String(decoding: $0, as: UTF8.self)
            }
            let weights = url.deletingPathExtension().appendingPathExtension("safetensors")
            let digest = (try? Data(contentsOf: weights)).map { String(format: "%08x", $0.fnv1a32) } ?? "unknown"
            let id = "\(url.deletingPathExtension().lastPathComponent)-\(digest)"
            return LoadedModel(detector: detector, id: id, path: url.path, metadata: metadata ?? "{}")
        } catch {
            throw DaemonError(.model, "cannot load the detector model: \(error)")
        }
    }
}

/// The driver as the session row records it.
struct InstrumentRecord: Encodable {
    let driver: String
    let instrument: String
    let driverSession: String
    let capabilities: [String]
    let limits: InstrumentLimits
    let replays: ReplayOrigin?

    init(_ welcome: Welcome) {
        replays = welcome.replays
        driver = welcome.driver
        instrument = welcome.instrument
        driverSession = welcome.session
        capabilities = welcome.capabilities
        limits = welcome.limits
    }

    enum CodingKeys: String, CodingKey {
        case driver, instrument, driverSession = "driver_session", capabilities, limits, replays
    }
}

extension Data {
    /// FNV-1a, 32 bits: a short fingerprint of a model's weights for its id.
    var fnv1a32: UInt32 {
        var hash: UInt32 = 0x811C_9DC5
        for byte in self { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        return hash
    }
}
