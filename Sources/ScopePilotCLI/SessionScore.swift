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
    /// A stretch of frames under one set of microscope conditions analysed by one model.
    struct Phase {
        var conditions: String
        var model: String
        var frames = 0
        var score = DetectionScore()
    }
    /// Frames grouped by the simulator's condition set and the detector model, in order of appearance.
    var phases: [Phase] = []
    /// Atomic-resolution frames analysed without the detector (their calibration was refused, or
    /// no detector was loaded): not scored, so that the detector is not blamed for what it never saw.
    var withoutDetector = 0

    /// Scores `session` of `log`; `truthRoot` holds the simulator's `DRIVER-SESSION/SEQ.json` files.
    static func score(log: DecisionLog, session: String, truthRoot: URL, classes: Set<String>) throws -> SessionScore {
        let frames = try log.query(
            """
            SELECT id, driver_session, seq, pixel_size_angstrom, width, height, model FROM frames
            WHERE session_id = ? AND analysed = 1 AND pixel_size_angstrom < 1 ORDER BY id
            """, arguments: [session])
        var result = SessionScore()
        for row in frames.rows {
            guard let id = row[0], let driver = row[1], let seq = row[2], let pixel = row[3].flatMap(Double.init),
                let width = row[4].flatMap(Int.init), let height = row[5].flatMap(Int.init)
            else { continue }
            guard let model = row[6] else {
                result.withoutDetector += 1
                continue
            }
            let detected = try log.query("SELECT x, y FROM detections WHERE frame_id = ?", arguments: [id]).rows
                .compactMap { row -> (x: Double, y: Double)? in
                    guard let x = row[0].flatMap(Double.init), let y = row[1].flatMap(Double.init) else { return nil }
                    return (x, y)
                }
            let file = truthFile(truthRoot.appendingPathComponent(driver).appendingPathComponent("\(seq).json"))
            let truth = (file?.defects ?? []).filter { classes.contains($0.type) }
            let score = DetectionScore.score(
                detected: detected, truth: truth.map { ($0.x, $0.y) }, radius: 1.5 / pixel, width: width, height: height
            )
            result.found += detected.count
            result.present += truth.count
            result.total = result.total + score
            result.perFrame.append(score)
            let conditions = file?.conditions ?? "-"
            if let last = result.phases.last, last.conditions == conditions, last.model == model {
                result.phases[result.phases.count - 1].frames += 1
                result.phases[result.phases.count - 1].score = last.score + score
            } else {
                result.phases.append(Phase(conditions: conditions, model: model, frames: 1, score: score))
            }
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
        let conditions: String?
    }

    private static func truthFile(_ url: URL) -> TruthFile? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return try? JSONDecoder().decode(TruthFile.self, from: data)
    }

    /// One line per phase ("day A with model-x: F1 0.97 (24 frames)"), none when there is one phase.
    var phaseLines: [String] {
        guard phases.count > 1 else { return [] }
        return phases.map {
            String(
                format: "%@ with %@: F1 %.2f (%d frames)", $0.conditions as NSString, $0.model as NSString, $0.score.f1,
                $0.frames)
        }
    }

    /// The phase lines for the demo's summary, nil when there is one phase.
    var phaseSummary: String? {
        phaseLines.isEmpty ? nil : phaseLines.joined(separator: "\n                    ")
    }
}
