/// Why the daemon could not start or had to stop, with what to do about it.
public struct DaemonError: Error, Sendable, CustomStringConvertible {
    /// What went wrong and what to check.
    public let description: String

    /// An error with a message a person can act on.
    public init(_ description: String) { self.description = description }
}
