import ChildProcess
import Foundation
import ScopePilotTestSupport
import Testing
import Transport
import WireProtocol

/// Memory over a long session: `scopepilot run`, a process of its own, against a driver that
/// answers every command at once, so that thousands of commands take seconds.
@Suite("Memory over a long session", .serialized)
struct LongSessionMemoryTests {
    /// A driver that does every command at once (and produces no frames).
    static func promptDriver() async throws -> ScriptedDriver {
        try await ScriptedDriver.answering(
            context: try ZMQContext(),
            welcome: { hello in
                Welcome(
                    id: hello.id, driver: "prompt", instrument: "a microscope", session: "drv-prompt",
                    capabilities: CommandAction.allNames,
                    limits: InstrumentLimits(
                        stageX: -5000...5000, stageY: -5000...5000, fov: 1...100, dwell: 1...100, pixels: 16...1024,
                        detectors: ["HAADF"]),
                    heartbeatMilliseconds: 1000, watchdogMilliseconds: 5000)
            }, end: ScriptedDriver.done)
    }

    @Test("the daemon's memory does not grow with the commands it has sent (4,000 commands)")
    func noMemoryPerCommand() async throws {
        let driver = try await Self.promptDriver()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-long-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let policy = folder.appendingPathComponent("policy.yaml")
        try """
        policy: raster-survey
        parameters: {center_nm: [0, 0], columns: 80, rows: 60, fov_nm: 3.2, pixels: 64, dwell_us: 1}
        envelope: {stage_x_nm: [-5000, 5000], stage_y_nm: [-5000, 5000], commands_per_minute: 100000}
        """.write(to: policy, atomically: true, encoding: .utf8)
        let process = try await ChildProcess(
            CLI.binary,
            [
                "run", "--feed", driver.feed.text, "--control", driver.control.text, "--policy", policy.path, "--db",
                folder.appendingPathComponent("log.sqlite").path, "--model", "none",
            ])
        /// The daemon's resident memory once the driver has had `count` commands.
        func resident(after count: Int) async throws -> Int? {
            let deadline = ContinuousClock.now + .seconds(240)
            while await driver.commands.count < count {
                guard ContinuousClock.now < deadline, process.isRunning else {
                    Issue.record("the daemon did not send \(count) commands:\n\(process.standardError.suffix(2000))")
                    return nil
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            return BuiltProducts.residentBytes(of: process.pid)
        }
        let early = try await resident(after: 500)
        let late = try await resident(after: 4_000)
        _ = await process.terminate()
        await driver.close()
        let first = try #require(early)
        let last = try #require(late)
        let perCommand = Double(last - first) / 3_500
        // Before the decision stage's command tasks were freed as they ended, each command kept
        // about 20 KB (70 MB here); what may grow now is SQLite's page cache and the allocator's
        // slack.
        #expect(
            last - first < 24 << 20,
            "resident memory grew from \(first >> 20) MB to \(last >> 20) MB, \(Int(perCommand)) bytes per command")
    }
}
