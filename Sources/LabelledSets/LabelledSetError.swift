/// Why a labelled set could not be read: which file, and what is wrong with it.
public struct LabelledSetError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file or folder at fault.
    public let path: String
    /// What was wrong, for a person.
    public let problem: String

    /// Creates an error.
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
