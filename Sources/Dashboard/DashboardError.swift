/// Why the live view cannot start, in words a person can act on.
public struct DashboardError: Error, Sendable, CustomStringConvertible {
    /// What went wrong and what to do.
    public let message: String

    /// An error saying `message`.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}
