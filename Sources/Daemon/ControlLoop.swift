import CoreMetrics
import DecisionLog
import Foundation
import Logging
import PolicyKit
import Transport
import WireProtocol

/// The daemon's decision loop: wait for the analysis of the frame the last command produced, ask
/// the policy runner, commit the decision, send its command, log the outcome. Also the daemon's
/// own decisions: asking for frames lost on the feed, unblanking after a driver restart blanked
/// the beam, blanking at the end.
struct ControlLoop {
    /// How a session ended.
    struct Ending: Error {
        let reason: String
        /// `finished`, `stopped` or `failed`, for the session row.
        let status: String
    }

    let daemon: ScopePilotDaemon
    let session: String
    let recorder: SessionRecorder
    let runner: PolicyRunner
    let link: InstrumentLink
    let ingest: FrameIngest
    let analysis: Analysis
    let retraining: RetrainingJobs
    let trigger: RetrainingTrigger?
    private let started = ContinuousClock.now
    private static let daemonPolicy = (name: "scopepilot-daemon", version: "1")
    /// Policy commands in a row the driver may leave unanswered before the session ends.
    static let unansweredLimit = 5

    init(
        daemon: ScopePilotDaemon, session: String, recorder: SessionRecorder, runner: PolicyRunner,
        link: InstrumentLink, ingest: FrameIngest, analysis: Analysis,
        retraining: RetrainingJobs, trigger: RetrainingTrigger?
    ) {
        self.daemon = daemon
        self.session = session
        self.recorder = recorder
        self.runner = runner
        self.link = link
        self.ingest = ingest
        self.analysis = analysis
        self.retraining = retraining
        self.trigger = trigger
    }

    private var logger: Logger { daemon.log }
    private var configuration: DaemonConfiguration { daemon.configuration }

