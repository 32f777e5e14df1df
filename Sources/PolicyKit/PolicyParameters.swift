import YAMLConfig

/// The `parameters:` of a policy file, as a policy's ``PolicyFactory`` reads them. Every reader
/// refuses a value of the wrong kind or out of range with a ``PolicyFileError`` that points at its
/// line; an absent key reads as nil.
///
/// ```swift
/// let zooms = try parameters?.int("zooms", in: 1...1000) ?? 12
/// ```
public struct PolicyParameters {
    let node: ConfigNode

    init(_ node: ConfigNode) { self.node = node }

    /// Refuses keys other than `allowed`, suggesting the nearest.
    public func only(_ allowed: [String]) throws(PolicyFileError) {
        try wrap { () throws(ConfigError) in try node.onlyKeys(allowed) }
    }

    /// Whether `key` is present.
    public func has(_ key: String) -> Bool { node.has(key) }

    /// A number, within `range` when given.
    public func double(_ key: String, in range: ClosedRange<Double>? = nil) throws(PolicyFileError) -> Double? {
        try wrap { () throws(ConfigError) in try node.double(key, in: range) }
    }

    /// A whole number, within `range` when given.
    public func int(_ key: String, in range: ClosedRange<Int>? = nil) throws(PolicyFileError) -> Int? {
        try wrap { () throws(ConfigError) in try node.int(key, in: range) }
    }

    /// A list of numbers, of `count` when given.
    public func doubles(_ key: String, count: Int? = nil) throws(PolicyFileError) -> [Double]? {
        try wrap { () throws(ConfigError) in try node.doubles(key, count: count) }
    }

    /// A list of whole numbers.
    public func ints(_ key: String) throws(PolicyFileError) -> [Int]? {
        try wrap { () throws(ConfigError) in try node.ints(key) }
    }

    /// A text.
    public func string(_ key: String) throws(PolicyFileError) -> String? {
        try wrap { () throws(ConfigError) in try node.string(key) }
    }

    /// `true`/`yes`/`on` or `false`/`no`/`off`.
    public func bool(_ key: String) throws(PolicyFileError) -> Bool? {
        switch try string(key) {
        case nil: return nil
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let other?: throw error(key, "expected true or false, got '\(other)'")
        }
    }

    /// An error at `key` (nil: the mapping itself), for a value a policy refuses.
    public func error(_ key: String?, _ message: String) -> PolicyFileError {
        PolicyFileError(node.error(key, message), code: .invalidValue)
    }

    private func wrap<T>(_ body: () throws(ConfigError) -> T) throws(PolicyFileError) -> T {
        do { return try body() } catch { throw PolicyFileError(error) }
    }
}
