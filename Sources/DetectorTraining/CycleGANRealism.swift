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
    /// Where it was read from (nil: made in this process).
    public let url: URL?

    /// `generator`, trained at `pixelSize` Å on clean tiles with `noise` added.
    public init(generator: ResNetGenerator, pixelSize: Double, noise: Float) {
        self.generator = generator
        self.pixelSize = pixelSize
        self.noise = noise
        url = nil
    }

    /// Writes the generator with what ``init(contentsOf:)`` needs to use it again (kind,
    /// architecture, pixel size, noise), and `metadata` besides.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var metadata = metadata
        metadata["kind"] = Self.kind
        metadata["architecture"] = String(decoding: try encoder.encode(generator.architecture), as: UTF8.self)
        metadata["pixel_size_angstrom"] = String(pixelSize)
        metadata["simulation_noise"] = String(noise)
        try generator.save(to: url, metadata: metadata)
    }

    /// The `kind` in a generator file's metadata.
    static let kind = "cyclegan-generator"

    /// A generator written by `scopepilot realism train`: its architecture, pixel size and noise
    /// come from the file's metadata.
    public init(contentsOf url: URL) throws {
        let (_, metadata) = try SafeTensors.read(url)
        guard metadata["kind"] == Self.kind, let architectureJSON = metadata["architecture"],
            let pixelSize = metadata["pixel_size_angstrom"].flatMap(Double.init)
        else {
            throw RealismTraining.Failure(
                description:
                    "\(url.path) is not a generator written by `scopepilot realism train` (no kind, architecture or pixel size)"
            )
        }
        guard
            let architecture = try? JSONDecoder().decode(
                ResNetGenerator.Architecture.self, from: Data(architectureJSON.utf8))
        else {
            throw RealismTraining.Failure(
                description:
                    "\(url.path): its architecture metadata is unreadable (\(architectureJSON)); write it again with `scopepilot realism train`"
            )
        }
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
