public import WireProtocol

/// A frame as it entered the daemon: which frame, when, and by which door.
public struct ReceivedFrame: Sendable {
    /// The frame.
    public let frame: Frame
    /// Which frame.
    public var key: FrameKey { FrameKey(frame.header) }
    /// When it arrived (the daemon's clock).
    public let receivedAt: ContinuousClock.Instant
    /// Whether it came over the command channel in answer to `resend_frames`.
    public let resent: Bool

    /// A frame received at `receivedAt`.
    public init(_ frame: Frame, receivedAt: ContinuousClock.Instant = .now, resent: Bool = false) {
        self.frame = frame
        self.receivedAt = receivedAt
        self.resent = resent
    }
}
