/// Why a message from a peer could not be accepted.
///
/// Every decoding failure in the wire protocol is one of these: a code a program can switch on and
/// a sentence a person can act on, naming the message, the field and the offending value.
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of fault the message had.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable {
            case notJSON = "not_json"
            case missingField = "missing_field"
            case invalidField = "invalid_field"
            case wrongPartCount = "wrong_part_count"
            case payloadSize = "payload_size"
            case nonFinitePixels = "non_finite_pixels"
            case unparseableVersion = "unparseable_version"
            case incompatibleVersion = "incompatible_version"
            case unknownMessageType = "unknown_message_type"
            case unknownTopic = "unknown_topic"
        }
        private let kind: Kind

        /// The header or envelope is not valid JSON (or not a JSON object).
        public static let notJSON = Code(kind: .notJSON)
        /// A required field is absent or null.
        public static let missingField = Code(kind: .missingField)
        /// A field has the wrong type or a value outside its range.
        public static let invalidField = Code(kind: .invalidField)
        /// The multipart message has the wrong number of parts.
        public static let wrongPartCount = Code(kind: .wrongPartCount)
        /// A pixel part's byte count is not width x height x bytes per pixel.
        public static let payloadSize = Code(kind: .payloadSize)
        /// A float pixel part holds NaN or infinity.
        public static let nonFinitePixels = Code(kind: .nonFinitePixels)
        /// The `protocol` field is not of the form `MAJOR.MINOR`.
        public static let unparseableVersion = Code(kind: .unparseableVersion)
        /// The peer speaks another major version.
        public static let incompatibleVersion = Code(kind: .incompatibleVersion)
        /// The `type` of a command-channel message is not one this version knows.
        public static let unknownMessageType = Code(kind: .unknownMessageType)
        /// The first part of a feed message is not a known topic.
        public static let unknownTopic = Code(kind: .unknownTopic)

        /// The code as it appears in logs and in REJECT replies, e.g. `missing_field`.
        public var description: String { kind.rawValue }
    }

    /// What kind of fault it was.
    public let code: Code
    /// A sentence for a person: what was wrong and where.
    public let message: String
    /// For `incompatibleVersion`: the version the peer speaks.
    public let peerVersion: ProtocolVersion?

    /// Creates an error; use the static constructors where one fits.
    public init(code: Code, message: String, peerVersion: ProtocolVersion? = nil) {
        self.code = code
        self.message = message
        self.peerVersion = peerVersion
    }

    public var description: String { message }

    static func notJSON(_ what: String, _ detail: String) -> ProtocolError {
        ProtocolError(code: .notJSON, message: "\(what) is not a valid JSON object: \(detail)")
    }

    static func missingField(_ what: String, _ path: String) -> ProtocolError {
        ProtocolError(code: .missingField, message: "\(what): missing required field '\(path)'")
    }

    static func invalidField(_ what: String, _ path: String, _ problem: String) -> ProtocolError {
        ProtocolError(code: .invalidField, message: "\(what): field '\(path)' \(problem)")
    }

    static func wrongPartCount(_ what: String, expected: String, got: Int) -> ProtocolError {
        ProtocolError(
            code: .wrongPartCount, message: "\(what): expected \(expected) message parts, got \(got)")
    }

    static func incompatibleVersion(_ what: String, theirs: ProtocolVersion) -> ProtocolError {
        ProtocolError(
            code: .incompatibleVersion,
            message:
                "\(what): protocol version \(theirs) is incompatible with this build's \(ProtocolVersion.current)"
                + " (major versions must match); upgrade the older side", peerVersion: theirs)
    }
}
