import CZeroMQ

/// Why a transport operation failed, in words a person at the instrument can act on.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable {
            case zmq, timedOut = "timed_out", closed, cancelled, invalidEndpoint = "invalid_endpoint"
            case insecureEndpoint = "insecure_endpoint", keys, refused, unreachable, restarted
        }
        private let kind: Kind

        /// libzmq reported an error (its text is in the message).
        public static let zmq = Code(kind: .zmq)
        /// Nothing arrived, or the peer did not take a message, within the time allowed.
        public static let timedOut = Code(kind: .timedOut)
        /// The socket was closed.
        public static let closed = Code(kind: .closed)
        /// The waiting task was cancelled.
        public static let cancelled = Code(kind: .cancelled)
        /// An endpoint string is not of a form ZeroMQ accepts.
        public static let invalidEndpoint = Code(kind: .invalidEndpoint)
        /// A non-loopback endpoint without CURVE keys.
        public static let insecureEndpoint = Code(kind: .insecureEndpoint)
        /// A CURVE key file is missing, unreadable or malformed.
        public static let keys = Code(kind: .keys)
        /// The peer refused (e.g. REJECT of HELLO).
        public static let refused = Code(kind: .refused)
        /// A reply could not be routed: the peer is gone.
        public static let unreachable = Code(kind: .unreachable)
        /// The peer restarted: answers to what was asked before will not come.
        public static let restarted = Code(kind: .restarted)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// What happened and, where there is one, what to do about it.
    public let message: String

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The current `zmq_errno()` worded with what was being attempted.
    static func zmq(_ doing: String) -> TransportError {
        let number = zmq_errno()
        let text = String(cString: zmq_strerror(number))
        if number == EHOSTUNREACH {
            return TransportError(code: .unreachable, message: "\(doing): the peer is no longer connected (\(text))")
        }
        return TransportError(code: .zmq, message: "\(doing): \(text) (errno \(number))")
    }

    static func timedOut(_ doing: String, _ timeout: Duration) -> TransportError {
        TransportError(code: .timedOut, message: "\(doing): nothing within \(timeout)")
    }
}
