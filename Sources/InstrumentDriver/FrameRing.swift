public import WireProtocol

/// The newest published frames, by seq, for `resend_frames`.
public struct FrameRing: Sendable {
    private var frames: [UInt64: Frame] = [:]
    private var order: [UInt64] = []
    /// How many frames are kept.
    public let capacity: Int

    /// Creates a ring of `capacity` frames.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Keeps `frame` under its seq, dropping the oldest beyond capacity.
    public mutating func append(_ frame: Frame) {
        let seq = frame.header.seq
        if frames.updateValue(frame, forKey: seq) == nil { order.append(seq) }
        while order.count > capacity { frames[order.removeFirst()] = nil }
    }

    /// The frame with `seq`, if still kept.
    public func frame(_ seq: UInt64) -> Frame? { frames[seq] }

    /// Forgets everything (e.g. on a new session).
    public mutating func removeAll() {
        frames.removeAll()
        order.removeAll()
    }
}
