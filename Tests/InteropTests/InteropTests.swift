import Foundation
import InstrumentDriver
import ScopePilotTestSupport
import SimulatedDriver
import Simulator
import Testing
import Transport
import WireProtocol

/// Python programs written only from docs/PROTOCOL.md talk to the Swift side, both ways.
@Suite("Interop with pyzmq peers written from docs/PROTOCOL.md", .serialized)
struct InteropTests {
    static let loopback = try! Endpoint("tcp://127.0.0.1:*")

    /// Starts the Python reference adapter and returns it with its endpoints.
    static func startPythonDriver(_ arguments: [String] = []) async throws -> (PythonPeer, Endpoint, Endpoint, String) {
        let peer = try await PythonPeer(
            script: "Drivers/python/scopepilot_adapter.py",
            arguments: ["--feed", "tcp://127.0.0.1:*", "--control", "tcp://127.0.0.1:*", "--heartbeat-ms", "100"]
                + arguments)
        let endpoints = try await peer.nextJSON()
        let feed = try Endpoint(try #require(endpoints["feed"] as? String))
        let control = try Endpoint(try #require(endpoints["control"] as? String))
        return (peer, feed, control, try #require(endpoints["session"] as? String))
    }

    static func scan(_ id: String, x: Double = 0) -> Command {
        Command(
            id: CommandID(id), deadline: .seconds(5),
            action: .scanRegion(
                ScanRequest(
                    geometry: ScanGeometry(centerX: x, centerY: 0, fovX: 8, width: 64, height: 48, dwell: 2),
                    channels: ["HAADF", "MAADF"])))
    }

    /// Scans until a frame arrives on the feed (slow joiner), then drains.
    static func waitForFeed(_ client: CommandClient, _ feed: FeedSubscriber) async throws {
        for attempt in 0..<100 {
            _ = try await client.execute(scan("warm-\(attempt)"), ackTimeout: .seconds(10))
            if let event = try? await feed.next(timeout: .milliseconds(50)), case .frame = event {
                while let _ = try? await feed.next(timeout: .milliseconds(50)) {}
                return
            }
        }
        Issue.record("the Python driver's feed never delivered")
    }

    @Test("Swift decodes the Python driver's frames and replies, and refuses its corrupted frames")
    func pythonDriverSwiftDaemon() async throws {
        let (peer, feedEndpoint, controlEndpoint, session) = try await Self.startPythonDriver(["--dtype", "float32"])
        _ = peer
        let context = try ZMQContext()
        let feed = try await FeedSubscriber(connectingTo: feedEndpoint, context: context)
        let client = try await CommandClient(connectingTo: controlEndpoint, context: context)
        let welcome = try await client.hello(client: "interop-test")
        #expect(welcome.session == session)
        #expect(welcome.limits.detectors == ["HAADF", "MAADF"])
        #expect(welcome.capabilities.contains("abort"))
        try await Self.waitForFeed(client, feed)

        for index in 0..<3 {
            let result = try await client.execute(Self.scan("c-\(index)", x: Double(index) * 10))
            guard case .done(let done) = result.outcome else {
                Issue.record("scan \(index): \(result.outcome)")
                return
            }
            guard case .frame(let frame, _) = try await feed.next(timeout: .seconds(5)) else {
                Issue.record("expected a frame")
                return
            }
            #expect(done.readback.frames == [frame.header.seq])
            #expect(frame.header.commandID == CommandID("c-\(index)"))
            #expect(frame.header.dtype == .float32)
            #expect(frame.header.channels == ["HAADF", "MAADF"])
            #expect(frame.header.scan.centerX == Double(index) * 10)
            let pixels = frame.channels[0].floats()
            #expect(pixels.count == 64 * 48)
            #expect(pixels.allSatisfy { $0.isFinite && $0 > 0 })
        }

        let state = try await client.execute(Command(id: "c-state", deadline: .seconds(2), action: .getState))
        guard case .done(let stateDone) = state.outcome else {
            Issue.record("get_state: \(state.outcome)")
            return
        }
        let last = try #require(stateDone.readback.lastSeq)
        let resend = try await client.execute(
            Command(id: "c-resend", deadline: .seconds(5), action: .resendFrames(from: last - 1, to: last)))
        _ = resend
        let frames = await client.resentFrames(2)
        #expect(frames.map(\.header.seq) == [last - 1, last])
        #expect(frames.allSatisfy { $0.header.resent == true })

        let tooBig = Command(
            id: "c-big", deadline: .seconds(5),
            action: .scanRegion(
                ScanRequest(geometry: ScanGeometry(centerX: 0, centerY: 0, fovX: 1e9, width: 64, height: 64, dwell: 1)))
        )
        guard case .rejected(let reject) = try await client.execute(tooBig).outcome else {
            Issue.record("expected out_of_range")
            return
        }
        #expect(reject.code == ReasonCode.outOfRange)
        await client.close()
        await feed.close()
    }

    @Test("corrupted frames from the Python driver are refused precisely and the feed goes on")
    func pythonDriverFaults() async throws {
        let context = try ZMQContext()
        // The adapter corrupts the frames it publishes as seq 200, 201 and 202.
        let faults = ["nan", "short", "badheader"]
        let (faulty, faultyFeed, faultyControl, _) = try await Self.startPythonDriver(
            ["--dtype", "float32"] + faults.enumerated().flatMap { ["--inject", "\(200 + $0.offset):\($0.element)"] })
        _ = faulty
        let feed2 = try await FeedSubscriber(connectingTo: faultyFeed, context: context)
        let client2 = try await CommandClient(connectingTo: faultyControl, context: context)
        _ = try await client2.hello(client: "interop-test")
        // Warm up to seq 199 exactly, so the faults fall on the next three scans.
        var lastSeq: UInt64 = 0
        var subscribed = false
        var attempt = 0
        while lastSeq < 199 {
            attempt += 1
            guard attempt <= 250 else {
                Issue.record("warm-up did not reach seq 199")
                return
            }
            let result = try await client2.execute(Self.scan("w-\(attempt)"))
            guard case .done(let d) = result.outcome, let seq = d.readback.frames?.first else { return }
            lastSeq = seq
            if let event = try? await feed2.next(timeout: subscribed ? .seconds(2) : .milliseconds(20)),
                case .frame = event
            {
                subscribed = true
            }
        }
        #expect(subscribed)
        while let _ = try? await feed2.next(timeout: .milliseconds(100)) {}
        var codes: [ProtocolError.Code] = []
        for index in 0..<4 {
            _ = try await client2.execute(Self.scan("f-\(index)"))
            switch try await feed2.next(timeout: .seconds(5)) {
            case .rejected(let error, _, _): codes.append(error.code)
            case .frame(let frame, _):
                #expect(index == 3, "frame \(frame.header.seq) should have been refused")
            }
        }
        #expect(codes == [.nonFinitePixels, .payloadSize, .missingField])
        await client2.close()
        await feed2.close()
    }

    /// Serves a test-pattern instrument from the Swift driver runtime and runs the Python client
    /// against it; returns the client's summary line.
    static func runPythonClient(
        instrument: any Instrument = TestPatternInstrument(), security: SocketSecurity = .plain,
        arguments: [String] = []
    ) async throws -> [String: Any] {
        var configuration = DriverRuntime.Configuration(feed: loopback, control: loopback)
        configuration.heartbeat = .milliseconds(100)
        configuration.security = security
        let driver = try await DriverRuntime(
            instrument: instrument, configuration: configuration, context: try ZMQContext())
        let task = Task { await driver.run() }
        defer { task.cancel() }
        let client = try await PythonPeer(
            script: "Tests/InteropTests/python/protocol_client.py",
            arguments: ["--feed", driver.feedEndpoint.text, "--control", driver.controlEndpoint.text] + arguments,
            parentAware: false)
        let summary = try await client.nextJSON(timeout: .seconds(60))
        #expect(summary["ok"] as? Bool == true, "Python client: \(summary)\n\(client.stderr)")
        #expect(try await client.exitStatus() == 0)
        return summary
    }

    @Test("the Python client, written from the document, checks the Swift driver")
    func swiftDriverPythonDaemon() async throws {
        let summary = try await Self.runPythonClient()
        #expect(summary["frames"] as? Int == 3)
    }

    @Test("the simulated driver passes the same checks: every command, every refusal, over loopback")
    func simulatedDriverConformance() async throws {
        let summary = try await Self.runPythonClient(instrument: SimulatedInstrument(scope: VirtualMicroscope()))
        #expect(summary["frames"] as? Int == 3)
    }

    @Test("CURVE works across languages: pyzmq client with keys from `scopepilot keys`, Swift CURVE driver")
    func curveInterop() async throws {
        let keys = try KeyFolder()
        let summary = try await Self.runPythonClient(
            security: .curveServer(keys: keys.driver, allowedClients: [keys.daemon.publicKey]),
            arguments: ["--keys", keys.url.path])
        #expect(summary["frames"] as? Int == 3)
    }

    @Test("CURVE works across languages: Swift client, pyzmq CURVE driver with a ZAP allow-list")
    func curveInteropReverse() async throws {
        let folder = try KeyFolder()
        let keys = folder.url
        let driverKeys = folder.driver
        let daemonKeys = folder.daemon
        let stranger = try CurveKeyPair.generate()
        let (peer, feedEndpoint, controlEndpoint, _) = try await Self.startPythonDriver(["--keys", keys.path])
        _ = peer
        let context = try ZMQContext()
        func options(_ own: CurveKeyPair) -> SocketOptions {
            var options = CommandClient.defaultOptions
            options.security = .curveClient(keys: own, serverPublicKey: driverKeys.publicKey)
            return options
        }
        let client = try await CommandClient(
            connectingTo: controlEndpoint, context: context, options: options(daemonKeys))
        let welcome = try await client.hello(client: "interop-test", timeout: .seconds(10))
        #expect(welcome.driver.contains("python"))
        var feedOptions = FeedSubscriber.defaultOptions
        feedOptions.security = .curveClient(keys: daemonKeys, serverPublicKey: driverKeys.publicKey)
        let feed = try await FeedSubscriber(connectingTo: feedEndpoint, context: context, options: feedOptions)
        try await Self.waitForFeed(client, feed)

        let intruder = try await CommandClient(
            connectingTo: controlEndpoint, context: context, options: options(stranger))
        await #expect(throws: (any Error).self) {
            try await intruder.hello(client: "intruder", timeout: .milliseconds(500))
        }
        await intruder.close()
        await client.close()
        await feed.close()
    }
}

/// A temporary key folder in the layout README.md documents: driver and daemon key pairs, and the
/// daemon's public key in `authorized/`, the driver's allow-list.
final class KeyFolder {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-keys-\(UUID().uuidString)")
    let driver: CurveKeyPair
    let daemon: CurveKeyPair

    init() throws {
        driver = try CurveKeyPair.generate()
        daemon = try CurveKeyPair.generate()
        try CurveCertificate.write(driver, name: "driver", directory: url)
        try CurveCertificate.write(daemon, name: "daemon", directory: url)
        try CurveCertificate.write(daemon, name: "daemon", directory: url.appendingPathComponent("authorized"))
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
