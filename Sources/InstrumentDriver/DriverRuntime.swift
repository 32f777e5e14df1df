import Foundation
public import Logging
public import ServiceLifecycle
public import Transport
public import WireProtocol

/// Serves an ``Instrument`` over the ScopePilot wire protocol: publishes its frames on the feed
/// and answers the command channel.
///
/// - HELLO: a peer must say HELLO before its commands are accepted (`no_hello` otherwise); a
///   different protocol major version is REJECTed with `protocol_version`.
/// - Commands are checked against the limits (`out_of_range`) and capabilities (`unsupported`),
///   ACKed, and run one at a time in arrival order; each must finish within its deadline (counted
///   from receipt) or is cancelled and FAILED with `deadline_exceeded`. `blank_beam`, `get_state`,
///   `abort` and `resend_frames` run at once, beside a running scan.
/// - A command id seen before is not run again: its earlier replies are sent again.
/// - Heartbeats go to every introduced peer; when none has been heard from for the watchdog
///   interval, the beam is blanked.
///
/// A swift-service-lifecycle `Service`: it serves until its task is cancelled or the service group
/// shuts down gracefully, then blanks the beam and closes (and flushes) both sockets.
public actor DriverRuntime: Service {
    /// Settings of a runtime.
    public struct Configuration: Sendable {
        /// Where to publish frames.
        public var feed: Endpoint
        /// Where to take commands.
        public var control: Endpoint
        /// Authentication for both sockets (`curveServer` off loopback).
        public var security: SocketSecurity = .plain
        /// How often to send heartbeats.
        public var heartbeat: Duration = .seconds(1)
        /// Silence from the daemon after which the beam is blanked.
        public var watchdog: Duration = .seconds(5)
        /// Frames kept for `resend_frames`.
        public var ringCapacity = 256
        /// The session id in frame headers; a fresh one per start.
        public var session = "drv-" + UUID().uuidString.prefix(8).lowercased()
        /// Block instead of dropping frames for slow subscribers (tests and benchmarks only).
        public var lossless = false
        /// Faults to inject on purpose.
        public var faults = FaultPlan()

        /// Creates a configuration.
        public init(feed: Endpoint, control: Endpoint) {
            self.feed = feed
            self.control = control
        }
    }

    private struct Peer {
        var introduced = false
        var lastHeard = ContinuousClock.now
    }

    private let instrument: any Instrument
    private let configuration: Configuration
    private var publisher: FeedPublisher
    private var server: CommandServer
    private let context: ZMQContext
    private var heldFrame: Frame?
    private var donesSent = 0
    private var restarting = false
    private let logger: Logger
    private var nextSeq: UInt64 = 0
    private var ring: FrameRing
    private var ledger = CommandLedger()
    private var peers: [PeerID: Peer] = [:]
    private var running: [CommandID: Task<Void, Never>] = [:]
    private var tail: Task<Void, Never>?
    private var watchdogTripped = false
    private var lastHeardFromAnyone: ContinuousClock.Instant?

    /// The feed endpoint actually bound.
    public nonisolated let feedEndpoint: Endpoint
    /// The command endpoint actually bound.
    public nonisolated let controlEndpoint: Endpoint
    /// The session id frames carry; a new one after every (injected) restart.
    public private(set) var session: String
    /// How many times the driver restarted (injected faults).
    public private(set) var restarts = 0
    /// Ids of every command received from an introduced peer, in order, over restarts (for tests
    /// and audits: each must have its decision in the daemon's log).
    public private(set) var commandsReceived: [CommandID] = []

    /// Binds the feed and command sockets.
    public init(
        instrument: any Instrument, configuration: Configuration, context: ZMQContext,
        logger: Logger = Logger(label: "scopepilot.driver")
    ) async throws(TransportError) {
        var feedOptions = FeedPublisher.defaultOptions
        feedOptions.security = configuration.security
        feedOptions.noDrop = configuration.lossless
        var controlOptions = CommandServer.defaultOptions
        controlOptions.security = configuration.security
        publisher = try await FeedPublisher(bindingTo: configuration.feed, context: context, options: feedOptions)
        server = try await CommandServer(bindingTo: configuration.control, context: context, options: controlOptions)
        self.instrument = instrument
        self.configuration = configuration
        self.context = context
        self.logger = logger
        ring = FrameRing(capacity: configuration.ringCapacity)
        feedEndpoint = publisher.endpoint
        controlEndpoint = server.endpoint
        session = configuration.session
    }

    /// Serves until the task is cancelled or a graceful shutdown, then blanks the beam and closes
    /// the sockets.
    public func run() async {
        await cancelWhenGracefulShutdown { await self.serve() }
        do { try await instrument.setBeamBlanked(true) } catch {
            logger.error("could not blank the beam on shutdown: \(error)")
        }
        await server.close()
        await publisher.close()
    }

    private func serve() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.keepAlive() }
            await answerCommands()
            group.cancelAll()
        }
        for task in running.values { task.cancel() }
    }

    private func answerCommands() async {
        while !Task.isCancelled {
            let current = server
            do {
                let incoming = try await current.next()
                await handle(incoming)
            } catch {
                // An injected restart closes the server under this loop: carry on with the new one.
                if restarting || current !== server {
                    try? await Task.sleep(for: .milliseconds(20))
                    continue
                }
                if error.code == .cancelled || error.code == .closed { break }
                logger.error("command channel: \(error)")
            }
        }
    }

    /// Acquires and publishes a frame outside any command (e.g. a free-running live view).
    @discardableResult
    public func publishUnsolicited(_ request: ScanRequest) async throws -> UInt64 {
        try await publish(try await instrument.acquire(request, purpose: .scan), commandID: nil, purpose: .scan)
    }

    // MARK: - Command channel

    private func handle(_ incoming: IncomingControl) async {
        let peer = incoming.peer
        peers[peer, default: Peer()].lastHeard = .now
        lastHeardFromAnyone = .now
        watchdogTripped = false
        switch incoming.message {
        case .failure(let error):
            logger.warning("refused a message from \(peer): \(error)")
            let code = error.code == .incompatibleVersion ? ReasonCode.protocolVersion : ReasonCode.malformed
            if let id = incoming.salvagedID {
                await reply(.reject(Reject(id: id, code: code, reason: error.message)), to: peer, id: nil)
            } else {
                await reply(
                    .error(
                        ErrorReport(
                            code: error.code == .incompatibleVersion ? code : error.code.description,
                            reason: error.message)),
                    to: peer, id: nil)
            }
        case .success(.hello(let hello)):
            peers[peer]?.introduced = true
            logger.info("HELLO from \(hello.client) (\(peer))")
            let welcome = Welcome(
                id: hello.id, driver: instrument.identity.driver, instrument: instrument.identity.instrument,
                session: session, capabilities: CommandAction.allNames, limits: instrument.limits,
                heartbeatMilliseconds: configuration.heartbeat.wholeMilliseconds,
                watchdogMilliseconds: configuration.watchdog.wholeMilliseconds, replays: instrument.identity.replays)
            await reply(.welcome(welcome), to: peer, id: nil)
        case .success(.heartbeat):
            if peers[peer]?.introduced != true {
                // A daemon that has not said HELLO to this session (this driver restarted under
                // it): tell it at once, so that it introduces itself again (docs/PROTOCOL.md 6.4).
                await reply(
                    .error(
                        ErrorReport(
                            code: ReasonCode.notIntroduced,
                            reason: "heartbeat from a peer that has not said HELLO to driver session \(session)")),
                    to: peer, id: nil)
            }
        case .success(.command(let command)):
            await accept(command, from: peer)
        case .success(let other):
            let reason = "a driver does not accept '\(other.type)' messages"
            await reply(
                .error(ErrorReport(code: ProtocolError.Code.unknownMessageType.description, reason: reason)), to: peer,
                id: nil)
        }
    }

    private func accept(_ command: Command, from peer: PeerID) async {
        let received = ContinuousClock.now
        if ledger.contains(command.id) {
            logger.info("command \(command.id) seen before: repeating its replies")
            for message in ledger.replies(for: command.id) { await reply(message, to: peer, id: nil) }
            return
        }
        guard peers[peer]?.introduced == true else {
            // Not remembered under its id: once the daemon has said HELLO, the same command is new.
            await reply(
                .reject(
                    Reject(id: command.id, code: ReasonCode.notIntroduced, reason: "say HELLO before sending commands")),
                to: peer, id: nil)
            return
        }
        ledger.open(command.id)
        commandsReceived.append(command.id)
        if let problem = limitsProblem(command.action) {
            await reject(command, ReasonCode.outOfRange, problem, to: peer)
            return
        }
        if configuration.faults.rejectActions.contains(command.action.name) {
            logger.warning("fault injection: \(command.action.name) \(command.id) rejected")
            await reject(command, ReasonCode.hardware, "fault injection: the instrument did not answer", to: peer)
            return
        }
        await reply(.ack(Ack(id: command.id)), to: peer, id: command.id)
        let deadline = received + command.deadline
        switch command.action {
        case .blankBeam, .getState, .abort, .resendFrames:
            await execute(command, deadline: deadline, peer: peer)
        case .scanRegion, .moveStage, .acquireReference, .unblankBeam:
            let previous = tail
            let task = Task {
                await previous?.value
                await self.execute(command, deadline: deadline, peer: peer)
            }
            running[command.id] = task
            tail = task
        }
    }

    private func execute(_ command: Command, deadline: ContinuousClock.Instant, peer: PeerID) async {
        defer { running[command.id] = nil }
        guard ContinuousClock.now < deadline else {
            await fail(command, ReasonCode.deadlineExceeded, "the deadline passed while earlier commands ran", peer)
            return
        }
        if Task.isCancelled {
            await fail(command, ReasonCode.aborted, "aborted before it started", peer)
            return
        }
        let started = session
        let outcome = await withDeadline(deadline) { () async throws -> Readback in
            try await self.perform(command, peer: peer)
        }
        guard session == started else {
            // The driver restarted while this ran: the daemon that sent it is forgotten, and the
            // new session must not answer for the old one.
            logger.warning("\(command.action.name) \(command.id) ended after a restart; its answer is dropped")
            return
        }
        switch outcome {
        case .finished(let readback):
            await reply(.done(Done(id: command.id, readback: readback)), to: peer, id: command.id)
        case .timedOut:
            await fail(command, ReasonCode.deadlineExceeded, "not done within \(command.deadline)", peer)
        case .threw(let error as InstrumentError):
            await fail(command, error.code, error.reason, peer)
        case .threw(is CancellationError):
            await fail(command, ReasonCode.aborted, "aborted", peer)
        case .threw(let error):
            await fail(command, ReasonCode.hardware, "\(error)", peer)
        }
    }

    private func perform(_ command: Command, peer: PeerID) async throws -> Readback {
        switch command.action {
        case .scanRegion(let request):
            let acquired = try await instrument.acquire(request, purpose: .scan)
            let publishing = session
            let seq = try await publish(acquired, commandID: command.id, purpose: .scan)
            return Readback(
                stage: acquired.stage, scan: acquired.scan, frames: [seq], lastSeq: seq, session: publishing,
                note: acquired.note)
        case .acquireReference(let reference):
            let publishing = session
            var seqs: [UInt64] = []
            var last: AcquiredFrame?
            var notes: [String] = []
            for _ in 0..<reference.count {
                try Task.checkCancellation()
                let acquired = try await instrument.acquire(reference.scan, purpose: .reference)
                seqs.append(try await publish(acquired, commandID: command.id, purpose: .reference))
                if let note = acquired.note { notes.append("frame \(seqs.count): \(note)") }
                last = acquired
            }
            return Readback(
                stage: last?.stage, scan: last?.scan, frames: seqs, lastSeq: seqs.last, session: publishing,
                note: notes.isEmpty ? nil : String(notes.joined(separator: "; ").prefix(1024)))
        case .moveStage(let target):
            return Readback(stage: try await instrument.moveStage(to: target))
        case .blankBeam, .unblankBeam:
            let blank = command.action == .blankBeam
            try await instrument.setBeamBlanked(blank)
            return Readback(beamBlanked: blank)
        case .getState:
            let state = await instrument.state()
            return Readback(
                stage: state.stage, beamBlanked: state.beamBlanked, lastSeq: nextSeq == 0 ? nil : nextSeq - 1,
                state: running.isEmpty ? "idle" : "busy")
        case .abort(let target):
            let victims = target.map { id in running.filter { $0.key == id } } ?? running
            for (_, task) in victims { task.cancel() }
            return Readback(state: "aborted \(victims.count)")
        case .resendFrames(let from, let to, let asked):
            var sent: [UInt64] = []
            var missing: [UInt64] = []
            for seq in from...to {
                // Frames of an earlier session (before a restart) are gone with it.
                guard asked == nil || asked == session, var frame = ring.frame(seq) else {
                    missing.append(seq)
                    continue
                }
                frame.header.resent = true
                await reply(.frame(inReplyTo: command.id, frame), to: peer, id: nil)
                sent.append(seq)
            }
            return Readback(
                frames: sent, lastSeq: nextSeq == 0 ? nil : nextSeq - 1, missing: missing, session: asked ?? session)
        }
    }

    private func publish(
        _ acquired: AcquiredFrame, commandID: CommandID?, purpose: FrameHeader.Purpose
    ) async throws
        -> UInt64
    {
        let seq = nextSeq
        nextSeq += 1
        let header = FrameHeader(
            session: session, seq: seq, time: acquired.time, scan: acquired.scan, stage: acquired.stage,
            channels: acquired.channels, dtype: acquired.buffers.first?.dtype ?? .uint16, commandID: commandID,
            purpose: purpose, optics: acquired.optics, source: acquired.source)
        let frame = try Frame(header: header, channels: acquired.buffers)
        let faults = configuration.faults
        if faults.lostFrames.contains(seq) {
            logger.warning("fault injection: frame \(seq) lost (neither published nor kept)")
        } else {
            ring.append(faults.nanResentFrames.contains(seq) ? try FaultPlan.poisoned(frame) : frame)
            try await publishWithFaults(frame)
        }
        await instrument.published(acquired, seq: seq, session: session)
        if faults.blankAfterFrames.contains(seq) {
            logger.warning("fault injection: the beam is blanked after frame \(seq)")
            try? await instrument.setBeamBlanked(true)
        }
        if let restartAfter = configuration.faults.restartAfterFrames, nextSeq == UInt64(restartAfter) {
            await restart()
        }
        return seq
    }

    /// Publishes `frame`, dropping, doubling, delaying or poisoning it as the fault plan says.
    private func publishWithFaults(_ frame: Frame) async throws {
        let faults = configuration.faults
        let seq = frame.header.seq
        if faults.dropFrames.contains(seq) {
            logger.warning("fault injection: frame \(seq) not published")
            return
        }
        if faults.delayFrames.contains(seq) {
            logger.warning("fault injection: frame \(seq) held back until after the next")
            heldFrame = frame
            return
        }
        if faults.malformedFrames.contains(seq) {
            logger.warning("fault injection: frame \(seq) published with a broken header")
            var parts = try FrameCodec.encode(frame)
            parts[1] = Array("{\"seq\": \(seq), this is not JSON".utf8)
            try await publisher.publish(parts: parts)
            return
        }
        let outgoing = faults.nanFrames.contains(seq) ? try FaultPlan.poisoned(frame) : frame
        try await publisher.publish(outgoing)
        if faults.duplicateFrames.contains(seq) { try await publisher.publish(outgoing) }
        if let held = heldFrame {
            heldFrame = nil
            try await publisher.publish(held)
        }
    }

    /// An injected restart: both sockets closed and bound again, a new session, seq from 0, every
    /// daemon forgotten (so each must say HELLO again), the ring and the ledger emptied.
    private func restart() async {
        logger.warning("fault injection: driver restart")
        restarting = true
        defer { restarting = false }
        await server.close()
        await publisher.close()
        var feedOptions = FeedPublisher.defaultOptions
        feedOptions.security = configuration.security
        feedOptions.noDrop = configuration.lossless
        var controlOptions = CommandServer.defaultOptions
        controlOptions.security = configuration.security
        // The ports may stay busy for a moment after closing; keep trying for two seconds.
        for _ in 0..<100 {
            try? await Task.sleep(for: .milliseconds(20))
            guard
                let newPublisher = try? await FeedPublisher(
                    bindingTo: feedEndpoint, context: context, options: feedOptions),
                let newServer = try? await CommandServer(
                    bindingTo: controlEndpoint, context: context, options: controlOptions)
            else { continue }
            publisher = newPublisher
            server = newServer
            break
        }
        restarts += 1
        session = "drv-" + UUID().uuidString.prefix(8).lowercased()
        nextSeq = 0
        ring.removeAll()
        ledger = CommandLedger()
        peers.removeAll()
        heldFrame = nil
        logger.warning("restarted as session \(session)")
    }

    private func limitsProblem(_ action: CommandAction) -> String? {
        let limits = instrument.limits
        func scanProblem(_ request: ScanRequest) -> String? {
            let g = request.geometry
            if !limits.stageX.contains(g.centerX) || !limits.stageY.contains(g.centerY) {
                return "scan centre (\(g.centerX), \(g.centerY)) nm is outside the stage range"
                    + " x \(limits.stageX), y \(limits.stageY)"
            }
            if !limits.fov.contains(g.fovX) || !limits.fov.contains(g.fovY) {
                return "field of view \(g.fovX) x \(g.fovY) nm is outside \(limits.fov) nm"
            }
            if !limits.dwell.contains(g.dwell) { return "dwell \(g.dwell) us is outside \(limits.dwell) us" }
            if !limits.pixels.contains(g.width) || !limits.pixels.contains(g.height) {
                return "frame \(g.width) x \(g.height) px is outside \(limits.pixels) px per side"
            }
            if let unknown = request.channels?.first(where: { !limits.detectors.contains($0) }) {
                return "detector '\(unknown)' is not one of \(limits.detectors)"
            }
            return nil
        }
        switch action {
        case .scanRegion(let request): return scanProblem(request)
        case .acquireReference(let reference): return scanProblem(reference.scan)
        case .moveStage(let target):
            if !limits.stageX.contains(target.x) || !limits.stageY.contains(target.y) {
                return "stage target (\(target.x), \(target.y)) nm is outside x \(limits.stageX), y \(limits.stageY)"
            }
            return nil
        default: return nil
        }
    }

    private func reject(_ command: Command, _ code: String, _ reason: String, to peer: PeerID) async {
        logger.warning("rejected \(command.action.name) \(command.id): \(reason)")
        await reply(.reject(Reject(id: command.id, code: code, reason: reason)), to: peer, id: command.id)
    }

    private func fail(_ command: Command, _ code: String, _ reason: String, _ peer: PeerID) async {
        logger.warning("\(command.action.name) \(command.id) failed: \(reason)")
        await reply(.failed(Failed(id: command.id, code: code, reason: reason)), to: peer, id: command.id)
    }

    private func reply(_ message: ControlMessage, to peer: PeerID, id: CommandID?) async {
        if let id { ledger.record(message, for: id) }
        if case .done = message, let every = configuration.faults.slowReplyEvery {
            donesSent += 1
            if donesSent % every == 0 {
                logger.warning(
                    "fault injection: DONE \(id?.rawValue ?? "") sent \(configuration.faults.slowReplyDelay) late")
                try? await Task.sleep(for: configuration.faults.slowReplyDelay)
            }
        }
        do {
            try await server.send(message, to: peer)
        } catch let error as TransportError where error.code == .unreachable {
            logger.warning("peer \(peer) has gone; forgetting it")
            peers[peer] = nil
        } catch {
            logger.error("cannot send \(message.type) to \(peer): \(error)")
        }
    }

    // MARK: - Heartbeats and watchdog

    private func keepAlive() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeat)
            let beat = ControlMessage.heartbeat(
                Heartbeat(
                    sentAt: Date().timeIntervalSince1970, lastSeq: nextSeq == 0 ? nil : nextSeq - 1, session: session))
            for (peer, state) in peers where state.introduced { await reply(beat, to: peer, id: nil) }
            await checkWatchdog()
        }
    }

    private func checkWatchdog() async {
        guard let last = lastHeardFromAnyone, !watchdogTripped,
            ContinuousClock.now - last > configuration.watchdog
        else { return }
        watchdogTripped = true
        logger.warning(
            "watchdog: nothing heard from the daemon for more than \(configuration.watchdog); blanking the beam")
        do { try await instrument.setBeamBlanked(true) } catch {
            logger.error("watchdog could not blank the beam: \(error)")
        }
    }
}

/// How a call raced against its deadline.
enum DeadlineOutcome<T: Sendable>: Sendable {
    case finished(T)
    case timedOut
    case threw(any Error)
}

/// Runs `body`, cancelling it at `deadline`.
func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T
)
    async -> DeadlineOutcome<T>
{
    await withTaskGroup(of: DeadlineOutcome<T>?.self) { group in
        group.addTask {
            do { return .finished(try await body()) } catch { return Task.isCancelled ? nil : .threw(error) }
        }
        group.addTask {
            try? await Task.sleep(until: deadline, clock: .continuous)
            return Task.isCancelled ? nil : .timedOut
        }
        defer { group.cancelAll() }
        while let next = await group.next() {
            if let next { return next }
            // The body was cancelled from outside (abort): report it as such.
            if Task.isCancelled { return .threw(CancellationError()) }
        }
        return .threw(CancellationError())
    }
}
