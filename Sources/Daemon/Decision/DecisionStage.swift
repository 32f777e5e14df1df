import CoreMetrics
import DaemonAnalysis
import Foundation
import Logging
import Numerics
import PolicyKit
import Transport
import WireProtocol

/// The decision stage: reads what ingest and analysis learned from its mailbox, asks the policy,
/// enforces the envelope, commits each decision to the log before its command is sent, and hands
/// the command to the instrument link. Also the daemon's own decisions: asking for frames lost on
/// the feed, unblanking a beam the driver blanked and retrying, the retraining rule.
///
/// It owns the policy's state and reads nothing back from the log or from analysis: every input
/// arrives as a ``DecisionInput``. Commands run as child tasks of ``run()``, which post their ACK
/// and outcome to the same mailbox, so a stop, an analysis or a lost frame is seen while a scan
/// runs.
final class DecisionStage {
    /// What the stage works with.
    struct Context: Sendable {
        let configuration: DaemonConfiguration
        let log: SessionLog
        let link: InstrumentLink
        let inbox: Mailbox<DecisionInput>
        let retraining: Mailbox<RetrainingRequest>
        let board: StatusBoard
        let metrics: DaemonMetrics
        let logger: Logger
        let stop: StopSignal
    }

    /// A command of the policy's on its way.
    private struct InFlight {
        var command: Command
        var decision: Int64
        var acknowledged = false
    }

    /// The frames a finished command produced, which the next decision waits for (a policy that
    /// waits for analysis): each is analysed, skipped by analysis, or lost.
    private struct Expectation {
        var command: CommandID
        var frames: Set<FrameKey>
        /// When to stop waiting and decide without them (pushed back as frames arrive).
        var deadline: ContinuousClock.Instant
    }

    private let context: Context
    private var runner: PolicyRunner
    private var trigger: RetrainingTrigger?
    private var model: (id: String, path: String)?
    private var retrainingState: RetrainingState?
    private var recentAtomic: [(image: Image, pixelSize: Double, dwell: Double)] = []
    private var latest: FrameAnalysis?
    private var latestUsed: FrameKey?
    private var analysed = 0
    private var recovery = FrameRecovery()
    private var expectation: Expectation?
    private var inFlight: [CommandID: InFlight] = [:]
    private var retries: [(of: Int64, command: CommandAction, action: PolicyAction)] = []
    /// Frames logged whose analysis has not come yet.
    private var awaitingAnalysis: Set<FrameKey> = []
    private var endWanted = false
    private var unanswered = 0
    private var blankedInARow = 0
    private var driverSession: String
    private var beamTime = BeamTime()
    private let started = ContinuousClock.now
    /// Policy commands in a row the driver may leave unanswered before the session ends.
    static let unansweredLimit = 5
    /// Times in a row the beam may be found blanked again right after unblanking.
    static let blankedLimit = 3
    /// Atomic-resolution frames kept for a retraining.
    static let keptForRetraining = 4

    private var configuration: DaemonConfiguration { context.configuration }
    private var logger: Logger { context.logger }
    private var elapsed: Double { (ContinuousClock.now - started).milliseconds / 1000 }

    init(context: Context, runner: PolicyRunner, welcome: Welcome, model: (id: String, path: String)?) {
        self.context = context
        self.runner = runner
        self.model = model
        driverSession = welcome.session
        trigger = context.configuration.policy.retraining.map { RetrainingTrigger(rule: $0) }
    }

    // MARK: - The loop

    /// Runs until the policy ends the session, a stop condition holds, a stop is requested or the
    /// session cannot go on; then settles the commands still on their way. Returns how it ended.
    func run() async -> SessionEnding {
        await withTaskGroup(of: Void.self) { group in
            let ending = await loop(&group)
            await settle(&group, ending: ending)
            group.cancelAll()
            return ending
        }
    }

