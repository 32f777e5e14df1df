import DecisionLog
import Foundation
import InstrumentDriver
import SimulatedDriver
import Simulator
import Testing
import Transport
import WireProtocol

/// `scopepilot run` as a separate process against a virtual microscope served by the test.
@Suite("scopepilot run", .serialized)
struct RunCLITests {
    struct Setup {
        let driver: DriverRuntime
        let instrument: SimulatedInstrument
        let serving: Task<Void, Never>
        let folder: URL
        let database: String
        let process: Process

        init() async throws {
            let context = try ZMQContext()
            let loopback = try Endpoint("tcp://127.0.0.1:*")
            instrument = SimulatedInstrument(scope: VirtualMicroscope())
            driver = try await DriverRuntime(
                instrument: instrument, configuration: .init(feed: loopback, control: loopback), context: context)
            let runtime = driver
            serving = Task { await runtime.run() }
            folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "scopepilot-run-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            database = folder.appendingPathComponent("log.sqlite").path
            let policy = folder.appendingPathComponent("policy.yaml")
            try """
            policy: raster-survey
            parameters: {center_nm: [-120, 60], columns: 10, rows: 10, fov_nm: 3.2, pixels: 128, dwell_us: 10}
            """.write(to: policy, atomically: true, encoding: .utf8)
            process = Process()
            process.executableURL = CLI.binary
            process.arguments = [
                "run", "--feed", driver.feedEndpoint.text, "--control", driver.controlEndpoint.text, "--policy",
                policy.path, "--db", database, "--model", "none",
            ]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
        }

        /// Waits until the daemon has sent `count` commands (by the driver's count).
        func waitForCommands(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(120)
            while await driver.commandsReceived.count < count {
                guard ContinuousClock.now < deadline, process.isRunning else {
                    Issue.record("the daemon did not send \(count) commands")
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        func finish() {
            if process.isRunning { process.terminate() }
            serving.cancel()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    @Test("killed with SIGKILL mid-session, the daemon leaves a sound log with every command's decision")
    func survivesSIGKILL() async throws {
        let setup = try await Setup()
        defer { setup.finish() }
        try await setup.waitForCommands(5)
        kill(setup.process.processIdentifier, SIGKILL)
        setup.process.waitUntilExit()
        #expect(setup.process.terminationReason == .uncaughtSignal)
        let log = try DecisionLog(path: setup.database)
        #expect(try log.integrityCheck())
        let logged = try log.query(
            "SELECT c.id FROM commands c JOIN decisions d ON d.id = c.decision_id WHERE d.made_at <= c.sent_at",
            arguments: [])
        let ids = Set(logged.column("id").compactMap { $0 })
        let received = await setup.driver.commandsReceived
        #expect(received.count >= 5)
        for id in received { #expect(ids.contains(id.description), "the driver received \(id); not in the log") }
        let session = try #require(log.sessions().column("session").first ?? nil)
        #expect(try log.session(session).column("status").first == "running", "killed: never closed")
    }

    @Test("on SIGTERM the daemon stops issuing commands, blanks the beam, closes the session and exits 0")
    func gracefulOnSIGTERM() async throws {
        let setup = try await Setup()
        defer { setup.finish() }
        try await setup.waitForCommands(3)
        setup.process.terminate()  // SIGTERM
        setup.process.waitUntilExit()
        #expect(setup.process.terminationStatus == 0)
        #expect(setup.process.terminationReason == .exit)
        let log = try DecisionLog(path: setup.database)
        let session = try #require(log.sessions().column("session").first ?? nil)
        #expect(try log.session(session).column("status").first == "stopped")
        let decisions = try log.decisions(session: session)
        #expect(decisions.rows.last?[2] == "blank_beam")
        #expect(decisions.rows.last?[6] == "done")
        #expect(await setup.instrument.isBlanked)
        #expect(await setup.driver.commandsReceived.last?.description == decisions.rows.last?[5])
    }
}
