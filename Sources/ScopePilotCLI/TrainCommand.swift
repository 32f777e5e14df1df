import ArgumentParser
import DefectDetection
import DetectorTraining
import Foundation
import ImageNumerics
import NeuralNetwork
import Simulator

/// `scopepilot train`: trains a defect detector on the virtual microscope.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a single-atom defect detector on virtual-microscope tiles.",
        discussion: """
            Fresh labelled tiles are rendered every epoch under randomised conditions (dose, defocus, \
            astigmatism, coma, contrast, read noise); held-out tiles give precision, recall and F1 after \
            each epoch (a detection matches a true defect within 1 Å). Writes OUT.safetensors and OUT.json.
            """)

    @Option(help: "Output path of the model (.safetensors; the metadata goes beside it as .json).") var out: String
    @Option(help: "Defect types: se1 (background + Se1) or all (Se1, Se2, W).") var classes = "se1"
    @Option(help: "Channels of the first stage.") var width = 8
    @Option(help: "Encoder stages.") var depth = 3
    @Option(help: "Model pixel size, Å.") var pixelSize = 0.2
    @Option(help: "Epochs.") var epochs = 20
    @Option(help: "Tiles rendered per epoch.") var tilesPerEpoch = 64
    @Option(help: "Tiles per step.") var batchSize = 8
    @Option(help: "Tile side, pixels.") var tileSize = 128
    @Option(help: "Adam learning rate.") var learningRate: Float = 3e-3
    @Option(help: "Loss weight of defect pixels relative to background.") var defectWeight: Float = 20
    @Option(help: "Held-out validation tiles.") var validationTiles = 16
    @Option(help: "Seed of the training data and the initial weights.") var seed: UInt64 = 1
    @Option(
        parsing: .upToNextOption,
        help: """
            Frames from the microscope as it is now (.npy, .tif, .png, .dm3, .dm4; unlabelled): the realism step \
            estimates its conditions from them, and training draws conditions around the estimate.
            """)
    var match: [String] = []
    @Option(help: "Pixel size of the --match frames, Å (default: the files' own calibration).") var matchPixelSize:
        Double?
    @Option(help: "Dwell of the --match frames, µs, if known (pins the dose).") var matchDwell: Double?
    @Option(
        help: """
            How simulated tiles are made realistic: fitted (the condition model; with --match, fitted to the \
            frames) or cyclegan:GEN.safetensors (clean simulations through a generator from `scopepilot \
            realism train`).
            """)
    var realism = "fitted"
    @Option(help: "Fine-tune this model (a path, or se1 or all) instead of starting afresh.") var from: String?
    @Option(
        help: """
            Train for exactly one state of the virtual microscope: a scenario (a YAML file or a shipped \
            name) whose --condition-set the tiles are rendered under, at --dwell µs.
            """)
    var scenario: String?
    @Option(help: "The --scenario's condition set, by name (default: its first).") var conditionSet: String?
    @Option(help: "Dwell of the --scenario tiles, µs.") var dwell = 20.0

    func validate() throws {
        guard ["se1", "all"].contains(classes) else { throw ValidationError("--classes must be se1 or all") }
        guard (1...6).contains(depth), (1...128).contains(width) else {
            throw ValidationError("--depth 1...6, --width 1...128")
        }
        guard tileSize % (1 << depth) == 0 else {
            throw ValidationError("--tile-size must be a multiple of 2^depth = \(1 << depth)")
        }
        guard pixelSize > 0.05 && pixelSize <= 1 else {
            throw ValidationError("--pixel-size must be between 0.05 and 1 Å")
        }
        guard epochs > 0, tilesPerEpoch > 0, batchSize > 0, validationTiles > 0 else {
            throw ValidationError("--epochs, --tiles-per-epoch, --batch-size and --validation-tiles must be positive")
        }
        if !match.isEmpty {
            // Without --match-pixel-size the files' own calibration is used (checked when they are read).
            if let matchPixelSize, !(matchPixelSize > 0.05 && matchPixelSize <= 1) {
                throw ValidationError("--match-pixel-size must be between 0.05 and 1 Å (atomic-resolution frames)")
            }
        } else if matchPixelSize != nil || matchDwell != nil {
            throw ValidationError("--match-pixel-size and --match-dwell describe --match frames; give the frames too")
        }
        if realism != "fitted" {
            guard realism.hasPrefix("cyclegan:"), realism.count > "cyclegan:".count else {
                throw ValidationError("--realism is fitted or cyclegan:GEN.safetensors, not \(realism)")
            }
            guard match.isEmpty, scenario == nil else {
                throw ValidationError(
                    "--realism cyclegan learned the microscope from its own frames: leave out --match and --scenario")
            }
        }
        if let matchDwell, !(matchDwell > 0 && matchDwell <= 1000) {
            throw ValidationError("--match-dwell must be between 0 and 1000 µs")
        }
        if scenario != nil, !match.isEmpty {
            throw ValidationError("--scenario and --match are two ways to choose the conditions; give one")
        }
        if scenario == nil, conditionSet != nil {
            throw ValidationError("--condition-set names a set of a --scenario; give the scenario too")
        }
        guard dwell > 0 && dwell <= 1000 else { throw ValidationError("--dwell must be between 0 and 1000 µs") }
    }

    func run() throws {
        // The output's folder first: better refused now than after the training.
        let folder = URL(fileURLWithPath: out).deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw ValidationError("cannot create the folder of --out \(out): \(error.localizedDescription)")
        }
        let detector: DefectDetector
        if let from {
            detector = try DetectCommand.loadModel(from).0
            say("fine-tuning \(from) (its architecture and \(detector.metadata.pixelSize) Å/px)")
        } else {
            let architecture = ResidualUNet.Architecture(
                classes: classes == "se1" ? 2 : 4, width: width, depth: depth)
            detector = DefectDetector(architecture: architecture, pixelSize: pixelSize, seed: seed)
        }
        var ranges = ConditionRanges()
        if !match.isEmpty {
            let (frames, matchPixelSize) = try matchFrames()
            say("realism step: estimating the microscope's conditions from \(frames.count) frame(s) ...")
            let estimate = try ConditionEstimator.estimate(frames: frames, pixelSize: matchPixelSize, dwell: matchDwell)
            let c = estimate.conditions
            say(
                String(
                    format:
                        "  estimate: %.0f pA at %.0f µs, defocus ±%.1f nm, astigmatism %.1f nm, coma %.0f nm, contrast n %.2f, read noise %.1f ADU, jitter %.2f px, background %.2f",
                    c.current, c.dwell, c.defocus, c.astigmatism, c.coma, c.exponent, c.readNoise, c.lineJitter,
                    c.background))
            ranges = estimate.ranges
            detector.metadata.realism = estimate
        }
        if let scenario {
            let conditions = try Self.conditions(
                of: scenario, set: conditionSet, pixelSize: detector.metadata.pixelSize, dwell: dwell)
            say("conditions of \(conditions.name): \(conditions.description)")
            ranges = ConditionRanges(exactly: conditions.tile)
        }
        var cyclegan: CycleGANRealism?
        if realism.hasPrefix("cyclegan:") {
            let path = String(realism.dropFirst("cyclegan:".count))
            let loaded: CycleGANRealism
            do { loaded = try CycleGANRealism(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ValidationError("--realism \(realism): \(error)")
            }
            let size = detector.metadata.pixelSize
            guard abs(loaded.pixelSize - size) <= 0.02 * size else {
                throw ValidationError(
                    "--realism: the generator was trained at \(loaded.pixelSize) Å/px and the detector works at \(size); "
                        + "give --pixel-size \(loaded.pixelSize) (or a generator trained at \(size))")
            }
            guard tileSize % loaded.generator.architecture.granularity == 0 else {
                throw ValidationError(
                    "--tile-size must be a multiple of \(loaded.generator.architecture.granularity) for this generator")
            }
            say(
                "realism: clean simulations through the CycleGAN generator \(path) (\(loaded.generator.parameterCount) parameters)"
            )
            ranges = loaded.ranges
            detector.metadata.realismModel = realism
            cyclegan = loaded
        }
        var options = TrainingOptions()
        options.epochs = epochs
        options.tilesPerEpoch = tilesPerEpoch
        options.batchSize = batchSize
        options.tileSize = tileSize
        options.learningRate = learningRate
        options.classWeights = [1, defectWeight, defectWeight, defectWeight]
        options.validationTiles = validationTiles
        options.seed = seed
        detector.metadata.recipe = (["scopepilot"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        say(
            "training \(detector.network.parameterCount) parameters, \(epochs) epochs of \(tilesPerEpoch) tiles of \(tileSize) px at \(detector.metadata.pixelSize) Å/px"
        )
        let start = ContinuousClock.now
        let bar = ProgressBar(enabled: isatty(STDERR_FILENO) != 0)
        DetectorTrainer(detector: detector, options: options, ranges: ranges, realism: cyclegan).train { step in
            bar.show(
                fraction: Double(step.tiles) / Double(step.tilesPerEpoch),
                label: String(format: "epoch %d/%d", step.epoch, epochs),
                detail: String(format: "%d/%d tiles  loss %.4f", step.tiles, step.tilesPerEpoch, step.loss))
        } progress: { progress in
            bar.clear()
            let scores = progress.validation.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                String(
                    format: "%@ P %.2f R %.2f F1 %.3f", $0.key.description as NSString, $0.value.precision,
                    $0.value.recall, $0.value.f1)
            }
            let elapsed = (ContinuousClock.now - start).components.seconds
            let line = String(
                format: "epoch %3d/%d  loss %.4f  %@  (%llds)\n", progress.epoch, epochs, progress.loss,
                scores.joined(separator: "  ") as NSString, elapsed)
            // Unbuffered, so that progress shows when stdout is a file or a pipe.
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        try detector.save(to: URL(fileURLWithPath: out))
        print("wrote \(out) and its .json")
    }

    /// The tile conditions of a scenario's condition set (the first when `set` is nil).
    static func conditions(
        of scenario: String, set: String?, pixelSize: Double, dwell: Double
    ) throws -> (
        name: String, tile: TileConditions, description: String
    ) {
        let loaded: Scenario
        do { loaded = try Scenario.load(nameOrPath: scenario) } catch { throw ValidationError("\(error)") }
        let names = loaded.conditions.map(\.name)
        let chosen = set.map { name in loaded.conditions.first { $0.name == name } } ?? loaded.conditions.first
        guard let chosen else {
            throw ValidationError(
                names.isEmpty
                    ? "scenario \(scenario) has no condition sets: it runs at the virtual microscope's defaults"
                    : "scenario \(scenario) has no condition set '\(set ?? "")'; it has "
                        + names.map { "'\($0)'" }.joined(separator: ", "))
        }
        var tile = TileConditions.nominal(pixelSize: pixelSize).applying(chosen)
        tile.dwell = dwell
        let description = String(
            format:
                "%.0f pA at %.0f µs, defocus %.1f nm, astigmatism %.1f nm, coma %.0f nm, contrast n %.2f, read noise %.1f ADU",
            tile.current, tile.dwell, tile.defocus, tile.astigmatism, tile.coma, tile.exponent, tile.readNoise)
        return ("'\(chosen.name)' of \(loaded.name)", tile, description)
    }

    /// Unbuffered, so that progress shows when stdout is a file or a pipe.
    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    /// The --match frames (each page of a series) and their one pixel size.
    private func matchFrames() throws -> (frames: [Image], pixelSize: Double) {
        try ImageInput.frames(
            of: match, pixelSize: matchPixelSize, option: "--match", pixelSizeOption: "--match-pixel-size")
    }
}
