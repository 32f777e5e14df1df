import ChildProcess
import DecisionLog
import Foundation
import InstrumentDriver
import ScopePilotTestSupport
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
        let process: ChildProcess

        /// A virtual microscope (scans taking as long as on an instrument when `realtime`) and
        /// `scopepilot run` against it with a raster of `dwell` µs per pixel.
        init(realtime: Bool = false, pixels: Int = 128, dwell: Double = 10) async throws {
            let context = try ZMQContext()
            let loopback = try Endpoint("tcp://127.0.0.1:*")
            instrument = SimulatedInstrument(scope: VirtualMicroscope(), realtime: realtime)
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
            parameters: {center_nm: [-120, 60], columns: 10, rows: 10, fov_nm: 3.2, pixels: \(pixels), dwell_us: \(dwell)}
            """.write(to: policy, atomically: true, encoding: .utf8)
            process = try await ChildProcess(
                CLI.binary,
                [
                    "run", "--feed", driver.feedEndpoint.text, "--control", driver.controlEndpoint.text, "--policy",
                    policy.path, "--db", database, "--model", "none",
                ])
        }

        /// Waits until the daemon has sent `count` commands (by the driver's count).
        func waitForCommands(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(120)
            while await driver.commandsReceived.count < count {
                guard ContinuousClock.now < deadline, process.isRunning else {
                    Issue.record("the daemon did not send \(count) commands:\n\(process.standardError)")
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        func finish() async {
            await process.terminate()
            serving.cancel()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    @Test("killed with SIGKILL mid-session, the daemon leaves a sound log with every command's decision")
    func survivesSIGKILL() async throws {
        let setup = try await Setup()
        try await setup.waitForCommands(5)
        setup.process.send(SIGKILL)
        let exit = await setup.process.waitForExit(timeout: .seconds(10))
        #expect(exit == .signalled(SIGKILL))
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
        await setup.finish()
    }

    @Test("on SIGTERM the daemon stops issuing commands, blanks the beam, closes the session and exits 0")
    func gracefulOnSIGTERM() async throws {
        let setup = try await Setup()
        try await setup.waitForCommands(3)
        setup.process.send(SIGTERM)
        let exit = await setup.process.waitForExit(timeout: .seconds(20))
        #expect(exit == .exited(0), "\(setup.process.standardError)")
        let log = try DecisionLog(path: setup.database)
        let session = try #require(log.sessions().column("session").first ?? nil)
        #expect(try log.session(session).column("status").first == "stopped")
        let decisions = try log.decisions(session: session)
        #expect(decisions.rows.last?[2] == "blank_beam")
        #expect(decisions.rows.last?[6] == "done")
        #expect(await setup.instrument.isBlanked)
        #expect(await setup.driver.commandsReceived.last?.description == decisions.rows.last?[5])
        await setup.finish()
    }

    @Test("SIGTERM during a long scan takes effect at once: the scan is aborted, the beam blanked, exit 0")
    func sigtermDuringScan() async throws {
        // 256² px at 100 µs: each scan takes 6.5 s on the (real-time) virtual microscope.
        let setup = try await Setup(realtime: true, pixels: 256, dwell: 100)
        try await setup.waitForCommands(2)
        try await Task.sleep(for: .milliseconds(500))
        setup.process.send(SIGTERM)
        // Well under the scan's 6.5 s: the daemon does not wait for the scan to finish.
        let exit = await setup.process.waitForExit(timeout: .seconds(4))
        #expect(exit == .exited(0), "still running 4 s after SIGTERM:\n\(setup.process.standardError)")
        let log = try DecisionLog(path: setup.database)
        let session = try #require(log.sessions().column("session").first ?? nil)
        #expect(try log.session(session).column("status").first == "stopped")
        let actions = try log.decisions(session: session).column("action").compactMap { $0 }
        #expect(actions.suffix(2) == ["abort", "blank_beam"], "\(actions)")
        #expect(await setup.instrument.isBlanked)
        await setup.finish()
    }

    @Test("SIGTERM while no driver answers takes effect at once, not when the back-off ends")
    func sigtermBeforeHello() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-hello-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Ports nothing listens on: the daemon keeps saying HELLO, backing off to 10 s.
        let process = try await ChildProcess(
            CLI.binary,
            [
                "run", "--feed", "tcp://127.0.0.1:9", "--control", "tcp://127.0.0.1:7", "--db",
                folder.appendingPathComponent("log.sqlite").path, "--model", "none",
            ])
        // Three unanswered HELLOs take 3 x 3 s plus pauses of 0.5, 1 and 2 s: the next pause is 4 s.
        let deadline = ContinuousClock.now + .seconds(60)
        while process.standardError.components(separatedBy: "no answer from the driver").count - 1 < 3,
            ContinuousClock.now < deadline, process.isRunning
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        process.send(SIGTERM)
        let exit = await process.waitForExit(timeout: .seconds(2))
        #expect(exit == .exited(0), "still running 2 s after SIGTERM:\n\(process.standardError)")
        await process.terminate()
    }

    @Test("a driver of another protocol major version: run says which side to upgrade and exits non-zero")
    func versionRefusal() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-version-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let driver = try await ScriptedDriver(context: try ZMQContext()) { incoming in
            guard case .success(.hello(let hello)) = incoming.message else { return [] }
            return [
                ScriptedDriver.envelope(
                    [
                        "type": "reject", "id": hello.id.rawValue, "code": "protocol_version",
                        "reason": "this driver speaks protocol 2.0",
                    ], version: "2.0")
            ]
        }
        let database = folder.appendingPathComponent("log.sqlite").path
        let result = try await CLI.run([
            "run", "--feed", driver.feed.text, "--control", driver.control.text, "--db", database, "--model", "none",
        ])
        await driver.close()
        #expect(result.status != 0)
        #expect(result.stderr.contains("speaks protocol 2.0"), "\(result.stderr)")
        #expect(result.stderr.contains("upgrade ScopePilot"), "\(result.stderr)")
        #expect(await driver.commands.isEmpty)
        let log = try DecisionLog(path: database)
        #expect(try log.query("SELECT status FROM sessions", arguments: []).rows == [["failed"]])
    }
}
