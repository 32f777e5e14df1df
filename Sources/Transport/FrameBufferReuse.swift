import CZeroMQ

/// Process-wide memory tuning for receiving large frames.
public enum FrameBufferReuse {
    /// Asks the C allocator to keep freed buffers of up to 32 MiB (a 4096 x 4096 uint16 frame) for
    /// reuse rather than unmapping them, so that receiving a frame does not page-fault a fresh
    /// buffer every time. Memory then stays at its high-water mark (bounded by the feed's
    /// high-water marks). Call once at process start; returns whether the allocator took it.
    @discardableResult
    public static func enable() -> Bool {
        scopepilot_keep_large_buffers(32 << 20) == 1
    }
}
