import Foundation
import Logging
import PolicyKit
import Transport
import WireProtocol

/// Giving up on an instrument that keeps failing: the session ends, or, when the policy file says
/// so (``GiveUpRule``), pauses with the beam blanked and tries again.
extension DecisionStage {
    /// What giving up came to.
    enum GiveUp {
        /// The session ends.
        case end(SessionEnding)
        /// The session pauses now.
        case pause
        /// Nothing more: the session is already paused or ending.
        case nothing

        var ending: SessionEnding? {
            if case .end(let ending) = self { return ending }
            return nil
        }
    }

    /// The instrument kept failing for `reason`: ends the session, or pauses it when the policy
    /// file asks for pauses and some are left.
    func gaveUp(_ reason: String) async -> GiveUp {
        let rule = configuration.policy.giveUp
        if settling {
            logger.warning("while the session ends: \(reason)")
            return .nothing
        }
        if pausedUntil != nil {
            // A command sent before the pause failed during it: the pause already answers it.
            logger.warning("while paused: \(reason)")
            return .nothing
        }
        guard rule.then == .pause, pausesTaken < rule.pauses else {
            let message =
                pausesTaken == 0
                ? reason : "\(reason) (again after \(pausesTaken) pause\(pausesTaken == 1 ? "" : "s"))"
            logger.critical("ending the session: \(message)")
            return .end(SessionEnding(status: .failed, reason: message))
        }
        pausesTaken += 1
        let seconds = rule.pauseSeconds
        let why =
            "\(reason); pausing \(Self.seconds(seconds)) with the beam blanked, then trying again "
            + "(pause \(pausesTaken) of \(rule.pauses); the policy file's give_up rule)"
        logger.error("\(why)")
        let draft = daemonDraft(
            [
                "action": "pause", "seconds": String(format: "%g", seconds), "pause": "\(pausesTaken)",
                "pauses": "\(rule.pauses)",
            ],
            reason: why)
        do {
            _ = try await commit(draft)
        } catch {
            return .end(.logFailure(error))
        }
        pausedUntil = .now + .milliseconds(Int64(seconds * 1000))
        context.board.update { $0.phase = .paused }
        let (ending, execution) = await runDaemonCommand(
            .blankBeam, draft: daemonDraft(["action": "blank_beam"], reason: "pausing: blank the beam"))
        if let ending { return .end(ending) }
        if let problem = execution.flatMap(Self.problem) {
            logger.error("the beam may still be on during the pause: \(problem)")
        }
        return .pause
    }

    /// The pause is over: counts start again, the beam is unblanked, the policy is asked again.
    func resume() async -> SessionEnding? {
        pausedUntil = nil
        unanswered = 0
        blankedInARow = 0
        context.board.update { $0.phase = .running }
        // An external policy that failed is started again first: if it fails again, the beam
        // stays blanked (the next pause, or the end).
        if let ending = await policyStarted() { return ending }
        if pausedUntil != nil { return nil }
        let reason =
            "the pause is over (pause \(pausesTaken) of \(configuration.policy.giveUp.pauses)); "
            + "unblanking the beam and going on"
        logger.notice("\(reason)")
        let (ending, execution) = await runDaemonCommand(
            .unblankBeam, draft: daemonDraft(["action": "unblank_beam", "resume": "true"], reason: reason))
        if let ending { return ending }
        if let problem = execution.flatMap(Self.problem) {
            // The next scan finds out whether the instrument is back; its failures count afresh.
            logger.warning("unblanking after the pause: \(problem)")
        }
        return nil
    }

    /// What went wrong with a command of the daemon's, in words (nil: it was done).
    static func problem(_ execution: CommandExecution) -> String? {
        switch execution.result {
        case .success(let result):
            switch result.outcome {
            case .done: return nil
            case .failed(let failed):
                return "\(execution.command.action.name) failed (\(failed.code): \(failed.reason))"
            case .rejected(let reject):
                return "\(execution.command.action.name) was rejected (\(reject.code): \(reject.reason))"
            }
        case .failure(let error): return "\(execution.command.action.name) got no answer (\(error))"
        }
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() && value < 1e9 ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }
}
