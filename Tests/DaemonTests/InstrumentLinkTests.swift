import Daemon
import Foundation
import InstrumentDriver
import SimulatedDriver
import Simulator
import Testing
import Transport
import WireProtocol

@Suite("Instrument link over loopback")
struct InstrumentLinkTests {
    static func driver(_ faults: FaultPlan) async throws -> (DriverRuntime, Task<Void, Never>, ZMQContext) {
        let context = try ZMQContext()
        let loopback = try Endpoint("tcp://127.0.0.1:*")
        var configuration = DriverRuntime.Configuration(feed: loopback, control: loopback)
        configuration.faults = faults
        let driver = try await DriverRuntime(
            instrument: SimulatedInstrument(scope: VirtualMicroscope()), configuration: configuration, context: context)
        return (driver, Task { await driver.run() }, context)
    }

    static func scan(_ id: String) -> Command {
        Command(
            id: CommandID(id), deadline: .seconds(2),
            action: .scanRegion(
                ScanRequest(geometry: ScanGeometry(centerX: 0, centerY: 0, fovX: 2, width: 32, height: 32, dwell: 2))))
    }

    @Test("a driver restart mid-session is survived: the link says HELLO again and the command is done")
    func survivesRestart() async throws {
        var faults = FaultPlan()
        faults.restartAfterFrames = 1
        let (driver, task, context) = try await Self.driver(faults)
        defer { task.cancel() }
        let client = try await CommandClient(connectingTo: driver.controlEndpoint, context: context)
        var retry = InstrumentLink.RetryPolicy()
        retry.ackTimeout = .milliseconds(800)
        retry.grace = .milliseconds(300)
        let link = InstrumentLink(client: client, name: "tests", retry: retry)
        let first = try await link.introduce()
        // The driver restarts as soon as it has published this scan's frame, so the scan's own DONE
        // may be lost with the old session: whatever its outcome, the link must go on.
        _ = try? await link.execute(Self.scan("a"))
        // The driver restarted after its first frame, with a new session that has not heard HELLO.
        var second: CommandResult?
        for attempt in 0..<20 where second == nil {
            second = try? await link.execute(Self.scan("b-\(attempt)"))
            if second == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        // The command reached the new driver session: it was carried out, or refused because the
        // driver's watchdog blanked the beam while the daemon was cut off (what to do about that is
        // the policy's call, not the link's).
        switch try #require(second).outcome {
        case .done: break
        case .failed(let failed): #expect(failed.code == "beam_blanked", "\(failed)")
        case .rejected(let reject): Issue.record("the scan after the restart was refused: \(reject)")
        }
        _ = try await link.execute(Command(id: CommandID("unblank"), deadline: .seconds(2), action: .unblankBeam))
        guard case .done = try await link.execute(Self.scan("c")).outcome else {
            Issue.record("scanning should work in the new driver session")
            return
        }
        // The fault restarts the driver after the first frame of every session, so at least one.
        #expect(await link.restartsSeen >= 1)
        #expect(await link.welcome?.session != first.session)
        #expect(await link.resends >= 1)
        await client.close()
    }

    @Test("a refusal other than no_hello is returned as the outcome, not retried")
    func refusalIsAnOutcome() async throws {
        let (driver, task, context) = try await Self.driver(FaultPlan())
        defer { task.cancel() }
        let client = try await CommandClient(connectingTo: driver.controlEndpoint, context: context)
        let link = InstrumentLink(client: client, name: "tests")
        try await link.introduce()
        let far = Command(
            id: CommandID("far"), deadline: .seconds(5),
            action: .scanRegion(
                ScanRequest(
                    geometry: ScanGeometry(centerX: 0, centerY: 0, fovX: 1e7, width: 32, height: 32, dwell: 2))))
        guard case .rejected(let reject) = try await link.execute(far).outcome else {
            Issue.record("an out-of-range field of view should be rejected")
            return
        }
        #expect(reject.code == ReasonCode.outOfRange)
        #expect(await link.resends == 0)
        await client.close()
    }
}
