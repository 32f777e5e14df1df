/// What running one fuzz input came to.
public struct FuzzOutcome: Sendable, Hashable {
    /// Whether the reader accepted the input (false: refused with an error, as it should be when
    /// the input is malformed).
    public var accepted: Bool
    /// The invariants the input broke; empty when none.
    public var violations: [String]

    /// An outcome, as a test expects it.
    public init(accepted: Bool, violations: [String]) {
        self.accepted = accepted
        self.violations = violations
    }

    /// A refusal, with the invariants the refusal itself broke.
    static func refused(_ violations: [String] = []) -> FuzzOutcome {
        FuzzOutcome(accepted: false, violations: violations)
    }

    /// An acceptance, with the invariants broken after it.
    static func accepted(_ violations: [String] = []) -> FuzzOutcome {
        FuzzOutcome(accepted: true, violations: violations)
    }
}
