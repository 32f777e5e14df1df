/// The policy a policy file names: one built into ScopePilot (or registered by a Swift package),
/// or one that runs in a process of its own (a Python class).
public enum PolicyChoice: Sendable {
    /// A Swift policy, ready to run.
    case builtIn(any ScanPolicy)
    /// A policy in its own process (docs/POLICY_PROTOCOL.md).
    case external(ExternalPolicySpec)

    /// The name a session row records: the built-in policy's, or the external policy's class
    /// (whose process says its own name when it starts; decisions carry that one).
    public var name: String {
        switch self {
        case .builtIn(let policy): policy.name
        case .external(let spec): spec.className
        }
    }

    /// The built-in policy's version; for an external policy, unknown until its process starts.
    public var version: String {
        switch self {
        case .builtIn(let policy): policy.version
        case .external: "?"
        }
    }

    /// The parameters the file gives, as text.
    public var parameters: [String: String] {
        switch self {
        case .builtIn(let policy): policy.parameters
        case .external(let spec): spec.parameterTexts
        }
    }

    /// The Swift policy, or nil for an external one.
    public var builtIn: (any ScanPolicy)? {
        if case .builtIn(let policy) = self { return policy }
        return nil
    }

    /// The external policy's spec, or nil for a built-in one.
    public var external: ExternalPolicySpec? {
        if case .external(let spec) = self { return spec }
        return nil
    }
}
