import Foundation
import InstrumentDriver
import ScopePilotTestSupport
import Testing
import Transport
import WireProtocol

@Suite("Command channel: daemon DEALER and driver ROUTER")
struct CommandChannelTests {
    static func scan(_ id: String, fov: Double = 4, deadline: Duration = .seconds(5)) -> Command {
        Command(
            id: CommandID(id), deadline: deadline,
            action: .scanRegion(
                ScanRequest(geometry: ScanGeometry(centerX: 1, centerY: 2, fovX: fov, width: 32, height: 16, dwell: 1)))
        )
    }

    @Test("HELLO, then a scan: ACK, DONE with readback, and the frame on the feed with the command's id")
    func helloAndScan() async throws {
        let rig = try await LoopbackRig()
        let welcome = try await rig.client.hello(client: "tests")
        #expect(await welcome.session == rig.driver.session)
        #expect(welcome.capabilities.contains("resend_frames"))
        #expect(welcome.limits.detectors == ["HAADF", "MAADF"])
        try await rig.waitForFeed()

        let result = try await rig.client.execute(Self.scan("c-1"))
        guard case .done(let done) = result.outcome else {
            Issue.record("expected DONE, got \(result.outcome)")
            return
        }
        #expect(result.ackedAt != nil)
        #expect(result.sentAt <= result.ackedAt! && result.ackedAt! <= result.finishedAt)
        let seq = try #require(done.readback.frames?.first)
        #expect(done.readback.scan?.width == 32)
        guard case .frame(let frame, _) = try await rig.feed.next(timeout: .seconds(5)) else {
            Issue.record("expected the frame")
            return
        }
        #expect(frame.header.seq == seq)
        #expect(frame.header.commandID == "c-1")
        #expect(frame.header.scan.height == 16)
        await rig.shutdown()
    }

    @Test("commands before HELLO are refused with no_hello")
    func helloFirst() async throws {
        let rig = try await LoopbackRig()
        let result = try await rig.client.execute(Self.scan("c-1"))
        guard case .rejected(let reject) = result.outcome else {
            Issue.record("expected REJECT, got \(result.outcome)")
            return
        }
        #expect(reject.code == ReasonCode.notIntroduced)
        await rig.shutdown()
    }

    @Test("a command outside the instrument's limits is refused with out_of_range and the reason")
    func outOfRange() async throws {
        let rig = try await LoopbackRig()
        _ = try await rig.client.hello(client: "tests")
        let result = try await rig.client.execute(Self.scan("c-1", fov: 1e9))
        guard case .rejected(let reject) = result.outcome else {
            Issue.record("expected REJECT, got \(result.outcome)")
            return
        }
        #expect(reject.code == ReasonCode.outOfRange)
        #expect(reject.reason.contains("field of view"))
        await rig.shutdown()
    }

    @Test("a command that overruns its deadline is FAILED with deadline_exceeded")
    func deadlineExceeded() async throws {
        let instrument = TestPatternInstrument()
        await instrument.setScanDelay(.seconds(2))
        let rig = try await LoopbackRig(instrument: instrument)
        _ = try await rig.client.hello(client: "tests")
        let result = try await rig.client.execute(Self.scan("c-slow", deadline: .milliseconds(100)))
        guard case .failed(let failed) = result.outcome else {
            Issue.record("expected FAILED, got \(result.outcome)")
            return
        }
        #expect(failed.code == ReasonCode.deadlineExceeded)
        await rig.shutdown()
    }

    @Test("abort cancels a running scan, which ends FAILED aborted")
    func abort() async throws {
        let instrument = TestPatternInstrument()
        await instrument.setScanDelay(.seconds(3))
        let rig = try await LoopbackRig(instrument: instrument)
        _ = try await rig.client.hello(client: "tests")
        let client = rig.client
        let slow = Task { try await client.execute(Self.scan("c-slow", deadline: .seconds(10))) }
        try await Task.sleep(for: .milliseconds(100))
        let abort = try await rig.client.execute(
            Command(id: "c-abort", deadline: .seconds(1), action: .abort("c-slow")))
        guard case .done = abort.outcome else {
            Issue.record("abort: \(abort.outcome)")
            return
        }
        guard case .failed(let failed) = try await slow.value.outcome else {
            Issue.record("expected the scan to fail")
            return
        }
        #expect(failed.code == ReasonCode.aborted)
        await rig.shutdown()
    }

