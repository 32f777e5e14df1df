public import DefectDetection
public import Foundation
public import NeuralNetwork

/// Training tiles made realistic by a CycleGAN generator (``RealismTraining``): clean simulations,
/// scaled and noised as the generator was trained on them, passed through it, and z-scored. The
/// labels stay as they were: the cycle and identity losses keep the generator from moving atoms.
public final class CycleGANRealism {
    /// The simulation → microscope generator.
    public let generator: ResNetGenerator
    /// The pixel size it was trained at, Å.
    public let pixelSize: Double
    /// Noise added to the clean tiles before the generator, as in its training.
    public let noise: Float
    /// Where it was read from.
    public let url: URL

    /// A generator written by `scopepilot realism train`: its architecture, pixel size and noise
    /// come from the file's metadata.
    public init(contentsOf url: URL) throws {
        let (_, metadata) = try SafeTensors.read(url)
        guard metadata["kind"] == "cyclegan-generator", let architectureJSON = metadata["architecture"],
            let pixelSize = metadata["pixel_size_angstrom"].flatMap(Double.init)
        else {
            throw RealismTraining.Failure(
                description:
                    "\(url.path) is not a generator written by `scopepilot realism train` (no kind, architecture or pixel size)"
            )
        }
        let architecture = try JSONDecoder().decode(
            ResNetGenerator.Architecture.self, from: Data(architectureJSON.utf8))
        generator = ResNetGenerator(architecture: architecture)
        try generator.load(from: url)
        self.pixelSize = pixelSize
        noise = metadata["simulation_noise"].flatMap(Float.init) ?? RealismTraining.Options().simulationNoise
        self.url = url
    }

    /// The training conditions of its input: the clean simulations it was trained on, at its pixel size.
    public var ranges: ConditionRanges {
        ConditionRanges(exactly: RealismTraining.cleanConditions(pixelSize: pixelSize))
    }

    /// Tiles already in the generators' range (−0.9 ... 0.9, `side` pixels), noised as in training
    /// and translated.
    public func translate(_ tiles: [[Float]], side: Int, seed: UInt64) -> [[Float]] {
        var random = Draw(seed: seed)
        return tiles.map { tile in
            var input = tile
            for i in input.indices { input[i] += noise * Float(random.gaussian()) }
            return generator.forward(Tensor(batch: 1, channels: 1, height: side, width: side, data: input)).data
        }
    }

    /// `tiles` made realistic: same defects and labels, images through the generator (noise drawn
    /// from `seed`).
    public func apply(_ tiles: [TrainingTile], seed: UInt64) -> [TrainingTile] {
        var random = Draw(seed: seed)
        return tiles.map { tile in
            let side = tile.size
            precondition(side % generator.architecture.granularity == 0, "tile size must suit the generator")
            var input = RealismTraining.normalised(tile.image)
            for i in input.indices { input[i] += noise * Float(random.gaussian()) }
            let made = generator.forward(Tensor(batch: 1, channels: 1, height: side, width: side, data: input)).data
            let mean = made.reduce(0, +) / Float(made.count)
            let deviation = max(
                (made.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(made.count)).squareRoot(), 1e-6)
            return TrainingTile(
                size: side, pixelSize: tile.pixelSize, image: made.map { ($0 - mean) / deviation }, labels: tile.labels,
                defects: tile.defects, conditions: tile.conditions)
        }
    }
}
