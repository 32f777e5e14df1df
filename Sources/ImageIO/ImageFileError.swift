/// Why an image file could not be read or written.
public struct ImageFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case unreadable, unwritable, format, content }
        private let kind: Kind

        /// The file cannot be read.
        public static let unreadable = Code(kind: .unreadable)
        /// The file cannot be written.
        public static let unwritable = Code(kind: .unwritable)
        /// The file is not of a form this reader takes (the problem says what).
        public static let format = Code(kind: .format)
        /// The image itself is unusable (NaN pixels, wrong shape).
        public static let content = Code(kind: .content)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code

    /// The file.
    public let path: String
    /// What was wrong, for a person.
    public let problem: String

    /// Creates an error.
    public init(_ code: Code = .format, path: String, problem: String) {
        self.code = code
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
