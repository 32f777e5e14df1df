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

    @Test("a driver restart under a command is survived: the link says HELLO again and the command is done")
    func survivesRestart() async throws {
        var faults = FaultPlan()
        faults.restartAfterFrames = 2
        let (driver, task, context) = try await Self.driver(faults)
        defer { task.cancel() }
        let client = try await CommandClient(connectingTo: driver.controlEndpoint, context: context)
        var retry = InstrumentLink.RetryPolicy()
        retry.ackTimeout = .milliseconds(800)
        retry.grace = .milliseconds(300)
        let link = InstrumentLink(client: client, name: "tests", retry: retry)
        let first = try await link.introduce()
        guard case .done = try await link.execute(Self.scan("a")).outcome else {
            Issue.record("the first scan should be done")
            return
        }
        // The driver restarts as soon as it has published this scan's frame: its DONE never comes
        // from the old session. The link notices the new session and sends the scan again.
        let second = try await link.execute(Self.scan("b"))
        switch second.outcome {
        case .done(let done): #expect(done.readback.session != first.session, "done by the new session")
        // The driver's watchdog may have blanked the beam while the daemon was cut off: what to do
        // about that is the daemon's call, not the link's.
        case .failed(let failed): #expect(failed.code == "beam_blanked", "\(failed)")
        case .rejected(let reject): Issue.record("the scan after the restart was refused: \(reject)")
        }
        #expect(await link.restartsSeen == 1)
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
