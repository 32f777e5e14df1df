import ChildProcess
import DecisionLog
import Foundation
import ScopePilotTestSupport
import Testing
import Transport
import WireProtocol

/// The daemon against a careless or hostile driver (a pyzmq fake, loopback only) that interleaves
/// valid frames with malformed messages of every kind.
@Suite("A hostile driver", .serialized)
struct HostileDriverTests {
    @Test("thousands of malformed messages: the daemon stays up, logs every valid frame once, bounds the rest")
    func flood() async throws {
        let environment = ProcessInfo.processInfo.environment
        let messages = Int(environment["SCOPEPILOT_FLOOD_MESSAGES"] ?? "") ?? 3000
        // Characters of the huge fields (make flood: 20 MB, as the attack that found the bound).
        let huge = Int(environment["SCOPEPILOT_FLOOD_HUGE"] ?? "") ?? 1_000_000
        let peer = try await PythonPeer(
            script: "Tests/InteropTests/python/hostile_driver.py",
            arguments: ["--messages", "\(messages)", "--seed", "7", "--huge", "\(huge)"])
        let endpoints = try await peer.nextJSON()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-hostile-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("log.sqlite").path
        let policy = folder.appendingPathComponent("policy.yaml")
        try """
        policy: raster-survey
        parameters: {center_nm: [0, 0], columns: 40, rows: 40, fov_nm: 3.2, pixels: 64, dwell_us: 1}
        """.write(to: policy, atomically: true, encoding: .utf8)
        // The daemon as a process of its own, as at the instrument: its memory is its own, not
        // that of whatever else the test suite runs meanwhile.
        let daemon = try await ChildProcess(
            BuiltProducts.scopepilot,
            [
                "run", "--feed", try #require(endpoints["feed"] as? String), "--control",
                try #require(endpoints["control"] as? String), "--policy", policy.path, "--db", database, "--model",
                "none",
            ])
        let pid = daemon.pid
        let sampling = Task {
            var first: Int?
            var peak = 0
            while !Task.isCancelled, let resident = BuiltProducts.residentBytes(of: pid) {
                first = first ?? resident
                peak = max(peak, resident)
                try? await Task.sleep(for: .milliseconds(100))
            }
            return (first ?? 0, peak)
        }
        let summary = try await peer.nextJSON(timeout: .seconds(120 + messages / 100))
        #expect(daemon.isRunning, "the daemon ended under the flood:\n\(daemon.standardError.suffix(3000))")
        sampling.cancel()
        let (before, peak) = await sampling.value
        let exit = await daemon.terminate()
        await peer.terminate()
        #expect(exit == .exited(0), "\(exit): \(daemon.standardError.suffix(3000))")

        let valid = Set((summary["valid"] as? [Int] ?? []).map(UInt64.init))
        let malformed = summary["malformed"] as? Int ?? 0
        let log = try DecisionLog(path: database)
        #expect(try log.integrityCheck())
        let ended = try log.query("SELECT id, status, end_reason FROM sessions", arguments: [])
        #expect(ended.rows.count == 1)
        let session = try #require(ended.rows.first?[0] ?? nil)
        #expect(ended.rows.first?[1] == "stopped", "\(ended.rows)")
        let driverSession = try #require(summary["session"] as? String)
        let logged = try log.query(
            "SELECT seq FROM frames WHERE session_id = ? AND driver_session = ?", arguments: [session, driverSession]
        ).column("seq").compactMap { $0.flatMap { UInt64($0) } }
        #expect(logged.count == Set(logged).count, "a frame logged twice")
        #expect(Set(logged) == valid, "\(valid.subtracting(logged).count) valid frames not logged")
        let rows = try log.query(
            "SELECT COUNT(*), MAX(LENGTH(error)), MAX(LENGTH(COALESCE(detail, ''))) FROM rejected_inputs",
            arguments: [])
        let figures = rows.rows.first?.map { $0.flatMap { Int($0) } ?? 0 } ?? []
        #expect(figures.count == 3)
        #expect(figures[0] > 0 && figures[0] <= malformed, "\(figures[0]) rows for \(malformed) malformed")
        #expect(figures[1] <= 2100 && figures[2] <= 2100, "a refusal row copies the peer's content: \(figures)")
        print(
            "hostile driver: \(messages) messages, \(valid.count) valid, \(malformed) malformed; "
                + "\(figures[0]) refusal rows; the daemon's resident memory \(before / 1_000_000) MB at first, "
                + "\(peak / 1_000_000) MB at the peak")
        // The budget README states: 512 MB resident.
        #expect(peak < 512_000_000, "the daemon's resident memory reached \(peak / 1_000_000) MB")
    }
}
