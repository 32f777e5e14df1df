public import DefectDetection
public import Foundation
public import ImageNumerics
public import NeuralNetwork

/// Trains the CycleGAN realism model (``CycleGAN``) between clean virtual-microscope simulations
/// (domain A, with the paper's added Gaussian noise) and unlabelled frames of today's microscope
/// (domain B), on random tiles turned by multiples of 90° and flipped.
///
/// Each image is brought to the generators' range by its own 0.5th and 99.5th percentiles, which
/// go to −0.9 and 0.9: the frames' brightness and gain do not matter, only how they look.
public enum RealismTraining {
    /// How to train.
    public struct Options: Sendable {
        /// The networks and losses.
        public var configuration = CycleGAN.Configuration()
        /// Tile side, pixels (a multiple of the generator's granularity).
        public var tileSize = 64
        /// Tiles of each domain per step.
        public var batchSize = 4
        /// Steps to train for in all (a resumed run continues to this count).
        public var steps = 2000
        /// Clean simulations drawn for domain A, each `simulationSide` pixels a side.
        public var simulations = 24
        /// Side of each clean simulation, pixels.
        public var simulationSide = 256
        /// Standard deviation of the Gaussian noise added to the clean simulations, in the
        /// normalised range (−0.9 ... 0.9).
        public var simulationNoise: Float = 0.05
        /// Seed of the simulations, tiles and weights.
        public var seed: UInt64 = 1
        /// Steps between checkpoints.
        public var checkpointEvery = 100

        /// The defaults.
        public init() {}
    }

    /// A bad request for training, with what to do about it.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What is wrong.
        public let description: String
    }

    /// One report of progress: the step and its losses.
    public typealias Progress = (_ step: Int, _ losses: CycleGAN.Losses) -> Void

    /// `image` scaled so that its 0.5th and 99.5th percentiles become −0.9 and 0.9.
    public static func normalised(_ image: Image) -> [Float] { normalised(image.pixels) }

    /// `pixels` scaled so that their 0.5th and 99.5th percentiles become −0.9 and 0.9.
    public static func normalised(_ pixels: [Float]) -> [Float] {
        let sorted = pixels.sorted()
        let low = sorted[Int(0.005 * Double(sorted.count - 1))]
        let high = sorted[Int(0.995 * Double(sorted.count - 1))]
        let span = max(high - low, 1e-6)
        return pixels.map { 1.8 * ($0 - low) / span - 0.9 }
    }

    /// `count` clean HAADF simulations of the virtual microscope at `pixelSize` Å: a high dose, no
    /// aberrations, scan distortion, read noise or background (the paper's noise-free images;
    /// ``Options/simulationNoise`` is added when they are tiled).
    public static func cleanSimulations(count: Int, side: Int, pixelSize: Double, seed: UInt64) -> [Image] {
        let conditions = cleanConditions(pixelSize: pixelSize)
        var random = Draw(seed: seed)
        return (0..<count).map { index in
            TrainingTiles.render(
                width: side, height: side, conditions: conditions, seed: seed &+ UInt64(index) &* 7919, holes: true,
                random: &random
            ).image
        }
    }

    /// The conditions of the clean simulations at `pixelSize` Å.
    public static func cleanConditions(pixelSize: Double) -> TileConditions {
        TileConditions(
            pixelSize: pixelSize, dwell: 2000, current: 45, defocus: 0, astigmatism: 0, coma: 0, exponent: 1.6,
            readNoise: 0, lineJitter: 0, drift: 0, background: 0)
    }

    /// Random tiles of a set of normalised images, turned and flipped.
    struct TileSampler {
        let images: [(pixels: [Float], width: Int, height: Int)]
        let noise: Float

        init(_ images: [Image], noise: Float) {
            self.images = images.map { (RealismTraining.normalised($0), $0.width, $0.height) }
            self.noise = noise
        }

        func batch(count: Int, side: Int, random: inout Draw) -> Tensor {
            var data: [Float] = []
            data.reserveCapacity(count * side * side)
            for _ in 0..<count {
                let image = images[Int(random.unit() * Double(images.count)) % images.count]
                let x0 = Int(random.unit() * Double(image.width - side + 1)) % (image.width - side + 1)
                let y0 = Int(random.unit() * Double(image.height - side + 1)) % (image.height - side + 1)
                let turns = Int(random.unit() * 4) % 4
                let flip = random.unit() < 0.5
                for y in 0..<side {
                    for x in 0..<side {
                        // (x, y) in the tile from (u, v) in the crop, turned `turns` times and flipped.
                        var (u, v) = (flip ? side - 1 - x : x, y)
                        for _ in 0..<turns { (u, v) = (side - 1 - v, u) }
                        var value = image.pixels[(y0 + v) * image.width + x0 + u]
                        if noise > 0 { value += noise * Float(random.gaussian()) }
                        data.append(value)
                    }
                }
            }
            return Tensor(batch: count, channels: 1, height: side, width: side, data: data)
        }
    }

    /// Trains on `frames` (domain B, at `pixelSize` Å) against clean simulations at the same pixel
    /// size. With `checkpoint`, the state is written there every ``Options/checkpointEvery`` steps
    /// and at the end; with `resume`, training continues from that file's state and step count.
    /// Throws `CancellationError` before a step once `shouldStop` returns true.
    public static func train(
        frames: [Image], pixelSize: Double, options: Options, checkpoint: URL? = nil, resume: URL? = nil,
        progress: Progress = { _, _ in }, shouldStop: () -> Bool = { false }
    ) throws -> CycleGAN {
        let side = options.tileSize
        guard side % options.configuration.generator.granularity == 0, side >= 16 else {
            throw Failure(
                description:
                    "the tile size \(side) must be at least 16 and a multiple of \(options.configuration.generator.granularity)"
            )
        }
        guard !frames.isEmpty else { throw Failure(description: "no frames of the microscope to learn from") }
        if let small = frames.first(where: { $0.width < side || $0.height < side }) {
            throw Failure(description: "a \(small.width) x \(small.height) frame is smaller than a \(side)-pixel tile")
        }
        guard options.steps > 0, options.batchSize > 0, options.simulations > 0 else {
            throw Failure(description: "steps, batch size and simulations must be positive")
        }
        let model = CycleGAN(configuration: options.configuration, seed: options.seed)
        if let resume {
            do { try model.loadCheckpoint(from: resume) } catch {
                throw Failure(description: "cannot resume: \(error)")
            }
        }
        let simulations = TileSampler(
            cleanSimulations(
                count: options.simulations, side: max(options.simulationSide, side), pixelSize: pixelSize,
                seed: options.seed),
            noise: options.simulationNoise)
        let microscope = TileSampler(frames, noise: 0)
        // The tiles of step k are the same whether the run was resumed or not.
        while model.steps < options.steps {
            if shouldStop() { throw CancellationError() }
            var random = Draw(seed: options.seed ^ (UInt64(model.steps) &* 0x9E37_79B9_7F4A_7C15))
            let a = simulations.batch(count: options.batchSize, side: side, random: &random)
            let b = microscope.batch(count: options.batchSize, side: side, random: &random)
            let losses = model.step(a: a, b: b)
            progress(model.steps, losses)
            if let checkpoint, model.steps % options.checkpointEvery == 0 || model.steps == options.steps {
                do { try model.saveCheckpoint(to: checkpoint, metadata: ["pixel_size": String(pixelSize)]) } catch {
                    throw Failure(description: "cannot write the checkpoint: \(error)")
                }
            }
        }
        return model
    }
}
