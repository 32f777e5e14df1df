import Foundation

/// JSON encoding and decoding for headers and envelopes, with decoding failures turned into
/// `ProtocolError`s that name the field by its dotted path.
enum JSONWire {
    /// The most JSON one part may hold. Headers and envelopes are a few hundred bytes (names are at
    /// most 256 characters); a larger part is refused unread, so a peer sending megabytes of JSON
    /// costs a length check, not a parse.
    static let maxBytes = 65_536

    static func decode<T: Decodable>(
        _ type: T.Type, from part: any ByteStorage, what: String
    ) throws(ProtocolError) -> T {
        guard part.byteCount <= maxBytes else {
            throw ProtocolError(
                code: .payloadSize,
                message:
                    "\(what.isEmpty ? "a JSON part" : what) is \(part.byteCount) bytes; at most \(maxBytes) bytes of JSON are read"
            )
        }
        let data = part.withUnsafeBytes { Data($0) }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, what: what)
        } catch {
            throw .notJSON(what, "\(error)")
        }
    }

    /// Keys are written sorted, so one message is always the same bytes (in a log, a recording, a
    /// fuzz corpus).
    static func encode<T: Encodable>(_ value: T, what: String) throws(ProtocolError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return try encoder.encode(value)
        } catch {
            throw ProtocolError(code: .invalidField, message: "\(what) cannot be encoded as JSON: \(error)")
        }
    }

    /// `scan.dwell_us`, `channels[2]`.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue, key.stringValue.hasPrefix("Index") || key.stringValue == "\(index)" {
                text += "[\(index)]"
            } else {
                text = text.dot(key.stringValue)
            }
        }
        return text
    }

    static func describe(_ error: DecodingError, what: String) -> ProtocolError {
        switch error {
        case .keyNotFound(let key, let context):
            return .missingField(what, path(context.codingPath + [key]))
        case .valueNotFound(_, let context):
            return .missingField(what, path(context.codingPath) + " (null)")
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return .notJSON(what, "the top level must be a JSON object") }
            return .invalidField(what, path(context.codingPath), "has the wrong type: expected \(typeName(type))")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
                return .notJSON(what, detail)
            }
            return .invalidField(what, path(context.codingPath), context.debugDescription)
        @unknown default:
            return .notJSON(what, "\(error)")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is UInt64.Type, is Int64.Type, is UInt32.Type: "a whole number"
        case is Double.Type, is Float.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

/// The fields every message carries, read before the rest so that a message of another major
/// version is refused for its version rather than for a field it lacks.
struct VersionProbe: Decodable {
    var `protocol`: String?
    var type: String?
    var id: String?
    var inReplyTo: String?

    enum CodingKeys: String, CodingKey { case `protocol`, type, id, inReplyTo = "in_reply_to" }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        `protocol` = try? c.decodeIfPresent(String.self, forKey: .protocol)
        type = try? c.decodeIfPresent(String.self, forKey: .type)
        id = try? c.decodeIfPresent(String.self, forKey: .id)
        inReplyTo = try? c.decodeIfPresent(String.self, forKey: .inReplyTo)
    }

    /// The compatible version, or the error that refuses the message.
    func version(what: String) throws(ProtocolError) -> ProtocolVersion {
        guard let text = `protocol` else { throw .missingField(what, "protocol") }
        guard let version = ProtocolVersion(text) else {
            throw ProtocolError(
                code: .unparseableVersion,
                message: "\(what): protocol version '\(text)' is not of the form MAJOR.MINOR (e.g. \"1.0\")")
        }
        guard version.isCompatible(with: .current) else { throw .incompatibleVersion(what, theirs: version) }
        return version
    }
}
