import BuiltInPolicies
import Daemon
import DecisionLog
import Foundation
import InstrumentDriver
import Logging
import PolicyKit
import ScopePilotTestSupport
import SimulatedDriver
import Synchronization
import Testing
import Transport
import WireProtocol

/// The fault paths of a session, each against a driver that misbehaves in one way.
@Suite("Daemon fault paths", .serialized)
struct DaemonFaultTests {
    static func quietDaemon(_ configuration: DaemonConfiguration) -> ScopePilotDaemon {
        var logger = Logger(label: "daemon-fault-tests")
        logger.logLevel = .critical
        return ScopePilotDaemon(configuration: configuration, logger: logger)
    }

    static func configuration(feed: Endpoint, control: Endpoint, folder: URL) -> DaemonConfiguration {
        var configuration = DaemonConfiguration(
            feed: feed, control: control, database: folder.appendingPathComponent("log.sqlite").path,
            policy: raster(columns: 2, rows: 1, pixels: 128))
        configuration.model = nil
        configuration.retry.helloTimeout = .seconds(1)
        return configuration
    }

    /// A WELCOME from a scripted driver to `hello`.
    static func welcome(_ hello: Hello, driver: String, session: String) -> Welcome {
        Welcome(
            id: hello.id, driver: driver, instrument: "a microscope", session: session,
            capabilities: CommandAction.allNames,
            limits: InstrumentLimits(
                stageX: -1000...1000, stageY: -1000...1000, fov: 1...100, dwell: 1...100, pixels: 16...1024,
                detectors: ["HAADF"]),
            heartbeatMilliseconds: 1000, watchdogMilliseconds: 5000)
    }

    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-faults-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Runs `daemon` to its end, asking it to stop after `limit` (a daemon that never ends would
    /// otherwise hang the suite); returns the error it ended with, if any.
    static func runToEnd(_ daemon: ScopePilotDaemon, limit: Duration) async -> (any Error)? {
        let watchdog = Task {
            try await Task.sleep(for: limit)
            daemon.requestStop()
        }
        defer { watchdog.cancel() }
        do {
            try await daemon.run()
            return nil
        } catch {
            return error
        }
    }

    @Test(
        "a driver of another protocol major version is refused at HELLO: logged, no command, the daemon stops",
        arguments: ["reject", "welcome"])
    func refusesAnotherMajorVersion(answer: String) async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let context = try ZMQContext()
        let driver = try await ScriptedDriver(context: context) { incoming in
            guard case .success(.hello(let hello)) = incoming.message else { return [] }
            if answer == "reject" {
                return [
                    ScriptedDriver.envelope(
                        [
                            "type": "reject", "id": hello.id.rawValue, "code": "protocol_version",
                            "reason": "this driver speaks protocol 2.0",
                        ], version: "2.0")
                ]
            }
            let welcome = Self.welcome(hello, driver: "future-driver/2", session: "drv-2")
            return [(try? ScriptedDriver.encoded(.welcome(welcome), version: "2.0")) ?? []]
        }
        let configuration = Self.configuration(feed: driver.feed, control: driver.control, folder: folder)
        let daemon = Self.quietDaemon(configuration)
        let error = await Self.runToEnd(daemon, limit: .seconds(20))
        await driver.close()

        let thrown = try #require(error as? DaemonError, "the daemon must stop with an error, not retry")
        #expect(thrown.code == .protocolVersion)
        #expect(
            thrown.description.contains("2.0") && thrown.description.contains("\(ProtocolVersion.current)"), "\(thrown)"
        )
        #expect(thrown.description.contains("upgrade"), "\(thrown)")
        #expect(await driver.commands.isEmpty, "no command may be sent to a driver of another version")
        let log = try DecisionLog(path: configuration.database)
        let sessions = try log.query("SELECT status, end_reason FROM sessions", arguments: [])
        #expect(sessions.rows.count == 1)
        #expect(sessions.rows.first?[0] == "failed")
        #expect(sessions.rows.first?[1]?.contains("2.0") == true)
    }

    @Test("a driver announcing absurd stage limits: no trap, every scan refused and logged, only the final blank sent")
    func absurdLimits() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let context = try ZMQContext()
        let driver = try await ScriptedDriver.answering(
            context: context,
            welcome: { hello in
                var welcome = Self.welcome(hello, driver: "far-away", session: "drv-far")
                welcome.limits.stageX = 1e20...2e20
                welcome.limits.stageY = 1e20...2e20
                return welcome
            }, end: { .done(Done(id: $0.id, readback: Readback(beamBlanked: true))) })
        let configuration = Self.configuration(feed: driver.feed, control: driver.control, folder: folder)
        let daemon = Self.quietDaemon(configuration)
        let error = await Self.runToEnd(daemon, limit: .seconds(20))
        await driver.close()
        #expect(error == nil, "\(String(describing: error))")
        #expect(daemon.status.ending?.hasPrefix("raster complete: 0 of 2 regions visited, 2 refused") == true)
        #expect(daemon.status.refusals == 2, "\(daemon.status.line)")
        #expect(await driver.commands.map(\.action.name) == ["blank_beam"], "only the final blank is sent")
        let log = try DecisionLog(path: configuration.database)
        let refused = try log.query(
            "SELECT COUNT(*) FROM decisions WHERE json_extract(chosen, '$.refused') LIKE '%1e+20%'", arguments: [])
        #expect(refused.rows.first?.first == "2", "the refusals name the limits")
    }

    /// A driver that answers its first `blankedScans` scans (every scan when nil) with
    /// `beam_blanked`, however often the beam is unblanked, and does everything else.
    static func blankingDriver(blankedScans: Int? = nil) async throws -> ScriptedDriver {
        let scans = Mutex(0)
        return try await ScriptedDriver.answering(
            context: try ZMQContext(), welcome: { Self.welcome($0, driver: "stormy", session: "drv-s") },
            end: { command in
                let scan = command.action.name == "scan_region"
                let count = scans.withLock { count in
                    if scan { count += 1 }
                    return count
                }
                return scan && count <= (blankedScans ?? Int.max)
                    ? .failed(Failed(id: command.id, code: ReasonCode.beamBlanked, reason: "the beam is blanked"))
                    : ScriptedDriver.done(command)
            })
    }

    /// The daemon's own decisions of `session` (their `action`), in order.
    static func daemonActions(_ log: DecisionLog, session: String) throws -> [String] {
        try log.query(
            "SELECT json_extract(chosen, '$.action') FROM decisions WHERE session_id = ? AND policy = 'scopepilot-daemon' ORDER BY id",
            arguments: [session]
        ).rows.map { $0[0] ?? "" }
    }

    @Test("a driver that blanks the beam again after every unblank: a few tries, then the session ends, failed")
    func blankingStorm() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let driver = try await Self.blankingDriver()
        var configuration = Self.configuration(feed: driver.feed, control: driver.control, folder: folder)
        configuration.policy = raster(columns: 20, rows: 20, pixels: 128)
        let daemon = Self.quietDaemon(configuration)
        let error = await Self.runToEnd(daemon, limit: .seconds(30))
        await driver.close()
        #expect(error == nil)
        #expect(daemon.status.endStatus == "failed")
        #expect(daemon.status.ending?.contains("blanked") == true, "\(daemon.status.ending ?? "-")")
        let commands = await driver.commands.map(\.action.name)
        #expect(commands.count < 20, "a handful of tries, not a storm: \(commands)")
        #expect(commands.last == "blank_beam")
    }

    @Test("give_up: pause: the same storm pauses twice with the beam blanked, then ends, failed, saying so")
    func blankingStormPauses() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let driver = try await Self.blankingDriver()
        var configuration = Self.configuration(feed: driver.feed, control: driver.control, folder: folder)
        configuration.policy = raster(columns: 20, rows: 20, pixels: 128)
        configuration.policy.giveUp = GiveUpRule(then: .pause, pauseSeconds: 1, pauses: 2)
        let daemon = Self.quietDaemon(configuration)
        let clock = ContinuousClock.now
        let error = await Self.runToEnd(daemon, limit: .seconds(30))
        let took = ContinuousClock.now - clock
        let commands = await driver.commands.map(\.action.name)
        await driver.close()
        #expect(error == nil)
        #expect(daemon.status.endStatus == "failed")
        let ending = daemon.status.ending ?? ""
        #expect(ending.contains("blanked") && ending.contains("again after 2 pauses"), "\(ending)")
        #expect(took >= .seconds(2), "two pauses of a second each were waited out")
        let session = try #require(daemon.status.session)
        let actions = try Self.daemonActions(try DecisionLog(path: configuration.database), session: session)
        #expect(actions.filter { $0 == "pause" }.count == 2, "\(actions)")
        // Each pause blanks the beam at once; each resume unblanks it.
        for (index, action) in actions.enumerated() where action == "pause" {
            #expect(actions.dropFirst(index + 1).first == "blank_beam", "\(actions)")
        }
        #expect(commands.filter { $0 == "scan_region" }.count == 3 * 4, "four blanked tries per round: \(commands)")
        #expect(commands.last == "blank_beam")
    }

    @Test("give_up: pause: a fault that clears during the pause is survived, and the session finishes")
    func pauseOutlastsFault() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // The first scan and its three retries find the beam blanked; then the instrument is back.
        let driver = try await Self.blankingDriver(blankedScans: 4)
        var configuration = Self.configuration(feed: driver.feed, control: driver.control, folder: folder)
        configuration.policy.giveUp = GiveUpRule(then: .pause, pauseSeconds: 1, pauses: 3)
        let daemon = Self.quietDaemon(configuration)
        let error = await Self.runToEnd(daemon, limit: .seconds(30))
        await driver.close()
        #expect(error == nil)
        #expect(daemon.status.endStatus == "finished", "\(daemon.status.ending ?? "-")")
        let session = try #require(daemon.status.session)
        let log = try DecisionLog(path: configuration.database)
        let actions = try Self.daemonActions(log, session: session)
        #expect(actions.filter { $0 == "pause" }.count == 1, "\(actions)")
        let resumed = try log.query(
            "SELECT reason FROM decisions WHERE session_id = ? AND json_extract(chosen, '$.resume') = 'true'",
            arguments: [session])
        #expect(resumed.rows.count == 1)
        #expect(resumed.rows.first?[0]?.contains("the pause is over") == true)
        let done = try log.query(
            "SELECT count(*) FROM commands WHERE session_id = ? AND status = 'done' AND action = 'scan_region'",
            arguments: [session])
        #expect(done.rows.first?[0] == "2", "both regions scanned after the pause")
    }

    /// A driver that answers every HELLO at once and every command `ackDelay` (its ACK) and
    /// `doneDelay` (its DONE) after it arrived: a stalled or overloaded instrument.
    static func slowDriver(ackDelay: Duration, doneDelay: Duration) async throws -> ScriptedDriver {
        try await ScriptedDriver.answering(
            context: try ZMQContext(),
            delay: { reply in
                let text = String(decoding: reply.first ?? [], as: UTF8.self)
                if text.contains(#""type":"ack""#) { return ackDelay }
                return text.contains(#""type":"done""#) ? doneDelay : .zero
            },
            welcome: { Self.welcome($0, driver: "slow", session: "drv-slow") }, end: ScriptedDriver.done)
    }

    /// Short timeouts, so that a slow driver shows its effect in seconds.
    static func impatient(_ configuration: DaemonConfiguration) -> DaemonConfiguration {
        var configuration = configuration
        configuration.policy = raster(columns: 20, rows: 20, pixels: 128)
        configuration.retry.ackTimeout = .milliseconds(300)
        configuration.retry.grace = .milliseconds(200)
        configuration.retry.backoff = .milliseconds(50)
        configuration.commandDeadline = .milliseconds(300)
        return configuration
    }

    @Test(
        "a driver whose ACK or DONE comes too late: each command tried three times, five in a row, then failed",
        arguments: [(ack: Duration.seconds(4), done: Duration.seconds(4)), (ack: .zero, done: .seconds(4))])
    func lateAnswers(_ delays: (ack: Duration, done: Duration)) async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let unansweredLimit = 5  // the documented rule: five unanswered commands in a row end the session
        let driver = try await Self.slowDriver(ackDelay: delays.ack, doneDelay: delays.done)
        let configuration = Self.impatient(
            Self.configuration(feed: driver.feed, control: driver.control, folder: folder))
        let daemon = Self.quietDaemon(configuration)
        let error = await Self.runToEnd(daemon, limit: .seconds(60))
        let commands = await driver.commands
        await driver.close()
        #expect(error == nil)
        #expect(daemon.status.endStatus == "failed")
        let ending = daemon.status.ending ?? ""
        #expect(ending.contains("has not answered 5 commands in a row"), "\(ending)")
        #expect(ending.contains("beam"), "the ending says what is known of the beam: \(ending)")
        // Five scans (six when the next was already on its way: the daemon decides one ahead),
        // each sent once and resent twice under the same id, then the final blank.
        let scans = commands.filter { $0.action.name == "scan_region" }
        let distinct = Set(scans.map(\.id)).count
        #expect((unansweredLimit...unansweredLimit + 1).contains(distinct), "\(scans.map(\.id))")
        #expect(scans.count == distinct * 3, "\(scans.map(\.id))")
        #expect(commands.last?.action.name == "blank_beam")
        let log = try DecisionLog(path: configuration.database)
        let session = try #require(daemon.status.session)
        let row = try log.query("SELECT status, end_reason FROM sessions WHERE id = ?", arguments: [session])
        #expect(row.rows.first?[0] == "failed")
        #expect(row.rows.first?[1]?.contains("has not answered") == true)
        let statuses = try log.query(
            "SELECT status, count(*) FROM commands WHERE session_id = ? GROUP BY status ORDER BY status",
            arguments: [session])
        #expect(
            statuses.rows.first { $0[0] == "timed_out" }?[1] == "\(distinct + 1)",
            "the scans and the final blank timed out: \(statuses.rows)")
    }

    @Test("a WELCOME with a 5 MB instrument name is refused at once, with a bounded reason")
    func hugeWelcome() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let driver = try await ScriptedDriver(context: try ZMQContext()) { incoming in
            guard case .success(.hello(let hello)) = incoming.message else { return [] }
            var welcome = Self.welcome(hello, driver: "verbose", session: "drv-v")
            welcome.instrument = String(repeating: "ACME ", count: 1_000_000)
            let body = try? JSONEncoder().encode(welcome)
            guard let body, var object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                return []
            }
            object["type"] = "welcome"
            object["protocol"] = "\(ProtocolVersion.current)"
            return [[(try? JSONSerialization.data(withJSONObject: object)).map { Array($0) } ?? []]]
        }
        let configuration = Self.configuration(feed: driver.feed, control: driver.control, folder: folder)
        let error = await Self.runToEnd(Self.quietDaemon(configuration), limit: .seconds(20))
        await driver.close()
        let thrown = try #require(error as? DaemonError)
        #expect(thrown.code == .driverMalformed)
        #expect(thrown.description.utf8.count < 5000, "\(thrown.description.utf8.count) bytes")
        let reason = try DecisionLog(path: configuration.database).query(
            "SELECT end_reason FROM sessions", arguments: [])
        #expect((reason.rows.first?.first??.utf8.count ?? .max) < 5000)
    }

    @Test("a lost frame the driver no longer has, and one whose re-sent copy is refused, are each recorded lost once")
    func unrecoverableFrames() async throws {
        var faults = FaultPlan()
        faults.lostFrames = [1]
        faults.nanFrames = [3]
        faults.nanResentFrames = [3]
        var harness = try await DaemonHarness(policy: raster(columns: 5, rows: 1, pixels: 128), faults: faults)
        harness.configuration.frameWait = .milliseconds(800)
        defer { harness.finish() }
        let daemon = try await harness.run(limit: .seconds(60))
        let session = try #require(daemon.status.session)
        #expect(daemon.status.ending?.hasPrefix("raster complete") == true, "\(daemon.status.ending ?? "-")")
        let log = try harness.log()
        let lost = try log.query(
            "SELECT seq, reason FROM lost_frames WHERE session_id = ? ORDER BY seq", arguments: [session])
        #expect(lost.column("seq").compactMap { $0 } == ["1", "3"], "\(lost.rows)")
        #expect(lost.rows.first?[1]?.contains("no longer") == true, "\(lost.rows)")
        #expect(lost.rows.last?[1]?.contains("NaN") == true, "\(lost.rows)")
        // Each was asked for once, not again through the gap check.
        let resends = try log.query(
            "SELECT chosen FROM decisions WHERE session_id = ? AND chosen LIKE '%resend_frames%'", arguments: [session])
        func asks(for seq: Int) -> Int {
            resends.column("chosen").compactMap { $0 }.filter { chosen in
                guard let object = try? JSONSerialization.jsonObject(with: Data(chosen.utf8)) as? [String: Any],
                    let from = Int("\(object["from"] ?? "")"), let to = Int("\(object["to"] ?? "")")
                else { return false }
                return (from...to).contains(seq)
            }.count
        }
        #expect(asks(for: 1) == 1)
        #expect(asks(for: 3) == 1)
        try await DaemonSessionTests.checkAccountability(log, session: session, driver: harness.driver)
    }

    @Test("every acknowledged command has its acked_at, between sent_at and finished_at")
    func ackTimesAreLogged() async throws {
        let harness = try await DaemonHarness(policy: raster(columns: 2, rows: 1, pixels: 128))
        defer { harness.finish() }
        let daemon = try await harness.run()
        let session = try #require(daemon.status.session)
        let log = try harness.log()
        let commands = try log.query(
            "SELECT sent_at, acked_at, finished_at FROM commands WHERE session_id = ? AND status = 'done'",
            arguments: [session])
        #expect(commands.rows.count == 3)
        for row in commands.rows {
            let times = row.map { $0.flatMap(Double.init) }
            let sent = try #require(times[0])
            let acked = try #require(times[1], "a done command without acked_at")
            let finished = try #require(times[2])
            #expect(sent <= acked && acked <= finished, "\(row)")
        }
    }

    @Test("a final blank_beam that the driver rejects fails the session and says the beam may still be on")
    func finalBlankRejected() async throws {
        var faults = FaultPlan()
        faults.rejectActions = ["blank_beam"]
        let harness = try await DaemonHarness(policy: raster(columns: 2, rows: 1, pixels: 128), faults: faults)
        defer { harness.finish() }
        let daemon = try await harness.run()
        let session = try #require(daemon.status.session)
        let ending = try #require(daemon.status.ending)
        #expect(ending.localizedCaseInsensitiveContains("beam may still be on"), "\(ending)")
        let row = try harness.log().query("SELECT status, end_reason FROM sessions WHERE id = ?", arguments: [session])
        #expect(row.rows.first?[0] == "failed")
        #expect(row.rows.first?[1]?.localizedCaseInsensitiveContains("beam may still be on") == true)
    }

    @Test("after the beam was blanked, unblanking and retrying carries the region out; the policy hears it was done")
    func retryAfterUnblank() async throws {
        var faults = FaultPlan()
        faults.blankAfterFrames = [0]
        let harness = try await DaemonHarness(policy: raster(columns: 3, rows: 1, pixels: 128), faults: faults)
        defer { harness.finish() }
        let daemon = try await harness.run()
        let session = try #require(daemon.status.session)
        let ending = try #require(daemon.status.ending)
        #expect(ending.hasPrefix("raster complete: 3 of 3 regions visited"), "\(ending)")
        let decisions = try harness.log().decisions(session: session)
        let reasons = decisions.column("reason").compactMap { $0 }
        let retry = try #require(reasons.firstIndex { $0.hasPrefix("retry of decision") }, "\(reasons)")
        // The next decision of the policy's does not think the region failed: the retry did it.
        let after = reasons[(retry + 1)...].first { $0.hasPrefix("raster") } ?? ""
        #expect(!after.contains("failed"), "\(after)")
        #expect(await harness.instrument.isBlanked, "blanked at the end")
    }

    @Test("refused regions are counted as not visited in the raster's ending")
    func refusedRegionsAreNotVisited() async throws {
        var policy = raster(columns: 3, rows: 1, pixels: 128)
        policy.envelope.stageX = -1000...(-121)  // the second and third regions lie east of -121 nm
        let harness = try await DaemonHarness(policy: policy)
        defer { harness.finish() }
        let daemon = try await harness.run()
        let ending = try #require(daemon.status.ending)
        #expect(ending.hasPrefix("raster complete: 1 of 3 regions visited"), "\(ending)")
        #expect(ending.contains("2 refused"), "\(ending)")
    }

    @Test("a driver that restarts in the middle of a command is recovered from its new session, not at the deadline")
    func restartMidCommand() async throws {
        var faults = FaultPlan()
        faults.restartAfterFrames = 2
        var harness = try await DaemonHarness(policy: raster(columns: 3, rows: 1, pixels: 128), faults: faults)
        // A deadline far longer than the session may take: waiting for it would stop the session.
        harness.configuration.commandDeadline = .seconds(120)
        defer { harness.finish() }
        let daemon = try await harness.run(limit: .seconds(40))
        let ending = try #require(daemon.status.ending)
        #expect(ending.hasPrefix("raster complete"), "\(ending)")
        #expect(daemon.status.driverRestarts >= 1)
    }

    @Test("a session's threads end with it: twenty sessions in one process leave the thread count where it was")
    func threadsEndWithTheirSession() async throws {
        let harness = try await DaemonHarness(policy: raster(columns: 1, rows: 1, pixels: 64))
        defer { harness.finish() }
        _ = try await harness.run()
        let before = try await ThreadCensus.settled(atMost: nil)
        for _ in 0..<20 {
            let daemon = try await harness.run()
            #expect(daemon.status.ending?.hasPrefix("raster complete") == true)
        }
        let after = try await ThreadCensus.settled(atMost: before)
        #expect(after.named <= before.named, "threads of ours: \(before.names) before, \(after.names) after")
        #expect(after.total <= before.total + 4, "\(before.total) threads before, \(after.total) after")
    }

    @Test("a session that cannot begin (the log is locked by another program) closes its sockets and threads")
    func failedBeginCleansUp() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let context = try ZMQContext()
        let database = folder.appendingPathComponent("log.sqlite").path
        _ = try DecisionLog(path: database)
        let locker = SQLiteLocker(path: database)
        let driver = try await ScriptedDriver(context: context) { incoming in
            guard case .success(.hello(let hello)) = incoming.message else { return [] }
            // Another program takes the log's write lock before the session can begin.
            locker.lock()
            let welcome = Self.welcome(hello, driver: "scripted", session: "drv-1")
            return [(try? ControlCodec.encode(.welcome(welcome)).map(\.bytes)) ?? []]
        }
        let before = try await ThreadCensus.settled(atMost: nil)
        let daemon = Self.quietDaemon(Self.configuration(feed: driver.feed, control: driver.control, folder: folder))
        let error = await Self.runToEnd(daemon, limit: .seconds(20))
        locker.unlock()
        #expect(error != nil, "the session could not be logged: the daemon must not run it")
        #expect(await driver.commands.isEmpty)
        let after = try await ThreadCensus.settled(atMost: before)
        #expect(after.named <= before.named, "threads of ours: \(before.names) before, \(after.names) after")
        await driver.close()
    }
}
