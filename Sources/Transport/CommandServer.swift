public import WireProtocol

/// A peer on a ROUTER socket: the routing id libzmq gave its connection.
public struct PeerID: Sendable, Hashable, CustomStringConvertible {
    /// The routing id bytes.
    public let bytes: [UInt8]

    public var description: String { bytes.map { String($0, radix: 16) }.joined() }
}

/// One message that arrived at the driver's command channel.
public struct IncomingControl: Sendable {
    /// Who sent it; reply to this peer.
    public let peer: PeerID
    /// The decoded message, or why it was refused.
    public let message: Result<ControlMessage, ProtocolError>
    /// The `id` of a refused message, when its envelope had one: REJECT it by this id.
    public let salvagedID: CommandID?
}

/// The driver's end of the command channel: a ROUTER socket that receives HELLO, commands and
/// heartbeats from daemons and sends replies to the peer that asked.
public actor CommandServer {
    private let socket: ZMQSocket
    /// The endpoint actually bound.
    public nonisolated let endpoint: Endpoint

    /// Command-channel defaults for the driver: unroutable replies are errors, not silent drops.
    public static var defaultOptions: SocketOptions {
        var options = SocketOptions()
        options.routerMandatory = true
        return options
    }

    /// Binds to `endpoint`.
    public init(
        bindingTo endpoint: Endpoint, context: ZMQContext, options: SocketOptions = defaultOptions
    )
        async throws(TransportError)
    {
        let socket = try ZMQSocket(.router, context: context, options: options, name: "control-router")
        self.endpoint = try await socket.bind(endpoint)
        self.socket = socket
    }

    /// The next message, waiting up to `timeout` (nil: as long as it takes).
    public func next(timeout: Duration? = nil) async throws(TransportError) -> IncomingControl {
        while true {
            let parts = try await socket.receive(timeout: timeout)
            // ROUTER prepends the routing id; a message without a body cannot be answered.
            guard parts.count >= 2 else { continue }
            let peer = PeerID(bytes: parts[0].bytes)
            let body = Array(parts.dropFirst()) as [any ByteStorage]
            do {
                return IncomingControl(peer: peer, message: .success(try ControlCodec.decode(body)), salvagedID: nil)
            } catch {
                return IncomingControl(peer: peer, message: .failure(error), salvagedID: ControlCodec.salvage(body).id)
            }
        }
    }

    /// Sends `message` to `peer`. Throws `ProtocolError` for a message that fails validation and
    /// `TransportError` (code `unreachable`) when the peer has gone.
    public func send(_ message: ControlMessage, to peer: PeerID, timeout: Duration = .seconds(5)) async throws {
        try await socket.send([peer.bytes] + ControlCodec.encode(message), timeout: timeout)
    }

    /// Sends raw parts to `peer` (tests use this to send malformed replies on purpose).
    public func send(parts: [any ByteStorage], to peer: PeerID) async throws(TransportError) {
        try await socket.send([peer.bytes] + parts, timeout: .seconds(5))
    }

    /// Closes the socket.
    public func close() async { await socket.close() }
}
