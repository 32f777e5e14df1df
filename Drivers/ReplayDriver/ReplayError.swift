/// Why a recording cannot be served, with what to do about it.
public struct ReplayError: Error, Sendable, CustomStringConvertible {
    /// The sentence a person reads.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
