public import DefectDetection
import ImageNumerics
import NeuralNetwork
public import Simulator

/// Scores a detector on labelled virtual-microscope tiles.
public enum DetectorEvaluation {
    /// Precision, recall and F1 per defect type the detector knows, over `tiles`: one-to-one
    /// matching of detections to true defects of the same type within `radius` Å, ignoring both
    /// within `border` pixels of the edge.
    public static func score(
        _ detector: DefectDetector, on tiles: [TrainingTile], radius: Double = 1.0, border: Double = 4,
        threshold: Float? = nil
    ) -> [DefectClass: DetectionScore] {
        var scores: [DefectClass: DetectionScore] = [:]
        let kinds = DefectClass.allCases.dropFirst().prefix(detector.metadata.architecture.classes - 1)
        for tile in tiles {
            let image = Image(width: tile.size, height: tile.size, pixels: tile.image)
            let found = detector.detect(image, pixelSize: tile.pixelSize, threshold: threshold)
            for kind in kinds {
                let score = DetectionScore.score(
                    detected: found.filter { $0.kind == kind }.map { ($0.x, $0.y) },
                    truth: tile.defects.filter { $0.kind == kind }.map { ($0.x, $0.y) },
                    radius: radius / tile.pixelSize, width: tile.size, height: tile.size, border: border)
                scores[kind, default: DetectionScore()] = scores[kind, default: DetectionScore()] + score
            }
        }
        return scores
    }

    /// The peak threshold (0.30, 0.35, ... 0.95) with the best F1 over `tiles` (at the model's pixel
    /// size), all defect types together, and that F1. The probability maps are computed once.
    ///
    /// With `preferring`, the threshold is the one nearest it among those within `tolerance` of the
    /// best F1: when the tiles are simulations at an estimate of the microscope's state, a flat
    /// optimum says little, and the threshold should move only as far as the tiles demand.
    public static func calibrateThreshold(
        _ detector: DefectDetector, on tiles: [TrainingTile], radius: Double = 1.0, border: Double = 4,
        preferring preferred: Float? = nil, tolerance: Double = 0.01
    ) -> (threshold: Float, f1: Double) {
        let kinds = DefectClass.allCases.dropFirst().prefix(detector.metadata.architecture.classes - 1)
        let images = tiles.map { Image(width: $0.size, height: $0.size, pixels: $0.image) }
        let maps = images.map { detector.probabilities($0) }
        let masks = zip(tiles, images).map { LatticeMask($1, pixelSize: $0.pixelSize) }
        var results: [(threshold: Float, f1: Double)] = []
        for step in 0...13 {
            let threshold = Float(0.3 + 0.05 * Double(step))
            var total = DetectionScore()
            for (index, tile) in tiles.enumerated() {
                let found = detector.peaks(
                    in: maps[index], width: tile.size, height: tile.size, threshold: threshold, lattice: masks[index])
                for kind in kinds {
                    total =
                        total
                        + DetectionScore.score(
                            detected: found.filter { $0.kind == kind }.map { ($0.x, $0.y) },
                            truth: tile.defects.filter { $0.kind == kind }.map { ($0.x, $0.y) },
                            radius: radius / tile.pixelSize, width: tile.size, height: tile.size, border: border)
                }
            }
            results.append((threshold, total.f1))
        }
        guard let best = results.max(by: { $0.f1 < $1.f1 }) else {
            return (preferred ?? DefectDetector.defaultPeakThreshold, 0)
        }
        guard let preferred else { return results.first { $0.f1 == best.f1 } ?? best }
        return results.filter { $0.f1 >= best.f1 - tolerance }.min {
            abs($0.threshold - preferred) < abs($1.threshold - preferred)
        } ?? best
    }

    /// Electrons per Å² for `conditions`.
    public static func dose(_ conditions: TileConditions) -> Double {
        let electrons = conditions.current * 1e-12 * conditions.dwell * 1e-6 / 1.602_176_634e-19
        return electrons / (conditions.pixelSize * conditions.pixelSize)
    }
}

extension TileConditions {
    /// The published simulation's conditions (REFERENCE.md section 2) at `pixelSize`: 30 pA,
    /// 20 µs, in focus, the virtual microscope's default detector.
    public static func nominal(pixelSize: Double = 0.2) -> TileConditions {
        TileConditions(
            pixelSize: pixelSize, dwell: 20, current: 30, defocus: 0, astigmatism: 0, coma: 0,
            exponent: Detector.haadf.exponent, readNoise: Detector.haadf.readNoise)
    }

    /// These conditions with a scenario's condition set applied over them.
    public func applying(_ set: ConditionSet) -> TileConditions {
        var c = self
        if let v = set.current { c.current = v }
        if let v = set.defocus { c.defocus = v }
        if let v = set.astigmatism { c.astigmatism = v }
        if let v = set.coma { c.coma = v }
        if let v = set.exponent { c.exponent = v }
        if let v = set.readNoise { c.readNoise = v }
        if let v = set.drift { c.drift = (v.x * v.x + v.y * v.y).squareRoot() }
        return c
    }
}
