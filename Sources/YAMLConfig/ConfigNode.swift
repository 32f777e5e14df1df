public import Foundation
import Yams

/// A read-only view of one YAML mapping with typed accessors that report problems as
/// ``ConfigError``s pointing at the key's line.
public struct ConfigNode {
    /// The file name used in errors.
    public let file: String
    /// The dotted path of this mapping.
    public let path: String
    private let mapping: Node.Mapping
    private let mark: Mark?

    /// Parses YAML text whose top level must be a mapping.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> ConfigNode {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigError(
                .syntax, file: file, line: error.line, column: error.column, key: "",
                message: "not valid YAML: \(error.summary)")
        } catch {
            throw ConfigError(.syntax, file: file, line: 0, column: 0, key: "", message: "not valid YAML: \(error)")
        }
        guard let root, let mapping = root.mapping else {
            throw ConfigError(
                .syntax, file: file, line: 1, column: 1, key: "",
                message: "the top level must be a mapping of keys to values")
        }
        return ConfigNode(file: file, path: "", mapping: mapping, mark: root.mark)
    }

    /// Reads and parses a file.
    public static func load(_ url: URL) throws(ConfigError) -> ConfigNode {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ConfigError(
                .unreadable, file: url.path, line: 0, column: 0, key: "",
                message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, file: url.path)
    }

    private init(file: String, path: String, mapping: Node.Mapping, mark: Mark?) {
        self.file = file
        self.path = path
        self.mapping = mapping
        self.mark = mark
    }

    /// An error at `key` of this mapping (or at the mapping itself).
    public func error(_ key: String?, _ message: String, code: ConfigError.Code? = nil) -> ConfigError {
        let node = key.flatMap { mapping[$0] }
        let at = node?.mark ?? mark
        return ConfigError(
            code ?? (key != nil && node == nil ? .missingKey : .invalidValue), file: file, line: at?.line ?? 0,
            column: at?.column ?? 0, key: key.map { path.dot($0) } ?? path,
            message: message)
    }

    /// Refuses keys other than `allowed`, suggesting the nearest allowed one.
    public func onlyKeys(_ allowed: [String]) throws(ConfigError) {
        for (keyNode, _) in mapping {
            guard let key = keyNode.string, !allowed.contains(key) else { continue }
            // A known key that starts with this one (radius -> radius_nm), else the nearest by edits.
            let nearest =
                allowed.first { $0.hasPrefix(key) }
                ?? allowed.min { Self.distance($0, key) < Self.distance($1, key) }.flatMap {
                    Self.distance($0, key) <= max(2, key.count / 3) ? $0 : nil
                }
            let hint = nearest.map { " (did you mean '\($0)'?)" } ?? ""
            throw ConfigError(
                .unknownKey, file: file, line: keyNode.mark?.line ?? 0, column: keyNode.mark?.column ?? 0,
                key: path.dot(key),
                message: "unknown key\(hint); known keys here: \(allowed.joined(separator: ", "))")
        }
    }

    /// Whether `key` is present.
    public func has(_ key: String) -> Bool { mapping[key] != nil }

    /// A number, or nil when absent; refused when not a finite number or outside `range`.
    public func double(_ key: String, in range: ClosedRange<Double>? = nil) throws(ConfigError) -> Double? {
        guard let node = mapping[key] else { return nil }
        guard let value = node.scalar.flatMap({ Double($0.string) }), value.isFinite else {
            throw error(key, "expected a number, got '\(node.any)'")
        }
        if let range, !range.contains(value) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A whole number, or nil when absent.
    public func int(_ key: String, in range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int? {
        guard let node = mapping[key] else { return nil }
        guard let value = node.scalar.flatMap({ Int($0.string) }) else {
            throw error(key, "expected a whole number, got '\(node.any)'")
        }
        if let range, !range.contains(value) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A string, or nil when absent.
    public func string(_ key: String) throws(ConfigError) -> String? {
        guard let node = mapping[key] else { return nil }
        guard let value = node.scalar?.string else { throw error(key, "expected text, got a \(node.kind)") }
        return value
    }

    /// A list of numbers, or nil when absent.
    public func doubles(_ key: String, count: Int? = nil) throws(ConfigError) -> [Double]? {
        guard let node = mapping[key] else { return nil }
        guard let sequence = node.sequence else { throw error(key, "expected a list of numbers, e.g. [1, 2]") }
        var values: [Double] = []
        for item in sequence {
            guard let value = item.scalar.flatMap({ Double($0.string) }), value.isFinite else {
                throw error(key, "expected a list of numbers, found '\(item.any)'")
            }
            values.append(value)
        }
        if let count, values.count != count { throw error(key, "expected \(count) numbers, got \(values.count)") }
        return values
    }

    /// A list of whole numbers, or nil when absent.
    public func ints(_ key: String) throws(ConfigError) -> [Int]? {
        guard let node = mapping[key] else { return nil }
        guard let sequence = node.sequence else { throw error(key, "expected a list of whole numbers, e.g. [3, 7]") }
        var values: [Int] = []
        for item in sequence {
            guard let value = item.scalar.flatMap({ Int($0.string) }) else {
                throw error(key, "expected a list of whole numbers, found '\(item.any)'")
            }
            values.append(value)
        }
        return values
    }

    /// A list of texts, or nil when absent.
    public func strings(_ key: String) throws(ConfigError) -> [String]? {
        guard let node = mapping[key] else { return nil }
        guard let sequence = node.sequence else { throw error(key, "expected a list of names, e.g. [a, b]") }
        var values: [String] = []
        for item in sequence {
            guard let value = item.scalar?.string else {
                throw error(key, "expected a list of names, found '\(item.any)'")
            }
            values.append(value)
        }
        return values
    }

    /// A nested mapping, or nil when absent.
    public func child(_ key: String) throws(ConfigError) -> ConfigNode? {
        guard let node = mapping[key] else { return nil }
        guard let nested = node.mapping else { throw error(key, "expected a mapping of keys to values") }
        return ConfigNode(file: file, path: path.dot(key), mapping: nested, mark: node.mark)
    }

    /// The value at `key` as JSON (for a policy in another process), or nil when absent. YAML's
    /// numbers, booleans and nulls become JSON's; anything else is text. Refused: non-finite
    /// numbers (JSON has none) and aliases.
    public func json(_ key: String) throws(ConfigError) -> Data? {
        guard let node = mapping[key] else { return nil }
        let value = try jsonValue(node, at: path.dot(key))
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
        else { throw error(key, "cannot be written as JSON") }
        return data
    }

    private func jsonValue(_ node: Node, at place: String) throws(ConfigError) -> Any {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { return scalar.string }
            if node.null != nil { return NSNull() }
            if let bool = node.bool { return bool }
            if let int = Int(scalar.string) { return int }
            if let double = node.float {
                guard double.isFinite else {
                    throw located(node, at: place, "\(scalar.string) is not a finite number; JSON cannot carry it")
                }
                return double
            }
            return scalar.string
        case .sequence(let sequence):
            var items: [Any] = []
            for (index, item) in sequence.enumerated() { items.append(try jsonValue(item, at: "\(place)[\(index)]")) }
            return items
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (keyNode, value) in mapping {
                guard let key = keyNode.string else { throw located(keyNode, at: place, "keys must be text") }
                object[key] = try jsonValue(value, at: place.dot(key))
            }
            return object
        case .alias:
            throw located(node, at: place, "aliases are not supported here; write the value out")
        }
    }

    private func located(_ node: Node, at key: String, _ message: String) -> ConfigError {
        ConfigError(
            .invalidValue, file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, key: key,
            message: message)
    }

    /// A list of mappings, or nil when absent.
    public func children(_ key: String) throws(ConfigError) -> [ConfigNode]? {
        guard let node = mapping[key] else { return nil }
        guard let sequence = node.sequence else { throw error(key, "expected a list (items starting with '- ')") }
        var out: [ConfigNode] = []
        for (index, item) in sequence.enumerated() {
            guard let nested = item.mapping else {
                throw ConfigError(
                    file: file, line: item.mark?.line ?? 0, column: item.mark?.column ?? 0,
                    key: "\(path.dot(key))[\(index)]",
                    message: "expected a mapping of keys to values")
            }
            out.append(ConfigNode(file: file, path: "\(path.dot(key))[\(index)]", mapping: nested, mark: item.mark))
        }
        return out
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}

extension Node {
    /// The node as written, for messages.
    fileprivate var any: String {
        switch self {
        case .scalar(let scalar): scalar.string
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    fileprivate var kind: String {
        switch self {
        case .scalar: "value"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }
}

extension String {
    fileprivate func dot(_ key: String) -> String { isEmpty ? key : "\(self).\(key)" }
}

extension YamlError {
    fileprivate var line: Int {
        if case .scanner(_, _, let mark, _) = self { return mark.line }
        if case .parser(_, _, let mark, _) = self { return mark.line }
        return 0
    }

    fileprivate var column: Int {
        if case .scanner(_, _, let mark, _) = self { return mark.column }
        if case .parser(_, _, let mark, _) = self { return mark.column }
        return 0
    }

    fileprivate var summary: String {
        switch self {
        case .scanner(_, let problem, _, _): problem
        case .parser(_, let problem, _, _): problem
        default: "\(self)"
        }
    }
}
