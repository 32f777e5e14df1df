import CoreMetrics
import DaemonAnalysis
import Foundation
import ImageNumerics
import Logging
import PolicyKit
import Transport
import WireProtocol

/// The daemon's own decisions: lost frames asked for again, the retraining rule, the end.
extension DecisionStage {
    // MARK: - The daemon's own decisions

    func askForWantedFrames() async -> SessionEnding? {
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
    func retrainByRule(_ trigger: RetrainingTrigger) async -> SessionEnding? {
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
    func retrainingObstacle() -> String? {
        if case .running = retrainingState { return "a retraining is already running" }
        guard model != nil else { return "the daemon runs without a detector" }
        guard !recentAtomic.isEmpty else {
            return "no atomic-resolution frame has been analysed yet to estimate the conditions from"
        }
        return nil
    }

    func startRetraining(reason: String) {
        guard let model, let newest = recentAtomic.last else { return }
        let alike = recentAtomic.filter { abs($0.pixelSize - newest.pixelSize) < 0.01 * newest.pixelSize }
        let dwell = alike.allSatisfy { $0.dwell == newest.dwell } ? newest.dwell : nil
        retrainingState = .running(since: elapsed)
        context.retraining.send(
            RetrainingRequest(
                reason: reason, frames: alike.map(\.image), pixelSize: newest.pixelSize, dwell: dwell,
                basePath: model.path, baseID: model.id, elapsed: elapsed,
                realism: configuration.policy.retraining?.realism ?? .fitted,
                cycleganSteps: configuration.policy.retraining?.cycleganSteps))
    }

    // MARK: - The end

    /// After the loop: settles the commands still on their way and blanks the beam.
    func settle(_ group: inout DiscardingTaskGroup, ending: SessionEnding) async {
        settling = true
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
        return Self.problem(execution)
    }
}