    private func loop(_ group: inout TaskGroup<Void>) async -> SessionEnding {
        while true {
            while let input = context.inbox.poll() {
                if let ending = await handle(input) { return ending }
            }
            if context.stop.isFired { return .stopped() }
            if let ending = await logLosses() { return ending }
            if recovery.hasWanted {
                if let ending = await askForWantedFrames() { return ending }
                continue
            }
            if let (deadline, why) = waitingFor() {
                guard let input = await context.inbox.receive(until: deadline) else {
                    if context.stop.isFired { return .stopped() }
                    passed(why)
                    continue
                }
                if let ending = await handle(input) { return ending }
                continue
            }
            if !retries.isEmpty {
                let retry = retries.removeFirst()
                let reason = "retry of decision \(retry.of) after unblanking the beam"
                let draft = daemonDraft(["action": retry.command.name, "retry_of": "\(retry.of)"], reason: reason)
                if let ending = await start(
                    retry.command, reason: reason, draft: draft, policyAction: retry.action, retryOf: retry.of,
                    in: &group)
                {
                    return ending
                }
                continue
            }
            if var rule = trigger, rule.fire() {
                trigger = rule
                if let ending = await retrainByRule(rule) { return ending }
                continue
            }
            if let ending = await decide(in: &group) { return ending }
        }
    }

    /// Why the policy may not be asked now, and until when to wait (nil: no deadline).
    private enum Waiting {
        case acknowledgement, outcome, frames, analysis
    }

    private func waitingFor() -> (ContinuousClock.Instant?, Waiting)? {
        let due = recovery.nextDue
        // The driver must have queued a command before the next one is decided.
        if inFlight.values.contains(where: { !$0.acknowledged }) { return (due, .acknowledgement) }
        if endWanted && (!inFlight.isEmpty || recovery.isBusy) { return (due, .outcome) }
        if runner.waitsForAnalysis {
            if !inFlight.isEmpty { return (due, .outcome) }
            if let expectation {
                return (min(expectation.deadline, due ?? expectation.deadline), .frames)
            }
        } else if inFlight.count >= 2 {
            return (due, .outcome)
        } else if awaitingAnalysis.count + recovery.due + inFlight.count > configuration.analysisQueue {
            // Deciding ahead only while analysis keeps up: every frame waiting for analysis or on
            // its way, and every scan not yet done, must fit the analysis queue, or frames would
            // be skipped.
            return (due, .analysis)
        }
        if let due, due <= .now { return (due, .frames) }
        return nil
    }

    /// A wait's deadline passed without the input it waited for.
    private func passed(_ why: Waiting) {
        recovery.expire(now: .now)
        guard case .frames = why, let waiting = expectation, waiting.deadline <= .now else { return }
        let seqs = waiting.frames.map(\.seq).sorted()
        logger.warning(
            "the analysis of frames \(seqs) of command \(waiting.command) did not come in time; deciding without it")
        expectation = nil
    }

    // MARK: - Inputs

    private func handle(_ input: DecisionInput) async -> SessionEnding? {
        switch input {
        case .stop:
            return .stopped()
        case .frameLogged(let arrival):
            recovery.arrived(arrival.key)
            awaitingAnalysis.insert(arrival.key)
            runner.frameReceived(arrival.header)
            if arrival.header.session != driverSession, !arrival.resent {
                driverSession = arrival.header.session
                recovery.driverRestarted(current: driverSession)
            }
            if var waiting = expectation, waiting.frames.contains(arrival.key) {
                waiting.deadline = max(waiting.deadline, .now + configuration.analysisWait)
                expectation = waiting
            }
            updateMap()
        case .frameRefused(let key, let resent, let reason):
            if let key { recovery.refused(key, resent: resent, reason: reason) }
        case .gap(let session, let missing):
            if session == driverSession { recovery.gap(session: session, missing: missing) }
        case .analysed(let analysis):
            absorb(analysis)
            resolve(analysis.key)
        case .analysisFailed(let key, _), .analysisSkipped(let key):
            resolve(key)
        case .commandAcknowledged(let id):
            inFlight[id]?.acknowledged = true
        case .commandFinished(let execution):
            return await finished(execution)
        case .retrainingFinished(let report):
            retrainingState = report.state
            if let swapped = report.swappedIn { model = swapped }
        }
        return nil
    }

    /// Frames towards a stop condition: analysed, and on their way to analysis (a policy that
    /// decides ahead must not be asked for more than the limit).
    private var framesCounted: Int { analysed + awaitingAnalysis.count + recovery.due + inFlight.count }

    /// Whether a frame's analysis may still come: not lost, and not yet arrived or not yet analysed.
    private func isPending(_ key: FrameKey) -> Bool {
        !recovery.isLost(key) && (awaitingAnalysis.contains(key) || !recovery.hasArrived(key))
    }

    private func resolve(_ key: FrameKey) {
        awaitingAnalysis.remove(key)
        guard var waiting = expectation, waiting.frames.contains(key) else { return }
        waiting.frames.remove(key)
        expectation = waiting.frames.isEmpty ? nil : waiting
    }

