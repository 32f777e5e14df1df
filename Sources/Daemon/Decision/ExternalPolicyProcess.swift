import Foundation
import PolicyHost
import PolicyKit
import Transport

/// An external policy's process as a session supervises it: started when the session starts,
/// asked for each decision, ended at once when it fails (nothing it says afterwards counts),
/// started again after a give-up pause, ended with the session.
///
/// Owned by the session: the pipeline starts it, then only the decision stage uses it.
final class ExternalPolicyProcess {
    /// What the policy file names.
    let spec: ExternalPolicySpec
    private let context: ZMQContext
    private let session: String
    private let envelope: SafetyEnvelope
    private var host: ExternalPolicyHost?
    /// What the running (or last) process said about itself.
    private(set) var identity: ExternalPolicyHost.Identity?
    /// Why no process is running (nil: one is, or none was started yet).
    private(set) var failure: ExternalPolicyError?
    /// Processes started so far.
    private(set) var starts = 0

    init(_ spec: ExternalPolicySpec, context: ZMQContext, session: String, envelope: SafetyEnvelope) {
        self.spec = spec
        self.context = context
        self.session = session
        self.envelope = envelope
    }

    /// Whether a process is running and has said `ready`.
    var isReady: Bool { host != nil && failure == nil }

    /// The arrays the policy asked for besides the thumbnail.
    var wants: Set<String> { Set(identity?.wants ?? []) }

    /// Starts the process and introduces it; on failure ``failure`` says why.
    func start() async {
        starts += 1
        failure = nil
        do {
            let host = try await ExternalPolicyHost(spec, context: context)
            self.host = host
            identity = try await host.start(session: session, envelope: envelope)
        } catch {
            await fail(error)
        }
    }

    /// The policy's decision on `observation`; on failure the process is ended and the error is
    /// returned (and kept in ``failure``).
    func decide(_ observation: Observation, arrays: [PolicyArray]) async -> Result<PolicyDecision, ExternalPolicyError>
    {
        guard let host, failure == nil else {
            return .failure(
                failure
                    ?? ExternalPolicyError(kind: .exited, message: "the policy process is not running", traceback: nil))
        }
        do {
            return .success(try await host.decide(observation, arrays: arrays))
        } catch {
            await fail(error)
            return .failure(error)
        }
    }

    /// Ends the process (telling it why, if it still listens).
    func stop(reason: String) async {
        guard let host else { return }
        self.host = nil
        _ = await host.stop(reason: reason)
    }

    private func fail(_ error: ExternalPolicyError) async {
        failure = error
        await stop(reason: "the daemon gave up on this process: \(error.message)")
    }
}
