import Logging
import Synchronization
import WireProtocol

/// Answers libzmq's ZAP requests (RFC 27) for the CURVE server sockets of one context: a client
/// gets in only if its public key is on the allow-list of the socket's ZAP domain.
///
/// One authenticator serves a context while any CURVE server socket of that context exists; the
/// sockets hold it, the context only remembers it. Its REP socket runs on a thread of its own.
final class ZAPAuthenticator: Sendable {
    /// The allow-lists, shared with the serving task.
    final class AllowLists: Sendable {
        private let lists = Mutex<[String: Set<[UInt8]>]>([:])

        func allow(_ keys: Set<String>, domain: String) {
            let raw = Set(keys.compactMap(CurveKeyPair.rawKey))
            lists.withLock { $0[domain, default: []].formUnion(raw) }
        }

        /// The reply parts for one ZAP request.
        func answer(_ request: [ReceivedPart], logger: Logger) -> [[UInt8]] {
            // Request: version, request id, domain, address, routing id, mechanism, credentials...
            guard request.count >= 6 else { return [] }
            let requestID = request[1].bytes
            let domain = String(decoding: request[2].bytes, as: UTF8.self)
            let address = String(decoding: request[3].bytes, as: UTF8.self)
            let mechanism = String(decoding: request[5].bytes, as: UTF8.self)
            func reply(_ status: String, _ text: String, user: String = "") -> [[UInt8]] {
                [Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), Array(user.utf8), []]
            }
            guard request[0].equals(utf8: "1.0") else { return reply("500", "unsupported ZAP version") }
            guard mechanism == "CURVE", request.count >= 7 else {
                logger.warning(
                    "refused a \(mechanism) connection from \(address): CURVE is required",
                    metadata: ["domain": "\(domain)"])
                return reply("400", "CURVE required")
            }
            let key = request[6].bytes
            let allowed = lists.withLock { $0[domain]?.contains(key) ?? false }
            let z85 = CurveKeyPair.z85(key) ?? "?"
            guard allowed else {
                logger.warning(
                    "refused CURVE client \(z85) from \(address): its public key is not in the allow-list",
                    metadata: ["domain": "\(domain)"])
                return reply("400", "client key not allowed")
            }
            logger.info("accepted CURVE client \(z85) from \(address)", metadata: ["domain": "\(domain)"])
            return reply("200", "OK", user: z85)
        }
    }

    static let endpoint = "inproc://zeromq.zap.01"

    private let lists: AllowLists
    private let task: Task<Void, Never>

    private init(context: ZMQContext) throws(TransportError) {
        let socket = try ZMQSocket(.reply, context: context, name: "zap", bindTo: Endpoint(Self.endpoint))
        let lists = AllowLists()
        let logger = Logger(label: "scopepilot.transport.zap")
        self.lists = lists
        task = Task {
            while !Task.isCancelled {
                do throws(TransportError) {
                    let request = try await socket.receive()
                    let reply = lists.answer(request, logger: logger)
                    if !reply.isEmpty { try await socket.send(reply, timeout: .seconds(1)) }
                } catch {
                    if error.code == .cancelled || error.code == .closed { break }
                    logger.error("ZAP handler: \(error)")
                }
            }
            await socket.close()
        }
    }

    deinit { task.cancel() }

    /// Adds client keys to the allow-list of `domain`.
    func allow(_ keys: Set<String>, domain: String) { lists.allow(keys, domain: domain) }

    /// The context's authenticator, started if it is not running.
    static func install(in context: ZMQContext) throws(TransportError) -> ZAPAuthenticator {
        try context.authenticator { () throws(TransportError) in try ZAPAuthenticator(context: context) }
    }
}