    private func absorb(_ analysis: FrameAnalysis) {
        analysed += 1
        latest = analysis
        runner.frameAnalysed(analysis)
        trigger?.observe(analysis)
        if let atomic = analysis.atomicImage {
            recentAtomic.append((atomic.image, atomic.pixelSize, analysis.header.scan.dwell))
            if recentAtomic.count > Self.keptForRetraining { recentAtomic.removeFirst() }
        }
        if !analysis.problems.isEmpty {
            logger.warning(
                "part of frame \(analysis.key)'s analysis was left out", metadata: ["problems": "\(analysis.problems)"])
        }
        updateMap()
    }

    private func updateMap() {
        let map = runner.map
        context.board.update { status in
            status.communities = map.communityChips.count
            status.area = map.coveredArea
            status.electrons = map.electrons
        }
    }

    private func logLosses() async -> SessionEnding? {
        for loss in recovery.takeLosses() {
            logger.warning("frame \(loss.key) is lost: \(loss.reason)")
            await context.log.lost(loss.key, command: nil, reason: loss.reason)
            context.board.update { $0.lost += 1 }
            resolve(loss.key)
        }
        return nil
    }

    // MARK: - The policy's decisions

    private func decide(in group: inout TaskGroup<Void>) async -> SessionEnding? {
        let clock = ContinuousClock.now
        let plan = runner.next(
            latest: latest, elapsed: elapsed, analysedFrames: framesCounted, retraining: retrainingState)
        let policyMilliseconds = (ContinuousClock.now - clock).milliseconds
        var fresh = false
        if let latest, latest.key != latestUsed {
            fresh = true
            latestUsed = latest.key
        }
        let inputs = latest.map { [$0.key] + ($0.drift.map { [$0.reference] } ?? []) } ?? []
        var latency = fresh ? (latest?.timings ?? [:]) : [:]
        latency["policy"] = policyMilliseconds
        switch plan {
        case .end(let decision):
            if !inFlight.isEmpty || recovery.isBusy {
                // Ended while commands or frames are on their way: once they are in (or lost), the
                // policy is asked again and sees how they ended.
                endWanted = true
                return nil
            }
            _ = try? await commit(policyDraft(decision, note: nil, inputs: inputs, latency: latency))
            return SessionEnding(status: .finished, reason: decision.reason)
        case .refuse(let decision, let reason):
            context.metrics.refusals.increment()
            context.board.update { $0.refusals += 1 }
            logger.warning("refused the policy's action: \(reason)", metadata: ["action": "\(decision.action.summary)"])
            do {
                _ = try await commit(
                    policyDraft(decision, note: "REFUSED: \(reason)", inputs: inputs, latency: latency))
            } catch {
                return .logFailure(error)
            }
            if runner.refusalsInARow >= runner.refusalLimit {
                return SessionEnding(
                    status: .failed, reason: "the policy proposed \(runner.refusalLimit) refused actions in a row")
            }
        case .local(let decision):
            let obstacle = retrainingObstacle()
            do {
                _ = try await commit(
                    policyDraft(
                        decision, note: obstacle.map { "NOT STARTED: \($0)" }, inputs: inputs, latency: latency))
            } catch {
                return .logFailure(error)
            }
            if let obstacle {
                runner.outcome(.refused(decision.action, reason: obstacle))
            } else {
                startRetraining(reason: decision.reason)
                runner.outcome(.done(decision.action))
            }
        case .send(let decision, let action):
            let draft = policyDraft(decision, note: nil, inputs: inputs, latency: latency)
            if let ending = await start(
                action, reason: decision.reason, draft: draft, policyAction: decision.action,
                basedOn: fresh && runner.waitsForAnalysis ? latest?.receivedAt : nil, in: &group)
            {
                return ending
            }
        }
        return nil
    }

