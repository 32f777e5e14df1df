public import WireProtocol

/// What the feed delivered.
public enum FeedEvent: Sendable {
    /// A valid frame, and what its seq says about frames lost before it.
    case frame(Frame, SequenceTracker.Observation)
    /// A message that was refused, with the session and seq when its header could be read.
    case rejected(ProtocolError, session: String?, seq: UInt64?)
}

/// The daemon's end of the frame feed: a SUB socket, the decoder, and the seq tracker.
///
/// The subscriber runs on its socket's thread (it shares the socket actor's executor), so receiving
/// a burst of frames and decoding them costs no hop between threads; the caller hops here once per
/// frame. Every message is answered with a `FeedEvent`: nothing is dropped here without being
/// reported.
public actor FeedSubscriber {
    private let socket: ZMQSocket
    private let endpoint: Endpoint
    public nonisolated var unownedExecutor: UnownedSerialExecutor { socket.unownedExecutor }
    /// Gaps and recoveries seen so far.
    public private(set) var tracker: SequenceTracker

    /// Feed defaults: 64 frames queued before ZeroMQ stops reading from the publisher.
    public static var defaultOptions: SocketOptions {
        var options = SocketOptions()
        options.receiveHighWaterMark = 64
        return options
    }

    /// Feed options sized for frames whose sides are at most `largestSide` pixels. ZeroMQ refuses a
    /// message part larger than such a channel (`float32`, rounded up to a MiB) or 32 MiB, whichever
    /// is more, and drops that connection (the frame shows up as a gap in `seq`); smaller malformed
    /// parts are read and refused with a reason. The queue holds as many such parts as fit
    /// `queueBytes`, between 4 and 64 messages.
    public static func options(largestSide: Int, queueBytes: Int = 128 << 20) -> SocketOptions {
        var options = defaultOptions
        let side = Int64(max(1, min(largestSide, 1 << 16)))
        let mebibyte: Int64 = 1 << 20
        let channel = side * side * Int64(PixelType.float32.size)
        options.maxMessageSize = max(32 * mebibyte, (channel + mebibyte - 1) / mebibyte * mebibyte)
        let messages = Int64(max(queueBytes, 0)) / options.maxMessageSize
        options.receiveHighWaterMark = Int32(min(64, max(4, messages)))
        return options
    }

    /// Connects to a publisher at `endpoint` and subscribes to frames.
    public init(
        connectingTo endpoint: Endpoint, context: ZMQContext, options: SocketOptions = defaultOptions,
        tracker: SequenceTracker = SequenceTracker()
    ) async throws(TransportError) {
        let socket = try ZMQSocket(.subscriber, context: context, options: options, name: "feed-sub")
        try await socket.subscribe(FrameCodec.topic)
        try await socket.connect(endpoint)
        self.socket = socket
        self.endpoint = endpoint
        self.tracker = tracker
    }

    /// Connects to the publisher again. ZeroMQ reconnects by itself after a lost connection, but
    /// not after one it ended for a protocol error (a part over ``SocketOptions/maxMessageSize``):
    /// that feed would stay silent for good. Call this when frames come only by other ways.
    public func reconnect() async throws(TransportError) {
        try await socket.disconnect(endpoint)
        try await socket.connect(endpoint)
    }

    /// The next feed event, waiting up to `timeout` (nil: as long as it takes).
    public func next(timeout: Duration? = nil) async throws(TransportError) -> FeedEvent {
        accept(try await socket.receive(timeout: timeout))
    }

    /// Between one and `limit` feed events: waits up to `timeout` for the first, then takes what
    /// has already arrived. A consumer that falls behind catches up in bursts, paying one hop to
    /// this thread per burst instead of per frame.
    public func nextBatch(limit: Int, timeout: Duration? = nil) async throws(TransportError) -> [FeedEvent] {
        try await socket.receiveBatch(limit: limit, timeout: timeout).map(accept)
    }

    /// Decodes a received message and tracks its seq.
    func accept(_ parts: [any ByteStorage]) -> FeedEvent {
        do {
            let frame = try FrameCodec.decode(parts)
            let observation = tracker.observe(session: frame.header.session, seq: frame.header.seq)
            return .frame(frame, observation)
        } catch {
            let salvage = FrameCodec.salvageHeader(parts)
            if let salvage {
                // A refused frame still arrived: it is not a gap.
                _ = tracker.observe(session: salvage.session, seq: salvage.seq)
            }
            return .rejected(error, session: salvage?.session, seq: salvage?.seq)
        }
    }

    /// Closes the socket.
    public func close() async { await socket.close() }
}
