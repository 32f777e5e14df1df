import Foundation
import Testing
import Transport
import WireProtocol

@Suite("CURVE authentication and endpoint policy")
struct CurveTests {
    static func server(
        _ context: ZMQContext, allowing clients: Set<String>
    ) async throws -> (CommandServer, CurveKeyPair) {
        let keys = try CurveKeyPair.generate()
        var options = CommandServer.defaultOptions
        options.security = .curveServer(keys: keys, allowedClients: clients)
        return (try await CommandServer(bindingTo: loopback, context: context, options: options), keys)
    }

    static func client(
        _ context: ZMQContext, to server: CommandServer, serverKey: String, keys: CurveKeyPair
    ) async throws -> CommandClient {
        var options = CommandClient.defaultOptions
        options.security = .curveClient(keys: keys, serverPublicKey: serverKey)
        return try await CommandClient(connectingTo: server.endpoint, context: context, options: options)
    }

    @Test("a client whose key is on the allow-list gets through; one whose key is not is refused")
    func allowList() async throws {
        let context = try ZMQContext()
        let allowed = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let (server, serverKeys) = try await Self.server(context, allowing: [allowed.publicKey])
        let good = try await Self.client(context, to: server, serverKey: serverKeys.publicKey, keys: allowed)
        let bad = try await Self.client(context, to: server, serverKey: serverKeys.publicKey, keys: stranger)

        try await bad.sendHeartbeatIgnoringTimeout()
        try await good.sendHeartbeat()
        // Only the allowed client's heartbeat reaches the server.
        let incoming = try await server.next(timeout: .seconds(5))
        guard case .success(.heartbeat) = incoming.message else {
            Issue.record("expected the allowed client's heartbeat")
            return
        }
        await #expect(throws: TransportError.self) { try await server.next(timeout: .milliseconds(300)) }
        await good.close()
        await bad.close()
        await server.close()
    }

    @Test("a plain client cannot talk to a CURVE server")
    func plainClientRefused() async throws {
        let context = try ZMQContext()
        let (server, _) = try await Self.server(context, allowing: [])
        let plain = try await CommandClient(connectingTo: server.endpoint, context: context)
        try await plain.sendHeartbeatIgnoringTimeout()
        await #expect(throws: TransportError.self) { try await server.next(timeout: .milliseconds(300)) }
        await plain.close()
        await server.close()
    }

    @Test("binding or connecting beyond loopback without keys is refused with instructions")
    func insecureEndpointsRefused() async throws {
        let context = try ZMQContext()
        do {
            _ = try await FeedPublisher(bindingTo: try Endpoint("tcp://0.0.0.0:*"), context: context)
            Issue.record("bound a public address without CURVE")
        } catch {
            #expect(error.code == .insecureEndpoint)
            #expect(error.message.contains("scopepilot keys generate"))
        }
        do {
            _ = try await CommandClient(connectingTo: try Endpoint("tcp://192.0.2.10:5556"), context: context)
            Issue.record("connected beyond loopback without CURVE")
        } catch {
            #expect(error.code == .insecureEndpoint)
        }
        // With CURVE, a wildcard bind is allowed.
        var options = FeedPublisher.defaultOptions
        options.security = .curveServer(keys: try CurveKeyPair.generate(), allowedClients: [])
        let publisher = try await FeedPublisher(
            bindingTo: try Endpoint("tcp://0.0.0.0:*"), context: context, options: options)
        await publisher.close()
    }

    @Test("key files round-trip in ZeroMQ's certificate format and are refused when wrong")
    func keyFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-keys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let keys = try CurveKeyPair.generate()
        let (publicURL, secretURL) = try CurveCertificate.write(keys, name: "daemon", directory: directory)
        #expect(try CurveCertificate.readKeyPair(secretURL) == keys)
        #expect(try CurveCertificate.read(publicURL).secretKey == nil)
        let attributes = try FileManager.default.attributesOfItem(atPath: secretURL.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(throws: TransportError.self) { try CurveCertificate.write(keys, name: "daemon", directory: directory) }
        #expect(throws: TransportError.self) { try CurveCertificate.readKeyPair(publicURL) }
        #expect(throws: TransportError.self) {
            try CurveCertificate.read(directory.appendingPathComponent("missing.key"))
        }
        let allowList = try CurveCertificate.readAllowList(directory)
        #expect(allowList == [keys.publicKey])
        #expect(throws: TransportError.self) {
            try CurveKeyPair(publicKey: try CurveKeyPair.generate().publicKey, secretKey: keys.secretKey)
        }
    }

    @Test(
        "endpoints parse strictly and know whether they are local",
        arguments: [
            ("tcp://127.0.0.1:5555", true), ("tcp://localhost:1", true), ("tcp://[::1]:5", true),
            ("tcp://127.8.9.1:*", true),
            ("tcp://lo:5555", true), ("ipc:///tmp/x", true), ("inproc://x", true),
            ("tcp://*:5555", false), ("tcp://0.0.0.0:1", false), ("tcp://10.0.0.2:1", false), ("tcp://eth0:9", false),
            ("tcp://1270.0.0.1:1", false),
        ])
    func endpointLocality(text: String, local: Bool) throws {
        #expect(try Endpoint(text).isLocal == local)
    }

    @Test(
        "malformed endpoints are refused",
        arguments: ["127.0.0.1:5555", "tcp://127.0.0.1", "tcp://:5555", "udp://x:1", "tcp://h:port"])
    func badEndpoints(text: String) {
        #expect(throws: TransportError.self) { try Endpoint(text) }
    }
}

extension CommandClient {
    /// A heartbeat whose delivery may never complete (the server refuses the connection).
    func sendHeartbeatIgnoringTimeout() async throws {
        do { try await sendHeartbeat() } catch  where error.code == .timedOut {}
    }
}
