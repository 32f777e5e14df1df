/// A problem in a configuration file, located by file, line, column and key path.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable {
            case unreadable, syntax, unknownKey = "unknown_key", missingKey = "missing_key"
            case invalidValue = "invalid_value"
        }
        private let kind: Kind

        /// The file cannot be read (missing, no permission, not UTF-8).
        public static let unreadable = Code(kind: .unreadable)
        /// Not YAML, or not a mapping at the top.
        public static let syntax = Code(kind: .syntax)
        /// A key that does not belong here.
        public static let unknownKey = Code(kind: .unknownKey)
        /// A key that must be there is not.
        public static let missingKey = Code(kind: .missingKey)
        /// A value of the wrong kind or out of range.
        public static let invalidValue = Code(kind: .invalidValue)

        public var description: String { kind.rawValue }
    }

    /// What kind of problem it is.
    public let code: Code
    /// The file, as given.
    public let file: String
    /// 1-based line, 0 when unknown.
    public let line: Int
    /// 1-based column, 0 when unknown.
    public let column: Int
    /// The dotted key path, e.g. `conditions[1].defocus_nm`; empty for the whole file.
    public let key: String
    /// What is wrong and what would be right.
    public let message: String

    /// Creates an error.
    public init(
        _ code: Code = .invalidValue, file: String, line: Int, column: Int, key: String, message: String
    ) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    /// `file:line:column: key: message`, the form editors and terminals link to.
    public var description: String {
        let place = line > 0 ? "\(file):\(line):\(column)" : file
        return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
    }
}
