import CoreMetrics
import DaemonAnalysis
import DecisionLog
import Foundation
import ImageNumerics
import Logging
import PolicyHost
import PolicyKit
import Transport
import WireProtocol

/// The policy's decisions: asked, checked, committed, sent; and what became of their commands.
extension DecisionStage {
    // MARK: - The policy's decisions

    func decide(in group: inout DiscardingTaskGroup) async -> SessionEnding? {
        var fresh = false
        if let latest, latest.key != latestUsed {
            fresh = true
            latestUsed = latest.key
        }
        let inputs = latest.map { [$0.key] + ($0.drift.map { [$0.reference] } ?? []) } ?? []
        var latency = fresh ? (latest?.timings ?? [:]) : [:]
        let clock = ContinuousClock.now
        let plan: PolicyRunner.Plan
        var shown: ObservationRecord?
        switch runner.observe(
            latest: latest, elapsed: elapsed, analysedFrames: framesCounted, retraining: retrainingState)
        {
        case .end(let decision):
            latency["policy"] = (ContinuousClock.now - clock).milliseconds
            plan = .end(decision)
        case .ask(let observation):
            let answer = await ask(observation)
            latency["policy"] = (ContinuousClock.now - clock).milliseconds
            shown = record(observation)
            switch answer {
            case .success(let decision):
                plan = runner.plan(decision)
            case .failure(let error):
                return await policyFailed(error, inputs: inputs, latency: latency, shown: shown)
            }
        }
        switch plan {
        case .end(let decision):
            if !inFlight.isEmpty || recovery.isBusy {
                // Ended while commands or frames are on their way: once they are in (or lost), the
                // policy is asked again and sees how they ended.
                endWanted = true
                return nil
            }
            _ = try? await commit(policyDraft(decision, note: nil, inputs: inputs, latency: latency, shown: shown))
            return SessionEnding(status: .finished, reason: decision.reason)
        case .refuse(let decision, let reason):
            context.metrics.refusals.increment()
            context.board.update { $0.refusals += 1 }
            logger.warning("refused the policy's action: \(reason)", metadata: ["action": "\(decision.action.summary)"])
            do {
                _ = try await commit(
                    policyDraft(decision, note: "REFUSED: \(reason)", inputs: inputs, latency: latency, shown: shown))
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
                        decision, note: obstacle.map { "NOT STARTED: \($0)" }, inputs: inputs, latency: latency,
                        shown: shown))
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
            let draft = policyDraft(decision, note: nil, inputs: inputs, latency: latency, shown: shown)
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
    func start(
        _ action: CommandAction, reason: String, draft: DecisionDraft, policyAction: PolicyAction,
        basedOn received: ContinuousClock.Instant? = nil, retryOf: Int64? = nil, in group: inout DiscardingTaskGroup
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
    func finished(_ execution: CommandExecution) async -> SessionEnding? {
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
                    return await gaveUp(
                        "the driver has not answered \(unanswered) commands in a row (the last: \(error)); "
                            + "is it running and reachable at \(configuration.control)? The beam's state is unknown"
                    ).ending
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

    func notDone(
        _ execution: CommandExecution, status: String, code: String, reason: String, _ ackedAt: Date?
    ) async -> SessionEnding? {
        let id = execution.command.id
        await context.log.commandFinished(id, status: status, at: Date(), ackedAt: ackedAt, error: "\(code): \(reason)")
        context.metrics.commandFailures.increment()
        context.board.update { $0.commandsFailed += 1 }
        logger.warning(
            "command \(id) (\(execution.command.action.name)) \(status)",
            metadata: ["code": "\(code)", "reason": "\(reason)"])
        if code == ReasonCode.recordingEnded {
            // A replay driver has served its whole recording: the replay is over, not broken.
            if let action = execution.policyAction {
                runner.outcome(.failed(action, code: code, reason: reason), command: id)
            }
            return SessionEnding(status: .finished, reason: "the replay is over: \(reason)")
        }
        guard let action = execution.policyAction else { return nil }
        guard code == ReasonCode.beamBlanked else {
            runner.outcome(.failed(action, code: code, reason: reason), command: id)
            return nil
        }
        // The driver's watchdog (or someone at the microscope) blanked the beam. Unblank, as a
        // logged decision of the daemon's, and carry out the same action again; the policy hears
        // only how the retry went.
        blankedInARow += 1
        let original = execution.retryOf ?? execution.decision
        guard blankedInARow <= Self.blankedLimit else {
            let giveUp = await gaveUp(
                "the beam was found blanked \(blankedInARow) times in a row right after unblanking it; "
                    + "something at the microscope keeps blanking it. Check the instrument before going on")
            if case .pause = giveUp {
                // Carried out once the pause is over; the policy hears only how that went.
                retries.append((original, execution.command.action, action))
            } else {
                runner.outcome(.failed(action, code: code, reason: reason), command: id)
            }
            return giveUp.ending
        }
        let unblank = daemonDraft(
            ["action": "unblank_beam"],
            reason: "the driver reports the beam blanked (its watchdog blanks it after a restart or silence); "
                + "unblanking to carry out decision \(original)")
        if let ending = await runDaemonCommand(.unblankBeam, draft: unblank).0 { return ending }
        retries.append((original, execution.command.action, action))
        return nil
    }

    // MARK: - Helpers

    /// Runs a command of the daemon's own to its end (it runs at once on the driver).
    func runDaemonCommand(
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

    func commit(_ draft: DecisionDraft) async throws -> Int64 {
        let id = try await context.log.commit(draft)
        if draft.observation != nil { loggedVisits.received(shownVisits) }
        context.metrics.decisions.increment()
        context.board.update { $0.decisions += 1 }
        return id
    }

    func policyDraft(
        _ decision: PolicyDecision, note: String?, inputs: [FrameKey], latency: [String: Double],
        shown: ObservationRecord? = nil
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
            policy: runner.identity, model: model?.id, latency: latency, observation: shown)
    }

    func daemonDraft(_ chosen: [String: String], reason: String, inputs: [FrameKey] = []) -> DecisionDraft {
        DecisionDraft(inputs: inputs, chosen: chosen, reason: reason, policy: .daemon, model: model?.id)
    }

    func deadline(of action: CommandAction) -> Duration {
        func scanTime(_ g: ScanGeometry) -> Duration {
            .microseconds(
                Int64(min(Double(g.width) * Double(g.height) * (g.dwell.isFinite ? g.dwell : 0) * 1.5, 8.64e10)))
        }
        switch action {
        case .scanRegion(let request): return configuration.commandDeadline + scanTime(request.geometry)
        case .acquireReference(let request):
            return configuration.commandDeadline + scanTime(request.scan.geometry) * request.count
        default: return configuration.commandDeadline
        }
    }
}
