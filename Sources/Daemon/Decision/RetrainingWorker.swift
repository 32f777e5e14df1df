import DaemonAnalysis
import DaemonRetraining
import Foundation
import ImageNumerics
import Logging
import PolicyKit

/// What the decision stage asks of the retraining worker: retrain the model at `basePath` on
/// `frames` (atomic resolution, `pixelSize` Å, `dwell` µs when all share it).
struct RetrainingRequest: Sendable {
    var reason: String
    var frames: [Image]
    var pixelSize: Double
    var dwell: Double?
    var basePath: String
    var baseID: String
    /// Seconds into the session.
    var elapsed: Double
    /// The realism models to learn the microscope's look with (the policy file's rule's).
    var realism: RetrainingRule.Realism = .fitted
    /// CycleGAN steps (nil: the retrainer's default).
    var cycleganSteps: Int?
}

/// How a retraining ended: the state the policy sees, and the model swapped in, if any.
struct RetrainingReport: Sendable {
    var state: RetrainingState
    var swappedIn: (id: String, path: String)?
}

/// The session's retraining: one at a time, in the background, each logged from start to end,
/// the better model swapped into analysis; cancelled (and logged so) when the session ends.
struct RetrainingWorker: Sendable {
    let retrainer: Retrainer
    let analysis: AnalysisStage
    let log: SessionLog
    let decisions: Mailbox<DecisionInput>
    let board: StatusBoard
    let logger: Logger
    /// Fires when the session ends: a retraining then stops at its next batch.
    let stop: StopSignal

    /// Carries out `requests` until they end or the task is cancelled.
    func run(_ requests: Mailbox<RetrainingRequest>) async {
        while let request = await requests.receive(until: nil) {
            decisions.send(.retrainingFinished(await retrain(request)))
        }
        retrainer.finish()
    }

    private func retrain(_ request: RetrainingRequest) async -> RetrainingReport {
        let event: Int64
        do {
            event = try await log.retrainingStarted(reason: request.reason, modelBefore: request.baseID)
        } catch {
            logger.error("could not log the start of a retraining; not starting it", metadata: ["error": "\(error)"])
            return RetrainingReport(state: .failed("the decision log cannot be written"))
        }
        board.update { $0.retrainingsStarted += 1 }
        logger.info(
            "retraining started", metadata: ["frames": "\(request.frames.count)", "model": "\(request.baseID)"])
        do {
            let outcome = try await retrainer.retrain(
                frames: request.frames, pixelSize: request.pixelSize, dwell: request.dwell,
                basePath: request.basePath, baseID: request.baseID, realism: request.realism,
                cycleganSteps: request.cycleganSteps, shouldStop: { stop.isFired })
            let estimate = SessionLog.json(outcome.estimate)
            if let generator = outcome.generator {
                try? await log.model(
                    id: generator.id, path: generator.path,
                    metadata: SessionLog.json(generator.metadata.merging(["kind": "cyclegan-generator"]) { a, _ in a }))
                logger.info(
                    "CycleGAN trained",
                    metadata: [
                        "generator": "\(generator.id)", "steps": "\(generator.steps)",
                        "cycle_loss": "\(generator.namedLosses["cycle"] ?? 0)", "seconds": "\(Int(generator.seconds))",
                    ])
            }
            let metrics = Self.metrics(outcome)
            let state = RetrainingState.finished(
                accepted: outcome.accepted, before: outcome.before, after: outcome.after)
            guard outcome.accepted, let path = outcome.modelPath, let id = outcome.modelID else {
                await log.retrainingFinished(
                    event, status: "kept", estimate: estimate, modelAfter: nil, metrics: metrics)
                logger.info(
                    "retrained model not better; the current one stays",
                    metadata: ["f1_before": "\(outcome.before)", "f1_after": "\(outcome.after)"])
                return RetrainingReport(state: state)
            }
            try await analysis.replaceDetector(
                path: path, id: id, reference: request.frames, pixelSize: request.pixelSize)
            let metadata =
                (try? String(contentsOfFile: (path as NSString).deletingPathExtension + ".json", encoding: .utf8))
                ?? "{}"
            try? await log.model(id: id, path: path, metadata: metadata)
            await log.retrainingFinished(event, status: "swapped", estimate: estimate, modelAfter: id, metrics: metrics)
            board.update { $0.retrains += 1 }
            logger.info(
                "retrained model swapped in",
                metadata: ["model": "\(id)", "f1_before": "\(outcome.before)", "f1_after": "\(outcome.after)"])
            return RetrainingReport(state: state, swappedIn: (id, path))
        } catch is CancellationError {
            await log.retrainingFinished(event, status: "cancelled", estimate: nil, modelAfter: nil, metrics: nil)
            return RetrainingReport(state: .failed("cancelled"))
        } catch {
            logger.error("retraining failed; the current model stays", metadata: ["error": "\(error)"])
            await log.retrainingFinished(
                event, status: "failed", estimate: nil, modelAfter: nil, metrics: SessionLog.json(["error": "\(error)"])
            )
            return RetrainingReport(state: .failed("\(error)"))
        }
    }

    /// The log's `metrics` of a retraining (docs/LOG.md).
    static func metrics(_ outcome: Retrainer.Outcome) -> String {
        SessionLog.json(RetrainingMetrics(outcome))
    }
}

/// A retraining's `metrics` in the log: F1 before and after, the realism models, every
/// candidate's scores, and the CycleGAN version trained with its losses.
struct RetrainingMetrics: Encodable {
    struct Generator: Encodable {
        var id: String
        var path: String
        var steps: Int
        var newSteps: Int
        var parent: String?
        var frames: Int
        var seconds: Double
        var losses: [String: Double]

        enum CodingKeys: String, CodingKey {
            case id, path, steps, newSteps = "new_steps", parent, frames, seconds, losses
        }
    }

    var f1Before: Double
    var f1After: Double
    var realism: String
    var candidates: [String: [String: Double]]
    var chosen: String?
    var cyclegan: Generator?

    enum CodingKeys: String, CodingKey {
        case f1Before = "f1_before", f1After = "f1_after", realism, candidates, chosen, cyclegan
    }

    init(_ outcome: Retrainer.Outcome) {
        f1Before = outcome.before
        f1After = outcome.after
        realism = outcome.realism.rawValue
        candidates = Dictionary(uniqueKeysWithValues: outcome.candidates.map { ($0.name, $0.f1) })
        chosen = outcome.chosen
        cyclegan = outcome.generator.map { generator in
            Generator(
                id: generator.id, path: generator.path, steps: generator.steps, newSteps: generator.newSteps,
                parent: generator.parent, frames: generator.frames, seconds: generator.seconds,
                losses: generator.namedLosses)
        }
    }
}
