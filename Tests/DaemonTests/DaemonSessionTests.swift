import BuiltInPolicies
import Daemon
import DecisionLog
import Foundation
import InstrumentDriver
import PolicyKit
import SimulatedDriver
import Testing
import WireProtocol

@Suite("Daemon sessions over loopback", .serialized)
struct DaemonSessionTests {
    /// Figures every session must satisfy: the file is sound, every command has a decision that
    /// was committed no later than the command was sent, and every command the driver received is
    /// in the log.
    static func checkAccountability(_ log: DecisionLog, session: String, driver: DriverRuntime) async throws {
        #expect(try log.integrityCheck())
        let orphans = try log.query(
            """
            SELECT COUNT(*) FROM commands c LEFT JOIN decisions d ON d.id = c.decision_id
            WHERE c.session_id = ? AND (d.id IS NULL OR d.made_at > c.sent_at)
            """, arguments: [session])
        #expect(orphans.rows.first?.first == "0")
        let logged = Set(try log.query("SELECT id FROM commands", arguments: []).column("id").compactMap { $0 })
        for id in await driver.commandsReceived {
            #expect(logged.contains(id.description), "the driver received \(id), which is not in the log")
        }
    }

    /// Every seq from 0 to the newest of each driver session is in `frames` or in `lost_frames`,
    /// never both and never twice.
    static func checkNothingLostSilently(_ log: DecisionLog, session: String) throws {
        let rows = try log.query(
            """
            SELECT driver_session, seq, 'frame' FROM frames WHERE session_id = ?1
            UNION ALL SELECT driver_session, seq, 'lost' FROM lost_frames WHERE session_id = ?1
            """, arguments: [session])
        var seen: [String: [Int]] = [:]
        for row in rows.rows {
            guard let driver = row[0], let seq = row[1].flatMap({ Int($0) }) else { continue }
            seen[driver, default: []].append(seq)
        }
        for (driver, seqs) in seen {
            let newest = seqs.max() ?? 0
            #expect(seqs.sorted() == Array(0...newest), "driver session \(driver): \(seqs.sorted())")
        }
        let unexplained = try log.query(
            "SELECT COUNT(*) FROM lost_frames WHERE session_id = ? AND reason = ''", arguments: [session])
        #expect(unexplained.rows.first?.first == "0")
    }

    @Test("a session: every frame logged and analysed, every command carries a committed decision")
    func endToEnd() async throws {
        let harness = try await DaemonHarness(policy: raster(columns: 2, rows: 2), model: "se1")
        defer { harness.finish() }
        let daemon = try await harness.run()
        let status = daemon.status
        let session = try #require(status.session)
        #expect(status.ending?.hasPrefix("raster complete") == true)
        let log = try harness.log()
        let figures = try log.sessionFigures(session)
        func figure(_ name: String) -> Int { Int(figures.column(name).first.flatMap { $0 } ?? "-1") ?? -1 }
        #expect(figure("frames") == 4)
        #expect(figure("analysed") == 4, "\(status.line); skipped \(status.framesSkipped), lost \(status.lost)")
        // Four scans, the end of the session, and blanking the beam.
        #expect(figure("decisions") == 6)
        #expect(figure("commands") == 5)
        #expect(figure("commands_done") == 5)
        #expect(figure("detections") == status.defects)
        #expect(status.defects > 0, "the vacancy-rich zone has Se1 vacancies to find")
        #expect(figure("drift_measurements") >= 3, "neighbours overlap by 30 %")
        #expect(figure("communities") >= 1)
        let row = try log.session(session)
        #expect(row.column("status").first == "finished")
        let last = try log.decisions(session: session).rows.last
        #expect(last?[2] == "blank_beam")
        #expect(await harness.instrument.isBlanked)
        // Drift between overlapping frames is measured well below a lattice period per frame.
        let drift = try log.query("SELECT MAX(ABS(dx_px)), MAX(ABS(dy_px)) FROM drift", arguments: [])
        let worst = drift.rows[0].compactMap { $0.flatMap(Double.init) }.max() ?? .infinity
        #expect(worst < 6, "largest residual drift \(worst) px")
        try await Self.checkAccountability(log, session: session, driver: harness.driver)
    }

