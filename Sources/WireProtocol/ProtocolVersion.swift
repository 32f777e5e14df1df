/// The version of the ScopePilot wire protocol, `MAJOR.MINOR`.
///
/// Peers with the same major version interoperate: a minor version only adds optional fields, and
/// a reader ignores fields it does not know. A different major version is refused at HELLO.
public struct ProtocolVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Changes break compatibility.
    public let major: Int
    /// Changes add optional fields only.
    public let minor: Int

    /// The version this build speaks.
    public static let current = ProtocolVersion(major: 1, minor: 2)

    /// Creates a version from its two numbers.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `"MAJOR.MINOR"`, e.g. `"1.0"`; returns nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) })
        else { return nil }
        self.init(major: major, minor: minor)
    }

    /// Whether a peer speaking `other` can talk to one speaking `self`.
    public func isCompatible(with other: ProtocolVersion) -> Bool { major == other.major }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: ProtocolVersion, rhs: ProtocolVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
