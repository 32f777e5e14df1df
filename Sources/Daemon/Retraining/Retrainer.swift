import DaemonAnalysis
import DedicatedThreads
public import DefectDetection
public import DetectorTraining
public import Foundation
public import ImageNumerics
public import NeuralNetwork
public import PolicyKit

/// Why a retraining did not produce a model.
public struct RetrainingError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case noFrames = "no_frames", model, save }
        private let kind: Kind

        /// No atomic-resolution frame to learn the conditions from.
        public static let noFrames = Code(kind: .noFrames)
        /// The current model could not be loaded.
        public static let model = Code(kind: .model)
        /// The new model could not be saved.
        public static let save = Code(kind: .save)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// What went wrong.
    public let description: String
}

/// Retrains the detector in the background, off the analysis thread. A realism model learns
/// the microscope's look from recent frames: the fitted physical model (an estimate of the
/// conditions), a CycleGAN trained on the frames against clean simulations, or both. The current
/// model is fine-tuned on simulations made realistic by each, and every candidate is scored on
/// the same held-out simulations of each realism model in use. The new model is saved and
/// offered only when it scores better.
///
/// Cancellable: cancelling the calling task stops training at the next batch or CycleGAN step.
public actor Retrainer {
    /// How much to train.
    public struct Options: Sendable {
        /// Fine-tuning epochs.
        public var epochs = 8
        /// Tiles per epoch.
        public var tilesPerEpoch = 32
        /// Held-out tiles each model is scored on (and as many again to calibrate thresholds on),
        /// per realism model.
        public var validationTiles = 48
        /// How much better (F1 on the held-out tiles) a new model must be to replace the current
        /// one: the held-out tiles are simulations at an estimate, so small gains are noise.
        public var margin = 0.02
        /// Side of the training and validation tiles, pixels.
        public var tileSize = 128
        /// Simulations per round of the realism step.
        public var simulationsPerRound = 96
        /// How the CycleGAN is trained when a retraining uses one (its steps are the rule's
        /// `cyclegan_steps` when it names them): `scopepilot realism train`'s defaults, 2000
        /// steps on 64-pixel tiles.
        public var cyclegan = RealismTraining.Options()

        /// The defaults: about a minute of training on a 2-vCPU machine (8 epochs: fewer leave the
        /// batch-norm statistics unsettled, and the fine-tuned model scores worse than it started),
        /// and 15-20 minutes more for a CycleGAN.
        public init() {}
    }

    /// A CycleGAN generator a retraining trained: a version of the session's realism model.
    public struct GeneratorVersion: Sendable, Hashable {
        /// Its id (the file's name without extension).
        public var id: String
        /// Where its weights are.
        public var path: String
        /// Steps trained, counting those of the versions it continues.
        public var steps: Int
        /// Steps trained by this retraining.
        public var newSteps: Int
        /// The version it continues from, if any.
        public var parent: String?
        /// The losses, averaged over the last tenth of this retraining's steps.
        public var losses: CycleGAN.Losses
        /// Frames it learned from.
        public var frames: Int
        /// Training time, seconds.
        public var seconds: Double
        /// What is written beside the weights (and into the log's models table).
        public var metadata: [String: String]

        /// ``losses`` by name: adversarial, cycle, identity, discriminators.
        public var namedLosses: [String: Double] {
            [
                "adversarial": Double(losses.adversarial), "cycle": Double(losses.cycle),
                "identity": Double(losses.identity), "discriminators": Double(losses.discriminators),
            ]
        }
    }

    /// One model a retraining considered.
    public struct Candidate: Sendable, Hashable {
        /// What it is: "fitted" or "cyclegan" (fine-tuned on that realism model's simulations),
        /// or "threshold-fitted" / "threshold-cyclegan" (the current weights with the peak
        /// threshold recalibrated on them).
        public var name: String
        /// F1 on each realism model's held-out simulations, by realism model.
        public var f1: [String: Double]
        /// The score that ranks it: its worst F1 over the realism models in use.
        public var score: Double { f1.values.min() ?? 0 }
    }

    /// What a retraining produced.
    public struct Outcome: Sendable {
        /// The realism step's estimate.
        public var estimate: ConditionEstimate
        /// The realism models in use.
        public var realism: RetrainingRule.Realism
        /// F1 of the current model on the held-out simulations (its worst over the realism models).
        public var before: Double
        /// The same of the best candidate.
        public var after: Double
        /// Every candidate with its scores, the current model first (named "current").
        public var candidates: [Candidate]
        /// The candidate kept, when one was.
        public var chosen: String?
        /// Whether the new model is better by the margin and was saved.
        public var accepted: Bool
        /// Where the new model was saved (when accepted).
        public var modelPath: String?
        /// The new model's id (when accepted).
        public var modelID: String?
        /// The CycleGAN generator trained, when the retraining used one.
        public var generator: GeneratorVersion?
    }

    private let thread = ComputeThread(name: "scopepilot-retrain")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// Lets the retrainer's thread end once its work is done (a session's end).
    public nonisolated func finish() { thread.finish() }
    /// How much to train.
    public let options: Options
    /// Where new models are written.
    public let directory: URL
    private var generation = 0
    /// The newest CycleGAN's full state (generators, discriminators, optimisers), which the next
    /// CycleGAN retraining at the same pixel size continues from.
    private var lastGenerator: (version: GeneratorVersion, checkpoint: URL, pixelSize: Double)?

    /// A retrainer writing its models to `directory`.
    public init(directory: URL, options: Options = Options()) {
        self.directory = directory
        self.options = options
    }

    /// Simulations of one realism model: what the detector is fine-tuned on and scored on.
    private struct Realisation {
        var name: String
        var ranges: ConditionRanges
        var generator: CycleGANRealism?
        var heldOut: [TrainingTile]
        var calibration: [TrainingTile]
    }

    /// Estimates the conditions of `frames` (atomic resolution, `pixelSize` Å, taken with `dwell`
    /// µs when known) and, with `realism` naming the CycleGAN, trains one on them (for
    /// `cycleganSteps`, or the options' steps); fine-tunes the model at `basePath` on each realism
    /// model's simulations, calibrates the peak thresholds of the fine-tuned and of the current
    /// weights, and keeps the best candidate when it beats the current model on other held-out
    /// simulations (with both realism models, a candidate's score is its worse of the two).
    /// Stops with `CancellationError` at the next batch once the calling task is cancelled or
    /// `shouldStop` returns true.
    public func retrain(
        frames: [Image], pixelSize: Double, dwell: Double?, basePath: String, baseID: String,
        realism: RetrainingRule.Realism = .fitted, cycleganSteps: Int? = nil,
        shouldStop: @Sendable () -> Bool = { false }
    )
        throws -> Outcome
    {
        guard !frames.isEmpty else {
            throw RetrainingError(code: .noFrames, description: "no atomic-resolution frames to learn from")
        }
        let base: DefectDetector
        do { base = try DefectDetector.load(basePath).detector } catch {
            throw RetrainingError(code: .model, description: "cannot load the current model: \(error)")
        }
        func stopping() -> Bool { Task.isCancelled || shouldStop() }
        let estimate: ConditionEstimate
        do {
            estimate = try ConditionEstimator.estimate(
                frames: frames, pixelSize: pixelSize, dwell: dwell, simulationsPerRound: options.simulationsPerRound)
        } catch {
            throw RetrainingError(code: .noFrames, description: "the realism step cannot read the frames: \(error)")
        }
        if stopping() { throw CancellationError() }
        generation += 1
        // Deterministic: the same frames and model give the same retraining.
        let seed = UInt64(generation) &* 0x9E37_79B9 ^ 0x5EED
        let side = 2 * options.tileSize
        var realisations: [Realisation] = []
        if realism.usesFitted {
            var ranges = estimate.ranges
            ranges.pixelSize = base.metadata.pixelSize...base.metadata.pixelSize
            realisations.append(
                Realisation(
                    name: "fitted", ranges: estimate.ranges, generator: nil,
                    heldOut: TrainingTiles.generate(
                        count: options.validationTiles, size: side, ranges: ranges, seed: seed ^ 0x5EED_0FF),
                    // Thresholds are calibrated on other simulations than those the models are compared on.
                    calibration: TrainingTiles.generate(
                        count: options.validationTiles, size: side, ranges: ranges, seed: seed ^ 0xCA11_B8A7)))
        }
        var generatorVersion: GeneratorVersion?
        if realism.usesCycleGAN {
            let (generator, version) = try trainGenerator(
                frames: frames, pixelSize: pixelSize, detectorPixelSize: base.metadata.pixelSize,
                steps: cycleganSteps ?? options.cyclegan.steps, seed: seed, stopping: stopping)
            generatorVersion = version
            let ranges = generator.ranges
            realisations.append(
                Realisation(
                    name: "cyclegan", ranges: ranges, generator: generator,
                    heldOut: generator.apply(
                        TrainingTiles.generate(
                            count: options.validationTiles, size: side, ranges: ranges, seed: seed ^ 0x5EED_0FF),
                        seed: seed ^ 0x0FF),
                    calibration: generator.apply(
                        TrainingTiles.generate(
                            count: options.validationTiles, size: side, ranges: ranges, seed: seed ^ 0xCA11_B8A7),
                        seed: seed ^ 0xCA1)))
        }
        if stopping() { throw CancellationError() }
        func scores(_ model: DefectDetector) -> [String: Double] {
            Dictionary(
                uniqueKeysWithValues: realisations.map {
                    ($0.name, Self.f1(DetectorEvaluation.score(model, on: $0.heldOut)))
                })
        }
        let current = Candidate(name: "current", f1: scores(base))
        let threshold = base.metadata.peakThreshold ?? DefectDetector.defaultPeakThreshold
        var models: [(Candidate, DefectDetector)] = []
        for realisation in realisations {
            let candidate = base.copy()
            candidate.metadata.realism = estimate
            candidate.metadata.realismModel = realisation.generator?.url.map { "cyclegan:\($0.path)" }
            var training = TrainingOptions()
            training.epochs = options.epochs
            training.tilesPerEpoch = options.tilesPerEpoch
            training.tileSize = options.tileSize
            training.learningRate = 1e-3
            training.validationTiles = 8
            training.seed = seed
            var stopped = false
            DetectorTrainer(
                detector: candidate, options: training, ranges: realisation.ranges, realism: realisation.generator
            ).train(
                shouldStop: {
                    stopped = stopping()
                    return stopped
                })
            if stopped { throw CancellationError() }
            let through = realisation.generator.map { _ in "simulations through CycleGAN \(generatorVersion?.id ?? "-")"
            }
            candidate.metadata.recipe =
                "retrained from \(baseID) on \(frames.count) frame(s), \(options.epochs) epochs"
                + (through.map { " on \($0)" } ?? "")
            // Thresholds move from the current model's only as far as the simulations demand: they
            // are at an estimate of the conditions, and a threshold fitted to a wrong estimate
            // costs recall or precision on the real frames.
            candidate.metadata.peakThreshold =
                DetectorEvaluation.calibrateThreshold(
                    candidate, on: realisation.calibration, preferring: threshold, tolerance: options.margin
                ).threshold
            // The current weights with the threshold recalibrated are a candidate too: sometimes
            // the weights are fine and only the threshold is off.
            let recalibrated = base.copy()
            recalibrated.metadata.realism = estimate
            recalibrated.metadata.realismModel = candidate.metadata.realismModel
            recalibrated.metadata.peakThreshold =
                DetectorEvaluation.calibrateThreshold(
                    base, on: realisation.calibration, preferring: threshold, tolerance: options.margin
                ).threshold
            recalibrated.metadata.recipe =
                "\(baseID) with its peak threshold recalibrated on \(frames.count) frame(s)"
                + (through.map { " and \($0)" } ?? "")
            if stopping() { throw CancellationError() }
            models.append((Candidate(name: realisation.name, f1: scores(candidate)), candidate))
            models.append((Candidate(name: "threshold-\(realisation.name)", f1: scores(recalibrated)), recalibrated))
        }
        var outcome = Outcome(
            estimate: estimate, realism: realism, before: current.score,
            after: models.map(\.0.score).max() ?? current.score, candidates: [current] + models.map(\.0),
            accepted: false, generator: generatorVersion)
        guard let (best, chosen) = models.max(by: { $0.0.score < $1.0.score }),
            best.score > current.score + options.margin
        else { return outcome }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = "retrained-\(generation)-\(String(seed, radix: 16).suffix(6))"
        let url = directory.appendingPathComponent("\(name).safetensors")
        do { try chosen.save(to: url) } catch {
            throw RetrainingError(code: .save, description: "cannot save the retrained model to \(url.path): \(error)")
        }
        outcome.chosen = best.name
        outcome.accepted = true
        outcome.modelPath = url.path
        outcome.modelID = name
        return outcome
    }

    /// Trains a CycleGAN on `frames` (resampled to the detector's pixel size), continuing the
    /// previous one when it was trained at the same pixel size, and saves its generator as a new
    /// version and its full state for the next retraining.
    private func trainGenerator(
        frames: [Image], pixelSize: Double, detectorPixelSize: Double, steps: Int, seed: UInt64,
        stopping: () -> Bool
    ) throws -> (CycleGANRealism, GeneratorVersion) {
        let scale = pixelSize / detectorPixelSize
        let resampled = frames.map { DefectDetector.resample($0, scale: scale) }
        var training = options.cyclegan
        let parent = lastGenerator.flatMap {
            abs($0.pixelSize - detectorPixelSize) <= 1e-6 * detectorPixelSize ? $0 : nil
        }
        let before = parent?.version.steps ?? 0
        training.steps = before + steps
        training.seed = seed
        let name = "cyclegan-\(generation)-\(String(seed, radix: 16).suffix(6))"
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw RetrainingError(code: .save, description: "cannot create \(directory.path): \(error)")
        }
        let checkpoint = directory.appendingPathComponent("\(name)-checkpoint.safetensors")
        var recent: [CycleGAN.Losses] = []
        let window = max(1, steps / 10)
        let started = ContinuousClock.now
        let model: CycleGAN
        do {
            model = try RealismTraining.train(
                frames: resampled, pixelSize: detectorPixelSize, options: training, checkpoint: nil,
                resume: parent?.checkpoint,
                progress: { step, losses in if step > training.steps - window { recent.append(losses) } },
                shouldStop: stopping)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw RetrainingError(code: .model, description: "the CycleGAN cannot be trained: \(error)")
        }
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let count = Float(max(recent.count, 1))
        let losses = CycleGAN.Losses(
            adversarial: recent.map(\.adversarial).reduce(0, +) / count,
            cycle: recent.map(\.cycle).reduce(0, +) / count,
            identity: recent.map(\.identity).reduce(0, +) / count,
            discriminators: recent.map(\.discriminators).reduce(0, +) / count)
        var metadata: [String: String] = [
            "steps": String(model.steps), "new_steps": String(steps),
            "frames": String(frames.count), "seconds": String(format: "%.1f", seconds),
            "loss_adversarial": String(losses.adversarial), "loss_cycle": String(losses.cycle),
            "loss_identity": String(losses.identity), "loss_discriminators": String(losses.discriminators),
        ]
        if let parent { metadata["parent"] = parent.version.id }
        let url = directory.appendingPathComponent("\(name).safetensors")
        let made = CycleGANRealism(generator: model.g, pixelSize: detectorPixelSize, noise: training.simulationNoise)
        do {
            try made.save(to: url, metadata: metadata)
            try model.saveCheckpoint(to: checkpoint, metadata: ["pixel_size": String(detectorPixelSize)])
        } catch {
            throw RetrainingError(code: .save, description: "cannot save the CycleGAN to \(url.path): \(error)")
        }
        let generator: CycleGANRealism
        do { generator = try CycleGANRealism(contentsOf: url) } catch {
            throw RetrainingError(code: .save, description: "cannot read back the CycleGAN \(url.path): \(error)")
        }
        let version = GeneratorVersion(
            id: name, path: url.path, steps: model.steps, newSteps: steps, parent: parent?.version.id,
            losses: losses, frames: frames.count, seconds: seconds, metadata: metadata)
        // Only the newest state is kept for continuing: each is as large as the whole CycleGAN.
        if let old = lastGenerator?.checkpoint { try? FileManager.default.removeItem(at: old) }
        lastGenerator = (version, checkpoint, detectorPixelSize)
        return (generator, version)
    }

    /// F1 over every defect type together.
    static func f1(_ scores: [DefectClass: DetectionScore]) -> Double {
        scores.values.reduce(DetectionScore(), +).f1
    }
}
