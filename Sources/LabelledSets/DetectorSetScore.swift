public import DefectDetection
import ImageNumerics
import NeuralNetwork

/// A detector scored on the frames of a labelled set.
public enum DetectorSetScore {
    /// Precision, recall and F1 per defect type the detector knows, over `frames` (those labelled
    /// for defects): detections matched one to one to labelled defects of the same type within
    /// `radius` Å, both ignored within `border` px of the edge. Each frame is read at its own
    /// pixel size, from its HAADF channel (else its first).
    public static func score(
        _ detector: DefectDetector, on frames: [LabelledFrame], radius: Double = 1.0, border: Double = 4,
        threshold: Float? = nil
    ) throws -> [DefectClass: DetectionScore] {
        let kinds = DefectClass.allCases.dropFirst().prefix(detector.metadata.architecture.classes - 1)
        var scores: [DefectClass: DetectionScore] = [:]
        for frame in frames {
            guard let truth = frame.defects else { continue }
            let image = try frame.image(frame.detectorChannel)
            let found = detector.detect(image, pixelSize: frame.pixelSize, threshold: threshold)
            for kind in kinds {
                let score = DetectionScore.score(
                    detected: found.filter { $0.kind == kind }.map { ($0.x, $0.y) },
                    truth: truth.filter { $0.kind == kind }.map { ($0.x, $0.y) },
                    radius: radius / frame.pixelSize, width: image.width, height: image.height, border: border)
                scores[kind, default: DetectionScore()] = scores[kind, default: DetectionScore()] + score
            }
        }
        return scores
    }
}
