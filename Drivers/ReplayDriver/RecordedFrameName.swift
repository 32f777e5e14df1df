import Foundation

/// How a served frame names the recorded frame it is (its header's `source`), for a frame of a
/// recorded session: `session S, driver session D, seq N`.
public struct RecordedFrameName: Sendable, Hashable, CustomStringConvertible {
    /// The recorded session's id.
    public let session: String
    /// The driver session the recorded frame belongs to.
    public let driverSession: String
    /// Its seq in that driver session.
    public let seq: UInt64

    /// A name.
    public init(session: String, driverSession: String, seq: UInt64) {
        self.session = session
        self.driverSession = driverSession
        self.seq = seq
    }

    /// Reads a `source` back; nil for one that names no recorded session's frame (a file).
    public init?(_ source: String) {
        let parts = source.components(separatedBy: ", ")
        guard parts.count == 3, parts[0].hasPrefix("session "), parts[1].hasPrefix("driver session "),
            parts[2].hasPrefix("seq "), let seq = UInt64(parts[2].dropFirst(4))
        else { return nil }
        session = String(parts[0].dropFirst(8))
        driverSession = String(parts[1].dropFirst(15))
        self.seq = seq
    }

    public var description: String { "session \(session), driver session \(driverSession), seq \(seq)" }
}