    @Test("a command id sent twice is done once and answered the same way twice")
    func idempotentIDs() async throws {
        let rig = try await LoopbackRig()
        _ = try await rig.client.hello(client: "tests")
        let move = Command(id: "c-move", deadline: .seconds(5), action: .moveStage(StagePosition(x: 10, y: 20)))
        let first = try await rig.client.execute(move)
        _ = try await rig.client.execute(
            Command(id: "c-move-2", deadline: .seconds(5), action: .moveStage(StagePosition(x: 99, y: 99))))
        let again = try await rig.client.execute(move)
        guard case .done(let a) = first.outcome, case .done(let b) = again.outcome else {
            Issue.record("expected DONE twice")
            return
        }
        #expect(a.readback.stage == b.readback.stage)
        // The repeat did not move the stage back.
        #expect(await rig.instrument.state().stage == StagePosition(x: 99, y: 99))
        await rig.shutdown()
    }

    @Test("resend_frames sends kept frames over the command channel and names the ones no longer kept")
    func resend() async throws {
        let rig = try await LoopbackRig(ringCapacity: 2)
        _ = try await rig.client.hello(client: "tests")
        var seqs: [UInt64] = []
        for index in 0..<3 {
            let result = try await rig.client.execute(Self.scan("c-\(index)"))
            guard case .done(let done) = result.outcome else { return }
            seqs += done.readback.frames ?? []
        }
        let resend = try await rig.client.execute(
            Command(id: "c-resend", deadline: .seconds(5), action: .resendFrames(from: seqs[0], to: seqs[2])))
        guard case .done(let done) = resend.outcome else {
            Issue.record("expected DONE, got \(resend.outcome)")
            return
        }
        let frames = await rig.client.resentFrames(2)
        #expect(frames.map(\.header.seq) == [seqs[1], seqs[2]])
        #expect(frames.allSatisfy { $0.header.resent == true })
        #expect(done.readback.missing == [seqs[0]])
        await rig.shutdown()
    }

    @Test("no ACK from a silent driver: the command times out instead of hanging")
    func silentDriver() async throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(.router, context: context, name: "silent")
        let bound = try await router.bind(loopback)
        let client = try await CommandClient(connectingTo: bound, context: context)
        let start = ContinuousClock.now
        do {
            _ = try await client.execute(Self.scan("c-1", deadline: .seconds(10)), ackTimeout: .milliseconds(200))
            Issue.record("expected a timeout")
        } catch let error as TransportError {
            #expect(error.code == .timedOut)
            #expect(error.message.contains("acknowledge"))
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        await client.close()
        await router.close()
    }

    @Test("an ACK without DONE: the command fails at its deadline plus grace")
    func ackButNoDone() async throws {
        let context = try ZMQContext()
        let server = try await CommandServer(bindingTo: loopback, context: context)
        let client = try await CommandClient(connectingTo: server.endpoint, context: context)
        let responder = Task {
            let incoming = try await server.next(timeout: .seconds(5))
            if case .success(.command(let command)) = incoming.message {
                try await server.send(.ack(Ack(id: command.id)), to: incoming.peer)
            }
        }
        do {
            _ = try await client.execute(Self.scan("c-1", deadline: .milliseconds(100)), grace: .milliseconds(100))
            Issue.record("expected a timeout")
        } catch let error as TransportError {
            #expect(error.code == .timedOut)
            #expect(error.message.contains("finish"))
        }
        try await responder.value
        await client.close()
        await server.close()
    }

    @Test("a HELLO in another major version is refused by the driver with protocol_version")
    func driverRefusesOtherMajor() async throws {
        let rig = try await LoopbackRig()
        let hello: [String: Any] = [
            "protocol": "2.0", "type": "hello", "id": "hello-x", "client": "future", "heartbeat_ms": 1000,
        ]
        try await rig.client.send(parts: [Array(try JSONSerialization.data(withJSONObject: hello))])
        let event = await firstEvent(from: rig.client) {
            if case .stray(.reject) = $0 { return true }
            return false
        }
        guard case .stray(.reject(let reject)) = event else {
            Issue.record("no REJECT for the HELLO of another major version")
            await rig.shutdown()
            return
        }
        #expect(reject.id == "hello-x")
        #expect(reject.code == ReasonCode.protocolVersion)
        #expect(reject.reason.contains("2.0"))
        await rig.shutdown()
    }

