import Foundation
import ImageNumerics
import NeuralNetwork
import Simulator
import Testing
import WireProtocol

@testable import DefectDetection
@testable import DetectorTraining

@Suite("Training data and thresholds")
struct TrainingDataTests {
    @Test(
        "about one training tile in eight is at the rim of a hole or in one; the realism step's simulations never are")
    func holes() {
        func vacuumTiles(holes: Bool) -> Int {
            var draw = Draw(seed: 3)
            return (0..<48).filter { index in
                let conditions = ConditionRanges().draw(&draw)
                let (_, truth) = TrainingTiles.render(
                    width: 48, height: 48, conditions: conditions, seed: 100 + UInt64(index) * 7919, holes: holes,
                    random: &draw)
                return truth.regions.contains(0)
            }.count
        }
        let withHoles = vacuumTiles(holes: true)
        #expect((1...16).contains(withHoles), "\(withHoles) of 48 tiles")
        #expect(vacuumTiles(holes: false) == 0)
    }

    @Test("the realism step's simulations are as wide as asked and one crop high")
    func simulationsShape() {
        let images = TrainingTiles.images(
            count: 2, width: 96, height: 48, ranges: ConditionRanges(exactly: .nominal()), seed: 4)
        #expect(images.map(\.image.width) == [96, 96] && images.map(\.image.height) == [48, 48])
        #expect(ConditionEstimator.crops(of: images[0].image, side: 48, rows: 2, pixelSize: 0.2).count == 2)
    }

    @Test("a calibrated threshold stays nearest the preferred one among those within the tolerance of the best")
    func preferredThreshold() {
        let detector = DefectDetector(architecture: .init(classes: 2, width: 4, depth: 2), pixelSize: 0.2, seed: 5)
        let tiles = TrainingTiles.generate(count: 3, size: 64, ranges: ConditionRanges(exactly: .nominal()), seed: 6)
        let best = DetectorEvaluation.calibrateThreshold(detector, on: tiles)
        let strict = DetectorEvaluation.calibrateThreshold(detector, on: tiles, preferring: 0.6, tolerance: 0)
        #expect(strict.f1 == best.f1)
        // With every F1 within the tolerance, the preferred threshold itself is chosen.
        let loose = DetectorEvaluation.calibrateThreshold(detector, on: tiles, preferring: 0.6, tolerance: 2)
        #expect(abs(loose.threshold - 0.6) < 1e-6)
        let near = DetectorEvaluation.calibrateThreshold(detector, on: tiles, preferring: 0.9, tolerance: 0.05)
        #expect(near.f1 >= best.f1 - 0.05)
    }

    @Test("a frame with its ground truth becomes a scoring tile: z-scored, a label disk per defect")
    func frameTile() {
        let frame = Image(width: 32, height: 32, pixels: (0..<1024).map { Float($0 % 7) })
        let tile = TrainingTile(
            frame: frame, pixelSize: 0.2, defects: [DefectLocation(x: 10, y: 12, kind: .se1, confidence: 1)])
        let mean = tile.image.reduce(0, +) / Float(tile.image.count)
        #expect(abs(mean) < 1e-4)
        #expect(tile.labels[12 * 32 + 10] == DefectClass.se1.rawValue)
        #expect(tile.labels[0] == DefectClass.background.rawValue)
    }
}

@Suite("Lattice mask")
struct LatticeMaskTests {
    /// A honeycomb-like pattern of bright columns on the left `lattice` fraction of the columns,
    /// detector noise (and its offset) everywhere.
    static func frame(lattice: Double, seed: UInt64 = 1) -> Image {
        var random = SplitMix64(seed: seed)
        var image = Image(width: 128, height: 128)
        for y in 0..<128 {
            for x in 0..<128 {
                var v = 100 + 10 * Float(random.unit() - 0.5) * 3.4  // about 10 ADU of noise
                if Double(x) < lattice * 128 {
                    let a =
                        sin(2 * Double.pi * Double(x) / 16.4)
                        + sin(2 * Double.pi * (0.5 * Double(x) + 0.866 * Double(y)) / 16.4)
                    v += 20 + Float(30 * max(a, 0))
                }
                image[x, y] = v
            }
        }
        return image
    }

    @Test("vacuum beside a lattice is masked, the lattice is not; a frame of one kind is left whole")
    func masks() {
        let half = LatticeMask(Self.frame(lattice: 0.5), pixelSize: 0.2)
        #expect(half.contains(x: 30, y: 64))
        #expect(!half.contains(x: 110, y: 64))
        let lattice = (0..<128).flatMap { y in (0..<52).map { y * 128 + $0 } }
        let vacuum = (0..<128).flatMap { y in (80..<128).map { y * 128 + $0 } }
        #expect(lattice.allSatisfy { half.isLattice[$0] })
        #expect(vacuum.filter { !half.isLattice[$0] }.count > vacuum.count * 9 / 10)
        #expect(LatticeMask(Self.frame(lattice: 1), pixelSize: 0.2).isLattice.allSatisfy { $0 })
        #expect(LatticeMask(Self.frame(lattice: 0), pixelSize: 0.2).isLattice.allSatisfy { $0 })
        #expect(!half.contains(x: -1, y: 3) && !half.contains(x: 200, y: 3))
    }

    @Test("at a hole's rim the shipped detector's detections in vacuum are dropped, those on the film kept")
    func holeRim() throws {
        let scenario = try Scenario.load(nameOrPath: "day-a-to-day-b-quick")
        let hole = try #require(scenario.layout.holes.first)
        let scope = VirtualMicroscope(scenario: scenario, noiseSeed: 5)
        scope.advance(by: 120)
        let scan = ScanGeometry(
            centerX: hole.x + hole.radius - 4, centerY: hole.y, fovX: 10.24, width: 512, height: 512, dwell: 20,
            rotation: 0)
        let frame = scope.acquire(scan, channels: ["HAADF"])
        let image = try #require(frame.channels["HAADF"])
        let detector = try DefectDetector.load("se1").detector
        func inVacuum(_ d: DefectLocation) -> Bool {
            frame.truth.regions[Int(d.y.rounded()) * 512 + Int(d.x.rounded())] == 0
        }
        let unmasked = detector.peaks(
            in: detector.probabilities(image), width: 512, height: 512, threshold: DefectDetector.defaultPeakThreshold)
        let masked = detector.detect(image, pixelSize: 0.2)
        #expect(frame.truth.regions.contains(0) && frame.truth.regions.contains { $0 != 0 })
        let before = unmasked.filter(inVacuum).count
        let after = masked.filter(inVacuum).count
        #expect(before >= 10, "the network alone fires in vacuum: \(before)")
        #expect(after * 3 <= before, "in vacuum: \(before) -> \(after)")
        let onFilm = unmasked.filter { !inVacuum($0) }.count
        #expect(masked.filter { !inVacuum($0) }.count * 10 >= onFilm * 9, "on the film: \(onFilm)")
    }
}
