/// Precision, recall and F1 of detections against ground truth, by greedy one-to-one matching
/// (closest pairs first) within a radius; detections and truths near the border can be excluded,
/// as in the published evaluation.
public struct DetectionScore: Sendable, Hashable, CustomStringConvertible {
    /// Detections matched to a true defect.
    public var truePositives = 0
    /// Detections with no true defect within the radius.
    public var falsePositives = 0
    /// True defects with no detection within the radius.
    public var falseNegatives = 0

    /// An empty score.
    public init() {}

    /// TP / (TP + FP); 1 when nothing was detected and nothing was there.
    public var precision: Double {
        truePositives + falsePositives == 0
            ? (falseNegatives == 0 ? 1 : 0) : Double(truePositives) / Double(truePositives + falsePositives)
    }

    /// TP / (TP + FN); 1 when nothing was there.
    public var recall: Double {
        truePositives + falseNegatives == 0 ? 1 : Double(truePositives) / Double(truePositives + falseNegatives)
    }

    /// The harmonic mean of precision and recall.
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }

    /// Adds another image's counts.
    public static func + (a: DetectionScore, b: DetectionScore) -> DetectionScore {
        var sum = a
        sum.truePositives += b.truePositives
        sum.falsePositives += b.falsePositives
        sum.falseNegatives += b.falseNegatives
        return sum
    }

    public var description: String {
        "TP \(truePositives) FP \(falsePositives) FN \(falseNegatives) precision \(precision) recall \(recall) F1 \(f1)"
    }

    /// Scores `detected` against `truth` (same coordinates), matching within `radius` pixels and
    /// ignoring points closer than `border` pixels to the edge of a `width` x `height` image.
    public static func score(
        detected: [(x: Double, y: Double)], truth: [(x: Double, y: Double)], radius: Double, width: Int, height: Int,
        border: Double = 0
    ) -> DetectionScore {
        func inside(_ p: (x: Double, y: Double)) -> Bool {
            p.x >= border && p.y >= border && p.x <= Double(width - 1) - border && p.y <= Double(height - 1) - border
        }
        let found = detected.filter(inside)
        let real = truth.filter(inside)
        var pairs: [(distance: Double, d: Int, t: Int)] = []
        for (i, d) in found.enumerated() {
            for (j, t) in real.enumerated() {
                let distance = ((d.x - t.x) * (d.x - t.x) + (d.y - t.y) * (d.y - t.y)).squareRoot()
                if distance <= radius { pairs.append((distance, i, j)) }
            }
        }
        var usedDetections = Set<Int>()
        var usedTruths = Set<Int>()
        for pair in pairs.sorted(by: { $0.distance < $1.distance })
        where !usedDetections.contains(pair.d) && !usedTruths.contains(pair.t) {
            usedDetections.insert(pair.d)
            usedTruths.insert(pair.t)
        }
        var score = DetectionScore()
        score.truePositives = usedDetections.count
        score.falsePositives = found.count - usedDetections.count
        score.falseNegatives = real.count - usedTruths.count
        return score
    }
}
