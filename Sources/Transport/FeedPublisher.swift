public import WireProtocol

/// The driver's end of the frame feed: a PUB socket that publishes encoded frames.
///
/// A slow subscriber does not stall the publisher: past its high-water mark frames to it are
/// dropped (unless `noDrop` is set), and the subscriber sees the gap in `seq` and asks for the
/// frames again over the command channel.
public final class FeedPublisher: Sendable {
    /// The socket; exposed for tests and tools.
    public let socket: ZMQSocket
    /// The endpoint actually bound.
    public let endpoint: Endpoint

    /// Feed defaults: 64 frames queued per subscriber (a bound on memory), 2 s linger.
    public static var defaultOptions: SocketOptions {
        var options = SocketOptions()
        options.sendHighWaterMark = 64
        return options
    }

    /// Binds a publisher to `endpoint`.
    public init(
        bindingTo endpoint: Endpoint, context: ZMQContext, options: SocketOptions = defaultOptions
    )
        async throws(TransportError)
    {
        socket = try ZMQSocket(.publisher, context: context, options: options, name: "feed-pub")
        self.endpoint = try await socket.bind(endpoint)
    }

    /// Validates, encodes and publishes `frame`. Throws `ProtocolError` for a frame that fails
    /// validation (nothing is sent) and `TransportError` when the socket fails.
    public func publish(_ frame: Frame) async throws {
        try await publish(parts: FrameCodec.encode(frame))
    }

    /// Publishes already-encoded parts (tests use this to send malformed messages on purpose).
    public func publish(parts: [any ByteStorage]) async throws(TransportError) {
        try await socket.send(parts)
    }

    /// Closes the socket; queued frames are still delivered for up to the linger.
    public func close() async { await socket.close() }
}
