public import DefectDetection
import Foundation
import ImageNumerics
import NeuralNetwork

/// How to train a detector.
public struct TrainingOptions: Sendable, Hashable, Codable {
    /// Passes over freshly generated tiles.
    public var epochs = 10
    /// Tiles generated per epoch.
    public var tilesPerEpoch = 64
    /// Tiles per gradient step.
    public var batchSize = 8
    /// Tile side, pixels.
    public var tileSize = 128
    /// Adam's step size.
    public var learningRate: Float = 1e-3
    /// Loss weight of each class (background, Se1, Se2, W): defects are rare.
    public var classWeights: [Float] = [1, 20, 20, 20]
    /// Held-out tiles for validation F1.
    public var validationTiles = 16
    /// Seed of the training data.
    public var seed: UInt64 = 1

    /// Default options.
    public init() {}
}

/// Progress of training, reported after every epoch.
public struct TrainingProgress: Sendable {
    /// Epoch just finished, from 1.
    public let epoch: Int
    /// Mean training loss over the epoch.
    public let loss: Float
    /// Validation scores per defect type.
    public let validation: [DefectClass: DetectionScore]
}

/// Progress within an epoch, reported after every gradient step.
public struct TrainingStep: Sendable {
    /// Epoch under way, from 1.
    public let epoch: Int
    /// Tiles of this epoch trained on so far.
    public let tiles: Int
    /// Tiles per epoch.
    public let tilesPerEpoch: Int
    /// Mean loss over this epoch's steps so far.
    public let loss: Float
}

/// Trains a detector on virtual-microscope tiles (fresh tiles every epoch, so it never sees the
/// same noise twice) and validates it on held-out tiles after every epoch.
public final class DetectorTrainer {
    /// The detector being trained.
    public let detector: DefectDetector
    /// The options.
    public let options: TrainingOptions
    /// The condition ranges of the training data.
    public let ranges: ConditionRanges
    /// Makes the simulated tiles realistic before training on them (the CycleGAN), if set.
    public let realism: CycleGANRealism?
    private let optimiser: Adam
    private let validation: [TrainingTile]

    /// Prepares training: the validation tiles come from a seed the training tiles never use.
    /// With `realism`, every tile (validation too) passes through its generator.
    public init(
        detector: DefectDetector, options: TrainingOptions, ranges: ConditionRanges = ConditionRanges(),
        realism: CycleGANRealism? = nil
    ) {
        self.detector = detector
        self.options = options
        self.ranges = ranges
        self.realism = realism
        optimiser = Adam(parameters: detector.network.parameters, learningRate: options.learningRate)
        var fixed = ranges
        fixed.pixelSize = detector.metadata.pixelSize...detector.metadata.pixelSize
        let simulated = TrainingTiles.generate(
            count: options.validationTiles, size: options.tileSize, ranges: fixed, seed: options.seed ^ 0xFACE_B00C)
        validation = realism?.apply(simulated, seed: options.seed ^ 0xFACE_B00C) ?? simulated
    }

    /// Trains for `options.epochs`, calling `step` after every gradient step and `progress` after
    /// every epoch; records the final validation F1 in the metadata. Stops early, leaving the
    /// metadata as it was, when `shouldStop` answers true (asked after every batch).
    public func train(
        step: (TrainingStep) -> Void = { _ in }, progress: (TrainingProgress) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) {
        var fixed = ranges
        fixed.pixelSize = detector.metadata.pixelSize...detector.metadata.pixelSize
        let classes = detector.metadata.architecture.classes
        let weights = Array(options.classWeights.prefix(classes))
        for epoch in 1...options.epochs {
            let epochSeed = options.seed &+ UInt64(epoch) &* 1_000_003
            let simulated = TrainingTiles.generate(
                count: options.tilesPerEpoch, size: options.tileSize, ranges: fixed, seed: epochSeed)
            let tiles = realism?.apply(simulated, seed: epochSeed) ?? simulated
            var total: Float = 0
            var batches = 0
            for start in stride(from: 0, to: tiles.count, by: options.batchSize) {
                let batch = Array(tiles[start..<min(start + options.batchSize, tiles.count)])
                let x = Tensor(
                    batch: batch.count, channels: 1, height: options.tileSize, width: options.tileSize,
                    data: batch.flatMap(\.image))
                // Labels beyond the model's classes (e.g. W in a Se1-only model) count as background.
                let labels = batch.flatMap(\.labels).map { $0 < classes ? $0 : 0 }
                let (loss, gradient) = SoftmaxCrossEntropy.evaluate(
                    logits: detector.network.forward(x, training: true), labels: labels, weights: weights)
                detector.network.backward(gradient)
                optimiser.step()
                total += loss
                batches += 1
                if shouldStop() { return }
                step(
                    TrainingStep(
                        epoch: epoch, tiles: min(start + options.batchSize, tiles.count), tilesPerEpoch: tiles.count,
                        loss: total / Float(batches)))
            }
            progress(TrainingProgress(epoch: epoch, loss: total / Float(max(batches, 1)), validation: validate()))
        }
        let final = validate()
        for (kind, score) in final { detector.metadata.metrics["\(kind.description.lowercased())_f1"] = score.f1 }
        detector.metadata.trainingConditions = ranges
        detector.metadata.dataSeed = options.seed
    }

    /// Scores on the validation tiles, per defect type, matching within 1 Å.
    public func validate() -> [DefectClass: DetectionScore] {
        DetectorEvaluation.score(detector, on: validation)
    }
}
