import ArgumentParser
import DefectDetection
import DetectorTraining
import Foundation
import ImageNumerics
import LabelledSets
import NeuralNetwork
import Simulator

/// `scopepilot eval-detector`: precision, recall and F1 on held-out virtual-microscope frames per
/// defect type and dose, and what a shift of the microscope's conditions does to a detector
/// before and after the realism refit.
struct EvalDetectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-detector",
        abstract: "Score a defect detector on held-out virtual-microscope frames, and under a shift of conditions.",
        discussion: """
            With --set DIR, it scores the detector on a folder of labelled images instead (any \
            images with defect labels in the format of docs/LABELLED_SETS.md, e.g. the abTEM sets \
            in Tests/Fixtures/abtem), per dose.

            Frames are rendered from seeds training never uses. A detection matches a true defect of \
            the same type within 1.0 Å, one to one; defects within 4 px of the edge are ignored.

            The condition-shift part takes conditions A and B from a scenario's first two condition \
            sets (default: the shipped day-a-to-day-b), trains a detector for A, scores it on A and B, \
            estimates B's conditions from unlabelled B frames (the realism step: a fitted physical \
            condition model), fine-tunes the A detector on simulations within the estimate \
            (calibrating its peak threshold on other such simulations, as the daemon does), and \
            scores it again.
            """)

    @Option(help: "Model: a .safetensors file (with its .json), or a shipped one: se1 (default) or all.") var model:
        String?
    @Option(help: "A folder of labelled images to score on instead of virtual-microscope frames.") var set: String?
    @Option(help: "Held-out frames per row of the tables.") var frames = 12
    @Option(help: "Frame side, pixels.") var frameSize = 256
    @Option(help: "Dwell times for the dose table, µs, comma-separated (at 30 pA).") var dwells = "5,10,20,40"
    @Flag(inversion: .prefixedNo, help: "Run the condition-shift experiment.") var shift = true
    @Option(help: "Scenario with conditions A and B: a YAML file or a shipped name.") var scenario = "day-a-to-day-b"
    @Option(help: "Epochs of training for conditions A.") var epochs = 12
    @Option(help: "Epochs of fine-tuning for the estimated conditions B.") var refitEpochs = 8
    @Option(help: "Tiles per training epoch.") var tilesPerEpoch = 32
    @Option(help: "Unlabelled B frames the realism step sees.") var referenceFrames = 4
    @Option(help: "Simulations per round of the condition estimate.") var simulations = 96
    @Option(help: "Seed of the held-out frames (training uses others).") var seed: UInt64 = 900_001
    @Option(
        help: """
            Also refit the A detector through a CycleGAN of B: a generator from `scopepilot realism train` \
            on unlabelled B frames (at the detector's pixel size).
            """)
    var cyclegan: String?
    @Option(
        help: """
            Train the CycleGAN row's generator here, on the unlabelled B frames, for this many steps \
            (instead of --cyclegan).
            """)
    var cycleganSteps: Int?
    @Option(
        help: """
            Add an effect the fitted condition model does not know to every B frame: scan-line noise, \
            an offset per line of this many standard deviations of the frame.
            """)
    var lineNoise = 0.0

    func validate() throws {
        guard frames > 0, referenceFrames > 0, epochs > 0, refitEpochs > 0, tilesPerEpoch > 0, simulations >= 12 else {
            throw ValidationError(
                "--frames, --reference-frames, --epochs, --refit-epochs, --tiles-per-epoch must be positive; --simulations at least 12"
            )
        }
        guard (128...1024).contains(frameSize) else { throw ValidationError("--frame-size must be 128 ... 1024") }
        guard cyclegan == nil || cycleganSteps == nil else {
            throw ValidationError("give --cyclegan (a trained generator) or --cyclegan-steps (train one), not both")
        }
        if let cycleganSteps, cycleganSteps <= 0 { throw ValidationError("--cyclegan-steps must be positive") }
        guard lineNoise >= 0, lineNoise <= 5 else {
            throw ValidationError("--line-noise is 0 to 5 standard deviations")
        }
        guard !dwellValues.isEmpty, dwellValues.allSatisfy({ $0 > 0 && $0 <= 1000 }) else {
            throw ValidationError("--dwells must be positive numbers of µs, e.g. 5,10,20,40")
        }
    }

    private var dwellValues: [Double] { dwells.split(separator: ",").compactMap { Double($0) } }

    func run() throws {
        let detector = try DetectCommand.loadModel(model).0
        let pixelSize = detector.metadata.pixelSize
        let kinds = Array(DefectClass.allCases.dropFirst().prefix(detector.metadata.architecture.classes - 1))
        if let set {
            try scoreSet(URL(fileURLWithPath: set), detector: detector, kinds: kinds)
            return
        }
        say(
            "model \(model ?? "shipped detector-se1"): \(kinds.map(\.description).joined(separator: ", ")) at \(pixelSize) Å/px"
        )
        say("\(frames) held-out frames of \(frameSize) x \(frameSize) px per row; matching within 1.0 Å\n")

        // Per defect type and dose.
        say("By dose (30 pA, otherwise nominal conditions):")
        say(header(kinds, first: "dwell    dose e/Å²"))
        var realistic: [DefectClass: DetectionScore] = [:]
        for (index, dwell) in dwellValues.enumerated() {
            var conditions = TileConditions.nominal(pixelSize: pixelSize)
            conditions.dwell = dwell
            let tiles = TrainingTiles.generate(
                count: frames, size: frameSize, conditions: conditions, seed: seed &+ UInt64(index) &* 7)
            let scores = DetectorEvaluation.score(detector, on: tiles)
            if dwell == 20 { realistic = scores }
            say(row(String(format: "%4.0f µs  %9.0f", dwell, DetectorEvaluation.dose(conditions)), scores, kinds))
        }
        if let se1 = realistic[.se1] {
            say(
                String(
                    format: "\ntarget: Se1 F1 ≥ 0.95 at 20 µs, 30 pA: %.3f (%@)", se1.f1,
                    (se1.f1 >= 0.95 ? "met" : "NOT met") as NSString))
        }
        guard shift else { return }
        try conditionShift(shipped: detector, kinds: kinds)
    }

    private func conditionShift(shipped: DefectDetector, kinds: [DefectClass]) throws {
        let loaded = try Scenario.load(nameOrPath: scenario)
        guard loaded.conditions.count >= 2 else {
            throw ValidationError(
                "scenario \(scenario) needs two condition sets (A and B); it has \(loaded.conditions.count)")
        }
        let pixelSize = shipped.metadata.pixelSize
        let a = TileConditions.nominal(pixelSize: pixelSize).applying(loaded.conditions[0])
        let b = TileConditions.nominal(pixelSize: pixelSize).applying(loaded.conditions[1])
        say("\nCondition shift (\(loaded.name)): A = \(loaded.conditions[0].name), B = \(loaded.conditions[1].name)")
        say(describe("A", a))
        say(describe("B", b))
        let framesA = TrainingTiles.generate(count: frames, size: frameSize, conditions: a, seed: seed &+ 101)
        let framesB = TrainingTiles.addingLineNoise(
            TrainingTiles.generate(count: frames, size: frameSize, conditions: b, seed: seed &+ 202), lineNoise,
            seed: seed &+ 212)
        if lineNoise > 0 {
            say(
                String(
                    format:
                        "  B frames carry scan-line noise of %.2f standard deviations (unknown to the fitted model)",
                    lineNoise))
        }

        // A detector for A: the shipped architecture, trained on A's conditions only.
        let forA = DefectDetector(architecture: shipped.metadata.architecture, pixelSize: pixelSize, seed: 11)
        var options = TrainingOptions()
        options.epochs = epochs
        options.tilesPerEpoch = tilesPerEpoch
        options.learningRate = 3e-3
        options.seed = 31
        say("\ntraining a detector for A (\(epochs) epochs of \(tilesPerEpoch) tiles) ...")
        DetectorTrainer(detector: forA, options: options, ranges: ConditionRanges(exactly: a)).train(progress: {
            progress($0)
        })

        // The realism step sees unlabelled B frames only.
        say("estimating B's conditions from \(referenceFrames) unlabelled B frames ...")
        let reference = TrainingTiles.addingLineNoise(
            TrainingTiles.generate(count: referenceFrames, size: frameSize, conditions: b, seed: seed &+ 303),
            lineNoise, seed: seed &+ 313
        ).map { Image(width: $0.size, height: $0.size, pixels: $0.image) }
        let estimate = try ConditionEstimator.estimate(
            frames: reference, pixelSize: pixelSize, dwell: b.dwell, simulationsPerRound: simulations, seed: 77)
        say(describe("B estimated", estimate.conditions))
        say(describeRanges(estimate.ranges))

        let refit = forA.copy()
        var refitOptions = options
        refitOptions.epochs = refitEpochs
        refitOptions.learningRate = 1e-3
        refitOptions.seed = 53
        say("fine-tuning the A detector within the estimate (\(refitEpochs) epochs) ...")
        DetectorTrainer(detector: refit, options: refitOptions, ranges: estimate.ranges).train(progress: {
            progress($0)
        })
        // As the daemon's retrainer does: the peak threshold calibrated on other simulations of
        // the data the refit learned from (never the held-out B frames).
        refit.metadata.peakThreshold = Self.calibratedThreshold(
            refit,
            on: TrainingTiles.generate(count: frames, size: frameSize, ranges: estimate.ranges, seed: seed &+ 404))

        var models = [
            ("trained for A", forA), ("A, refit for estimated B", refit), ("shipped (wide conditions)", shipped),
        ]
        var realism: CycleGANRealism?
        if let cycleganSteps {
            say("training a CycleGAN on the \(referenceFrames) unlabelled B frames (\(cycleganSteps) steps) ...")
            var realismOptions = RealismTraining.Options()
            realismOptions.steps = cycleganSteps
            let model = try RealismTraining.train(frames: reference, pixelSize: pixelSize, options: realismOptions) {
                step, losses in
                if step % max(1, cycleganSteps / 10) == 0 {
                    FileHandle.standardError.write(
                        Data(
                            String(
                                format: "cyclegan step %d  cycle %.3f  D %.3f\n", step, losses.cycle,
                                losses.discriminators
                            )
                            .utf8))
                }
            }
            realism = CycleGANRealism(generator: model.g, pixelSize: pixelSize, noise: realismOptions.simulationNoise)
        } else if let cyclegan {
            do { realism = try CycleGANRealism(contentsOf: URL(fileURLWithPath: cyclegan)) } catch {
                throw ValidationError("--cyclegan \(cyclegan): \(error)")
            }
        }
        if let realism {
            guard abs(realism.pixelSize - pixelSize) <= 0.02 * pixelSize else {
                throw ValidationError(
                    "--cyclegan: the generator was trained at \(realism.pixelSize) Å/px, the detector works at \(pixelSize)"
                )
            }
            let throughGAN = forA.copy()
            say("fine-tuning the A detector on clean simulations through the CycleGAN (\(refitEpochs) epochs) ...")
            DetectorTrainer(detector: throughGAN, options: refitOptions, ranges: realism.ranges, realism: realism)
                .train(progress: { progress($0) })
            let calibration = TrainingTiles.generate(
                count: frames, size: frameSize, ranges: realism.ranges, seed: seed &+ 404)
            throughGAN.metadata.peakThreshold = Self.calibratedThreshold(
                throughGAN, on: realism.apply(calibration, seed: seed &+ 405))
            models.insert(("A, refit through CycleGAN", throughGAN), at: 2)
        }
        say("")
        say(header(kinds, first: "model                         frames"))
        for (name, model) in models {
            say(row(pad(name, 29) + " A     ", DetectorEvaluation.score(model, on: framesA), kinds))
            say(row(pad("", 29) + " B     ", DetectorEvaluation.score(model, on: framesB), kinds))
        }
    }

    /// The peak threshold that scores best on `tiles`, preferring the model's own within 0.02 F1.
    static func calibratedThreshold(_ model: DefectDetector, on tiles: [TrainingTile]) -> Float {
        DetectorEvaluation.calibrateThreshold(
            model, on: tiles, preferring: model.metadata.peakThreshold ?? DefectDetector.defaultPeakThreshold,
            tolerance: 0.02
        ).threshold
    }

    /// The detector on a labelled set, per dose, and the target at 1e4 e/Å² and above.
    private func scoreSet(_ folder: URL, detector: DefectDetector, kinds: [DefectClass]) throws {
        let labelled: LabelledSet
        do { labelled = try LabelledSet.load(folder) } catch { throw ValidationError("\(error)") }
        let frames = labelled.frames.filter { $0.defects != nil }
        guard !frames.isEmpty else {
            throw ValidationError("\(folder.path): no frame of the set is labelled for defects (\"defects\": [...])")
        }
        say(
            "set \(folder.path): \(frames.count) frames labelled for defects\(labelled.description.isEmpty ? "" : "\n  " + labelled.description)"
        )
        say("model \(model ?? "shipped detector-se1"); matching within 1.0 Å, one to one; 4 px borders ignored\n")
        say(header(kinds, first: "dose e/Å²  frames"))
        var lowest: Double?
        for (dose, group) in labelled.doseGroups {
            let inGroup = group.filter { $0.defects != nil }
            guard !inGroup.isEmpty else { continue }
            let scores: [DefectClass: DetectionScore]
            do { scores = try DetectorSetScore.score(detector, on: inGroup) } catch {
                throw ValidationError("\(error)")
            }
            let label = dose.map { String(format: "%9.0f", $0) } ?? "  unknown"
            say(row(label + String(format: "  %6d", inGroup.count), scores, kinds))
            if let dose, dose >= 1e4, let se1 = scores[.se1], se1.truePositives + se1.falseNegatives > 0 {
                lowest = min(lowest ?? 1, se1.f1)
            }
        }
        if let lowest, kinds.contains(.se1) {
            say(
                String(
                    format: "\ntarget: Se1 F1 ≥ 0.95 at every dose from 1e4 e/Å² up: lowest %.3f (%@)", lowest,
                    (lowest >= 0.95 ? "met" : "NOT met") as NSString))
        }
    }

    private func progress(_ p: TrainingProgress) {
        let f1 = p.validation.sorted { $0.key.rawValue < $1.key.rawValue }.map {
            String(format: "%@ F1 %.2f", $0.key.description as NSString, $0.value.f1)
        }
        FileHandle.standardError.write(
            Data(
                String(format: "  epoch %d  loss %.4f  %@\n", p.epoch, p.loss, f1.joined(separator: " ") as NSString)
                    .utf8))
    }

    private func header(_ kinds: [DefectClass], first: String) -> String {
        first + kinds.map { "   " + pad("\($0)", 4) + "  P     R     F1   (TP/FP/FN)" }.joined()
    }

    private func row(_ label: String, _ scores: [DefectClass: DetectionScore], _ kinds: [DefectClass]) -> String {
        label
            + kinds.map { kind in
                let s = scores[kind] ?? DetectionScore()
                return String(
                    format: "        %.2f  %.2f  %.3f (%d/%d/%d)", s.precision, s.recall, s.f1, s.truePositives,
                    s.falsePositives, s.falseNegatives)
            }.joined()
    }

    private func describe(_ name: String, _ c: TileConditions) -> String {
        String(
            format:
                "  %@: %.0f pA, %.0f µs, defocus %.1f nm, astigmatism %.1f nm, coma %.0f nm, contrast n %.2f, read noise %.1f ADU, jitter %.2f px, drift %.3f nm/s, background %.2f",
            pad(name, 11) as NSString, c.current, c.dwell, c.defocus, c.astigmatism, c.coma, c.exponent, c.readNoise,
            c.lineJitter, c.drift, c.background)
    }

    private func describeRanges(_ r: ConditionRanges) -> String {
        func f(_ range: ClosedRange<Double>, _ digits: Int) -> String {
            String(format: "%.\(digits)f–%.\(digits)f", range.lowerBound, range.upperBound)
        }
        return
            "  training ranges from the estimate: current \(f(r.current, 0)) pA, defocus \(f(r.defocus, 1)) nm, astigmatism \(f(r.astigmatism, 1)) nm, coma \(f(r.coma, 0)) nm, n \(f(r.exponent, 2)), read noise \(f(r.readNoise, 1)) ADU, jitter \(f(r.lineJitter, 2)) px"
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
}