    /// Runs until the policy ends the session, a stop condition holds, or a stop is requested.
    func run() async -> Ending {
        var expected: (command: CommandID, frames: [UInt64])?
        var latestUsed: FrameKey?
        var pendingRetry: (decision: Int64, action: CommandAction)?
        var unanswered = 0
        /// Counts the policy's commands the driver did not answer; too many in a row end the session.
        func driverLost(_ produced: Produced) -> Ending? {
            guard let error = produced.unanswered else {
                unanswered = 0
                return nil
            }
            unanswered += 1
            guard unanswered >= Self.unansweredLimit else { return nil }
            let message =
                "the driver has not answered \(unanswered) commands in a row (the last: \(error)); "
                + "is it running and reachable at \(configuration.control)? The beam's state is unknown"
            logger.critical("ending the session: \(message)")
            return Ending(reason: message, status: "failed")
        }
        while true {
            if daemon.isStopping { return Ending(reason: "stopped on request (signal)", status: "stopped") }
            await recoverMissingFrames()
            var latest = await recorder.latest
            var fresh = false
            if let wanted = expected {
                latest = await awaitFrames(of: wanted.command, seqs: wanted.frames) ?? latest
                expected = nil
                if daemon.isStopping { continue }
            }
            if let latest, latest.key != latestUsed {
                fresh = true
                latestUsed = latest.key
            }
            if let retry = pendingRetry {
                pendingRetry = nil
                let result = await carryOut(
                    retry.action, reason: "retry of decision \(retry.decision) after unblanking the beam",
                    chosen: ["action": retry.action.name, "retry_of": "\(retry.decision)"], inputs: latest,
                    fresh: false,
                    policyMilliseconds: 0)
                if case .failure(let ending) = result { return ending }
                if case .success(let produced) = result {
                    expected = produced.expected
                    if let ending = driverLost(produced) { return ending }
                }
                continue
            }
            let elapsed = (ContinuousClock.now - started).milliseconds / 1000
            if let trigger, await trigger.fire() {
                if let ending = await retrainByRule(trigger, elapsed: elapsed) { return ending }
                continue
            }
            let analysed = await analysis.analysed
            let clock = ContinuousClock.now
            let plan = await runner.next(
                latest: latest, elapsed: elapsed, analysedFrames: analysed, retraining: await retraining.state)
            let policyMilliseconds = (ContinuousClock.now - clock).milliseconds
            switch plan {
            case .end(let decision):
                _ = try? await commit(decision, note: nil, inputs: latest, fresh: fresh, policy: policyMilliseconds)
                return Ending(reason: decision.reason, status: "finished")
            case .refuse(let decision, let reason):
                daemon.counters.refusals.increment()
                daemon.record { $0.refusals += 1 }
                logger.warning(
                    "refused the policy's action: \(reason)", metadata: ["action": "\(decision.action.summary)"])
                do {
                    _ = try await commit(
                        decision, note: "REFUSED: \(reason)", inputs: latest, fresh: fresh, policy: policyMilliseconds)
                } catch {
                    return Self.logFailure(error)
                }
                if await runner.refusalsInARow >= runner.refusalLimit {
                    return Ending(
                        reason: "the policy proposed \(runner.refusalLimit) refused actions in a row", status: "failed")
                }
            case .local(let decision):
                let obstacle = await retraining.obstacle()
                do {
                    _ = try await commit(
                        decision, note: obstacle.map { "NOT STARTED: \($0)" }, inputs: latest, fresh: fresh,
                        policy: policyMilliseconds)
                } catch {
                    return Self.logFailure(error)
                }
                if let obstacle {
                    await runner.outcome(.refused(decision.action, reason: obstacle))
                } else {
                    await retraining.start(reason: decision.reason, elapsed: elapsed)
                    await runner.outcome(.done(decision.action))
                    daemon.record { $0.retrainingsStarted += 1 }
                }
            case .send(let decision, let action):
                let result = await carryOut(
                    action, reason: decision.reason, chosen: nil, decision: decision, inputs: latest, fresh: fresh,
                    policyMilliseconds: policyMilliseconds)
                switch result {
                case .failure(let ending): return ending
                case .success(let produced):
                    expected = produced.expected
                    if let ending = driverLost(produced) { return ending }
                    if produced.beamBlanked {
                        let id = produced.decision
                        // The driver's watchdog blanked the beam (e.g. it restarted): unblank, as a
                        // logged decision of the daemon, and carry out the same action again.
                        let unblank = await carryOut(
                            CommandAction.unblankBeam,
                            reason: "the driver reports the beam blanked (its watchdog blanks it after a restart"
                                + " or silence); unblanking to carry out decision \(id)",
                            chosen: ["action": "unblank_beam"], inputs: latest, fresh: false, policyMilliseconds: 0)
                        if case .failure(let ending) = unblank { return ending }
                        pendingRetry = (id, action)
                    }
                }
            }
        }
    }

    /// What a command produced.
    struct Produced {
        var decision: Int64
        var command: CommandID
        var frames: [UInt64] = []
        var beamBlanked = false
        /// Why the driver did not answer, when it did not (after the link's resends).
        var unanswered: String?

        /// The frames to wait for before the next decision.
        var expected: (command: CommandID, frames: [UInt64])? { frames.isEmpty ? nil : (command, frames) }
    }

