import Daemon
import DecisionLog
import Foundation
import PolicyKit
import Simulator
import Testing
import WireProtocol

/// Looks at the same sample region again and again.
struct Revisit: ScanPolicy {
    let name = "revisit"
    let version = "1"
    var parameters: [String: String] { ["times": "\(times)"] }
    let region: ScanGeometry
    let times: Int
    private var done = 0

    init(region: ScanGeometry, times: Int) {
        self.region = region
        self.times = times
    }

    mutating func decide(_ observation: Observation) -> PolicyDecision {
        guard done < times else { return PolicyDecision(.endSession, reason: "looked \(times) times") }
        done += 1
        return PolicyDecision(.scan(region), reason: "look \(done) of \(times)")
    }
}

@Suite("Drift compensation", .serialized)
struct DriftCompensationTests {
    /// A hole's edge at 2 Å per pixel, where there is contrast to register.
    static let region = ScanGeometry(centerX: 140, centerY: 40, fovX: 51.2, width: 256, height: 256, dwell: 10)

    static func session(compensating: Bool) async throws -> (residual: Double, velocity: (Double, Double)) {
        let scenario = try Scenario.parse(
            """
            name: drifting
            sample:
              holes:
                - {x_nm: 180, y_nm: 40, radius_nm: 40}
            conditions:
              - name: fast drift
                from_minute: 0
                drift_nm_per_s: [4.0, -2.0]
            """)
        var policy = PolicyFile(policy: Revisit(region: region, times: 12), source: "tests")
        policy.driftCompensation = compensating
        let harness = try await DaemonHarness(policy: policy, scenario: scenario)
        defer { harness.finish() }
        let daemon = try await harness.run()
        let session = try #require(daemon.status.session)
        let log = try harness.log()
        let residual = try log.query(
            """
            SELECT json_extract(chosen, '$.residual_drift_nm') FROM decisions
            WHERE session_id = ? AND json_extract(chosen, '$.residual_drift_nm') IS NOT NULL ORDER BY id DESC LIMIT 1
            """, arguments: [session])
        let pair = try #require(residual.rows.first?.first ?? nil)
        let values = try JSONDecoder().decode([Double].self, from: Data(pair.utf8))
        let velocity = try log.query(
            """
            SELECT AVG(vx_nm_per_s), AVG(vy_nm_per_s) FROM drift d JOIN frames f ON f.id = d.frame_id
            WHERE f.session_id = ? AND f.seq >= 3
            """, arguments: [session])
        let v = velocity.rows[0].map { $0.flatMap(Double.init) ?? .nan }
        return (hypot(values[0], values[1]), (v[0], v[1]))
    }

    @Test("targets shifted by the predicted drift keep the sample where the policy asked; the rest is logged")
    func compensates() async throws {
        let without = try await Self.session(compensating: false)
        let with = try await Self.session(compensating: true)
        // Twelve frames of 0.7 s at (4, -2) nm/s: uncorrected, the sample has walked about 30 nm.
        #expect(without.residual > 10, "uncorrected residual \(without.residual) nm")
        #expect(with.residual < without.residual / 4, "corrected \(with.residual) nm vs \(without.residual) nm")
        // The measured velocity is the scenario's.
        #expect(abs(with.velocity.0 - 4) < 1 && abs(with.velocity.1 + 2) < 1, "\(with.velocity)")
    }
}
