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
    public nonisolated var unownedExecutor: UnownedSerialExecutor { socket.unownedExecutor }
    /// Gaps and recoveries seen so far.
    public private(set) var tracker: SequenceTracker

    /// Feed defaults: 64 frames queued before ZeroMQ stops reading from the publisher.
    public static var defaultOptions: SocketOptions {
        var options = SocketOptions()
        options.receiveHighWaterMark = 64
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
        self.tracker = tracker
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
