/// Why the daemon could not start or had to stop: a code a program can match and words a person
/// at the instrument can act on.
public struct DaemonError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable {
            case log, model, protocolVersion = "protocol_version", driverRefused = "driver_refused"
            case driverMalformed = "driver_malformed", transport, beamUnknown = "beam_unknown"
        }
        private let kind: Kind

        /// The decision log cannot be opened or written.
        public static let log = Code(kind: .log)
        /// The detector model cannot be loaded.
        public static let model = Code(kind: .model)
        /// The driver speaks another major version of the wire protocol.
        public static let protocolVersion = Code(kind: .protocolVersion)
        /// The driver refused the daemon's HELLO for another reason.
        public static let driverRefused = Code(kind: .driverRefused)
        /// The driver answered HELLO with a message the protocol does not allow.
        public static let driverMalformed = Code(kind: .driverMalformed)
        /// The sockets to the driver could not be set up.
        public static let transport = Code(kind: .transport)
        /// The session ended without the beam confirmed blanked.
        public static let beamUnknown = Code(kind: .beamUnknown)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// What went wrong and what to check.
    public let description: String

    /// An error of kind `code` with a message a person can act on.
    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
