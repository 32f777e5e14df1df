import Foundation
public import WireProtocol

/// How a command ended.
public enum CommandOutcome: Sendable {
    /// The driver finished it.
    case done(Done)
    /// The driver accepted it but it did not complete.
    case failed(Failed)
    /// The driver refused it; nothing was done.
    case rejected(Reject)
}

/// A command's outcome and its timeline, for the decision log.
public struct CommandResult: Sendable {
    /// The command.
    public let command: Command
    /// How it ended.
    public let outcome: CommandOutcome
    /// When it was sent, acknowledged and finished (Unix seconds, this machine's clock).
    public let sentAt: Double
    /// When the ACK arrived; nil if it was rejected.
    public let ackedAt: Double?
    /// When DONE, FAILED or REJECT arrived.
    public let finishedAt: Double
}

/// A frame the driver re-sent over the command channel in answer to `resend_frames`.
public enum ResentDelivery: Sendable {
    /// A frame, re-sent in answer to command `inReplyTo`.
    case frame(Frame, inReplyTo: CommandID)
    /// A re-sent frame that was refused, with why and, when its header could be read, which frame.
    case refused(ProtocolError, inReplyTo: CommandID, key: FrameKey?)
}

/// Something the driver sent that is not the answer to a pending request.
public enum ControlEvent: Sendable {
    /// The driver's heartbeat.
    case heartbeat(Heartbeat)
    /// The driver could not decode something the daemon sent.
    case error(ErrorReport)
    /// A reply to a request no longer awaited (e.g. after it timed out).
    case stray(ControlMessage)
    /// A message from the driver that was refused, with why.
    case refused(ProtocolError)
}

