import PolicyHost
import PolicyKit

/// The policy a session asks: a Swift value run in place, or a process of its own supervised by
/// the decision stage.
enum SessionPolicy {
    /// A built-in (Swift) policy.
    case builtIn(any ScanPolicy)
    /// A policy in its own process, over the policy protocol.
    case external(ExternalPolicyProcess)

    /// The external policy's process, if it is one.
    var process: ExternalPolicyProcess? {
        if case .external(let process) = self { return process }
        return nil
    }
}
