public import Daemon
import Foundation
import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization

/// The live view of a running session (`--dashboard HOST:PORT`): a read-only page that follows
/// the session as it runs (the newest frame with its detections and communities, the growing
/// stage map, the status line, the newest decisions), served over HTTP with server-sent events.
///
/// It follows the decision log through its own read-only connection and the daemon's status
/// snapshots, which ``show(_:)`` takes without waiting: the session never waits for a page. Each
/// page gets at most five messages a second and keeps only the newest change while it is busy,
/// so a slow or stuck browser loses updates, never frames. On loopback anyone on this machine may
/// read; on any other address every request needs the token printed at start.
///
/// Runs as a service of the daemon's `ServiceGroup`, listed before the daemon so that it shuts
/// down after it: at the end each page gets the session's last state, then the server stops
/// (within two seconds even with a page that stopped reading).
public final class DashboardServer: Service, Sendable {
    /// Where it listens.
    public let address: DashboardAddress
    /// Who may read.
    public let access: DashboardAccess
    private let live = LiveSession()
    private let follower: LogFollower
    private let latest = Mutex<DaemonStatus?>(nil)
    private let port = Mutex<Int?>(nil)
    private let logger: Logger
    private let onListening: @Sendable (String) -> Void

    /// How often the log is looked at, and the newest pages are sent at most.
    static let lookInterval = Duration.milliseconds(250)
    static let messageInterval = Duration.milliseconds(200)

    /// A live view of the session the daemon logs to `database`; `onListening` gets the page's
    /// address (with its token) once the server listens.
    public init(
        address: DashboardAddress, database: String, logger: Logger,
        onListening: @escaping @Sendable (_ url: String) -> Void = { _ in }
    ) {
        self.address = address
        self.access = DashboardAccess(for: address)
        self.logger = logger
        self.onListening = onListening
        follower = LogFollower(path: database, live: live, logger: logger)
    }

    /// Takes the daemon's newest status (pass it from the daemon's `onStatus`); never waits.
    public func show(_ status: DaemonStatus) { latest.withLock { $0 = status } }

    /// The page's address with its token, once listening (nil before).
    public var url: String? {
        port.withLock { $0 }.map { port in
            let host = address.host.contains(":") ? "[\(address.host)]" : address.host
            return "http://\(host):\(port)/" + (access.token.map { "?token=\($0)" } ?? "")
        }
    }

    /// Pages connected now.
    public var pagesWatching: Int { live.watching }

    /// Serves until the service group shuts down gracefully, then sends each page the last state.
    public func run() async throws {
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [weak self] channel in
                guard let self else { return }
                port.withLock { $0 = channel.localAddress?.port }
                if let url { onListening(url) }
            }, logger: logger)
        let live = self.live
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            await self.look()
                            try? await Task.sleep(for: Self.lookInterval)
                        }
                    }
                    await self.look()
                    live.close()
                    // The server's own graceful shutdown ends first unless a page stopped reading.
                    try? await Task.sleep(for: .seconds(2))
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            throw DashboardError(
                "the live view cannot listen on \(address): \(error). Choose another port (or :0 for any free one)")
        }
    }

    /// One look at the status and the log.
    func look() async {
        if let status = latest.withLock({ $0 }) {
            let shown = LiveSession.Status(status)
            if live.snapshot.status != shown { live.update { $0.status = shown } }
        }
        await follower.look()
    }

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: DashboardAccessMiddleware(access: access, loopback: address.isLoopback))
        let live = self.live
        let follower = self.follower
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        // Everything shown, at once: for scripts and tests (the page uses /events).
        router.get("/state") { _, _ in
            var cursor = LiveCursor()
            var parts: [UInt8] = []
            if let (json, _) = live.message(&cursor) { parts = json }
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: parts)))
        }
        router.get("/events") { _, _ in
            let (changes, stop) = live.watch()
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in
                    defer { stop() }
                    var cursor = LiveCursor()
                    try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                    for await _ in changes {
                        while let (json, more) = live.message(&cursor) {
                            var buffer = ByteBuffer()
                            buffer.writeString("data: ")
                            buffer.writeBytes(json)
                            buffer.writeString("\n\n")
                            try await writer.write(buffer)
                            if !more { break }
                        }
                        // Changes that arrive meanwhile coalesce into the next message.
                        try? await Task.sleep(for: Self.messageInterval)
                    }
                    try await writer.finish(nil)
                })
        }
        router.get("/frame/:id") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self), let png = await follower.thumbnail(id) else {
                return Response(status: .notFound)
            }
            return Response(
                status: .ok, headers: [.contentType: "image/png", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
        return router
    }
}

extension LiveSession.Status {
    /// The status line as the page shows it; latency is the median of the newest 200 decisions.
    init(_ s: DaemonStatus) {
        self.init(
            phase: s.phase.rawValue, session: s.session, frames: s.framesReceived, analysed: s.framesAnalysed,
            skipped: s.framesSkipped, refused: s.rejected, decisions: s.decisions, commands: s.commands,
            commandsFailed: s.commandsFailed, defects: s.defects, communities: s.communities, retrains: s.retrains,
            drift: s.drift, latencyP50: DaemonStatus.percentile(Array(s.latencies.suffix(200)), 50), line: s.line,
            ending: s.ending)
    }
}

/// Refuses requests without the token (on an address other than loopback) and, on loopback,
/// requests whose Host is not this machine (a web page elsewhere cannot read the view through
/// DNS rebinding).
struct DashboardAccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: DashboardAccess
    let loopback: Bool

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed, headers: [.allow: "GET"])
        }
        if loopback {
            let host = request.head.authority.map(DashboardAddress.host(ofAuthority:)) ?? ""
            guard DashboardAddress.isLoopback(host) else {
                return Self.refusal(.forbidden, "this live view answers only to loopback host names")
            }
        }
        guard access.permits(request.uri.queryParameters.get("token")) else {
            return Self.refusal(.unauthorized, "open the address printed at start: it carries the token (?token=...)")
        }
        return try await next(request, context)
    }

    static func refusal(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