    /// Commits a decision carrying out a policy's action, logs its command as sent, and starts it
    /// as a child task that posts its ACK and outcome to the mailbox.
    @discardableResult
    private func start(
        _ action: CommandAction, reason: String, draft: DecisionDraft, policyAction: PolicyAction,
        basedOn received: ContinuousClock.Instant? = nil, retryOf: Int64? = nil, in group: inout TaskGroup<Void>
    ) async -> SessionEnding? {
        let wait = runner.pause()
        if wait > .zero, await !context.stop.sleep(for: wait) { return .stopped() }
        var draft = draft
        if draft.reason.isEmpty { draft.reason = reason }
        let commitClock = ContinuousClock.now
        let decision: Int64
        do {
            decision = try await commit(draft)
        } catch {
            return .logFailure(error)
        }
        let command = Command(id: CommandID("d\(decision)"), deadline: deadline(of: action), action: action)
        do {
            try await context.log.commandSent(command, decision: decision)
        } catch {
            logger.error("could not log a command; it is not sent", metadata: ["error": "\(error)"])
            return .logFailure(error)
        }
        var latency = draft.latency
        latency["log_commit"] = (ContinuousClock.now - commitClock).milliseconds
        runner.commandSent(command)
        context.metrics.commands.increment()
        context.board.update { $0.commands += 1 }
        inFlight[command.id] = InFlight(command: command, decision: decision)
        let execution = CommandExecution(
            command: command, decision: decision, policyAction: policyAction, sentAt: .now, latency: latency,
            basedOnFrameReceivedAt: received, retryOf: retryOf, result: .failure(CancellationError()))
        let link = context.link
        let inbox = context.inbox
        group.addTask {
            var finished = execution
            let id = command.id
            do {
                finished.result = .success(
                    try await link.execute(command) { inbox.send(.commandAcknowledged(id)) })
            } catch {
                finished.result = .failure(error)
            }
            inbox.send(.commandFinished(finished))
        }
        return nil
    }

    /// A command ended: log it, tell the policy, and decide what the daemon does about it.
    private func finished(_ execution: CommandExecution) async -> SessionEnding? {
        let id = execution.command.id
        inFlight[id] = nil
        var latency = execution.latency
        switch execution.result {
        case .failure(let error):
            let stopped = context.stop.isFired || (error as? TransportError)?.code == .cancelled
            let status = stopped ? "abandoned" : "timed_out"
            latency["send"] = (ContinuousClock.now - execution.sentAt).milliseconds
            if !stopped {
                logger.error(
                    "command \(id) (\(execution.command.action.name)) got no answer", metadata: ["error": "\(error)"])
            }
            await context.log.commandFinished(id, status: status, at: Date(), ackedAt: nil, error: "\(error)")
            await context.log.latency(of: execution.decision, latency)
            context.metrics.commandFailures.increment()
            context.board.update { $0.commandsFailed += 1 }
            if let action = execution.policyAction {
                runner.outcome(.failed(action, code: status, reason: "\(error)"), command: id)
                unanswered += stopped ? 0 : 1
                if unanswered >= Self.unansweredLimit {
                    let message =
                        "the driver has not answered \(unanswered) commands in a row (the last: \(error)); "
                        + "is it running and reachable at \(configuration.control)? The beam's state is unknown"
                    logger.critical("ending the session: \(message)")
                    return SessionEnding(status: .failed, reason: message)
                }
            }
            return nil
        case .success(let result):
            unanswered = 0
            let ackedAt = result.ackedAt.map { Date(timeIntervalSince1970: $0) }
            let sendMilliseconds =
                result.ackedAt.map { ($0 - result.sentAt) * 1000 }
                ?? (ContinuousClock.now - execution.sentAt).milliseconds
            latency["send"] = sendMilliseconds
            if let received = execution.basedOnFrameReceivedAt {
                let total = (execution.sentAt - received).milliseconds + sendMilliseconds
                latency["total"] = total
                context.metrics.latency.recordNanoseconds(Int64(total * 1e6))
                let stages = latency
                context.board.update { $0.addLatency(total: total, stages: stages) }
            }
            let finishedAt = Date(timeIntervalSince1970: result.finishedAt)
            await context.log.latency(of: execution.decision, latency)
            let restarts = await context.link.restartsSeen
            context.board.update { $0.driverRestarts = restarts }
            switch result.outcome {
            case .done(let done):
                await context.log.commandFinished(
                    id, status: "done", at: finishedAt, ackedAt: ackedAt, readback: done.readback)
                if let ackedAt = result.ackedAt, execution.command.action.scans {
                    beamTime.add(from: ackedAt, to: result.finishedAt, sentAt: result.sentAt)
                    let figures = beamTime
                    context.board.update {
                        $0.scanningSeconds = figures.scanning
                        $0.scanningSpan = figures.span
                    }
                }
                if let seqs = done.readback.frames, !seqs.isEmpty, execution.command.action.name != "resend_frames" {
                    // The frames are the executing driver session's (a 1.0 driver does not say which:
                    // the newest session seen on the feed).
                    let session = done.readback.session ?? driverSession
                    let keys = seqs.map { FrameKey(session: session, seq: $0) }
                    recovery.expect(keys, by: .now + configuration.frameWait)
                    let pending = Set(keys.filter(isPending))
                    if runner.waitsForAnalysis, !pending.isEmpty {
                        expectation = Expectation(
                            command: id, frames: pending,
                            deadline: .now + configuration.frameWait + configuration.analysisWait)
                    }
                }
                if let action = execution.policyAction {
                    blankedInARow = 0
                    runner.outcome(.done(action), command: id)
                }
                return nil
            case .failed(let failed):
                return await notDone(execution, status: "failed", code: failed.code, reason: failed.reason, ackedAt)
            case .rejected(let reject):
                return await notDone(execution, status: "rejected", code: reject.code, reason: reject.reason, ackedAt)
            }
        }
    }