    /// Commits a decision (the policy's or the daemon's), sends its command, logs the outcome.
    private func carryOut(
        _ action: CommandAction, reason: String, chosen: [String: String]?, decision: PolicyDecision? = nil,
        inputs: FrameAnalysis?, fresh: Bool, policyMilliseconds: Double
    ) async -> Result<Produced, Ending> {
        let wait = await runner.pause()
        if wait > .zero { try? await Task.sleep(for: wait) }
        let commitClock = ContinuousClock.now
        let id: Int64
        do {
            if let decision {
                id = try await commit(decision, note: nil, inputs: inputs, fresh: fresh, policy: policyMilliseconds)
            } else {
                id = try await commitDaemon(chosen: chosen ?? ["action": action.name], reason: reason, inputs: inputs)
            }
        } catch {
            logger.error("could not commit a decision; its command is not sent", metadata: ["error": "\(error)"])
            return .failure(Self.logFailure(error))
        }
        let command = Command(id: CommandID("d\(id)"), deadline: deadline(of: action), action: action)
        do {
            try await recorder.commandSent(command, decision: id)
        } catch {
            logger.error("could not log a command; it is not sent", metadata: ["error": "\(error)"])
            return .failure(Self.logFailure(error))
        }
        let logCommit = (ContinuousClock.now - commitClock).milliseconds
        await runner.commandSent(command.id)
        daemon.counters.commands.increment()
        daemon.record { $0.commands += 1 }
        let sendClock = ContinuousClock.now
        var produced = Produced(decision: id, command: command.id)
        var latency: [String: Double] = fresh ? (inputs?.timings ?? [:]) : [:]
        latency["policy"] = policyMilliseconds
        latency["log_commit"] = logCommit
        do {
            let result = try await link.execute(command)
            let sendMilliseconds =
                result.ackedAt.map { ($0 - result.sentAt) * 1000 } ?? (ContinuousClock.now - sendClock).milliseconds
            latency["send"] = sendMilliseconds
            if fresh, let key = inputs?.key, let received = await recorder.received(key) {
                let total = (sendClock - received).milliseconds + sendMilliseconds
                latency["total"] = total
                daemon.counters.latency.recordNanoseconds(Int64(total * 1e6))
                daemon.record { $0.addLatency(total: total, stages: latency) }
            }
            await logOutcome(result, produced: &produced, policyAction: decision?.action)
            for frame in result.frames { await deliverResent(frame) }
        } catch {
            latency["send"] = (ContinuousClock.now - sendClock).milliseconds
            logger.error("command \(command.id) (\(action.name)) got no answer", metadata: ["error": "\(error)"])
            produced.unanswered = "\(error)"
            await recorder.commandFinished(
                command.id, status: "timed_out", readback: nil, error: "\(error)", at: Date())
            daemon.counters.commandFailures.increment()
            daemon.record { $0.commandsFailed += 1 }
            if let action = decision?.action {
                await runner.outcome(.failed(action, code: "timed_out", reason: "\(error)"))
            }
        }
        await recorder.updateLatency(decision: id, latency: Self.json(latency))
        let restarts = await link.restartsSeen
        daemon.record { $0.driverRestarts = restarts }
        return .success(produced)
    }

    private func logOutcome(_ result: CommandResult, produced: inout Produced, policyAction: PolicyAction?) async {
        let finished = Date(timeIntervalSince1970: result.finishedAt)
        switch result.outcome {
        case .done(let done):
            let readback = (try? JSONEncoder.sorted.encode(done.readback)).map { String(decoding: $0, as: UTF8.self) }
            await recorder.commandFinished(
                result.command.id, status: "done", readback: readback, error: nil, at: finished)
            if case .resendFrames = result.command.action {} else { produced.frames = done.readback.frames ?? [] }
            if let policyAction { await runner.outcome(.done(policyAction)) }
        case .failed(let failed):
            await notDone(result, status: "failed", code: failed.code, reason: failed.reason, at: finished)
            produced.beamBlanked = failed.code == ReasonCode.beamBlanked
            if let policyAction {
                await runner.outcome(.failed(policyAction, code: failed.code, reason: failed.reason))
            }
        case .rejected(let reject):
            await notDone(result, status: "rejected", code: reject.code, reason: reject.reason, at: finished)
            produced.beamBlanked = reject.code == ReasonCode.beamBlanked
            if let policyAction {
                await runner.outcome(.failed(policyAction, code: reject.code, reason: reject.reason))
            }
        }
    }

    /// Logs and counts a command that ended other than DONE.
    private func notDone(_ result: CommandResult, status: String, code: String, reason: String, at time: Date) async {
        await recorder.commandFinished(
            result.command.id, status: status, readback: nil, error: "\(code): \(reason)", at: time)
        daemon.counters.commandFailures.increment()
        daemon.record { $0.commandsFailed += 1 }
        logger.warning(
            "command \(result.command.id) (\(result.command.action.name)) \(status)",
            metadata: ["code": "\(code)", "reason": "\(reason)"])
    }

