import Daemon
import DecisionLog
import DefectDetection
import DetectorTraining
import Foundation
import NeuralNetwork
import PolicyKit
import Simulator
import Testing
import WireProtocol

@Suite("The retraining rule", .serialized)
struct RetrainingRuleTests {
    /// A tiny detector trained for exactly the microscope's day-A conditions (dwell 10 µs at 0.2 Å/px).
    static func dayAModel(in folder: URL) throws -> String {
        var dayA = TileConditions.nominal(pixelSize: 0.2)
        dayA.dwell = 10
        let detector = DefectDetector(architecture: .init(classes: 2, width: 4, depth: 2), pixelSize: 0.2)
        var options = TrainingOptions()
        options.epochs = 1
        options.tilesPerEpoch = 8
        options.tileSize = 64
        options.validationTiles = 4
        DetectorTrainer(detector: detector, options: options, ranges: ConditionRanges(exactly: dayA)).train()
        let url = folder.appendingPathComponent("day-a.safetensors")
        try detector.save(to: url)
        return url.path
    }

    static let shift = try! Scenario.parse(
        """
        name: quick shift
        conditions:
          - name: day A
            from_minute: 0
          - name: day B
            from_minute: 0.05
            defocus_nm: 3
            astigmatism_nm: 1.5
            astigmatism_angle_deg: 35
            coma_nm: 30
            current_pa: 20
            read_noise_adu: 10
            contrast_exponent: 1.45
        """)

    @Test("when the frames leave the detector's conditions the daemon acquires references and retrains, logged")
    func firesOnShift() async throws {
        let models = FileManager.default.temporaryDirectory.appendingPathComponent("rule-\(UUID())")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: models) }
        let region = ScanGeometry(centerX: -120, centerY: 60, fovX: 5.12, width: 256, height: 256, dwell: 10)
        var policy = PolicyFile(policy: Revisit(region: region, times: 14), source: "tests")
        policy.retraining = RetrainingRule(conditionScore: 4, framesInARow: 2, referenceFrames: 3, cooldownFrames: 100)
        var harness = try await DaemonHarness(policy: policy, model: Self.dayAModel(in: models), scenario: Self.shift)
        harness.configuration.retraining = tinyRetraining()
        defer { harness.finish() }
        let daemon = try await harness.run(limit: .seconds(300))
        let session = try #require(daemon.status.session)
        let log = try harness.log()
        // The monitor sees the shift: about 1 on day A, far above the threshold on day B.
        let scores = try log.query(
            """
            SELECT c.score FROM condition_scores c JOIN frames f ON f.id = c.frame_id
            WHERE f.session_id = ? ORDER BY f.id
            """, arguments: [session]
        ).column("score").compactMap { $0.flatMap(Double.init) }
        #expect(scores.prefix(4).allSatisfy { $0 < 2 }, "\(scores)")
        #expect((scores.last ?? 0) > 4, "\(scores)")
        let figures = try log.query("SELECT statistics FROM condition_scores LIMIT 1", arguments: [])
        #expect(figures.rows.first?.first??.contains("detector_confidence") == true, "what the score is based on")
        let decisions = try log.decisions(session: session)
        let references = decisions.rows.enumerated().filter { $0.element[2] == "acquire_reference" }
        #expect(references.count == 1, "the rule fired once (cooldown)")
        #expect(references.first?.element[3]?.contains("condition score") == true)
        // Day B begins 3 simulated seconds in, after the fourth frame: the rule waits for it.
        #expect((references.first?.offset ?? 0) >= 4, "fired at decision \(references.first?.offset ?? -1)")
        let referenceFrames = try log.query(
            "SELECT COUNT(*) FROM frames WHERE session_id = ? AND purpose LIKE 'reference%'", arguments: [session])
        #expect(referenceFrames.rows.first?.first == "3")
        let events = try log.export(session: session, table: "retraining_events")
        #expect(events.rows.count == 1)
        #expect(events.column("reason").first??.contains("retraining rule") == true)
        #expect(
            ["swapped", "kept", "cancelled"].contains(events.column("status").first ?? nil),
            "\(events.column("status")) \(events.column("metrics"))")
    }
}
