/// The kinds of ZeroMQ socket ScopePilot uses.
public enum SocketKind: Sendable, Hashable, CustomStringConvertible {
    /// Frame feed, driver side.
    case publisher
    /// Frame feed, daemon side (and any viewer).
    case subscriber
    /// Command channel, daemon side.
    case dealer
    /// Command channel, driver side.
    case router
    /// ZAP authenticator (inproc).
    case reply
    /// A publisher that also reports subscriptions (benchmarks, tests).
    case extendedPublisher

    var rawValue: Int32 {
        switch self {
        case .publisher: 1  // ZMQ_PUB
        case .subscriber: 2  // ZMQ_SUB
        case .dealer: 5  // ZMQ_DEALER
        case .router: 6  // ZMQ_ROUTER
        case .reply: 4  // ZMQ_REP
        case .extendedPublisher: 9  // ZMQ_XPUB
        }
    }

    public var description: String {
        switch self {
        case .publisher: "PUB"
        case .subscriber: "SUB"
        case .dealer: "DEALER"
        case .router: "ROUTER"
        case .reply: "REP"
        case .extendedPublisher: "XPUB"
        }
    }
}

/// Socket settings. The defaults are ScopePilot's documented transport behaviour
/// (see docs/PROTOCOL.md, "Transport behaviour").
public struct SocketOptions: Sendable, Hashable {
    /// Messages queued for sending per peer before the socket drops (PUB) or blocks (others).
    public var sendHighWaterMark: Int32 = 1000
    /// Messages queued on receipt per peer.
    public var receiveHighWaterMark: Int32 = 1000
    /// How long a closed socket keeps trying to deliver what it queued. Never zero by default:
    /// a PUB closed with linger 0 right after sending drops its queued frames.
    public var linger: Duration = .seconds(2)
    /// Larger incoming messages are refused and their connection dropped: a bound on memory.
    public var maxMessageSize: Int64 = 1 << 30
    /// First reconnect attempt after a connection is lost.
    public var reconnectInterval: Duration = .milliseconds(100)
    /// Reconnect attempts back off up to this interval.
    public var reconnectIntervalMax: Duration = .seconds(5)
    /// ZMTP heartbeats (connection liveness below ScopePilot's own heartbeats); nil, the default,
    /// for none. Off because of a libzmq defect (zeromq/libzmq#3937, in 4.3.4 and later): a
    /// connection whose receive queue is full stops reading, so it cannot see its peer's PINGs,
    /// times out and reconnects, and a wake-up left over from the old connection then trips an
    /// assertion in the new one that aborts the whole process. The daemon's feed socket queues only
    /// a few frames, and an analysis slower than the scan fills it. ScopePilot's own heartbeats and
    /// watchdog (docs/PROTOCOL.md) tell a silent driver from a live one instead.
    public var heartbeatInterval: Duration? = nil
    /// A connection whose peer is silent this long is dropped and reconnected.
    public var heartbeatTimeout: Duration = .seconds(5)
    /// Queue messages only to completed connections (DEALER: fail fast when the driver is not there).
    public var immediate = false
    /// ROUTER: report an unroutable reply as an error instead of dropping it.
    public var routerMandatory = false
    /// PUB: block (back-pressure) instead of dropping when a subscriber is full. Off for drivers,
    /// which must not stall on a slow viewer; lost frames are recovered with `resend_frames`.
    public var noDrop = false
    /// Authentication.
    public var security: SocketSecurity = .plain

    /// Default options.
    public init() {}
}

extension Duration {
    /// Whole milliseconds, rounded up, clamped to Int32.
    var milliseconds32: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: ms)
    }
}