    /// Waits for the analysis of the frames command `id` produced (`seqs`, from its readback);
    /// when none of them arrived on the feed, asks the driver to send them again.
    private func awaitFrames(of id: CommandID, seqs: [UInt64]) async -> FrameAnalysis? {
        if let found = await recorder.analysis(of: id, timeout: configuration.frameWait) { return found }
        if await recorder.frames(of: id) < seqs.count && !daemon.isStopping, let first = seqs.min(),
            let last = seqs.max()
        {
            logger.warning(
                "frames \(first)...\(last) of command \(id) did not arrive on the feed; asking for them again")
            await requestResend(
                first...last, reason: "frames \(first)...\(last), produced by command \(id), did not arrive on the feed"
            )
        }
        // Analysis of a received frame may still be running (a large frame on a loaded machine).
        return await recorder.analysis(of: id, timeout: configuration.frameWait * 4)
    }

    /// The policy file's retraining rule fired: acquire reference frames where the newest
    /// off-conditions frame was taken (a logged daemon decision), wait for their analysis, and
    /// start the retraining on them.
    private func retrainByRule(_ trigger: RetrainingTrigger, elapsed: Double) async -> Ending? {
        let rule = trigger.rule
        guard let (newest, score) = await trigger.latest else { return nil }
        if let obstacle = await retraining.obstacle() {
            logger.info("the retraining rule fired but cannot act: \(obstacle)")
            return nil
        }
        let why = String(
            format: "condition score %.2f above %.2f for %d frames in a row: the frames no longer look like the "
                + "detector's training data", score, rule.conditionScore, rule.framesInARow)
        let request = ReferenceRequest(scan: ScanRequest(geometry: newest.frame.scan), count: rule.referenceFrames)
        let result = await carryOut(
            CommandAction.acquireReference(request),
            reason: "\(why); acquiring \(rule.referenceFrames) reference frames to retrain on",
            chosen: ["action": "acquire_reference", "count": "\(rule.referenceFrames)", "rule": "retraining"],
            inputs: newest, fresh: false, policyMilliseconds: 0)
        switch result {
        case .failure(let ending): return ending
        case .success(let produced):
            if let wanted = produced.expected { _ = await awaitFrames(of: wanted.command, seqs: wanted.frames) }
        }
        await retraining.start(reason: "\(why) (the policy file's retraining rule)", elapsed: elapsed)
        daemon.record { $0.retrainingsStarted += 1 }
        return nil
    }

    /// Asks for the frames the feed skipped (seq gaps), as one daemon decision per gap.
    private func recoverMissingFrames() async {
        let session = await link.welcome?.session ?? ""
        var missing: [UInt64] = []
        for seq in await ingest.takeMissing() where await recorder.frameRow(FrameKey(session: session, seq: seq)) == nil
        {
            missing.append(seq)
        }
        guard let first = missing.first else { return }
        var start = first
        var previous = first
        for seq in missing.dropFirst() + [UInt64.max] {
            if seq != previous + 1 || seq == .max {
                await requestResend(
                    start...previous, reason: "frames \(start)...\(previous) are missing on the feed (a sequence gap)")
                start = seq
            }
            previous = seq
        }
    }

    private func requestResend(_ range: ClosedRange<UInt64>, reason: String) async {
        let result = await carryOut(
            CommandAction.resendFrames(from: range.lowerBound, to: range.upperBound), reason: reason,
            chosen: ["action": "resend_frames", "from": "\(range.lowerBound)", "to": "\(range.upperBound)"],
            inputs: nil, fresh: false, policyMilliseconds: 0)
        _ = result
    }

