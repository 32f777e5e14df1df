/// Which frame: the driver's session and its seq there. A driver that restarts counts from 0
/// again under a new session, so the seq alone does not name a frame over a daemon session.
public struct FrameKey: Sendable, Hashable, CustomStringConvertible {
    /// The driver's session.
    public var session: String
    /// The seq within it.
    public var seq: UInt64

    /// A key.
    public init(session: String, seq: UInt64) {
        self.session = session
        self.seq = seq
    }

    /// The key of a frame's header.
    public init(_ header: FrameHeader) { self.init(session: header.session, seq: header.seq) }

    public var description: String { "\(session)#\(seq)" }
}
