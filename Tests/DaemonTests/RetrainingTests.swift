import Daemon
import DaemonAnalysis
import DaemonRetraining
import DecisionLog
import DefectDetection
import DetectorTraining
import Foundation
import ImageNumerics
import PolicyKit
import Testing
import WireProtocol

/// Small settings: the plumbing, not the quality, is under test here (the quality is
/// `scopepilot eval-detector`'s and the day A -> day B demonstration's).
func tinyRetraining() -> Retrainer.Options {
    var options = Retrainer.Options()
    options.epochs = 1
    options.tilesPerEpoch = 8
    options.validationTiles = 6
    options.tileSize = 64
    options.simulationsPerRound = 24
    return options
}

@Suite("Retraining", .serialized)
struct RetrainingTests {
    static func frames() -> [Image] {
        var shifted = TileConditions.nominal(pixelSize: 0.25)
        shifted.defocus = 2.5
        shifted.current = 20
        return TrainingTiles.generate(count: 2, size: 256, conditions: shifted, seed: 11).map {
            Image(width: $0.size, height: $0.size, pixels: $0.image)
        }
    }

    @Test("the retrainer estimates the conditions, fine-tunes, scores both models on the same simulations")
    func retrains() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retrainer-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let retrainer = Retrainer(directory: folder, options: tinyRetraining())
        let base = try #require(DefectDetector.bundledModel(named: "se1"))
        let outcome = try await retrainer.retrain(
            frames: Self.frames(), pixelSize: 0.25, dwell: nil, basePath: base.path, baseID: "se1")
        #expect((0...1).contains(outcome.before))
        #expect((0...1).contains(outcome.after))
        #expect(outcome.estimate.simulations > 0)
        #expect(outcome.accepted == (outcome.after > outcome.before + tinyRetraining().margin))
        if outcome.accepted {
            let path = try #require(outcome.modelPath)
            let loaded = try DefectDetector.load(path).detector
            #expect(loaded.metadata.realism != nil)
        } else {
            #expect(outcome.modelPath == nil)
        }
    }

    @Test("a cancelled retraining stops and says so")
    func cancels() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retrainer-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let retrainer = Retrainer(directory: folder, options: tinyRetraining())
        let base = try #require(DefectDetector.bundledModel(named: "se1"))
        let frames = Self.frames()
        let task = Task {
            try await retrainer.retrain(frames: frames, pixelSize: 0.25, dwell: nil, basePath: base.path, baseID: "se1")
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(!FileManager.default.fileExists(atPath: folder.path), "no model is written")
    }

    @Test("a policy's retraining request runs in the background, is logged, and the policy sees how it ended")
    func daemonRetrains() async throws {
        let policy = PolicyFile(policy: RetrainOnce(), source: "tests")
        var harness = try await DaemonHarness(policy: policy, model: "se1")
        harness.configuration.retraining = tinyRetraining()
        defer { harness.finish() }
        let daemon = try await harness.run(limit: .seconds(300))
        let status = daemon.status
        let session = try #require(status.session)
        #expect(status.ending?.hasPrefix("retraining finished") == true, "\(status.ending ?? "-")")
        #expect(status.retrainingsStarted == 1)
        let log = try harness.log()
        let events = try log.export(session: session, table: "retraining_events")
        #expect(events.rows.count == 1)
        let outcome = events.column("status").first ?? nil
        #expect(outcome == "swapped" || outcome == "kept", "\(outcome ?? "-")")
        #expect(events.column("metrics").first??.contains("f1_after") == true)
        #expect(events.column("estimate").first ?? nil != nil)
        // The request before any frame was refused, with the reason in the log.
        let decisions = try log.decisions(session: session)
        #expect(decisions.rows.first?[3]?.hasPrefix("NOT STARTED: no atomic-resolution frame") == true)
        if outcome == "swapped" {
            let newModel = try #require(events.column("model_after").first ?? nil)
            let models = try log.query("SELECT id FROM models", arguments: []).column("id")
            #expect(models.contains(newModel))
            let last = try log.query(
                "SELECT model_version FROM decisions WHERE session_id = ? ORDER BY id DESC LIMIT 1",
                arguments: [session])
            #expect(last.rows.first?.first == newModel)
            #expect(status.retrains == 1)
        }
    }
}

/// Asks for a retraining too early (refused), scans two frames, asks again, then keeps scanning
/// the same region until the retraining has finished.
struct RetrainOnce: ScanPolicy {
    let name = "retrain-once"
    let version = "1"
    var parameters: [String: String] { [:] }
    private var step = 0
    let region = ScanGeometry(centerX: -120, centerY: 60, fovX: 6.4, width: 256, height: 256, dwell: 2)

    mutating func decide(_ observation: Observation) -> PolicyDecision {
        step += 1
        switch step {
        case 1: return PolicyDecision(.requestRetraining, reason: "too early: nothing seen yet")
        case 2, 3: return PolicyDecision(.scan(region), reason: "a frame to learn the conditions from")
        case 4: return PolicyDecision(.requestRetraining, reason: "learn this microscope's conditions")
        default:
            switch observation.retraining {
            case .finished?: return PolicyDecision(.endSession, reason: "retraining finished")
            case .failed(let why)?: return PolicyDecision(.endSession, reason: "retraining failed: \(why)")
            default:
                if step > 400 { return PolicyDecision(.endSession, reason: "gave up waiting") }
                return PolicyDecision(.scan(region), reason: "waiting for the retraining")
            }
        }
    }
}
