/// A problem in a configuration file, located by file, line, column and key path.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
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
    public init(file: String, line: Int, column: Int, key: String, message: String) {
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
