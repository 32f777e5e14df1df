/// Checks field values after decoding and words the failure with the field's dotted path.
struct FieldChecker: Sendable {
    /// The message being checked, e.g. "frame header" or "command c-17".
    let what: String

    func fail(_ path: String, _ problem: String) -> ProtocolError {
        .invalidField(what, path, problem)
    }

    func finite(_ value: Double, _ path: String) throws(ProtocolError) {
        guard value.isFinite else { throw fail(path, "must be a finite number, got \(value)") }
    }

    func positive(_ value: Double, _ path: String) throws(ProtocolError) {
        guard value.isFinite, value > 0 else { throw fail(path, "must be a positive finite number, got \(value)") }
    }

    func within<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ path: String) throws(ProtocolError) {
        guard range.contains(value) else {
            throw fail(path, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
    }

    func name(_ value: String, _ path: String) throws(ProtocolError) {
        guard !value.isEmpty, value.count <= 256,
            value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0 != "\u{7F}" })
        else {
            let shown = value.count > 64 ? "\(value.prefix(64))… (\(value.utf8.count) bytes)" : value
            throw fail(path, "must be a non-empty printable string of at most 256 characters, got '\(shown)'")
        }
    }

    /// A printable sentence or path of at most `limit` characters (a note, a frame's source).
    func text(_ value: String, _ path: String, limit: Int = 1024) throws(ProtocolError) {
        guard !value.isEmpty, value.count <= limit,
            value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0 != "\u{7F}" })
        else {
            let shown = value.count > 64 ? "\(value.prefix(64))… (\(value.utf8.count) bytes)" : value
            throw fail(path, "must be a non-empty printable string of at most \(limit) characters, got '\(shown)'")
        }
    }
}

/// A decoded value whose fields can be range-checked.
protocol Validatable {
    func validate(_ check: FieldChecker, at path: String) throws(ProtocolError)
}

extension String {
    /// `base.key`, or `key` when `base` is empty.
    func dot(_ key: String) -> String { isEmpty ? key : "\(self).\(key)" }
}
