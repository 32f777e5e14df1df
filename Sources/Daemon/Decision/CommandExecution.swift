import Foundation
import PolicyKit
import Transport
import WireProtocol

/// A command the decision stage sent, and what became of it.
struct CommandExecution: Sendable {
    /// The command.
    var command: Command
    /// The decision it carries out (its row in the log).
    var decision: Int64
    /// The policy's action it carries out (nil: a decision of the daemon's own).
    var policyAction: PolicyAction?
    /// When it was handed to the link.
    var sentAt: ContinuousClock.Instant
    /// Milliseconds per stage measured before it was sent (analysis, policy, log commit).
    var latency: [String: Double]
    /// When the frame its decision was based on arrived, for the frame-to-command latency.
    var basedOnFrameReceivedAt: ContinuousClock.Instant?
    /// The decision this one retries after the beam was unblanked.
    var retryOf: Int64?
    /// How it ended: the driver's answer, or why there was none.
    var result: Result<CommandResult, any Error>

    /// The driver's answer's reason code when it refused or failed the command.
    var failureCode: String? {
        guard case .success(let result) = result else { return nil }
        switch result.outcome {
        case .done: return nil
        case .failed(let failed): return failed.code
        case .rejected(let reject): return reject.code
        }
    }
}

/// How a session ended.
struct SessionEnding: Sendable, Error {
    /// The session row's status.
    enum Status: String, Sendable {
        /// The policy ended it, or a stop condition held.
        case finished
        /// A stop was requested (a signal).
        case stopped
        /// Something went wrong that the daemon could not go on with.
        case failed
    }

    var status: Status
    /// Why, in words.
    var reason: String

    static func stopped(_ reason: String = "stopped on request (signal)") -> SessionEnding {
        SessionEnding(status: .stopped, reason: reason)
    }

    /// The end of a session whose log cannot be written: no command may be sent unaccounted for.
    static func logFailure(_ error: any Error) -> SessionEnding {
        SessionEnding(
            status: .failed,
            reason: "the decision log cannot be written (\(error)); no further commands are sent. Check the disk "
                + "holding the log and its permissions")
    }
}
