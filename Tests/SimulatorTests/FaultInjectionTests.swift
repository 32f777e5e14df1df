import Foundation
import InstrumentDriver
import ScopePilotTestSupport
import SimulatedDriver
import Simulator
import Testing
import Transport
import WireProtocol

@Suite("Injected faults over loopback")
struct FaultInjectionTests {
    /// A driver with `faults` serving a small virtual microscope, and a subscribed client.
    struct Rig {
        let driver: DriverRuntime
        let task: Task<Void, Never>
        let client: CommandClient
        let feed: FeedSubscriber
        var counter = 0

        init(faults: FaultPlan) async throws {
            let context = try ZMQContext()
            let loopback = try Endpoint("tcp://127.0.0.1:*")
            var configuration = DriverRuntime.Configuration(feed: loopback, control: loopback)
            configuration.faults = faults
            driver = try await DriverRuntime(
                instrument: SimulatedInstrument(scope: VirtualMicroscope()), configuration: configuration,
                context: context)
            let driver = driver
            task = Task { await driver.run() }
            client = try await CommandClient(connectingTo: driver.controlEndpoint, context: context)
            feed = try await FeedSubscriber(connectingTo: driver.feedEndpoint, context: context)
            _ = try await client.hello(client: "tests")
            // The driver's frames are numbered from 0 and the faults name seqs, so wait for the
            // subscription to be in place before the first scan: the feed cannot be probed without
            // using up seqs. A quiet period is enough on loopback.
            try await Task.sleep(for: .milliseconds(300))
        }

        mutating func scan(deadline: Duration = .seconds(10)) async throws -> CommandResult {
            counter += 1
            let geometry = ScanGeometry(centerX: 0, centerY: 0, fovX: 2, width: 32, height: 32, dwell: 2)
            return try await client.execute(
                Command(
                    id: CommandID("c-\(counter)"), deadline: deadline,
                    action: .scanRegion(ScanRequest(geometry: geometry))),
                grace: .milliseconds(200))
        }

        func events(_ count: Int) async throws -> [FeedEvent] {
            var out: [FeedEvent] = []
            while out.count < count, let event = try? await feed.next(timeout: .seconds(3)) { out.append(event) }
            return out
        }

        func stop() async {
            await client.close()
            await feed.close()
            task.cancel()
        }
    }

    @Test("dropped, duplicated, delayed and NaN frames are each seen as such, and resend recovers the dropped")
    func frameFaults() async throws {
        var faults = FaultPlan()
        faults.dropFrames = [1]
        faults.duplicateFrames = [2]
        faults.delayFrames = [3]
        faults.nanFrames = [5]
        var rig = try await Rig(faults: faults)
        for _ in 0..<6 { _ = try await rig.scan() }
        let events = try await rig.events(7)
        var observed: [String] = []
        for event in events {
            switch event {
            case .frame(let frame, let observation): observed.append("\(frame.header.seq) \(observation)")
            case .rejected(let error, _, let seq): observed.append("\(seq ?? 99) rejected \(error.code)")
            }
        }
        #expect(
            observed == [
                "0 first", "2 gap(missing: ClosedRange(1...1))", "2 duplicate", "4 gap(missing: ClosedRange(3...3))",
                "3 recovered", "5 rejected non_finite_pixels",
            ], "\(observed)")
        let resend = try await rig.client.execute(
            Command(id: "r", deadline: .seconds(5), action: .resendFrames(from: 1, to: 1)))
        _ = resend
        #expect(await rig.client.resentFrames(1).map(\.header.seq) == [1])
        await rig.stop()
    }

    @Test("a restarted driver has a new session, asks for HELLO again, and then goes on")
    func restart() async throws {
        var faults = FaultPlan()
        faults.restartAfterFrames = 2
        var rig = try await Rig(faults: faults)
        let before = await rig.driver.session
        _ = try await rig.scan()
        // Publishes frame 1, then the driver restarts and forgets this command: it times out.
        _ = try? await rig.scan(deadline: .milliseconds(500))
        try await Task.sleep(for: .milliseconds(500))
        #expect(await rig.driver.session != before)
        #expect(await rig.driver.restarts == 1)
        // The daemon's sockets reconnect by themselves; the driver no longer knows it.
        var refused: CommandResult?
        for _ in 0..<20 where refused == nil {
            refused = try? await rig.scan(deadline: .seconds(2))
            if refused == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard case .rejected(let reject) = try #require(refused).outcome else {
            Issue.record("expected no_hello after the restart")
            return
        }
        #expect(reject.code == ReasonCode.notIntroduced)
        let welcome = try await rig.client.hello(client: "tests")
        #expect(await welcome.session == rig.driver.session)
        // If the daemon was silent past the watchdog meanwhile, the beam is blanked: unblank it.
        _ = try await rig.client.execute(Command(id: "unblank", deadline: .seconds(2), action: .unblankBeam))
        let again = try await rig.scan()
        guard case .done = again.outcome else {
            Issue.record("scanning should work again after HELLO: \(again.outcome)")
            return
        }
        await rig.stop()
    }

    @Test("a slow DONE arrives late but arrives")
    func slowReply() async throws {
        var faults = FaultPlan()
        faults.slowReplyEvery = 2
        faults.slowReplyDelay = .milliseconds(600)
        var rig = try await Rig(faults: faults)
        let fast = try await rig.scan()
        let slow = try await rig.scan()
        // The delay is a lower bound by construction; how fast the other reply is depends on the
        // machine's load, so it is not compared.
        #expect(slow.finishedAt - slow.sentAt >= 0.6)
        guard case .done = fast.outcome else {
            Issue.record("the first reply should be DONE")
            return
        }
        guard case .done = slow.outcome else {
            Issue.record("the slow reply should still be DONE")
            return
        }
        await rig.stop()
    }
}
