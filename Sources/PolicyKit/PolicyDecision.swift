/// A policy's answer: the action, why, and the alternatives it weighed.
public struct PolicyDecision: Sendable, Hashable {
    /// An alternative a policy considered, with its score (higher is better).
    public struct Candidate: Sendable, Hashable {
        /// The alternative.
        public var action: PolicyAction
        /// Its score in the policy's own units.
        public var score: Double
        /// Optional words about it.
        public var note: String?

        /// Creates a candidate.
        public init(_ action: PolicyAction, score: Double, note: String? = nil) {
            self.action = action
            self.score = score
            self.note = note
        }
    }

    /// The chosen action.
    public var action: PolicyAction
    /// Why, in words a person reviewing the log understands.
    public var reason: String
    /// The alternatives weighed (the chosen one among them); empty when there was no choice.
    public var candidates: [Candidate]

    /// Creates a decision.
    public init(_ action: PolicyAction, reason: String, candidates: [Candidate] = []) {
        self.action = action
        self.reason = reason
        self.candidates = candidates
    }
}
