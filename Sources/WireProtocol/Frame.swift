/// A frame: its header and one pixel buffer per channel, in the header's channel order.
public struct Frame: Sendable {
    /// Everything about the frame except its pixels.
    public var header: FrameHeader
    /// One buffer per entry of `header.channels`.
    public var channels: [PixelBuffer]

    /// Creates a frame, checking that the buffers match the header.
    public init(header: FrameHeader, channels: [PixelBuffer]) throws(ProtocolError) {
        guard channels.count == header.channels.count else {
            throw .wrongPartCount(
                "frame \(header.seq)", expected: "\(header.channels.count) pixel", got: channels.count)
        }
        for (name, buffer) in zip(header.channels, channels)
        where buffer.dtype != header.dtype || buffer.width != header.scan.width || buffer.height != header.scan.height {
            throw ProtocolError(
                code: .payloadSize,
                message:
                    "frame \(header.seq): channel \(name) is \(buffer.height)x\(buffer.width) \(buffer.dtype.rawValue),"
                    + " header says \(header.scan.height)x\(header.scan.width) \(header.dtype.rawValue)")
        }
        self.header = header
        self.channels = channels
    }

    /// The buffer of the channel called `name`.
    public func channel(named name: String) -> PixelBuffer? {
        header.channels.firstIndex(of: name).map { channels[$0] }
    }
}