    @Test("a WELCOME in another major version is refused by the daemon")
    func daemonRefusesOtherMajor() async throws {
        let context = try ZMQContext()
        let server = try await CommandServer(bindingTo: loopback, context: context)
        let client = try await CommandClient(connectingTo: server.endpoint, context: context)
        let responder = Task {
            let incoming = try await server.next(timeout: .seconds(5))
            guard case .success(.hello(let hello)) = incoming.message else { return }
            let limits = InstrumentLimits(
                stageX: 0...1, stageY: 0...1, fov: 1...2, dwell: 1...2, pixels: 16...32, detectors: ["HAADF"])
            let encoded = try ControlCodec.encode(
                .welcome(
                    Welcome(
                        id: hello.id, driver: "future", instrument: "x", session: "s", capabilities: [], limits: limits)
                ))
            var welcome = try JSONSerialization.jsonObject(with: Data(encoded[0].bytes)) as! [String: Any]
            welcome["protocol"] = "2.3"
            try await server.send(
                parts: [Array(try JSONSerialization.data(withJSONObject: welcome))], to: incoming.peer)
        }
        do {
            _ = try await client.hello(client: "tests", timeout: .seconds(5))
            Issue.record("expected the WELCOME to be refused")
        } catch let error as ProtocolError {
            #expect(error.code == .incompatibleVersion)
            #expect(error.message.contains("2.3"))
        }
        try await responder.value
        await client.close()
        await server.close()
    }

    @Test("a malformed command is REJECTed by id, and garbage without an id gets an error reply")
    func malformedCommands() async throws {
        let rig = try await LoopbackRig()
        _ = try await rig.client.hello(client: "tests")
        let bad: [String: Any] = [
            "protocol": "1.0", "type": "command", "id": "c-bad", "deadline_ms": 1000, "action": "scan_region",
            "params": ["fov_x_nm": -1],
        ]
        try await rig.client.send(parts: [Array(try JSONSerialization.data(withJSONObject: bad))])
        try await rig.client.send(parts: [Array("garbage".utf8)])
        let reject = await firstEvent(from: rig.client) {
            if case .stray(.reject(let reject)) = $0, reject.id == "c-bad" { return true }
            return false
        }
        guard case .stray(.reject(let rejected)) = reject else {
            Issue.record("no REJECT for the malformed command")
            await rig.shutdown()
            return
        }
        #expect(rejected.code == ReasonCode.malformed)
        #expect(rejected.reason.contains("params"))
        let error = await firstEvent(from: rig.client) {
            if case .error = $0 { return true }
            return false
        }
        guard case .error(let report) = error else {
            Issue.record("no error reply for the garbage message")
            await rig.shutdown()
            return
        }
        #expect(report.code == "not_json")
        await rig.shutdown()
    }

    @Test("the driver blanks the beam when the daemon falls silent")
    func watchdog() async throws {
        // Generous margins: on a loaded machine (a CI build beside the tests) a heartbeat has been
        // seen late by more than 800 ms, so the watchdog allows 3 s.
        let rig = try await LoopbackRig(heartbeat: .milliseconds(50), watchdog: .seconds(3))
        _ = try await rig.client.hello(client: "tests")
        #expect(await rig.instrument.isBlanked == false)
        // Heartbeats keep it from tripping...
        await rig.client.startHeartbeats(every: .milliseconds(50))
        try await Task.sleep(for: .seconds(1))
        #expect(await rig.instrument.isBlanked == false)
        // ...and silence trips it.
        await rig.client.close()
        var blanked = false
        for _ in 0..<200 where !blanked {
            try await Task.sleep(for: .milliseconds(50))
            blanked = await rig.instrument.isBlanked
        }
        #expect(blanked, "the beam should be blanked after the daemon fell silent")
        await rig.feed.close()
        rig.driverTask.cancel()
    }

    @Test("the daemon hears the driver's heartbeats")
    func heartbeatsFromDriver() async throws {
        let rig = try await LoopbackRig(heartbeat: .milliseconds(50))
        _ = try await rig.client.hello(client: "tests")
        let event = await firstEvent(from: rig.client) {
            if case .heartbeat = $0 { return true }
            return false
        }
        guard case .heartbeat(let beat) = event else {
            Issue.record("no heartbeat from the driver")
            await rig.shutdown()
            return
        }
        #expect(beat.sentAt > 0)
        #expect(await rig.client.lastHeard != nil)
        await rig.shutdown()
    }
}
