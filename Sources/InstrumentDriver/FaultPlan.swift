import WireProtocol

/// Faults a driver injects on purpose, for testing daemons against a misbehaving instrument.
public struct FaultPlan: Sendable, Hashable {
    /// Frames not published (still kept for `resend_frames`).
    public var dropFrames: Set<UInt64> = []
    /// Frames published twice.
    public var duplicateFrames: Set<UInt64> = []
    /// Frames published after the frame that follows them.
    public var delayFrames: Set<UInt64> = []
    /// Frames published as float32 with one NaN pixel.
    public var nanFrames: Set<UInt64> = []
    /// Frames published as a malformed message (a header that is not JSON) instead.
    public var malformedFrames: Set<UInt64> = []
    /// Frames neither published nor kept for `resend_frames` (which answers them `missing`).
    public var lostFrames: Set<UInt64> = []
    /// Frames whose copy kept for `resend_frames` has a NaN pixel (a re-sent copy is refused too).
    public var nanResentFrames: Set<UInt64> = []
    /// Actions (by wire name) REJECTed with `hardware`, e.g. `blank_beam`.
    public var rejectActions: Set<String> = []
    /// Frames after whose publication the beam is blanked, as a watchdog or an operator would.
    public var blankAfterFrames: Set<UInt64> = []
    /// Restart (close and rebind both sockets, new session, seq from 0) after this many frames.
    public var restartAfterFrames: Int?
    /// Send every n-th DONE late ...
    public var slowReplyEvery: Int?
    /// ... by this much.
    public var slowReplyDelay: Duration = .zero

    /// No faults.
    public init() {}

    /// Whether any fault is planned.
    public var isEmpty: Bool {
        dropFrames.isEmpty && duplicateFrames.isEmpty && delayFrames.isEmpty && nanFrames.isEmpty
            && malformedFrames.isEmpty && lostFrames.isEmpty && nanResentFrames.isEmpty && rejectActions.isEmpty
            && blankAfterFrames.isEmpty && restartAfterFrames == nil && slowReplyEvery == nil
    }

    /// `frame` as float32 with a NaN in the middle of its first channel.
    static func poisoned(_ frame: Frame) throws -> Frame {
        var header = frame.header
        header.dtype = .float32
        var channels: [PixelBuffer] = []
        for (index, buffer) in frame.channels.enumerated() {
            var values = buffer.floats()
            if index == 0 { values[values.count / 2] = .nan }
            channels.append(try PixelBuffer(float32: values, width: buffer.width, height: buffer.height))
        }
        return try Frame(header: header, channels: channels)
    }
}
