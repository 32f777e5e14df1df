import DaemonAnalysis
import DecisionLog
import Foundation
import ImageNumerics
import Logging
import PolicyHost
import PolicyKit
import WireProtocol

/// Asking the policy, and what the stage does when an external policy fails: the failure is
/// logged as a decision with the policy's own message and traceback, nothing is sent on its
/// behalf, and the session ends (or pauses with the beam blanked and starts the policy again,
/// when the policy file's give-up rule says so).
extension DecisionStage {
    /// The policy's decision on `observation`: a built-in policy decides in place, an external one
    /// is asked over the policy protocol (within its deadline).
    func ask(_ observation: Observation) async -> Result<PolicyDecision, ExternalPolicyError> {
        switch policy {
        case .builtIn(var builtIn):
            let decision = builtIn.decide(observation)
            policy = .builtIn(builtIn)
            return .success(decision)
        case .external(let process):
            return await process.decide(observation, arrays: arrays(for: process))
        }
    }

    /// `observation` as the log's `observations` table keeps it: its map's visits from the first
    /// the log does not have (the cursor moves on when the decision is committed).
    func record(_ observation: Observation) -> ObservationRecord? {
        shownVisits = observation.map.visits
        let from = loggedVisits.start(of: shownVisits)
        return PolicyWire.observationJSON(observation, visitsFrom: from).map {
            ObservationRecord(step: observation.step, json: $0)
        }
    }

    /// The arrays an external policy asked for besides the thumbnail, from the newest analysis
    /// and the session map.
    func arrays(for process: ExternalPolicyProcess) -> [PolicyArray] {
        let wants = process.wants
        var arrays: [PolicyArray] = []
        if wants.contains("pixels"), let image = latest?.pixels {
            arrays.append(.image("pixels", width: image.width, height: image.height, pixels: image.pixels))
        }
        if wants.contains("community_map"), let chips = latest?.chips {
            arrays.append(.communityMap(ids: chips.ids, columns: chips.grid.columns, rows: chips.grid.rows))
        }
        if wants.contains("dose_map"), let map = runner.map.doseMap() {
            arrays.append(.doseMap(map))
        }
        return arrays
    }

    /// At the start of the session and after a pause: whether the external policy is ready. A
    /// process that is not running is started again (after a pause); one that fails to start is
    /// a policy failure. The start is a logged decision of the daemon's.
    func policyStarted() async -> SessionEnding? {
        guard let process = policy.process else { return nil }
        // Started again only once the last start's outcome is logged (the pipeline makes the first).
        if !process.isReady && process.starts == policyStartsLogged { await process.start() }
        guard process.starts > policyStartsLogged else { return nil }
        policyStartsLogged = process.starts
        let spec = process.spec
        var chosen = [
            "action": "start_policy", "python": spec.executable.path, "script": spec.script, "class": spec.className,
            "start": "\(process.starts)",
        ]
        let reason: String
        if let identity = process.identity, process.isReady {
            runner.identity = DecisionDraft.Maker(
                name: identity.name, version: identity.version, parameters: identity.parametersJSON)
            runner.waitsForAnalysis = identity.waitsForAnalysis
            await context.log.policy(runner.identity)
            chosen["wants"] = identity.wants.joined(separator: ",")
            chosen["waits_for_analysis"] = "\(identity.waitsForAnalysis)"
            reason =
                "started the policy \(identity.name) \(identity.version) (\(spec.className) in \(spec.script))"
                + (process.starts > 1 ? ", start \(process.starts), after the pause" : "")
            logger.notice("\(reason)")
        } else {
            chosen["failed"] = process.failure?.kind.rawValue ?? "start"
            reason = "could not start the policy \(spec.className) in \(spec.script)"
        }
        do {
            _ = try await commit(daemonDraft(chosen, reason: reason))
        } catch {
            return .logFailure(error)
        }
        guard process.isReady else {
            let failure =
                process.failure
                ?? ExternalPolicyError(kind: .start, message: "the policy process did not start", traceback: nil)
            return await policyFailed(failure, inputs: [], latency: [:])
        }
        return nil
    }

    /// The external policy failed: logs it (a decision of the policy's, with its message and
    /// traceback, nothing sent), then gives up: ends the session or pauses it.
    func policyFailed(
        _ error: ExternalPolicyError, inputs: [FrameKey], latency: [String: Double], shown: ObservationRecord? = nil
    ) async -> SessionEnding? {
        let name = runner.identity.name
        let summary = "the policy \(name) failed (\(error.kind.rawValue)): \(error.message)"
        logger.error("\(summary); nothing is sent on its behalf", metadata: ["traceback": "\(error.traceback ?? "")"])
        context.board.update { $0.policyFailures += 1 }
        let draft = DecisionDraft(
            inputs: inputs, chosen: ["action": "none", "policy_failed": error.kind.rawValue],
            reason: "\(summary). Nothing was sent on its behalf."
                + (error.traceback.map { "\nThe policy's traceback:\n\($0)" } ?? ""),
            policy: runner.identity, model: model?.id, latency: latency, observation: shown)
        do {
            _ = try await commit(draft)
        } catch {
            return .logFailure(error)
        }
        return await gaveUp(summary).ending
    }

    /// Ends the external policy's process with the session.
    func endPolicy(reason: String) async {
        await policy.process?.stop(reason: reason)
    }
}
