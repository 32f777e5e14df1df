/// Makes a policy from the `parameters` mapping of a policy file.
public struct PolicyFactory: Sendable {
    /// The name policy files use.
    public let name: String
    /// One line about what the policy does.
    public let summary: String
    /// Builds the policy; `parameters` is nil when the file has none. Throw `parameters.error(key, ...)`
    /// for a bad value so that the message points at its line.
    public let make: @Sendable (_ parameters: PolicyParameters?) throws(PolicyFileError) -> any ScanPolicy

    /// Creates a factory.
    public init(
        name: String, summary: String,
        make: @escaping @Sendable (_ parameters: PolicyParameters?) throws(PolicyFileError) -> any ScanPolicy
    ) {
        self.name = name
        self.summary = summary
        self.make = make
    }
}
