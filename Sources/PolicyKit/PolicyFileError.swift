import YAMLConfig

/// A problem in a policy file, located by file, line, column and key, with what would be right.
public struct PolicyFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable {
            case unreadable, syntax, unknownKey = "unknown_key", missingKey = "missing_key"
            case invalidValue = "invalid_value"
        }
        private let kind: Kind

        /// The file cannot be read.
        public static let unreadable = Code(kind: .unreadable)
        /// Not YAML, or not a mapping at the top.
        public static let syntax = Code(kind: .syntax)
        /// A key that does not belong here.
        public static let unknownKey = Code(kind: .unknownKey)
        /// A key that must be there is not.
        public static let missingKey = Code(kind: .missingKey)
        /// A value of the wrong kind or out of range.
        public static let invalidValue = Code(kind: .invalidValue)

        init(_ code: ConfigError.Code) {
            switch code {
            case .unreadable: kind = .unreadable
            case .syntax: kind = .syntax
            case .unknownKey: kind = .unknownKey
            case .missingKey: kind = .missingKey
            default: kind = .invalidValue
            }
        }

        private init(kind: Kind) { self.kind = kind }

        public var description: String { kind.rawValue }
    }

    /// What kind of problem it is.
    public let code: Code
    private let located: ConfigError

    init(_ error: ConfigError, code: Code? = nil) {
        self.code = code ?? Code(error.code)
        located = error
    }

    /// The file, as given.
    public var file: String { located.file }
    /// 1-based line, 0 when unknown.
    public var line: Int { located.line }
    /// 1-based column, 0 when unknown.
    public var column: Int { located.column }
    /// The dotted key path, e.g. `parameters.zooms`; empty for the whole file.
    public var key: String { located.key }
    /// What is wrong and what would be right.
    public var message: String { located.message }

    /// `file:line:column: key: message`, the form editors and terminals link to.
    public var description: String { located.description }
}
