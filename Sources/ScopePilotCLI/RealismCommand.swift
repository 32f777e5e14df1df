import ArgumentParser
import DefectDetection
import DetectorTraining
import Foundation
import ImageNumerics
import NeuralNetwork
import Segmentation

/// `scopepilot realism`: the CycleGAN realism model.
struct RealismCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realism",
        abstract: "The CycleGAN realism model: simulations made to look like today's microscope.",
        subcommands: [Train.self, Distance.self])

    /// `scopepilot realism train`.
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a CycleGAN between clean simulations and unlabelled frames of today's microscope.",
            discussion: """
                Domain A is clean virtual-microscope simulations at the frames' pixel size, with \
                Gaussian noise added; domain B is the frames. LSGAN losses on pixel and Fourier \
                discriminators, cycle weight 10, identity weight 5, random 90° turns and flips. \
                --out gets the simulation → microscope generator (safetensors, and a .json beside \
                it); the checkpoint (networks and optimiser state) is written as training goes, \
                and --resume continues from it.
                """)

        @Argument(help: "Unlabelled frames of the microscope as it is now (.npy, .tif, .png, .dm3, .dm4).")
        var frames: [String] = []
        @Option(help: "Pixel size of the frames, Å (default: the files' own calibration).") var pixelSize: Double?
        @Option(help: "The generator to write (.safetensors).") var out: String
        @Option(help: "Training steps in all.") var steps = 2000
        @Option(help: "Tile side, pixels (a multiple of 2^downsamplings).") var tileSize = 64
        @Option(help: "Tiles of each domain per step.") var batchSize = 4
        @Option(help: "Generator: channels after its first convolution.") var width = 8
        @Option(help: "Generator: stride-2 convolutions.") var downsamplings = 2
        @Option(help: "Generator: residual blocks.") var residualBlocks = 3
        @Option(help: "Discriminators: channels of their first layer.") var discriminatorWidth = 8
        @Option(help: "Adam's step size.") var learningRate: Float = 2e-4
        @Option(help: "Clean simulations drawn for domain A.") var simulations = 24
        @Option(help: "Side of each clean simulation, pixels.") var simulationSide = 256
        @Option(help: "Standard deviation of the noise added to the simulations (images span −0.9 ... 0.9).")
        var simulationNoise: Float = 0.05
        @Option(help: "Checkpoint file (default: OUT with -checkpoint before .safetensors).") var checkpoint: String?
        @Option(help: "Steps between checkpoints.") var checkpointEvery = 100
        @Flag(help: "Continue from the checkpoint (to --steps in all).") var resume = false
        @Option(help: "Seed of the simulations, tiles and weights.") var seed: UInt64 = 1

        func validate() throws {
            guard !frames.isEmpty else { throw ValidationError("give the microscope's frames to learn from") }
            guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must end in .safetensors") }
            guard steps > 0, batchSize > 0, simulations > 0, checkpointEvery > 0, width > 0, discriminatorWidth > 0
            else {
                throw ValidationError(
                    "--steps, --batch-size, --simulations, --checkpoint-every and the widths must be positive")
            }
            guard (0...4).contains(downsamplings), (0...12).contains(residualBlocks) else {
                throw ValidationError("--downsamplings is 0 to 4 and --residual-blocks 0 to 12")
            }
            guard learningRate > 0, learningRate < 1 else {
                throw ValidationError("--learning-rate is between 0 and 1")
            }
            guard simulationNoise >= 0, simulationNoise < 1 else {
                throw ValidationError("--simulation-noise is between 0 and 1")
            }
        }

        /// The checkpoint's path.
        var checkpointPath: String {
            checkpoint ?? String(out.dropLast(".safetensors".count)) + "-checkpoint.safetensors"
        }

        func run() throws {
            let (images, frameSize) = try ImageInput.frames(
                of: frames, pixelSize: pixelSize, option: "realism train", pixelSizeOption: "--pixel-size")
            var options = RealismTraining.Options()
            options.configuration = CycleGAN.Configuration(
                generator: .init(width: width, downsamplings: downsamplings, residualBlocks: residualBlocks),
                discriminator: .init(width: discriminatorWidth, layers: 3))
            options.configuration.learningRate = learningRate
            options.tileSize = tileSize
            options.batchSize = batchSize
            options.steps = steps
            options.simulations = simulations
            options.simulationSide = simulationSide
            options.simulationNoise = simulationNoise
            options.checkpointEvery = checkpointEvery
            options.seed = seed
            let checkpointURL = URL(fileURLWithPath: checkpointPath)
            let resumeURL: URL?
            if resume {
                guard FileManager.default.fileExists(atPath: checkpointPath) else {
                    throw ValidationError("--resume: there is no checkpoint at \(checkpointPath)")
                }
                resumeURL = checkpointURL
            } else {
                resumeURL = nil
            }
            let generatorParameters = ResNetGenerator(architecture: options.configuration.generator).parameterCount
            say(
                "realism: \(images.count) frame(s) at \(frameSize) Å/px against \(simulations) clean simulations; "
                    + "generators of \(generatorParameters) parameters, tiles of \(tileSize) px, \(batchSize) per step")
            let start = ContinuousClock.now
            let bar = ProgressBar(enabled: isatty(STDERR_FILENO) != 0)
            var history: [[String: Any]] = []
            var recent: [CycleGAN.Losses] = []
            var first = true
            let model: CycleGAN
            do {
                model = try RealismTraining.train(
                    frames: images, pixelSize: frameSize, options: options, checkpoint: checkpointURL,
                    resume: resumeURL
                ) { step, losses in
                    if first, resumeURL != nil { say("resuming at step \(step - 1)") }
                    first = false
                    recent.append(losses)
                    let detail = String(
                        format: "step %d/%d  G %.3f  cycle %.3f  identity %.3f  D %.3f", step, steps,
                        losses.adversarial, losses.cycle, losses.identity, losses.discriminators)
                    bar.show(fraction: Double(step) / Double(steps), label: "realism", detail: detail)
                    let report = max(1, min(50, steps / 10))
                    guard step % report == 0 || step == steps else { return }
                    let mean = Self.mean(recent)
                    recent = []
                    let elapsed = Double((ContinuousClock.now - start).components.seconds)
                    history.append([
                        "step": step, "adversarial": mean.adversarial, "cycle": mean.cycle,
                        "identity": mean.identity, "discriminators": mean.discriminators, "seconds": elapsed,
                    ])
                    bar.clear()
                    say(
                        String(
                            format: "step %5d/%d  G %.3f  cycle %.3f  identity %.3f  D %.3f  (%.0fs)", step, steps,
                            mean.adversarial, mean.cycle, mean.identity, mean.discriminators, elapsed))
                }
            } catch let failure as RealismTraining.Failure {
                throw ValidationError(failure.description)
            }
            bar.clear()
            if first, resumeURL != nil {
                say(
                    "the checkpoint is already at step \(model.steps) of --steps \(steps): nothing to train; writing its generator"
                )
            }
            let seconds = Double((ContinuousClock.now - start).components.seconds)
            let generator = CycleGANRealism(generator: model.g, pixelSize: frameSize, noise: simulationNoise)
            let metadata = [
                "direction": "simulation to microscope", "steps": String(model.steps),
                "normalisation": "each image's 0.5th and 99.5th percentiles to -0.9 and 0.9",
            ]
            let outURL = URL(fileURLWithPath: out)
            do {
                try FileManager.default.createDirectory(
                    at: outURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                try generator.save(to: outURL, metadata: metadata)
                let sidecar: [String: Any] = [
                    "kind": "cyclegan-generator", "frames": frames, "frame_count": images.count,
                    "pixel_size_angstrom": frameSize, "steps": model.steps,
                    "generator": ["width": width, "downsamplings": downsamplings, "residual_blocks": residualBlocks],
                    "generator_parameters": generatorParameters, "tile_size": tileSize, "batch_size": batchSize,
                    "simulations": simulations, "simulation_noise": simulationNoise, "seed": seed,
                    "seconds_this_run": seconds, "losses": history, "checkpoint": checkpointPath,
                    "recipe": (["scopepilot"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
                ]
                try JSONSerialization.data(withJSONObject: sidecar, options: [.prettyPrinted, .sortedKeys]).write(
                    to: outURL.deletingPathExtension().appendingPathExtension("json"))
            } catch {
                throw ValidationError("cannot write \(out): \(error)")
            }
            say("wrote \(out) and its .json; checkpoint \(checkpointPath) (\(Int(seconds)) s this run)")
        }

        private static func mean(_ losses: [CycleGAN.Losses]) -> CycleGAN.Losses {
            let n = Float(max(losses.count, 1))
            return CycleGAN.Losses(
                adversarial: losses.map(\.adversarial).reduce(0, +) / n, cycle: losses.map(\.cycle).reduce(0, +) / n,
                identity: losses.map(\.identity).reduce(0, +) / n,
                discriminators: losses.map(\.discriminators).reduce(0, +) / n)
        }
    }
}

extension RealismCommand {
    /// `scopepilot realism distance`.
    struct Distance: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How far simulations look from the microscope's frames: raw, fitted, through a CycleGAN.",
            discussion: """
                Three distances between tiles of the frames and tiles of each kind of simulation, \
                every image scaled by its 0.5th and 99.5th percentiles: the Wasserstein-1 distance \
                of pixel values, the RMS difference of mean log10 radial power spectra, and the \
                Fréchet distance of features of [tile, log amplitude spectrum] from the shipped \
                detector's encoder. The first row is the floor: two other samples of the frames' own tiles.
                """)

        @Argument(help: "Frames of the microscope (.npy, .tif, .png, .dm3, .dm4).") var frames: [String] = []
        @Option(help: "Pixel size of the frames, Å (default: the files' own calibration).") var pixelSize: Double?
        @Option(help: "A generator from `scopepilot realism train`, for the CycleGAN row.") var generator: String?
        @Option(help: "Tiles per set.") var tiles = 64
        @Option(help: "Tile side, pixels.") var tileSize = 64
        @Option(help: "Seed of the simulations and tiles.") var seed: UInt64 = 1

        func validate() throws {
            guard !frames.isEmpty else { throw ValidationError("give the microscope's frames") }
            guard tiles >= 8, tileSize >= 16, tileSize % 4 == 0 else {
                throw ValidationError("--tiles must be at least 8 and --tile-size a multiple of 4 of at least 16")
            }
        }

        func run() throws {
            let (images, size) = try ImageInput.frames(
                of: frames, pixelSize: pixelSize, option: "realism distance", pixelSizeOption: "--pixel-size")
            guard images.allSatisfy({ $0.width >= tileSize && $0.height >= tileSize }) else {
                throw ValidationError("every frame must hold a \(tileSize)-pixel tile")
            }
            let cyclegan = try generator.map { path in
                do { return try CycleGANRealism(contentsOf: URL(fileURLWithPath: path)) } catch {
                    throw ValidationError("--generator \(path): \(error)")
                }
            }
            if let cyclegan, abs(cyclegan.pixelSize - size) > 0.02 * size {
                throw ValidationError(
                    "the generator was trained at \(cyclegan.pixelSize) Å/px, the frames are at \(size)")
            }
            let side = tileSize
            let features = try Self.features(pixelSize: size, side: side)
            let reference = RealismDistance.tiles(of: images, side: side, count: tiles, seed: seed)
            var rows: [(String, [[Float]])] = [
                (
                    "frames (another sample: the floor)",
                    RealismDistance.tiles(of: images, side: side, count: tiles, seed: seed ^ 0xF1008)
                )
            ]
            let clean = RealismTraining.cleanSimulations(count: 8, side: max(256, side), pixelSize: size, seed: seed)
            let cleanTiles = RealismDistance.tiles(of: clean, side: side, count: tiles, seed: seed)
            rows.append(("clean simulations", cleanTiles))
            say("fitting the condition model to \(images.count) frame(s) ...")
            let estimate: ConditionEstimate
            do { estimate = try ConditionEstimator.estimate(frames: images, pixelSize: size) } catch {
                throw ValidationError("the fitted model cannot read the frames: \(error)")
            }
            let width = max(256, side)
            let fitted = TrainingTiles.images(
                count: 8, width: width, height: width, ranges: estimate.ranges, seed: seed
            )
            .map(\.image)
            rows.append(
                ("fitted condition model", RealismDistance.tiles(of: fitted, side: side, count: tiles, seed: seed)))
            if let cyclegan {
                rows.append(("CycleGAN generator", cyclegan.translate(cleanTiles, side: side, seed: seed)))
            }
            print("tiles of \(side) px at \(size) Å/px, \(tiles) per set, against \(images.count) frame(s)\n")
            print("simulations                           histogram W1   radial spectrum   Fréchet (features)")
            for (name, set) in rows {
                let report = RealismDistance.report(set, reference, side: side, features: features)
                print(
                    name.padding(toLength: 38, withPad: " ", startingAt: 0)
                        + String(
                            format: "%10.4f  %14.3f  %18.2f", report.histogram, report.spectrum, report.frechet ?? .nan)
                )
            }
        }

        /// Features of a tile for the Fréchet distance: the shipped detector's bottleneck, mean and
        /// maximum per channel, of the tile and of its log amplitude spectrum.
        static func features(pixelSize: Double, side: Int) throws -> ([Float]) -> [Float] {
            guard let url = DefectDetector.bundledModel else {
                throw ValidationError("the shipped detector is missing")
            }
            let detector: DefectDetector
            do { detector = try DefectDetector.load(url.path).detector } catch { throw ValidationError("\(error)") }
            let embedder = DetectorEmbedder(detector, parts: [.bottleneck])
            let grid = ChipGrid(width: side, height: side, chipSize: side, stride: side)
            let spectrum = FourierLogAmplitude()
            return { tile in
                let image = Image(width: side, height: side, pixels: tile)
                let logAmplitude = spectrum.forward(
                    Tensor(batch: 1, channels: 1, height: side, width: side, data: tile)
                ).data
                return embedder.embeddings(of: image, pixelSize: pixelSize, grid: grid)
                    + embedder.embeddings(
                        of: Image(width: side, height: side, pixels: logAmplitude), pixelSize: pixelSize, grid: grid)
            }
        }
    }
}

/// Unbuffered, so that progress shows when stdout is a file or a pipe.
private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