    private func deliverResent(_ frame: Frame) async {
        guard await recorder.frameRow(FrameKey(frame.header)) == nil else { return }
        await recorder.record(frame, resent: true)
        await runner.frameReceived(frame.header)
        await ingest.deliver(frame)
        daemon.record {
            $0.framesReceived += 1
            $0.recovered += 1
        }
    }

    /// Blanks the beam at the end of the session, as a logged decision.
    func blankBeam(because reason: String) async {
        _ = await carryOut(
            CommandAction.blankBeam, reason: "session ending (\(reason)): blank the beam",
            chosen: ["action": "blank_beam"],
            inputs: nil, fresh: false, policyMilliseconds: 0)
    }

    // MARK: - Decisions in the log

    private func commit(
        _ decision: PolicyDecision, note: String?, inputs: FrameAnalysis?, fresh: Bool, policy milliseconds: Double
    ) async throws -> Int64 {
        let identity = await runner.identity
        var chosen = ["action": decision.action.name, "summary": decision.action.summary]
        if let note { chosen["refused"] = note }
        if decision.action.target != nil {
            let correction = await runner.lastCorrection
            chosen["drift_correction_nm"] = String(format: "[%.4f, %.4f]", correction.x, correction.y)
        }
        if let residual = await runner.residual {
            chosen["residual_drift_nm"] = String(format: "[%.4f, %.4f]", residual.x, residual.y)
        }
        let candidates = decision.candidates.map {
            ["action": $0.action.name, "summary": $0.action.summary, "score": "\($0.score)", "note": $0.note ?? ""]
        }
        let reason = note.map { "\($0). The policy's reason: \(decision.reason)" } ?? decision.reason
        let record = DecisionRecord(
            sessionID: session, inputFrames: await inputFrames(inputs), candidates: Self.json(candidates),
            chosen: Self.json(chosen), reason: reason, policy: identity.name, policyVersion: identity.version,
            policyParameters: identity.parameters, modelVersion: await analysis.modelID,
            latency: Self.json(
                fresh ? (inputs?.timings ?? [:]).merging(["policy": milliseconds]) { $1 } : ["policy": milliseconds]))
        let id = try await recorder.commit(record)
        daemon.counters.decisions.increment()
        daemon.record { $0.decisions += 1 }
        return id
    }

    private func commitDaemon(chosen: [String: String], reason: String, inputs: FrameAnalysis?) async throws -> Int64 {
        let record = DecisionRecord(
            sessionID: session, inputFrames: await inputFrames(inputs), candidates: "[]", chosen: Self.json(chosen),
            reason: reason, policy: Self.daemonPolicy.name, policyVersion: Self.daemonPolicy.version,
            modelVersion: await analysis.modelID)
        let id = try await recorder.commit(record)
        daemon.counters.decisions.increment()
        daemon.record { $0.decisions += 1 }
        return id
    }

    private func inputFrames(_ analysis: FrameAnalysis?) async -> String {
        guard let analysis else { return "[]" }
        var rows: [Int64] = []
        if let row = await recorder.frameRow(analysis.key) { rows.append(row) }
        if let reference = analysis.drift?.reference, let row = await recorder.frameRow(reference) {
            rows.append(row)
        }
        return Self.json(rows)
    }

    private func deadline(of action: CommandAction) -> Duration {
        func scanTime(_ g: ScanGeometry) -> Duration {
            .microseconds(Int64(Double(g.width * g.height) * g.dwell * 1.5))
        }
        switch action {
        case .scanRegion(let request): return configuration.commandDeadline + scanTime(request.geometry)
        case .acquireReference(let request):
            return configuration.commandDeadline + scanTime(request.scan.geometry) * request.count
        default: return configuration.commandDeadline
        }
    }

    /// The end of a session whose log cannot be written: no command may be sent unaccounted for.
    static func logFailure(_ error: any Error) -> Ending {
        Ending(
            reason: "the decision log cannot be written (\(error)); no further commands are sent. Check the disk "
                + "holding the log and its permissions",
            status: "failed")
    }

    static func json<T: Encodable>(_ value: T) -> String {
        (try? JSONEncoder.sorted.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
