import DecisionLog
import Foundation
import Logging
import Numerics
import PolicyKit

/// The session's retraining: at most one at a time, in the background, logged from start to end,
/// cancelled when the session ends.
actor RetrainingJobs {
    private let retrainer: Retrainer
    private let analysis: Analysis
    private let log: DecisionLog
    private let session: String
    private let logger: Logger
    private let report: @Sendable (_ swapped: Bool) -> Void
    private var task: Task<Void, Never>?
    /// Where the newest retraining stands.
    private(set) var state: RetrainingState?

    init(
        retrainer: Retrainer, analysis: Analysis, log: DecisionLog, session: String, logger: Logger,
        report: @escaping @Sendable (_ swapped: Bool) -> Void
    ) {
        self.retrainer = retrainer
        self.analysis = analysis
        self.log = log
        self.session = session
        self.logger = logger
        self.report = report
    }

    /// Why a retraining cannot start now, or nil when it can.
    func obstacle() async -> String? {
        if case .running = state { return "a retraining is already running" }
        guard await analysis.modelPath != nil else { return "the daemon runs without a detector" }
        guard await analysis.recentAtomicFrames() != nil else {
            return "no atomic-resolution frame has been analysed yet to estimate the conditions from"
        }
        return nil
    }

    /// Starts a retraining (check ``obstacle()`` first) for `reason`, `elapsed` seconds into the session.
    func start(reason: String, elapsed: Double) async {
        guard let frames = await analysis.recentAtomicFrames(), let basePath = await analysis.modelPath else { return }
        let baseID = await analysis.modelID ?? "unknown"
        state = .running(since: elapsed)
        let event: Int64
        do {
            event = try await log.beginRetraining(session: session, reason: reason, modelBefore: baseID)
        } catch {
            logger.error("could not log the start of a retraining; not starting it", metadata: ["error": "\(error)"])
            state = .failed("the decision log cannot be written")
            return
        }
        logger.info("retraining started", metadata: ["frames": "\(frames.images.count)", "model": "\(baseID)"])
        task = Task {
            await self.retrain(event: event, frames: frames, basePath: basePath, baseID: baseID)
        }
    }

    private func retrain(
        event: Int64, frames: (images: [Numerics.Image], pixelSize: Double, dwell: Double?), basePath: String,
        baseID: String
    ) async {
        do {
            let outcome = try await retrainer.retrain(
                frames: frames.images, pixelSize: frames.pixelSize, dwell: frames.dwell, basePath: basePath,
                baseID: baseID)
            let estimate = Self.json(outcome.estimate)
            let metrics = Self.json(["f1_before": outcome.before, "f1_after": outcome.after])
            if outcome.accepted, let path = outcome.modelPath, let id = outcome.modelID {
                try await analysis.replaceDetector(
                    path: path, id: id, reference: frames.images, pixelSize: frames.pixelSize)
                let metadata =
                    (try? String(contentsOfFile: (path as NSString).deletingPathExtension + ".json", encoding: .utf8))
                    ?? "{}"
                try await Self.shielded { try await self.log.recordModel(id: id, path: path, metadata: metadata) }
                try await Self.shielded {
                    try await self.log.finishRetraining(
                        event, status: "swapped", estimate: estimate, modelAfter: id, metrics: metrics)
                }
                logger.info(
                    "retrained model swapped in",
                    metadata: ["model": "\(id)", "f1_before": "\(outcome.before)", "f1_after": "\(outcome.after)"])
            } else {
                try await Self.shielded {
                    try await self.log.finishRetraining(
                        event, status: "kept", estimate: estimate, modelAfter: nil, metrics: metrics)
                }
                logger.info(
                    "retrained model not better; the current one stays",
                    metadata: ["f1_before": "\(outcome.before)", "f1_after": "\(outcome.after)"])
            }
            state = .finished(accepted: outcome.accepted, before: outcome.before, after: outcome.after)
            report(outcome.accepted)
        } catch is CancellationError {
            try? await Self.shielded {
                try await self.log.finishRetraining(
                    event, status: "cancelled", estimate: nil, modelAfter: nil, metrics: nil)
            }
            state = .failed("cancelled")
        } catch {
            logger.error("retraining failed; the current model stays", metadata: ["error": "\(error)"])
            let metrics = Self.json(["error": "\(error)"])
            try? await Self.shielded {
                try await self.log.finishRetraining(
                    event, status: "failed", estimate: nil, modelAfter: nil, metrics: metrics)
            }
            state = .failed("\(error)")
        }
    }

    /// Cancels a running retraining and waits until it has stopped and been logged.
    func cancelAndWait() async {
        task?.cancel()
        await task?.value
        task = nil
    }

    /// Runs a log write in a task of its own, so that the cancellation that ends a retraining does
    /// not also cancel the write that records how it ended.
    private static func shielded(_ write: @escaping @Sendable () async throws -> Void) async throws {
        try await Task { try await write() }.value
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        (try? JSONEncoder.sorted.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
