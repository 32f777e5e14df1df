import Foundation
public import Transport
public import WireProtocol

/// A driver's command channel that a test scripts: every message a daemon sends is passed to
/// `script`, and the raw replies it returns are sent back to that daemon. For driver behaviour the
/// shipped drivers never show (another protocol version, a reply that never comes, a wrong one).
///
/// ```swift
/// let driver = try await ScriptedDriver { incoming in
///     guard case .success(.hello(let hello)) = incoming.message else { return [] }
///     return [ScriptedDriver.envelope(["type": "reject", "id": hello.id.rawValue, "code": "protocol_version",
///                                      "reason": "this driver speaks 2.0"], version: "2.0")]
/// }
/// ```
public actor ScriptedDriver {
    /// Decides the replies to one message: each element is one reply's parts.
    public typealias Script = @Sendable (IncomingControl) async -> [[[UInt8]]]
    /// How long after the message it answers one reply is sent (a slow or stalled driver).
    public typealias Delay = @Sendable (_ reply: [[UInt8]]) -> Duration

    private let server: CommandServer
    private let feedPublisher: FeedPublisher
    private let script: Script
    private let delay: Delay
    private var serving: Task<Void, Never>?
    private var late: [Task<Void, Never>] = []
    /// The command endpoint to give the daemon.
    public nonisolated let control: Endpoint
    /// A feed endpoint on which nothing is ever published.
    public nonisolated let feed: Endpoint
    /// Every message received, decoded or refused, in order.
    public private(set) var received: [IncomingControl] = []

    /// Binds a command channel (and a silent feed) on loopback and starts answering with `script`,
    /// each reply `delay(reply)` after the message it answers (replies to one message keep their
    /// order).
    public init(
        context: ZMQContext, delay: @escaping Delay = { _ in .zero }, script: @escaping Script
    ) async throws {
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        server = try await CommandServer(bindingTo: loopback, context: context)
        feedPublisher = try await FeedPublisher(bindingTo: loopback, context: context)
        control = server.endpoint
        feed = feedPublisher.endpoint
        self.script = script
        self.delay = delay
        serving = Task { await self.serve() }
    }

    /// The commands received (not HELLO or heartbeats).
    public var commands: [Command] {
        received.compactMap {
            if case .success(.command(let command)) = $0.message { return command }
            return nil
        }
    }

    /// Stops answering and closes both sockets.
    public func close() async {
        serving?.cancel()
        await serving?.value
        serving = nil
        for task in late { task.cancel() }
        for task in late { await task.value }
        late = []
        await server.close()
        await feedPublisher.close()
    }

    private func serve() async {
        while !Task.isCancelled {
            guard let incoming = try? await server.next(timeout: .milliseconds(100)) else { continue }
            received.append(incoming)
            let start = ContinuousClock.now
            var delayed: [(due: ContinuousClock.Instant, parts: [[UInt8]])] = []
            for reply in await script(incoming) {
                let wait = delay(reply)
                if wait <= .zero && delayed.isEmpty {
                    try? await server.send(parts: reply, to: incoming.peer)
                } else {
                    delayed.append((start + wait, reply))
                }
            }
            if !delayed.isEmpty {
                let server = server
                let peer = incoming.peer
                late.append(
                    Task {
                        for reply in delayed {
                            guard (try? await Task.sleep(until: reply.due)) != nil else { return }
                            try? await server.send(parts: reply.parts, to: peer)
                        }
                    })
            }
        }
    }

    /// One reply: `fields` as a JSON envelope of protocol `version`.
    public static func envelope(
        _ fields: [String: String], version: String = ProtocolVersion.current.description
    )
        -> [[UInt8]]
    {
        let object = fields.merging(["protocol": version]) { field, _ in field }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return [Array(data)]
    }

    /// A message as the shipped encoder writes it, with its `protocol` set to `version`.
    public static func encoded(_ message: ControlMessage, version: String) throws -> [[UInt8]] {
        let parts = try ControlCodec.encode(message).map(\.bytes)
        guard var object = try JSONSerialization.jsonObject(with: Data(parts[0])) as? [String: Any] else {
            return parts
        }
        object["protocol"] = version
        return [Array(try JSONSerialization.data(withJSONObject: object))] + parts.dropFirst()
    }
}
