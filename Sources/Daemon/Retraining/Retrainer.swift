import DaemonAnalysis
public import DefectDetection
import DetectorTraining
public import Foundation
public import ImageNumerics

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

/// Retrains the detector in the background, off the analysis thread: the realism step estimates
/// the microscope's conditions from recent frames, the current model is fine-tuned on simulations
/// drawn around that estimate, and both models are scored on the same held-out simulations at the
/// estimated conditions. The new model is saved and offered only when it scores better.
///
/// Cancellable: cancelling the calling task stops training at the next batch.
public actor Retrainer {
    /// How much to train.
    public struct Options: Sendable, Hashable {
        /// Fine-tuning epochs.
        public var epochs = 8
        /// Tiles per epoch.
        public var tilesPerEpoch = 32
        /// Held-out tiles each model is scored on (and as many again to calibrate thresholds on).
        public var validationTiles = 48
        /// How much better (F1 on the held-out tiles) a new model must be to replace the current
        /// one: the held-out tiles are simulations at an estimate, so small gains are noise.
        public var margin = 0.02
        /// Side of the training and validation tiles, pixels.
        public var tileSize = 128
        /// Simulations per round of the realism step.
        public var simulationsPerRound = 96

        /// The defaults: about a minute of training on a 2-vCPU machine (8 epochs: fewer leave the
        /// batch-norm statistics unsettled, and the fine-tuned model scores worse than it started).
        public init() {}
    }

    /// What a retraining produced.
    public struct Outcome: Sendable {
        /// The realism step's estimate.
        public var estimate: ConditionEstimate
        /// F1 of the current model on the held-out simulations.
        public var before: Double
        /// F1 of the fine-tuned model on the same simulations.
        public var after: Double
        /// Whether the new model is better by the margin and was saved.
        public var accepted: Bool
        /// Where the new model was saved (when accepted).
        public var modelPath: String?
        /// The new model's id (when accepted).
        public var modelID: String?
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

    /// A retrainer writing its models to `directory`.
    public init(directory: URL, options: Options = Options()) {
        self.directory = directory
        self.options = options
    }

    /// Estimates the conditions of `frames` (atomic resolution, `pixelSize` Å, taken with `dwell`
    /// µs when known), fine-tunes the model at `basePath`, calibrates the peak threshold of the
    /// fine-tuned and of the current model on simulations at the estimate, and keeps the better of
    /// the two when it beats the current model on other held-out simulations.
    /// Stops with `CancellationError` at the next batch once the calling task is cancelled or
    /// `shouldStop` returns true.
    public func retrain(
        frames: [Image], pixelSize: Double, dwell: Double?, basePath: String, baseID: String,
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
        let estimate: ConditionEstimate
        do {
            estimate = try ConditionEstimator.estimate(
                frames: frames, pixelSize: pixelSize, dwell: dwell, simulationsPerRound: options.simulationsPerRound)
        } catch {
            throw RetrainingError(code: .noFrames, description: "the realism step cannot read the frames: \(error)")
        }
        if Task.isCancelled || shouldStop() { throw CancellationError() }
        var ranges = estimate.ranges
        ranges.pixelSize = base.metadata.pixelSize...base.metadata.pixelSize
        generation += 1
        // Deterministic: the same frames and model give the same retraining.
        let seed = UInt64(generation) &* 0x9E37_79B9 ^ 0x5EED
        let heldOut = TrainingTiles.generate(
            count: options.validationTiles, size: 2 * options.tileSize, ranges: ranges, seed: seed ^ 0x5EED_0FF)
        // Thresholds are calibrated on other simulations than those the models are compared on.
        let calibration = TrainingTiles.generate(
            count: options.validationTiles, size: 2 * options.tileSize, ranges: ranges, seed: seed ^ 0xCA11_B8A7)
        let before = Self.f1(DetectorEvaluation.score(base, on: heldOut))

        let candidate = base.copy()
        candidate.metadata.realism = estimate
        var training = TrainingOptions()
        training.epochs = options.epochs
        training.tilesPerEpoch = options.tilesPerEpoch
        training.tileSize = options.tileSize
        training.learningRate = 1e-3
        training.validationTiles = 8
        training.seed = seed
        var stopped = false
        DetectorTrainer(detector: candidate, options: training, ranges: estimate.ranges).train(
            shouldStop: {
                stopped = Task.isCancelled || shouldStop()
                return stopped
            })
        if stopped { throw CancellationError() }
        candidate.metadata.recipe = "retrained from \(baseID) on \(frames.count) frame(s), \(options.epochs) epochs"
        // Thresholds move from the current model's only as far as the simulations demand: they are
        // at an estimate of the conditions, and a threshold fitted to a wrong estimate costs recall
        // or precision on the real frames.
        let current = base.metadata.peakThreshold ?? DefectDetector.defaultPeakThreshold
        candidate.metadata.peakThreshold =
            DetectorEvaluation.calibrateThreshold(
                candidate, on: calibration, preferring: current, tolerance: options.margin
            ).threshold
        // The current model with its threshold recalibrated for the estimated conditions is a
        // candidate too: sometimes the weights are fine and only the threshold is off.
        let recalibrated = base.copy()
        recalibrated.metadata.realism = estimate
        recalibrated.metadata.peakThreshold =
            DetectorEvaluation.calibrateThreshold(
                base, on: calibration, preferring: current, tolerance: options.margin
            ).threshold
        recalibrated.metadata.recipe = "\(baseID) with its peak threshold recalibrated on \(frames.count) frame(s)"
        if Task.isCancelled || shouldStop() { throw CancellationError() }
        let scored = [candidate, recalibrated].map { ($0, Self.f1(DetectorEvaluation.score($0, on: heldOut))) }
        guard let best = scored.max(by: { $0.1 < $1.1 }), best.1 > before + options.margin else {
            let after = scored.map(\.1).max() ?? before
            return Outcome(estimate: estimate, before: before, after: after, accepted: false)
        }
        let (chosen, after) = best
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = "retrained-\(generation)-\(String(seed, radix: 16).suffix(6))"
        let url = directory.appendingPathComponent("\(name).safetensors")
        do { try chosen.save(to: url) } catch {
            throw RetrainingError(code: .save, description: "cannot save the retrained model to \(url.path): \(error)")
        }
        return Outcome(
            estimate: estimate, before: before, after: after, accepted: true,
            modelPath: url.path, modelID: name)
    }

    /// F1 over every defect type together.
    static func f1(_ scores: [DefectClass: DetectionScore]) -> Double {
        scores.values.reduce(DetectionScore(), +).f1
    }
}