    @Test("malformed and NaN frames are refused and logged, lost frames asked for again, a driver restart survived")
    func faults() async throws {
        var faults = FaultPlan()
        faults.nanFrames = [1]
        faults.malformedFrames = [2]
        faults.dropFrames = [3]
        faults.restartAfterFrames = 5
        let harness = try await DaemonHarness(policy: raster(columns: 4, rows: 2, pixels: 128), faults: faults)
        defer { harness.finish() }
        let daemon = try await harness.run()
        let status = daemon.status
        let session = try #require(status.session)
        #expect(status.ending?.hasPrefix("raster complete") == true, "\(status.ending ?? "-")")
        #expect(status.driverRestarts >= 1)
        let log = try harness.log()
        let rejected = try log.export(session: session, table: "rejected_inputs")
        let errors = rejected.column("error").compactMap { $0 }
        #expect(errors.contains { $0.contains("NaN") }, "\(errors)")
        #expect(errors.contains { $0.contains("not a valid JSON") }, "\(errors)")
        // The NaN frame came back over the command channel.
        let resent = try log.query(
            "SELECT seq FROM frames WHERE session_id = ? AND purpose LIKE '%resent%' ORDER BY seq", arguments: [session]
        )
        #expect(resent.column("seq").contains("1"), "\(resent.rows)")
        // The session went on under the driver's new session.
        let driverSessions = try log.query(
            "SELECT COUNT(DISTINCT driver_session) FROM frames WHERE session_id = ?", arguments: [session])
        // (The driver restarts after every fifth frame of a session: a scan sent again after the
        // restart can make a second restart, when timing puts five frames in the new session.)
        #expect((Int(driverSessions.rows.first?.first.flatMap { $0 } ?? "0") ?? 0) >= 2, "\(driverSessions.rows)")
        // Nothing was lost silently: every seq of every driver session is logged or recorded lost, once.
        try Self.checkNothingLostSilently(log, session: session)
        let frames = try log.query(
            "SELECT COUNT(*) FROM frames WHERE session_id = ? AND analysed = 1", arguments: [session])
        #expect(Int(frames.rows.first?.first.flatMap { $0 } ?? "0") ?? 0 >= 6)
        try await Self.checkAccountability(log, session: session, driver: harness.driver)
    }

    @Test("when analysis falls behind a burst, every frame is still logged and skips are counted")
    func slowAnalysis() async throws {
        let region = ScanGeometry(centerX: -120, centerY: 60, fovX: 25.6, width: 1024, height: 1024, dwell: 2)
        let policy = PolicyFile(policy: ReferenceBurst(region: region, count: 10), source: "tests")
        var harness = try await DaemonHarness(policy: policy, model: "se1")
        harness.configuration.frameWait = .seconds(5)
        defer { harness.finish() }
        let daemon = try await harness.run()
        let status = daemon.status
        let session = try #require(status.session)
        let log = try harness.log()
        let logged = try log.query("SELECT COUNT(*) FROM frames WHERE session_id = ?", arguments: [session])
        #expect(logged.rows.first?.first == "10")
        #expect(status.framesReceived == 10)
        #expect(status.framesAnalysed + status.framesSkipped == status.framesReceived)
        #expect(status.framesSkipped > 0, "ten 1024² frames arrive faster than the detector analyses them")
        #expect(status.mostWaiting <= harness.configuration.analysisQueue)
    }

    @Test("an action outside the envelope is refused, logged with its reason, and never sent")
    func refusesOutsideEnvelope() async throws {
        var policy = raster(columns: 2, rows: 1, pixels: 128)
        policy.envelope.stageX = -1000...(-121)  // the second region's centre lies east of -121 nm
        let harness = try await DaemonHarness(policy: policy)
        defer { harness.finish() }
        let daemon = try await harness.run()
        let session = try #require(daemon.status.session)
        #expect(daemon.status.refusals == 1)
        let log = try harness.log()
        let decisions = try log.decisions(session: session)
        let refused = decisions.rows.filter { $0[3]?.hasPrefix("REFUSED") == true }
        #expect(refused.count == 1)
        #expect(refused.first?[5] == nil, "a refused action has no command")
        #expect(refused.first?[3]?.contains("outside the stage bounds") == true)
        #expect(await harness.driver.commandsReceived.count == 2, "one scan and the final blank")
    }
}

/// Asks for a burst of reference frames once, then ends the session.
struct ReferenceBurst: ScanPolicy {
    let name = "reference-burst"
    let version = "1"
    var parameters: [String: String] { ["count": "\(count)"] }
    let region: ScanGeometry
    let count: Int
    private var asked = false

    init(region: ScanGeometry, count: Int) {
        self.region = region
        self.count = count
    }

    mutating func decide(_ observation: Observation) -> PolicyDecision {
        if asked { return PolicyDecision(.endSession, reason: "burst acquired") }
        asked = true
        return PolicyDecision(.acquireReference(region, count: count), reason: "a burst of \(count) frames")
    }
}