    private func notDone(
        _ execution: CommandExecution, status: String, code: String, reason: String, _ ackedAt: Date?
    ) async -> SessionEnding? {
        let id = execution.command.id
        await context.log.commandFinished(id, status: status, at: Date(), ackedAt: ackedAt, error: "\(code): \(reason)")
        context.metrics.commandFailures.increment()
        context.board.update { $0.commandsFailed += 1 }
        logger.warning(
            "command \(id) (\(execution.command.action.name)) \(status)",
            metadata: ["code": "\(code)", "reason": "\(reason)"])
        guard let action = execution.policyAction else { return nil }
        guard code == ReasonCode.beamBlanked else {
            runner.outcome(.failed(action, code: code, reason: reason), command: id)
            return nil
        }
        // The driver's watchdog (or someone at the microscope) blanked the beam. Unblank, as a
        // logged decision of the daemon's, and carry out the same action again; the policy hears
        // only how the retry went.
        blankedInARow += 1
        guard blankedInARow <= Self.blankedLimit else {
            runner.outcome(.failed(action, code: code, reason: reason), command: id)
            return SessionEnding(
                status: .failed,
                reason: "the beam was found blanked \(blankedInARow) times in a row right after unblanking it; "
                    + "something at the microscope keeps blanking it. Check the instrument before going on")
        }
        let original = execution.retryOf ?? execution.decision
        let unblank = daemonDraft(
            ["action": "unblank_beam"],
            reason: "the driver reports the beam blanked (its watchdog blanks it after a restart or silence); "
                + "unblanking to carry out decision \(original)")
        if let ending = await runDaemonCommand(.unblankBeam, draft: unblank).0 { return ending }
        retries.append((original, execution.command.action, action))
        return nil
    }

    // MARK: - The daemon's own decisions

    private func askForWantedFrames() async -> SessionEnding? {
        let current = await context.link.welcome?.session ?? driverSession
        recovery.driverRestarted(current: current)
        for (session, range) in recovery.takeWanted() {
            let reason =
                range.count == 1
                ? "frame \(range.lowerBound) is missing or was refused on the feed; asking the driver for it again"
                : "frames \(range.lowerBound)...\(range.upperBound) are missing or were refused on the feed; asking "
                    + "the driver for them again"
            let draft = daemonDraft(
                ["action": "resend_frames", "from": "\(range.lowerBound)", "to": "\(range.upperBound)"], reason: reason)
            let (ending, execution) = await runDaemonCommand(
                .resendFrames(from: range.lowerBound, to: range.upperBound, session: session), draft: draft)
            if let ending { return ending }
            let due = ContinuousClock.now + configuration.frameWait
            switch execution?.result {
            case .success(let result):
                switch result.outcome {
                case .done(let done):
                    recovery.answered(
                        session: session, range: range, sent: done.readback.frames ?? [],
                        missing: done.readback.missing ?? [], failure: nil, due: due)
                case .failed(let failed):
                    recovery.answered(
                        session: session, range: range, sent: [], missing: [],
                        failure: "\(failed.code): \(failed.reason)",
                        due: due)
                case .rejected(let reject):
                    recovery.answered(
                        session: session, range: range, sent: [], missing: [],
                        failure: "\(reject.code): \(reject.reason)",
                        due: due)
                }
            case .failure(let error):
                recovery.answered(session: session, range: range, sent: [], missing: [], failure: "\(error)", due: due)
            case nil:
                break
            }
        }
        return nil
    }

