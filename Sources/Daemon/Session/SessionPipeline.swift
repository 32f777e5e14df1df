import DaemonAnalysis
import DaemonRetraining
import DecisionLog
import Foundation
import Logging
import PolicyHost
import PolicyKit
import Transport
import WireProtocol

/// One session as a pipeline that reads in one direction:
///
///     feed ─┐
///           ├─> ingest ──> analysis ──> decision ──> instrument link ──> driver
///  re-sent ─┘      │          │            │
///                  └──────────┴────────────┴──> session log (SQLite), written, never read
///
/// Each stage is a child task of ``run(session:log:connections:link:welcome:model:)``; values pass
/// forward (frames to analysis through a queue that keeps the newest, everything else to the
/// decision stage's mailbox); the log is a sink every stage writes to. When the decision stage
/// ends the session, the beam is blanked, the session closed in the log, ingest drains what has
/// arrived, and analysis finishes what waits; every task and thread ends with the session.
struct SessionPipeline {
    let configuration: DaemonConfiguration
    let logger: Logger
    let board: StatusBoard
    let metrics: DaemonMetrics
    /// The daemon's stop (signal, shutdown, ``ScopePilotDaemon/requestStop()``).
    let stop: StopSignal

    /// Runs a session to its end and returns how it ended.
    func run(
        session: String, log: DecisionLog, connections: DriverConnections, link: InstrumentLink, welcome: Welcome,
        model: LoadedModel?
    ) async -> SessionEnding {
        let frameStore =
            configuration.storePixels ? FrameStore(database: configuration.database, session: session) : nil
        defer { frameStore?.finish() }
        let sessionLog = SessionLog(
            log: log, session: session, logger: logger, frameStore: frameStore,
            assumedCurrent: configuration.assumedCurrent)
        let inbox = Mailbox<DecisionInput>()
        stop.onFire { inbox.send(.stop) }
        let over = StopSignal()
        let (frames, framesIn) = AsyncStream.makeStream(
            of: ReceivedFrame.self, bufferingPolicy: .bufferingNewest(configuration.analysisQueue))
        let file = configuration.policy
        let envelope = file.envelope.narrowed(to: welcome.limits)
        let policy: SessionPolicy
        let runner = PolicyRunner(
            identity: .init(choice: file.policy), waitsForAnalysis: file.policy.builtIn?.waitsForAnalysis ?? true,
            envelope: envelope, stop: file.stop, assumedCurrent: configuration.assumedCurrent,
            compensatesDrift: file.driftCompensation)
        switch file.policy {
        case .builtIn(let builtIn):
            policy = .builtIn(builtIn)
        case .external(let spec):
            // Started before the stages, so that analysis knows whether to keep the pixels; the
            // decision stage logs the start (or its failure) as its first decision and takes the
            // policy's own name and waits_for_analysis from it.
            let process = ExternalPolicyProcess(
                spec, context: connections.context, session: session, envelope: envelope)
            await process.start()
            policy = .external(process)
        }
        let analysis = AnalysisStage(
            detector: model?.detector, modelID: model?.id, baseline: SimulatedBaseline(),
            keepsPixels: policy.process?.wants.contains("pixels") ?? false)
        let ingest = FrameIngest(
            subscriber: connections.subscriber, log: sessionLog, analysis: framesIn,
            capacity: configuration.analysisQueue, decisions: inbox, board: board, metrics: metrics, logger: logger)
        let requests = Mailbox<RetrainingRequest>()
        let modelsFolder = URL(fileURLWithPath: configuration.modelsDirectory ?? configuration.database + ".models")
        let worker = RetrainingWorker(
            retrainer: Retrainer(directory: modelsFolder, options: configuration.retraining), analysis: analysis,
            log: sessionLog, decisions: inbox, board: board, logger: logger, stop: over)
        let decision = DecisionStage(
            context: DecisionStage.Context(
                configuration: configuration, log: sessionLog, link: link, inbox: inbox, retraining: requests,
                board: board, metrics: metrics, logger: logger, stop: stop),
            policy: policy, runner: runner, welcome: welcome, model: model.map { ($0.id, $0.path) })
        let logger = self.logger
        let board = self.board

        return await withTaskGroup(of: Void.self) { group in
            group.addTask { await ingest.run(resent: connections.client.resent, until: over) }
            group.addTask {
                await analysis.run(frames) { result in
                    switch result {
                    case .success(let analysed):
                        inbox.send(.analysed(analysed))
                        board.update { status in
                            status.framesAnalysed += 1
                            status.defects += analysed.detections.count
                            if let drift = analysed.drift { status.drift = (drift.vx, drift.vy) }
                        }
                        await sessionLog.record(analysed)
                        if let refusal = analysed.calibrationRefusal {
                            logger.warning("\(refusal)")
                            await sessionLog.refused(
                                source: "calibration", error: refusal, detail: "frame \(analysed.key)")
                        }
                    case .failure(let failure):
                        logger.warning(
                            "frame \(failure.frame.key) could not be analysed", metadata: ["error": "\(failure.error)"])
                        inbox.send(.analysisFailed(failure.frame.key, reason: failure.error.description))
                        await sessionLog.refused(
                            source: "analysis", error: failure.error.description, detail: "frame \(failure.frame.key)")
                    }
                }
            }
            group.addTask { await worker.run(requests) }
            group.addTask { _ = try? await over.unlessFired { await link.watchDriver() } }

            var ending = await decision.run()
            // The end: no more policy commands; retraining stops; the beam is blanked (a logged
            // decision) whatever ended the session; the session is closed in the log.
            over.fire()
            requests.finish()
            if let problem = await decision.blankBeam(because: ending.reason) {
                ending = SessionEnding(
                    status: .failed,
                    reason: "\(ending.reason); but \(problem): THE BEAM MAY STILL BE ON. Blank it at the microscope")
                logger.critical("\(ending.reason)")
            }
            await decision.endPolicy(reason: ending.reason)
            await sessionLog.end(status: ending.status.rawValue, reason: ending.reason)
            await group.waitForAll()
            let failedWrites = await sessionLog.failedWrites
            if failedWrites > 0 {
                logger.error("\(failedWrites) log writes failed in this session; see the errors above")
            }
            board.update { $0.logWriteFailures = failedWrites }
            return ending
        }
    }
}
