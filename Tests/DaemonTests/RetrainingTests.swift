import Daemon
import DaemonAnalysis
import DaemonRetraining
import DecisionLog
import DefectDetection
import DetectorTraining
import Foundation
import ImageNumerics
import NeuralNetwork
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

/// `tinyRetraining()` with a CycleGAN of a few steps on 32-pixel tiles.
func tinyCycleGANRetraining(steps: Int = 3) -> Retrainer.Options {
    var options = tinyRetraining()
    options.cyclegan.configuration = CycleGAN.Configuration(
        generator: .init(width: 2, downsamplings: 1, residualBlocks: 1), discriminator: .init(width: 2, layers: 2))
    options.cyclegan.tileSize = 32
    options.cyclegan.batchSize = 2
    options.cyclegan.steps = steps
    options.cyclegan.simulations = 2
    options.cyclegan.simulationSide = 64
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

    @Test("with the CycleGAN, the retrainer trains a generator, versions it, and continues it next time")
    func retrainsThroughCycleGAN() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retrainer-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let retrainer = Retrainer(directory: folder, options: tinyCycleGANRetraining(steps: 3))
        let base = try #require(DefectDetector.bundledModel(named: "se1"))
        let first = try await retrainer.retrain(
            frames: Self.frames(), pixelSize: 0.25, dwell: nil, basePath: base.path, baseID: "se1", realism: .cyclegan)
        let generator = try #require(first.generator)
        #expect(generator.steps == 3 && generator.newSteps == 3 && generator.parent == nil)
        #expect(generator.namedLosses.values.allSatisfy { $0.isFinite })
        let loaded = try CycleGANRealism(contentsOf: URL(fileURLWithPath: generator.path))
        #expect(try loaded.pixelSize == DefectDetector.load(base.path).detector.metadata.pixelSize)
        #expect(first.candidates.map(\.name) == ["current", "cyclegan", "threshold-cyclegan"])
        #expect(first.candidates.allSatisfy { Set($0.f1.keys) == ["cyclegan"] })
        #expect(first.before == first.candidates[0].score)
        if first.accepted, let path = first.modelPath {
            let model = try DefectDetector.load(path).detector
            #expect(first.chosen?.hasSuffix("cyclegan") == true)
            if first.chosen == "cyclegan" { #expect(model.metadata.realismModel == "cyclegan:\(generator.path)") }
        }

        // The next retraining continues the same CycleGAN: its steps add up, its parent is named,
        // and only the newest full state is kept.
        let second = try await retrainer.retrain(
            frames: Self.frames(), pixelSize: 0.25, dwell: nil, basePath: base.path, baseID: "se1", realism: .both,
            cycleganSteps: 2)
        let next = try #require(second.generator)
        #expect(next.parent == generator.id && next.steps == 5 && next.newSteps == 2)
        #expect(next.id != generator.id && FileManager.default.fileExists(atPath: generator.path))
        let states = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter {
            $0.hasSuffix("-checkpoint.safetensors")
        }
        #expect(states == ["\(next.id)-checkpoint.safetensors"])
        // Both realism models: every candidate is scored on both kinds of held-out simulations,
        // and ranked by its worse score.
        #expect(
            Set(second.candidates.map(\.name)) == [
                "current", "fitted", "threshold-fitted", "cyclegan", "threshold-cyclegan",
            ])
        for candidate in second.candidates {
            #expect(Set(candidate.f1.keys) == ["fitted", "cyclegan"])
            #expect(candidate.score == candidate.f1.values.min())
        }
        #expect(second.after == second.candidates.dropFirst().map(\.score).max())
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

@Suite("Retraining through a CycleGAN in the daemon", .serialized)
struct DaemonCycleGANRetrainingTests {
    @Test("the policy file's rule chooses the CycleGAN: its version and losses are logged")
    func daemonTrainsACycleGAN() async throws {
        var policy = PolicyFile(policy: RetrainOnce(), source: "tests")
        // A rule that never fires by itself: the policy's request takes its realism model.
        policy.retraining = RetrainingRule(conditionScore: 1000, realism: .cyclegan, cycleganSteps: 2)
        var harness = try await DaemonHarness(policy: policy, model: "se1")
        harness.configuration.retraining = tinyCycleGANRetraining()
        defer { harness.finish() }
        let daemon = try await harness.run(limit: .seconds(300))
        let session = try #require(daemon.status.session)
        #expect(daemon.status.ending?.hasPrefix("retraining finished") == true, "\(daemon.status.ending ?? "-")")
        let log = try harness.log()
        let events = try log.export(session: session, table: "retraining_events")
        let metricsText = try #require(events.column("metrics").first ?? nil)
        let metrics = try #require(
            try JSONSerialization.jsonObject(with: Data(metricsText.utf8)) as? [String: Any])
        #expect(metrics["realism"] as? String == "cyclegan")
        let cyclegan = try #require(metrics["cyclegan"] as? [String: Any], "\(metricsText)")
        #expect(cyclegan["steps"] as? Int == 2)
        let losses = try #require(cyclegan["losses"] as? [String: Double])
        #expect(Set(losses.keys) == ["adversarial", "cycle", "identity", "discriminators"])
        let candidates = try #require(metrics["candidates"] as? [String: [String: Double]])
        #expect(candidates["cyclegan"]?["cyclegan"] != nil)
        let id = try #require(cyclegan["id"] as? String)
        let models = try log.query("SELECT metadata FROM models WHERE id = ?", arguments: [id])
        let metadata = try #require(models.rows.first?.first ?? nil)
        #expect(metadata.contains("\"kind\":\"cyclegan-generator\""), "\(metadata)")
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
