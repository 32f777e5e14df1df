import Daemon
import DaemonAnalysis
import DaemonRetraining
import DefectDetection
import DetectorTraining
import Foundation
import ImageNumerics
import NeuralNetwork
import Simulator
import Testing
import WireProtocol

/// The self-driving loop's promise at full size, on the virtual microscope's day A -> day B shift:
/// a detector trained for day A loses accuracy on day-B frames, and the retrainer, given only
/// unlabelled day-B reference frames of one place (what the daemon acquires when its rule fires),
/// produces a detector that scores better on other day-B frames, holes included, against ground
/// truth. The session-level plumbing (rule, reference frames, swap, log) is RetrainingRuleTests'.
@Suite("Day A -> day B recovery", .serialized)
struct DayShiftRecoveryTests {
    /// Labelled 512² frames of the day-a-to-day-b-quick scenario at 0.2 Å/px and 20 µs.
    static func frames(minute: Double, at places: [(x: Double, y: Double)], noiseSeed: UInt64) throws -> [TrainingTile]
    {
        let scope = VirtualMicroscope(
            scenario: try Scenario.load(nameOrPath: "day-a-to-day-b-quick"), noiseSeed: noiseSeed)
        scope.advance(by: minute * 60)
        return places.map { place in
            let scan = ScanGeometry(
                centerX: place.x, centerY: place.y, fovX: 10.24, width: 512, height: 512, dwell: 20, rotation: 0)
            let frame = scope.acquire(scan, channels: ["HAADF"])
            let image = frame.channels["HAADF"]!
            let defects = frame.truth.defects.map {
                DefectLocation(x: $0.x, y: $0.y, kind: DefectClass(name: $0.kind.rawValue) ?? .background)
            }
            return TrainingTile(frame: image, pixelSize: 0.2, defects: defects)
        }
    }

    static func f1(_ detector: DefectDetector, _ tiles: [TrainingTile]) -> Double {
        DetectorEvaluation.score(detector, on: tiles).values.reduce(DetectionScore(), +).f1
    }

    @Test("a detector for day A drops on day B; retraining on day-B reference frames recovers it")
    func recovers() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("day-shift-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        // Day A's detector, as README trains it (`scopepilot train --scenario ... --condition-set "day A"`).
        let scenario = try Scenario.load(nameOrPath: "day-a-to-day-b-quick")
        var dayA = TileConditions.nominal(pixelSize: 0.2).applying(scenario.conditions[0])
        dayA.dwell = 20
        let detector = DefectDetector(architecture: .init(classes: 2, width: 8, depth: 3), pixelSize: 0.2, seed: 1)
        var options = TrainingOptions()
        options.epochs = 20
        options.tilesPerEpoch = 32
        options.learningRate = 3e-3
        DetectorTrainer(detector: detector, options: options, ranges: ConditionRanges(exactly: dayA)).train()
        let basePath = folder.appendingPathComponent("day-a.safetensors")
        try detector.save(to: basePath)

        var grid: [(x: Double, y: Double)] = []
        for row in 0..<2 { for column in 0..<3 { grid.append((-130 + 10 * Double(column), 55 + 10 * Double(row))) } }
        let holes: [(x: Double, y: Double)] = [(-131.5, 98.4), (-132.4, 82.7)]
        let onA = Self.f1(detector, try Self.frames(minute: 0, at: grid, noiseSeed: 21))
        let heldOutB = try Self.frames(minute: 2, at: grid + holes, noiseSeed: 22)
        let beforeOnB = Self.f1(detector, heldOutB)
        #expect(onA >= 0.95, "day A's detector on day-A frames: F1 \(onA)")
        #expect(beforeOnB <= onA - 0.03, "the shift costs day A's detector accuracy: \(onA) -> \(beforeOnB)")

        // What the daemon's rule acquires: four frames of one place, unlabelled.
        let reference = try Self.frames(minute: 2, at: Array(repeating: (x: -100, y: 70), count: 4), noiseSeed: 23)
            .map { Image(width: $0.size, height: $0.size, pixels: $0.image) }
        let retrainer = Retrainer(directory: folder.appendingPathComponent("models"))
        let outcome = try await retrainer.retrain(
            frames: reference, pixelSize: 0.2, dwell: 20, basePath: basePath.path, baseID: "day-a")
        #expect(outcome.accepted, "before \(outcome.before), after \(outcome.after) on simulations at the estimate")
        let path = try #require(outcome.modelPath as String?)
        let retrained = try DefectDetector.load(path).detector
        let afterOnB = Self.f1(retrained, heldOutB)
        #expect(
            afterOnB >= beforeOnB + 0.02,
            "the retrained detector on day-B frames it never saw: \(beforeOnB) -> \(afterOnB)")
    }
}