    /// The policy file's retraining rule fired: acquire reference frames where the newest
    /// off-conditions frame was taken (a logged daemon decision), wait for their analysis, and
    /// start the retraining on them.
    private func retrainByRule(_ trigger: RetrainingTrigger) async -> SessionEnding? {
        let rule = trigger.rule
        guard let (newest, score) = trigger.latest else { return nil }
        if let obstacle = retrainingObstacle() {
            logger.info("the retraining rule fired but cannot act: \(obstacle)")
            return nil
        }
        let why = String(
            format: "condition score %.2f above %.2f for %d frames in a row: the frames no longer look like the "
                + "detector's training data", score, rule.conditionScore, rule.framesInARow)
        let request = ReferenceRequest(scan: ScanRequest(geometry: newest.header.scan), count: rule.referenceFrames)
        let draft = daemonDraft(
            ["action": "acquire_reference", "count": "\(rule.referenceFrames)", "rule": "retraining"],
            reason: "\(why); acquiring \(rule.referenceFrames) reference frames to retrain on", inputs: [newest.key])
        let (ending, execution) = await runDaemonCommand(.acquireReference(request), draft: draft)
        if let ending { return ending }
        if case .success(let result) = execution?.result, case .done(let done) = result.outcome,
            let seqs = done.readback.frames, !seqs.isEmpty
        {
            let session = done.readback.session ?? driverSession
            let keys = seqs.map { FrameKey(session: session, seq: $0) }.filter(isPending)
            expectation =
                keys.isEmpty
                ? nil
                : Expectation(
                    command: result.command.id, frames: Set(keys),
                    deadline: .now + configuration.frameWait + configuration.analysisWait)
            // The reference frames' analyses come in before the retraining takes the newest frames.
            while expectation != nil, !context.stop.isFired {
                guard let input = await context.inbox.receive(until: expectation?.deadline) else {
                    passed(.frames)
                    continue
                }
                if let ending = await handle(input) { return ending }
            }
        }
        startRetraining(reason: "\(why) (the policy file's retraining rule)")
        return nil
    }

    /// Why a retraining cannot start now, or nil when it can.
    private func retrainingObstacle() -> String? {
        if case .running = retrainingState { return "a retraining is already running" }
        guard model != nil else { return "the daemon runs without a detector" }
        guard !recentAtomic.isEmpty else {
            return "no atomic-resolution frame has been analysed yet to estimate the conditions from"
        }
        return nil
    }

    private func startRetraining(reason: String) {
        guard let model, let newest = recentAtomic.last else { return }
        let alike = recentAtomic.filter { abs($0.pixelSize - newest.pixelSize) < 0.01 * newest.pixelSize }
        let dwell = alike.allSatisfy { $0.dwell == newest.dwell } ? newest.dwell : nil
        retrainingState = .running(since: elapsed)
        context.retraining.send(
            RetrainingRequest(
                reason: reason, frames: alike.map(\.image), pixelSize: newest.pixelSize, dwell: dwell,
                basePath: model.path, baseID: model.id, elapsed: elapsed))
    }

    // MARK: - The end

    /// After the loop: settles the commands still on their way and blanks the beam.
    private func settle(_ group: inout TaskGroup<Void>, ending: SessionEnding) async {
        if !inFlight.isEmpty {
            if ending.status == .stopped {
                _ = await runDaemonCommand(
                    .abort(nil),
                    draft: daemonDraft(
                        ["action": "abort"], reason: "session stopping (\(ending.reason)): abort the scan"),
                    ignoringStop: true)
            }
            let patience: Duration = ending.status == .stopped ? .seconds(1) : configuration.commandDeadline
            let until = ContinuousClock.now + patience
            while !inFlight.isEmpty, let input = await context.inbox.receive(until: until) {
                if case .commandFinished(let execution) = input { _ = await finished(execution) }
            }
            group.cancelAll()
            while !inFlight.isEmpty, let input = await context.inbox.receive(until: .now + .seconds(1)) {
                if case .commandFinished(let execution) = input { _ = await finished(execution) }
            }
        }
        while let input = context.inbox.poll() {
            if case .commandFinished(let execution) = input { _ = await finished(execution) }
        }
        recovery.giveUpAll("the session ended (\(ending.status.rawValue)) before it arrived")
        _ = await logLosses()
    }

