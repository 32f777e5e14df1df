import DecisionLog
import DefectDetection
import Foundation

/// A logged session's detections scored against the virtual microscope's ground truth (which the
/// daemon never sees): per analysed frame, matched one to one within 1.5 Å.
struct SessionScore {
    /// All frames together.
    var total = DetectionScore()
    /// Defects detected.
    var found = 0
    /// Defects present (of the types the model detects) in the analysed frames.
    var present = 0
    /// Per analysed frame, in order.
    var perFrame: [DetectionScore] = []

    /// Scores `session` of `log`; `truthRoot` holds the simulator's `DRIVER-SESSION/SEQ.json` files.
    static func score(log: DecisionLog, session: String, truthRoot: URL, classes: Set<String>) throws -> SessionScore {
        let frames = try log.query(
            """
            SELECT id, driver_session, seq, pixel_size_angstrom, width, height FROM frames
            WHERE session_id = ? AND analysed = 1 AND pixel_size_angstrom < 1 ORDER BY id
            """, arguments: [session])
        var result = SessionScore()
        for row in frames.rows {
            guard let id = row[0], let driver = row[1], let seq = row[2], let pixel = row[3].flatMap(Double.init),
                let width = row[4].flatMap(Int.init), let height = row[5].flatMap(Int.init)
            else { continue }
            let detected = try log.query("SELECT x, y FROM detections WHERE frame_id = ?", arguments: [id]).rows
                .compactMap { row -> (x: Double, y: Double)? in
                    guard let x = row[0].flatMap(Double.init), let y = row[1].flatMap(Double.init) else { return nil }
                    return (x, y)
                }
            let truth = truthDefects(truthRoot.appendingPathComponent(driver).appendingPathComponent("\(seq).json"))
                .filter { classes.contains($0.type) }
            let score = DetectionScore.score(
                detected: detected, truth: truth.map { ($0.x, $0.y) }, radius: 1.5 / pixel, width: width, height: height
            )
            result.found += detected.count
            result.present += truth.count
            result.total = result.total + score
            result.perFrame.append(score)
        }
        return result
    }

    /// F1 over consecutive quarters of the analysed atomic frames (fewer parts with fewer frames).
    var f1OverTime: [Double] {
        let parts = min(4, perFrame.count)
        guard parts > 0 else { return [] }
        return (0..<parts).map { part in
            let range = (part * perFrame.count / parts)..<((part + 1) * perFrame.count / parts)
            return perFrame[range].reduce(DetectionScore(), +).f1
        }
    }

    /// The defect types `model` detects.
    static func classes(of model: String?) -> Set<String> {
        guard let model, let detector = try? DefectDetector.load(model).detector else { return [] }
        return Set(detector.metadata.classes).subtracting(["background"])
    }

    private struct TruthDefect: Decodable {
        let x: Double
        let y: Double
        let type: String
    }

    private struct TruthFile: Decodable {
        let defects: [TruthDefect]
    }

    private static func truthDefects(_ url: URL) -> [TruthDefect] {
        guard let data = try? Data(contentsOf: url) else { return [] }
        return (try? JSONDecoder().decode(TruthFile.self, from: data))?.defects ?? []
    }
}
