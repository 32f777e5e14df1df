import BuiltInPolicies
import Daemon
import DecisionLog
import Foundation
import Logging
import PolicyKit
import Testing
import Transport
import WireProtocol

/// The daemon against a careless or hostile driver (a pyzmq fake, loopback only) that interleaves
/// valid frames with malformed messages of every kind.
@Suite("A hostile driver", .serialized)
struct HostileDriverTests {
    /// Resident memory of this process, bytes.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
    }

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
        var configuration = DaemonConfiguration(
            feed: try Endpoint(try #require(endpoints["feed"] as? String)),
            control: try Endpoint(try #require(endpoints["control"] as? String)),
            database: folder.appendingPathComponent("log.sqlite").path,
            policy: PolicyFile(
                policy: RasterSurvey(center: (0, 0), columns: 40, rows: 40, fov: 3.2, pixels: 64, dwell: 1),
                source: "tests"))
        configuration.model = nil
        configuration.frameWait = .seconds(1)
        var logger = Logger(label: "hostile")
        logger.logLevel = .critical
        let daemon = ScopePilotDaemon(configuration: configuration, logger: logger)
        let before = Self.residentBytes()
        let running = Task { try await daemon.run() }
        let sampling = Task {
            var peak = 0
            while !Task.isCancelled {
                peak = max(peak, Self.residentBytes())
                try? await Task.sleep(for: .milliseconds(100))
            }
            return peak
        }
        let summary = try await peer.nextJSON(timeout: .seconds(120 + messages / 100))
        daemon.requestStop()
        try await running.value
        sampling.cancel()
        let peak = await sampling.value
        await peer.terminate()

        let valid = Set((summary["valid"] as? [Int] ?? []).map(UInt64.init))
        let malformed = summary["malformed"] as? Int ?? 0
        let session = try #require(daemon.status.session)
        #expect(daemon.status.endStatus == "stopped", "\(daemon.status.ending ?? "-")")
        let log = try DecisionLog(path: configuration.database)
        #expect(try log.integrityCheck())
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
        let grown = max(0, peak - before)
        print(
            "hostile driver: \(messages) messages, \(valid.count) valid, \(malformed) malformed; "
                + "\(figures[0]) refusal rows; peak resident growth \(grown / 1_000_000) MB")
        #expect(grown < 400_000_000, "resident memory grew by \(grown / 1_000_000) MB")
    }
}
