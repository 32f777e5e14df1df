import CoreMetrics
import DecisionLog
import DefectDetection
import Foundation
public import Logging
import Metrics
import PolicyKit
public import ServiceLifecycle
import Synchronization
import Transport
import WireProtocol

/// The daemon: subscribes to the driver's feed, analyses each frame, runs the scan policy within
/// its safety envelope, and sends the policy's commands, logging every frame, analysis, decision
/// and command to the decision log. A decision is committed before its command is sent.
///
/// Runs as a swift-service-lifecycle `Service`: on graceful shutdown (SIGINT/SIGTERM in a
/// `ServiceGroup`) or task cancellation it stops issuing commands, blanks the beam, ends the
/// session in the log and returns.
public final class ScopePilotDaemon: Service, Sendable {
    /// The configuration.
    public let configuration: DaemonConfiguration
    private let logger: Logger
    private let state = Mutex(DaemonStatus())
    private let stopping = Atomic<Bool>(false)
    private let onStatus: (@Sendable (DaemonStatus) -> Void)?
    private let metrics = DaemonMetrics()

    /// A daemon; `onStatus` is called with a fresh snapshot after every frame and decision.
    public init(
        configuration: DaemonConfiguration, logger: Logger = Logger(label: "scopepilot"),
        onStatus: (@Sendable (DaemonStatus) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onStatus = onStatus
    }

    /// The session's state now.
    public var status: DaemonStatus { state.withLock { $0 } }

    /// Asks the daemon to end the session as on SIGTERM.
    public func requestStop() { stopping.store(true, ordering: .relaxed) }

    private func update(_ body: (inout DaemonStatus) -> Void) {
        let snapshot = state.withLock { status -> DaemonStatus in
            body(&status)
            return status
        }
        onStatus?(snapshot)
    }

    // MARK: - Running

    public func run() async throws {
        let log = try Self.openLog(configuration.database)
        let (detector, model) = try Self.loadModel(configuration.model)
        let analysis = Analysis(detector: detector, modelID: model?.id, modelPath: model?.path)
        let context = try ZMQContext()
        var feedOptions = FeedSubscriber.defaultOptions
        feedOptions.security = configuration.security
        var controlOptions = CommandClient.defaultOptions
        controlOptions.security = configuration.security
        let subscriber = try await FeedSubscriber(
            connectingTo: configuration.feed, context: context, options: feedOptions)
        let client = try await CommandClient(
            connectingTo: configuration.control, context: context, options: controlOptions)
        let link = InstrumentLink(client: client, name: configuration.clientName, retry: configuration.retry)

        let outcome: String = try await withTaskCancellationOrGracefulShutdownHandler {
            guard let welcome = await introduce(link) else { return "stopped before the driver answered" }
            logger.info(
                "driver answered", metadata: ["driver": "\(welcome.driver)", "instrument": "\(welcome.instrument)"])
            await client.startHeartbeats(every: .seconds(1))
            let session = try await begin(log: log, welcome: welcome, model: model)
            return await runSession(
                session: session, log: log, link: link, subscriber: subscriber, analysis: analysis, model: model,
                welcome: welcome)
        } onCancelOrGracefulShutdown: {
            self.requestStop()
        }
        logger.info("session ended", metadata: ["how": "\(outcome)"])
        await client.close()
        await subscriber.close()
    }

    private func introduce(_ link: InstrumentLink) async -> Welcome? {
        var attempt = 0
        var pause = Duration.milliseconds(500)
        while !stopping.load(ordering: .relaxed) {
            attempt += 1
            do {
                return try await link.introduce()
            } catch {
                // Waits longer each time (to 10 s), so a driver that is down does not flood the log.
                logger.warning(
                    "no answer from the driver yet; is it running at \(configuration.control)? Trying again in \(pause)",
                    metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(10))
            }
        }
        return nil
    }

    private func begin(log: DecisionLog, welcome: Welcome, model: ModelInfo?) async throws -> String {
        let policy = configuration.policy.policy
        let parameters = (try? JSONEncoder.sorted.encode(policy.parameters)).map { String(decoding: $0, as: UTF8.self) }
        let instrument = (try? JSONEncoder.sorted.encode(InstrumentRecord(welcome))).map {
            String(decoding: $0, as: UTF8.self)
        }
        let id = Self.sessionID()
        try await log.beginSession(
            SessionRecord(
                id: id, policy: policy.name, policyVersion: policy.version, policyParameters: parameters ?? "{}",
                model: model?.id, instrument: instrument ?? "{}"))
        if let model {
            try await log.recordModel(id: model.id, path: model.path, metadata: model.metadata)
        }
        update { $0.session = id }
        logger.info("session started", metadata: ["session": "\(id)", "log": "\(log.path)"])
        return id
    }

    private func runSession(
        session: String, log: DecisionLog, link: InstrumentLink, subscriber: FeedSubscriber,
        analysis: Analysis, model: ModelInfo?, welcome: Welcome
    ) async -> String {
        let recorder = SessionRecorder(
            log: log, session: session, logger: logger, storePixels: configuration.storePixels)
        let file = configuration.policy
        let runner = PolicyRunner(
            policy: file.policy, envelope: file.envelope.narrowed(to: welcome.limits), stop: file.stop,
            assumedCurrent: configuration.assumedCurrent, compensatesDrift: file.driftCompensation)
        let ingest = FrameIngest(subscriber: subscriber, capacity: configuration.analysisQueue)
        let trigger = file.retraining.map { RetrainingTrigger(rule: $0) }

        let ingestTask = Task {
            await ingest.run { event in
                await recorder.record(event)
                switch event {
                case .frame(let frame, _):
                    await runner.frameReceived(frame.header)
                    self.metrics.frames.increment()
                    self.update { $0.framesReceived += 1 }
                case .rejected:
                    self.metrics.rejected.increment()
                    self.update { $0.rejected += 1 }
                }
            }
        }
        let analysisTask = Task {
            while let frame = await ingest.next() {
                do {
                    let result = try await analysis.analyse(frame)
                    await recorder.record(result)
                    await runner.frameAnalysed(result)
                    await trigger?.observe(result)
                    let counts = await ingest.counts
                    let covered = await runner.map
                    let newlySkipped = counts.skipped - self.status.framesSkipped
                    if newlySkipped > 0 { self.metrics.skipped.increment(by: Int64(newlySkipped)) }
                    self.update { status in
                        status.framesAnalysed += 1
                        status.framesSkipped = counts.skipped
                        status.missing = counts.missing
                        status.defects += result.defects.count
                        status.communities = covered.communityChips.count
                        status.area = covered.coveredArea
                        status.electrons = covered.electrons
                        if let drift = result.drift { status.drift = (drift.vx, drift.vy) }
                    }
                    if !result.problems.isEmpty {
                        self.logger.warning(
                            "part of frame \(frame.header.seq)'s analysis was left out",
                            metadata: ["problems": "\(result.problems)"])
                    }
                } catch {
                    self.logger.warning(
                        "frame \(frame.header.seq) could not be analysed", metadata: ["error": "\(error)"])
                    try? await log.recordRejected(
                        session: session, source: "analysis", error: "\(error)", detail: "seq \(frame.header.seq)")
                    self.update { $0.rejected += 1 }
                }
            }
        }

        let models = URL(fileURLWithPath: configuration.modelsDirectory ?? configuration.database + ".models")
        let retraining = RetrainingJobs(
            retrainer: Retrainer(directory: models, options: configuration.retraining), analysis: analysis, log: log,
            session: session, logger: logger
        ) { swapped in
            if swapped { self.update { $0.retrains += 1 } }
        }
        let loop = ControlLoop(
            daemon: self, session: session, recorder: recorder, runner: runner, link: link, ingest: ingest,
            analysis: analysis, retraining: retraining, trigger: trigger)
        let ending = await loop.run()
        await retraining.cancelAndWait()
        // Shutdown: no more policy commands; blank the beam (a logged decision), close the session.
        // In a task of its own, so that a cancelled daemon still blanks the beam and closes the log.
        let logger = self.logger
        await Task {
            await loop.blankBeam(because: ending.reason)
            do {
                try await log.endSession(session, status: ending.status)
            } catch {
                logger.error("could not close the session in the log", metadata: ["error": "\(error)"])
            }
        }.value
        ingestTask.cancel()
        await ingestTask.value
        await analysisTask.value
        let restarts = await link.restartsSeen
        let counts = await ingest.counts
        let failedWrites = await recorder.failedWrites
        if failedWrites > 0 {
            logger.error("\(failedWrites) log writes failed in this session; see the errors above")
        }
        update { status in
            status.logWriteFailures = failedWrites
            status.ending = ending.reason
            status.driverRestarts = restarts
            status.framesSkipped = counts.skipped
            status.missing = counts.missing
            status.mostWaiting = counts.mostWaiting
        }
        return ending.reason
    }

    // MARK: - Used by the control loop

    var isStopping: Bool { stopping.load(ordering: .relaxed) }
    var log: Logger { logger }
    var counters: DaemonMetrics { metrics }
    func record(_ body: (inout DaemonStatus) -> Void) { update(body) }

    // MARK: - Set-up helpers

    /// A detector model and how the log knows it.
    struct ModelInfo: Sendable {
        let id: String
        let path: String
        let metadata: String
    }

    static func openLog(_ path: String) throws -> DecisionLog {
        do {
            return try DecisionLog(path: path)
        } catch {
            throw DaemonError("cannot open the decision log: \(error)")
        }
    }

    static func loadModel(_ name: String?) throws -> (DefectDetector?, ModelInfo?) {
        guard let name else { return (nil, nil) }
        do {
            let (detector, url) = try DefectDetector.load(name)
            let metadata = (try? JSONEncoder.sorted.encode(detector.metadata)).map {
                String(decoding: $0, as: UTF8.self)
            }
            let weights = url.deletingPathExtension().appendingPathExtension("safetensors")
            let digest = (try? Data(contentsOf: weights)).map { String(format: "%08x", $0.fnv1a32) } ?? "unknown"
            let id = "\(url.deletingPathExtension().lastPathComponent)-\(digest)"
            return (detector, ModelInfo(id: id, path: url.path, metadata: metadata ?? "{}"))
        } catch {
            throw DaemonError("cannot load the detector model: \(error)")
        }
    }

    static func sessionID() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "s-\(formatter.string(from: Date()))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }
}

/// The driver as the session row records it.
struct InstrumentRecord: Encodable {
    let driver: String
    let instrument: String
    let driverSession: String
    let capabilities: [String]
    let limits: InstrumentLimits

    init(_ welcome: Welcome) {
        driver = welcome.driver
        instrument = welcome.instrument
        driverSession = welcome.session
        capabilities = welcome.capabilities
        limits = welcome.limits
    }

    enum CodingKeys: String, CodingKey {
        case driver, instrument, driverSession = "driver_session", capabilities, limits
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