/// The daemon's end of the command channel: a DEALER socket that says HELLO, sends commands with
/// ids and deadlines, tracks their ACK and DONE, and exchanges heartbeats.
///
/// Replies are matched to requests by id. A command that is not acknowledged within `ackTimeout`,
/// or not finished within its deadline plus a grace period, fails with `timedOut`; a late reply is
/// then reported on ``events`` as `.stray`. Call ``close()`` when done.
public actor CommandClient {
    private enum Reply: Sendable {
        case command(CommandOutcome)
        case welcome(Welcome)
    }

    private struct Finished: Sendable {
        let reply: Reply
        let ackedAt: Double?
    }

    private struct Pending {
        /// Whether this is a HELLO waiting for its WELCOME.
        var hello = false
        var continuation: CheckedContinuation<Finished, any Error>?
        var early: Result<Finished, any Error>?
        var ackedAt: Double?
        var onAcknowledged: (@Sendable () -> Void)?
    }

    private let socket: ZMQSocket
    private var pending: [CommandID: Pending] = [:]
    private var receiver: Task<Void, Never>?
    private var heartbeats: Task<Void, Never>?
    private var helloCount = 0
    /// When anything was last heard from the driver.
    public private(set) var lastHeard: ContinuousClock.Instant?
    /// Heartbeats, errors, stray replies and refused messages from the driver (the newest 256 are
    /// kept if nobody reads them).
    public nonisolated let events: AsyncStream<ControlEvent>
    private let eventSink: AsyncStream<ControlEvent>.Continuation
    /// Frames re-sent in answer to `resend_frames`, as they arrive (the newest 1024 are kept if
    /// nobody reads them).
    public nonisolated let resent: AsyncStream<ResentDelivery>
    private let resentSink: AsyncStream<ResentDelivery>.Continuation

    /// Command-channel defaults for the daemon: commands are queued only to a connected driver.
    public static var defaultOptions: SocketOptions {
        var options = SocketOptions()
        options.immediate = true
        return options
    }

    /// Connects to the driver's command channel at `endpoint`.
    public init(
        connectingTo endpoint: Endpoint, context: ZMQContext, options: SocketOptions = defaultOptions
    )
        async throws(TransportError)
    {
        let socket = try ZMQSocket(.dealer, context: context, options: options, name: "control-dealer")
        try await socket.connect(endpoint)
        self.socket = socket
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
        (resent, resentSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
        receiver = Task { await self.receiveLoop() }
    }

    /// Introduces the daemon. Returns the driver's WELCOME, or throws: `TransportError` `refused`
    /// when the driver REJECTs (e.g. another protocol major version), `ProtocolError`
    /// `incompatibleVersion` when the driver answers in another major version, `timedOut` when
    /// it does not answer.
    public func hello(
        client: String, heartbeat: Duration = .seconds(1), timeout: Duration = .seconds(5)
    ) async throws
        -> Welcome
    {
        helloCount += 1
        let id = CommandID("hello-\(helloCount)")
        let hello = Hello(id: id, client: client, heartbeatMilliseconds: heartbeat.wholeMilliseconds)
        let finished = try await request(
            id, parts: ControlCodec.encode(.hello(hello)), ackTimeout: nil, total: timeout, hello: true)
        switch finished.reply {
        case .welcome(let welcome): return welcome
        case .command(.rejected(let reject)):
            if reject.code == ReasonCode.protocolVersion {
                throw ProtocolError(
                    code: .incompatibleVersion,
                    message: "the driver refused HELLO (protocol_version): \(reject.reason)")
            }
            throw TransportError(code: .refused, message: "the driver refused HELLO (\(reject.code)): \(reject.reason)")
        case .command:
            throw ProtocolError(code: .unknownMessageType, message: "the driver answered HELLO with a command reply")
        }
    }

    /// Sends `command` and waits for its outcome; `onAcknowledged` is called when the ACK arrives.
    /// Throws `TransportError` `timedOut` when there is no ACK within `ackTimeout` or no
    /// DONE/FAILED within the command's deadline plus `grace`, `cancelled` when the calling task is
    /// cancelled, and whatever ``abandonPending(_:)`` was given.
    public func execute(
        _ command: Command, ackTimeout: Duration = .seconds(2), grace: Duration = .seconds(1),
        onAcknowledged: (@Sendable () -> Void)? = nil
    )
        async throws -> CommandResult
    {
        let sentAt = Date().timeIntervalSince1970
        let finished = try await request(
            command.id, parts: ControlCodec.encode(.command(command)), ackTimeout: ackTimeout,
            total: command.deadline + grace, onAcknowledged: onAcknowledged)
        guard case .command(let outcome) = finished.reply else {
            throw ProtocolError(
                code: .unknownMessageType, message: "the driver answered command \(command.id) with WELCOME")
        }
        return CommandResult(
            command: command, outcome: outcome, sentAt: sentAt, ackedAt: finished.ackedAt,
            finishedAt: Date().timeIntervalSince1970)
    }

    /// Fails every request still waiting for its answer with `error` (e.g. the driver restarted:
    /// the answers will never come).
    public func abandonPending(_ error: TransportError) {
        failAll(error)
    }

    /// Sends one heartbeat.
    public func sendHeartbeat() async throws(TransportError) {
        let parts = try? ControlCodec.encode(.heartbeat(Heartbeat(sentAt: Date().timeIntervalSince1970)))
        try await socket.send(parts ?? [], timeout: .seconds(1))
    }

    /// Sends a heartbeat every `interval` until ``close()``.
    public func startHeartbeats(every interval: Duration) {
        heartbeats?.cancel()
        heartbeats = Task {
            while !Task.isCancelled {
                try? await self.sendHeartbeat()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Sends raw parts (tests use this to send malformed messages on purpose).
    public func send(parts: [any ByteStorage]) async throws(TransportError) {
        try await socket.send(parts, timeout: .seconds(5))
    }

    /// Stops heartbeats and the receiver, fails pending requests, and closes the socket.
    public func close() async {
        heartbeats?.cancel()
        receiver?.cancel()
        await socket.close()
        failAll(TransportError(code: .closed, message: "the command channel was closed"))
        eventSink.finish()
        resentSink.finish()
    }

    // MARK: - Internals

    private func request(
        _ id: CommandID, parts: [any ByteStorage], ackTimeout: Duration?, total: Duration,
        onAcknowledged: (@Sendable () -> Void)? = nil, hello: Bool = false
    )
        async throws -> Finished
    {
        guard pending[id] == nil else {
            throw TransportError(code: .refused, message: "command \(id) is already in flight; ids must be unique")
        }
        // Registered before sending: the reply may arrive while this actor waits on the send.
        pending[id] = Pending(hello: hello, onAcknowledged: onAcknowledged)
        do {
            try await socket.send(parts, timeout: ackTimeout ?? total)
        } catch {
            pending[id] = nil
            throw TransportError(
                code: error.code, message: "\(error.message) — is the driver running and connected?")
        }
        let timer = Task {
            if let ackTimeout {
                try? await Task.sleep(for: ackTimeout)
                self.expireUnacknowledged(id, after: ackTimeout)
                try? await Task.sleep(for: total - ackTimeout)
            } else {
                try? await Task.sleep(for: total)
            }
            if !Task.isCancelled { self.expire(id, after: total) }
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if let early = pending[id]?.early {
                    pending[id] = nil
                    continuation.resume(with: early)
                } else if Task.isCancelled {
                    pending[id] = nil
                    continuation.resume(
                        throwing: TransportError(code: .cancelled, message: "waiting for \(id) was cancelled"))
                } else {
                    pending[id]?.continuation = continuation
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func cancel(_ id: CommandID) {
        finish(id, .failure(TransportError(code: .cancelled, message: "waiting for \(id) was cancelled")))
    }

    private func expireUnacknowledged(_ id: CommandID, after timeout: Duration) {
        guard let entry = pending[id], entry.ackedAt == nil, !Task.isCancelled else { return }
        finish(id, .failure(TransportError.timedOut("waiting for the driver to acknowledge \(id)", timeout)))
    }

    private func expire(_ id: CommandID, after timeout: Duration) {
        guard pending[id] != nil else { return }
        finish(
            id, .failure(TransportError.timedOut("waiting for the driver to finish \(id) (deadline + grace)", timeout)))
    }

    private func finish(_ id: CommandID, _ result: Result<Finished, any Error>) {
        guard var entry = pending[id] else { return }
        if let continuation = entry.continuation {
            pending[id] = nil
            continuation.resume(with: result)
        } else {
            entry.early = result
            pending[id] = entry
        }
    }

    private func finish(_ id: CommandID, reply: Reply, message: ControlMessage) {
        guard let entry = pending[id], entry.early == nil else {
            eventSink.yield(.stray(message))
            return
        }
        finish(id, .success(Finished(reply: reply, ackedAt: entry.ackedAt)))
    }

    private func failAll(_ error: TransportError) {
        for id in pending.keys { finish(id, .failure(error)) }
    }

    private func receiveLoop() async {
        while !Task.isCancelled {
            let parts: [ReceivedPart]
            do {
                parts = try await socket.receive()
            } catch {
                if error.code == .closed || error.code == .cancelled { break }
                eventSink.yield(.refused(ProtocolError(code: .notJSON, message: "receive failed: \(error)")))
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            lastHeard = .now
            handle(parts)
        }
    }

    private func handle(_ parts: [ReceivedPart]) {
        let message: ControlMessage
        do {
            message = try ControlCodec.decode(parts)
        } catch {
            let salvage = ControlCodec.salvage(parts)
            if salvage.type == "frame", let id = salvage.inReplyTo {
                let key = FrameCodec.salvageHeader(parts).map { FrameKey(session: $0.session, seq: $0.seq) }
                resentSink.yield(.refused(error, inReplyTo: id, key: key))
            } else if let id = salvage.id, pending[id] != nil {
                finish(id, .failure(error))
            } else if error.code == .payloadSize, salvage.id == nil,
                let hello = pending.first(where: { $0.value.hello })?.key
            {
                // Too large to read even its id: while a HELLO waits, what the driver sends is its
                // answer, so the HELLO fails with why instead of waiting out its timeout.
                finish(hello, .failure(error))
            } else {
                eventSink.yield(.refused(error))
            }
            return
        }
        switch message {
        case .ack(let ack):
            if pending[ack.id] != nil {
                pending[ack.id]?.ackedAt = Date().timeIntervalSince1970
                pending[ack.id]?.onAcknowledged?()
            } else {
                eventSink.yield(.stray(message))
            }
        case .reject(let reject):
            if let id = reject.id {
                finish(id, reply: .command(.rejected(reject)), message: message)
            } else {
                eventSink.yield(.stray(message))
            }
        case .done(let done): finish(done.id, reply: .command(.done(done)), message: message)
        case .failed(let failed): finish(failed.id, reply: .command(.failed(failed)), message: message)
        case .welcome(let welcome): finish(welcome.id, reply: .welcome(welcome), message: message)
        case .frame(let id, let frame):
            resentSink.yield(.frame(frame, inReplyTo: id))
        case .heartbeat(let heartbeat): eventSink.yield(.heartbeat(heartbeat))
        case .error(let report): eventSink.yield(.error(report))
        case .hello, .command: eventSink.yield(.stray(message))
        }
    }
}
