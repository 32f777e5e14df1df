import CZeroMQ
import Foundation
public import WireProtocol

/// One ZeroMQ socket, owned by an actor that runs on a dedicated thread.
///
/// libzmq sockets are not thread safe; this actor is the only code that touches its socket, and it
/// runs on its own ``SocketThread``, so libzmq is never called from Swift's cooperative pool. A
/// task that waits for a message (or for room to send) is suspended, not blocked, until `zmq_poll`
/// on that thread reports the socket ready, its deadline passes, or it is cancelled.
public actor ZMQSocket {
    /// The socket type.
    public nonisolated let kind: SocketKind
    /// A name for logs and the thread, e.g. "feed-sub".
    public nonisolated let name: String
    private nonisolated let thread: SocketThread
    private let context: ZMQContext
    private let security: SocketSecurity
    private var handle: UnsafeMutableRawPointer?
    /// The open handle again, in a form deinit may read (kept equal to `handle`).
    private var closeOnDeinit: UncheckedPointer?
    /// Kept alive while this CURVE server socket exists.
    private let authenticator: ZAPAuthenticator?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// Creates a socket of `kind` in `context` and applies `options`; binds it to `bindTo` first
    /// thing when given.
    public init(
        _ kind: SocketKind, context: ZMQContext, options: SocketOptions = SocketOptions(), name: String,
        bindTo: Endpoint? = nil
    ) throws(TransportError) {
        guard let handle = zmq_socket(context.handle, kind.rawValue) else {
            throw .zmq("creating \(kind) socket '\(name)'")
        }
        self.kind = kind
        self.name = name
        self.context = context
        self.security = options.security
        self.thread = SocketThread(name: "zmq-\(name)")
        self.handle = handle
        self.closeOnDeinit = UncheckedPointer(handle)
        do throws(TransportError) {
            authenticator = try Self.apply(options, kind: kind, to: handle, context: context, name: name)
            if let bindTo {
                try options.security.check(bindTo, binding: true)
                guard zmq_bind(handle, bindTo.text) == 0 else {
                    throw TransportError.zmq("binding \(name) to \(bindTo)")
                }
            }
        } catch {
            zmq_close(handle)
            self.handle = nil
            self.closeOnDeinit = nil
            throw error
        }
    }

    deinit {
        // No other reference exists, so no other thread can be using the socket.
        if let handle = closeOnDeinit { zmq_close(handle.pointer) }
    }

    /// Binds to `endpoint` and returns the endpoint actually bound (useful with port `*`).
    @discardableResult
    public func bind(_ endpoint: Endpoint) throws(TransportError) -> Endpoint {
        try security.check(endpoint, binding: true)
        let handle = try open()
        guard zmq_bind(handle, endpoint.text) == 0 else { throw .zmq("binding \(name) to \(endpoint)") }
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return endpoint }
        let bound = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (try? Endpoint(bound)) ?? endpoint
    }

    /// Connects to `endpoint`. libzmq connects (and reconnects) in the background.
    public func connect(_ endpoint: Endpoint) throws(TransportError) {
        try security.check(endpoint, binding: false)
        let handle = try open()
        guard zmq_connect(handle, endpoint.text) == 0 else { throw .zmq("connecting \(name) to \(endpoint)") }
    }

    /// Ends the connection to `endpoint` made by ``connect(_:)``. Returns false when the socket has
    /// none (libzmq forgets a connection it ended itself for a protocol error).
    @discardableResult
    public func disconnect(_ endpoint: Endpoint) throws(TransportError) -> Bool {
        let handle = try open()
        guard zmq_disconnect(handle, endpoint.text) == 0 else {
            if zmq_errno() == ENOENT { return false }
            throw .zmq("disconnecting \(name) from \(endpoint)")
        }
        return true
    }

    /// Subscribes a SUB socket to messages whose first part starts with `prefix`.
    public func subscribe(_ prefix: String) throws(TransportError) {
        let handle = try open()
        let bytes = Array(prefix.utf8)
        guard zmq_setsockopt(handle, ZMQ_SUBSCRIBE, bytes, bytes.count) == 0 else {
            throw .zmq("subscribing \(name) to '\(prefix)'")
        }
    }

    /// Sends a multipart message. Waits (suspended) while the socket has no room, up to `timeout`
    /// (nil: as long as it takes). The parts are copied into libzmq before this returns.
    public func send(_ parts: [any ByteStorage], timeout: Duration? = nil) async throws(TransportError) {
        precondition(!parts.isEmpty, "a message has at least one part")
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let handle = try open()
            if Self.sendPart(parts[0], more: parts.count > 1, on: handle) { break }
            let error = zmq_errno()
            if error == EINTR { continue }
            guard error == EAGAIN else { throw .zmq("sending on \(name)") }
            switch await wait(for: Int16(ZMQ_POLLOUT), until: deadline) {
            case .ready: continue
            case .timedOut: throw .timedOut("sending on \(name) (peer absent or not reading)", timeout ?? .zero)
            case .cancelled: throw TransportError(code: .cancelled, message: "sending on \(name) was cancelled")
            }
        }
        // Once the first part is queued, libzmq guarantees room for the rest of the message.
        let handle = try open()
        for (index, part) in parts.enumerated().dropFirst() {
            guard Self.sendPart(part, more: index < parts.count - 1, on: handle) else {
                throw .zmq("sending part \(index) on \(name)")
            }
        }
    }

    /// Receives a multipart message, waiting (suspended) up to `timeout` (nil: as long as it takes).
    public func receive(timeout: Duration? = nil) async throws(TransportError) -> [ReceivedPart] {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let handle = try open()
            if let parts = try receiveNow(handle) { return parts }
            switch await wait(for: Int16(ZMQ_POLLIN), until: deadline) {
            case .ready: continue
            case .timedOut: throw .timedOut("receiving on \(name)", timeout ?? .zero)
            case .cancelled: throw TransportError(code: .cancelled, message: "receiving on \(name) was cancelled")
            }
        }
    }

    /// Receives between one and `limit` messages: waits (suspended) up to `timeout` for the first,
    /// then takes those already queued without waiting. One hop to the socket thread then serves a
    /// burst of messages, which matters at hundreds of frames per second.
    public func receiveBatch(limit: Int, timeout: Duration? = nil) async throws(TransportError) -> [[ReceivedPart]] {
        var batch = [try await receive(timeout: timeout)]
        let handle = try open()
        while batch.count < limit, let parts = try receiveNow(handle) { batch.append(parts) }
        return batch
    }

    /// Closes the socket. What it queued is still delivered for up to its linger. Tasks waiting on
    /// it fail with `closed`. Closing twice is harmless.
    public func close() {
        guard let handle else { return }
        self.handle = nil
        closeOnDeinit = nil
        thread.releaseWaiters(on: handle)
        zmq_close(handle)
    }

    // MARK: - Internals

    private func open() throws(TransportError) -> UnsafeMutableRawPointer {
        guard let handle else { throw TransportError(code: .closed, message: "socket \(name) is closed") }
        return handle
    }

    /// One message if one is waiting; nil if none is.
    private func receiveNow(_ handle: UnsafeMutableRawPointer) throws(TransportError) -> [ReceivedPart]? {
        let first = ReceivedPart()
        while zmq_msg_recv(first.message, handle, ZMQ_DONTWAIT) < 0 {
            let error = zmq_errno()
            if error == EAGAIN { return nil }
            if error != EINTR { throw .zmq("receiving on \(name)") }
        }
        var parts = [first]
        while zmq_msg_more(parts[parts.count - 1].message) != 0 {
            let part = ReceivedPart()
            guard zmq_msg_recv(part.message, handle, ZMQ_DONTWAIT) >= 0 else {
                throw .zmq("receiving part \(parts.count) on \(name)")
            }
            parts.append(part)
        }
        return parts
    }

    private static func sendPart(_ part: any ByteStorage, more: Bool, on handle: UnsafeMutableRawPointer) -> Bool {
        let flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)
        return part.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) } >= 0
    }

    private func wait(for events: Int16, until deadline: ContinuousClock.Instant?) async -> SocketThread.Readiness {
        let id = thread.nextWaiterID()
        let thread = self.thread
        return await withTaskCancellationHandler {
            await self.suspend(id, for: events, until: deadline)
        } onCancel: {
            thread.cancelWaiter(id)
        }
    }

    /// Suspends until the socket thread's poll resolves waiter `id`. Isolated to this actor, so the
    /// waiter is registered on the socket thread.
    private func suspend(
        _ id: UInt64, for events: Int16, until deadline: ContinuousClock.Instant?
    ) async
        -> SocketThread.Readiness
    {
        guard let handle else { return .ready }
        if Task.isCancelled { return .cancelled }
        return await withCheckedContinuation { continuation in
            thread.addWaiter(
                .init(id: id, socket: handle, events: events, deadline: deadline, continuation: continuation))
        }
    }

    private static func apply(
        _ options: SocketOptions, kind: SocketKind, to handle: UnsafeMutableRawPointer, context: ZMQContext,
        name: String
    ) throws(TransportError) -> ZAPAuthenticator? {
        func set(_ option: Int32, _ value: Int32) throws(TransportError) {
            var value = value
            guard zmq_setsockopt(handle, option, &value, 4) == 0 else {
                throw .zmq("setting option \(option) on \(name)")
            }
        }
        func set(_ option: Int32, _ value: Int64) throws(TransportError) {
            var value = value
            guard zmq_setsockopt(handle, option, &value, 8) == 0 else {
                throw .zmq("setting option \(option) on \(name)")
            }
        }
        func set(_ option: Int32, _ text: String) throws(TransportError) {
            let bytes = Array(text.utf8)
            guard zmq_setsockopt(handle, option, bytes, bytes.count) == 0 else {
                throw .zmq("setting option \(option) on \(name)")
            }
        }
        try set(ZMQ_SNDHWM, options.sendHighWaterMark)
        try set(ZMQ_RCVHWM, options.receiveHighWaterMark)
        try set(ZMQ_LINGER, options.linger.milliseconds32)
        try set(ZMQ_MAXMSGSIZE, options.maxMessageSize)
        try set(ZMQ_RECONNECT_IVL, options.reconnectInterval.milliseconds32)
        try set(ZMQ_RECONNECT_IVL_MAX, options.reconnectIntervalMax.milliseconds32)
        if let heartbeat = options.heartbeatInterval {
            try set(ZMQ_HEARTBEAT_IVL, heartbeat.milliseconds32)
            try set(ZMQ_HEARTBEAT_TIMEOUT, options.heartbeatTimeout.milliseconds32)
        }
        if options.immediate { try set(ZMQ_IMMEDIATE, Int32(1)) }
        if options.routerMandatory, kind == .router { try set(ZMQ_ROUTER_MANDATORY, Int32(1)) }
        if options.noDrop, kind == .publisher || kind == .extendedPublisher { try set(ZMQ_XPUB_NODROP, Int32(1)) }
        switch options.security {
        case .plain:
            return nil
        case .curveServer(let keys, let allowed):
            let domain = "scopepilot/\(name)"
            let authenticator = try ZAPAuthenticator.install(in: context)
            authenticator.allow(allowed, domain: domain)
            try set(ZMQ_CURVE_SERVER, Int32(1))
            try set(ZMQ_CURVE_SECRETKEY, keys.secretKey)
            try set(ZMQ_ZAP_DOMAIN, domain)
            return authenticator
        case .curveClient(let keys, let server):
            guard CurveKeyPair.isKey(server) else {
                throw TransportError(code: .keys, message: "the server public key for \(name) is not a Z85 CURVE key")
            }
            try set(ZMQ_CURVE_SERVERKEY, server)
            try set(ZMQ_CURVE_PUBLICKEY, keys.publicKey)
            try set(ZMQ_CURVE_SECRETKEY, keys.secretKey)
            return nil
        }
    }
}