    /// Blanks the beam at the end of a session, as a logged decision; the outcome in words when
    /// the beam may still be on.
    func blankBeam(because reason: String) async -> String? {
        let (_, execution) = await runDaemonCommand(
            .blankBeam,
            draft: daemonDraft(["action": "blank_beam"], reason: "session ending (\(reason)): blank the beam"),
            ignoringStop: true)
        guard let execution else { return "blank_beam could not be sent" }
        switch execution.result {
        case .success(let result):
            switch result.outcome {
            case .done: return nil
            case .failed(let failed): return "blank_beam failed (\(failed.code): \(failed.reason))"
            case .rejected(let reject): return "blank_beam was rejected (\(reject.code): \(reject.reason))"
            }
        case .failure(let error): return "blank_beam got no answer (\(error))"
        }
    }

    // MARK: - Helpers

    /// Runs a command of the daemon's own to its end (it runs at once on the driver).
    private func runDaemonCommand(
        _ action: CommandAction, draft: DecisionDraft, ignoringStop: Bool = false
    ) async -> (SessionEnding?, CommandExecution?) {
        if context.stop.isFired && !ignoringStop { return (.stopped(), nil) }
        let decision: Int64
        do {
            decision = try await commit(draft)
        } catch {
            return (.logFailure(error), nil)
        }
        let command = Command(id: CommandID("d\(decision)"), deadline: deadline(of: action), action: action)
        do {
            try await context.log.commandSent(command, decision: decision)
        } catch {
            return (.logFailure(error), nil)
        }
        runner.commandSent(command)
        context.metrics.commands.increment()
        context.board.update { $0.commands += 1 }
        var execution = CommandExecution(
            command: command, decision: decision, policyAction: nil, sentAt: .now, latency: [:],
            basedOnFrameReceivedAt: nil, result: .failure(CancellationError()))
        let link = context.link
        let stop = context.stop
        do {
            let result: CommandResult?
            if ignoringStop {
                result = try await link.execute(command)
            } else {
                result = try await stop.unlessFired { try await link.execute(command) }
            }
            guard let result else {
                execution.result = .failure(TransportError(code: .cancelled, message: "the session is stopping"))
                _ = await finished(execution)
                return (.stopped(), execution)
            }
            execution.result = .success(result)
        } catch {
            execution.result = .failure(error)
        }
        let ending = await finished(execution)
        return (ending, execution)
    }

    private func commit(_ draft: DecisionDraft) async throws -> Int64 {
        let id = try await context.log.commit(draft)
        context.metrics.decisions.increment()
        context.board.update { $0.decisions += 1 }
        return id
    }

    private func policyDraft(
        _ decision: PolicyDecision, note: String?, inputs: [FrameKey], latency: [String: Double]
    ) -> DecisionDraft {
        var chosen = ["action": decision.action.name, "summary": decision.action.summary]
        if let note { chosen["refused"] = note }
        if decision.action.target != nil {
            let correction = runner.lastCorrection
            chosen["drift_correction_nm"] = String(format: "[%.4f, %.4f]", correction.x, correction.y)
        }
        if let residual = runner.residual {
            chosen["residual_drift_nm"] = String(format: "[%.4f, %.4f]", residual.x, residual.y)
        }
        let candidates = decision.candidates.map {
            ["action": $0.action.name, "summary": $0.action.summary, "score": "\($0.score)", "note": $0.note ?? ""]
        }
        return DecisionDraft(
            inputs: inputs, candidates: SessionLog.json(candidates), chosen: chosen,
            reason: note.map { "\($0). The policy's reason: \(decision.reason)" } ?? decision.reason,
            policy: runner.identity, model: model?.id, latency: latency)
    }

    private func daemonDraft(_ chosen: [String: String], reason: String, inputs: [FrameKey] = []) -> DecisionDraft {
        DecisionDraft(inputs: inputs, chosen: chosen, reason: reason, policy: .daemon, model: model?.id)
    }

    private func deadline(of action: CommandAction) -> Duration {
        func scanTime(_ g: ScanGeometry) -> Duration {
            .microseconds(Int64(min(Double(g.width * g.height) * g.dwell * 1.5, 8.64e10)))
        }
        switch action {
        case .scanRegion(let request): return configuration.commandDeadline + scanTime(request.geometry)
        case .acquireReference(let request):
            return configuration.commandDeadline + scanTime(request.scan.geometry) * request.count
        default: return configuration.commandDeadline
        }
    }
}
