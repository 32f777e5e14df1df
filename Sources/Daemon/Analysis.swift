import DecisionLog
public import DefectDetection
import Foundation
import NeuralNetwork
public import Numerics
import PolicyKit
public import Segmentation
public import WireProtocol

/// Why a frame could not be analysed.
public struct AnalysisError: Error, Sendable, CustomStringConvertible {
    /// What is wrong with the frame.
    public let description: String
}

/// The analysis stage: drift registration against earlier overlapping frames, the condition
/// monitor, the defect detector and chip communities, for one frame at a time.
///
/// Runs on its own thread (``ComputeThread``): a frame takes tens to hundreds of milliseconds of
/// arithmetic, which must not occupy the cooperative thread pool that the feed, the instrument link
/// and the log writer share.
public actor Analysis {
    private let thread = ComputeThread(name: "scopepilot-analysis")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    private var detector: DefectDetector?
    private var embedder: DetectorEmbedder?
    /// The detector's model id (nil: no detector).
    public private(set) var modelID: String?
    /// Where the detector's weights are (nil: no detector).
    public private(set) var modelPath: String?
    private var recent: [(image: Image, pixelSize: Double, dwell: Double)] = []
    /// Atomic-resolution frames kept for retraining.
    public let keptForRetraining = 4
    private var drift = DriftTracker()
    private var monitor: ConditionMonitor?
    /// Segmentation sessions by chip size and whether the detector's densities are among the
    /// features; each has its own range of community ids (a multiple of 1000 apart).
    private var sessions: [String: (session: SegmentationSession, embedder: DetectorEmbedder?, idBase: Int)] = [:]
    private let segmentationOptions: SegmentationOptions
    /// Confidence threshold of the detector's peaks (nil: the model's calibrated one, else 0.6).
    public let threshold: Float?
    /// Frames analysed.
    public private(set) var analysed = 0

    /// Analysis with `detector` (none: drift and conditions only), known in the log as `modelID`.
    public init(
        detector: sending DefectDetector?, modelID: String?, modelPath: String? = nil, threshold: Float? = nil,
        segmentation: SegmentationOptions = SegmentationOptions()
    ) {
        self.detector = detector
        self.modelID = modelID
        self.modelPath = modelPath
        self.threshold = threshold
        segmentationOptions = segmentation
        embedder = detector.map { DetectorEmbedder($0, parts: [.defectDensity]) }
        // One BLAS thread: this machine's two vCPUs give about one core of floating point, and
        // OpenBLAS's idle threads spin in sched_yield beside the simulator and the feed.
        BLASThreads.pinOnce()
        monitor = detector.map { ConditionMonitor(ranges: $0.metadata.trainingConditions) }
    }

    /// Analyses `frame`. Throws when the frame cannot be analysed at all (no channel, NaN pixels);
    /// a stage that fails on its own is left out and named in ``FrameAnalysis/problems``.
    public func analyse(_ frame: Frame) throws(AnalysisError) -> FrameAnalysis {
        var timings: [String: Double] = [:]
        var problems: [String] = []
        var clock = ContinuousClock.now
        func lap(_ stage: String) {
            let now = ContinuousClock.now
            timings[stage] = (now - clock).milliseconds
            clock = now
        }
        let header = frame.header
        guard !frame.channels.isEmpty else { throw AnalysisError(description: "the frame has no channels") }
        var images: [(name: String, image: Image)] = []
        for (name, buffer) in zip(header.channels, frame.channels) {
            if let bad = buffer.nonFinitePixels() {
                throw AnalysisError(
                    description:
                        "channel \(name) has \(bad.count) NaN or infinite pixels (first at row \(bad.firstRow), column \(bad.firstColumn))"
                )
            }
            images.append((name, Image(width: buffer.width, height: buffer.height, pixels: buffer.floats())))
        }
        let primary = images.first { $0.name == "HAADF" }?.image ?? images[0].image
        let scan = header.scan
        let pixelSize = scan.fovX / Double(scan.width) * 10  // Å
        let summary = FrameSummary(
            seq: header.seq, scan: scan, stage: header.stage, time: header.time.start, purpose: header.purpose?.rawValue
        )
        lap("decode")

        var measured: DriftMeasurement?
        do {
            measured = try drift.measure(FrameKey(header), scan: scan, time: header.time.start, image: primary)
        } catch {
            problems.append("drift: \(error)")
        }
        lap("drift")

        var result = FrameAnalysis(
            key: FrameKey(header), commandID: header.commandID, frame: summary, defects: [], detections: [],
            chipCommunities: [], communities: [], drift: measured,
            condition: nil, detectorRan: false, timings: timings,
            problems: problems)
        guard let detector, let embedder,
            pixelSize >= 0.5 * detector.metadata.pixelSize && pixelSize <= 2 * detector.metadata.pixelSize
        else {
            // No detector at this magnification: communities from the images alone.
            segment(
                images, pixelSize: pixelSize, scan: scan, found: nil, embedder: nil, into: &result, problems: &problems)
            lap("segment")
            analysed += 1
            result.timings = timings
            result.problems = problems
            return result
        }

        if min(primary.width, primary.height) >= 128 {
            recent.append((primary, pixelSize, scan.dwell))
            if recent.count > keptForRetraining { recent.removeFirst() }
        }

        // One lattice mask serves the detector (no defects in vacuum) and the monitor (no reading
        // of a frame that is mostly vacuum).
        let lattice = LatticeMask(primary, pixelSize: pixelSize)
        let found = detector.detect(primary, pixelSize: pixelSize, threshold: threshold, lattice: lattice)
        lap("detect")
        result.condition = monitor?.read(
            primary, pixelSize: pixelSize, confidences: found.map(\.confidence), detector: detector,
            lattice: lattice)
        lap("condition")
        result.detectorRan = true
        result.modelID = modelID
        result.detections = found.map {
            AnalysisRecord.Detection(x: $0.x, y: $0.y, type: $0.kind.description, confidence: Double($0.confidence))
        }
        result.defects = found.map {
            let (x, y) = Self.stagePosition(of: ($0.x, $0.y), in: scan)
            return DefectObservation(x: x, y: y, kind: $0.kind.description, confidence: Double($0.confidence))
        }

        segment(
            images, pixelSize: pixelSize, scan: scan, found: found, embedder: embedder, into: &result,
            problems: &problems)
        lap("segment")
        analysed += 1
        result.timings = timings
        result.problems = problems
        return result
    }

    /// The newest atomic-resolution frames (first channel) of one pixel size, for the realism step.
    public func recentAtomicFrames() -> (images: [Image], pixelSize: Double, dwell: Double?)? {
        guard let newest = recent.last else { return nil }
        let alike = recent.filter { abs($0.pixelSize - newest.pixelSize) < 0.01 * newest.pixelSize }
        let dwell = alike.allSatisfy { $0.dwell == newest.dwell } ? newest.dwell : nil
        return (alike.map(\.image), newest.pixelSize, dwell)
    }

    /// Replaces the detector with the model at `path`, known in the log as `id`. When it was
    /// retrained for `reference` frames (atomic resolution, `pixelSize` Å), the condition monitor
    /// measures the drift from them.
    public func replaceDetector(
        path: String, id: String, reference: [Image] = [], pixelSize: Double? = nil
    ) throws(ModelLoadError) {
        let loaded = try DefectDetector.load(path).detector
        detector = loaded
        embedder = DetectorEmbedder(loaded, parts: [.defectDensity])
        var monitor = ConditionMonitor(ranges: loaded.metadata.trainingConditions)
        if let pixelSize, !reference.isEmpty {
            monitor.rebaseline(on: reference, pixelSize: pixelSize, detector: loaded)
        }
        self.monitor = monitor
        // The segmentation sessions go on (community ids stay stable): they are given the new
        // detector's detections with every frame.
        modelID = id
        modelPath = path
    }

    /// Chip communities of a frame. Chips are 1.6 nm at atomic resolution and 16 pixels at survey
    /// magnification; one session per chip size and feature set, each with its own id range.
    private func segment(
        _ images: [(name: String, image: Image)], pixelSize: Double, scan: ScanGeometry, found: [DefectLocation]?,
        embedder: DetectorEmbedder?, into result: inout FrameAnalysis, problems: inout [String]
    ) {
        var options = segmentationOptions
        options.chipSize = pixelSize < 1 ? max(8, Int((16 / pixelSize).rounded())) : 16
        options.stride = options.chipSize
        options.features.embedding = embedder != nil
        let key = "\(options.chipSize)/\(embedder != nil)"
        let entry =
            sessions[key]
            ?? (SegmentationSession(options: options, embedder: embedder), embedder, 1000 * sessions.count)
        sessions[key] = entry
        entry.embedder?.nextDetections = found
        do {
            let segmented = try entry.session.add(channels: images, pixelSize: pixelSize)
            let ids = segmented.communities.map { $0 + entry.idBase }
            result.chipCommunities = ids
            let side = Double(segmented.grid.chipSize) * pixelSize / 10  // nm
            var perChip = [Int](repeating: 0, count: ids.count)
            for defect in found ?? [] {
                if let chip = segmented.grid.chip(containingX: Int(defect.x.rounded()), y: Int(defect.y.rounded())) {
                    perChip[chip] += 1
                }
            }
            var chips: [Int: Int] = [:]
            var defects: [Int: Int] = [:]
            for (chip, id) in ids.enumerated() {
                chips[id, default: 0] += 1
                defects[id, default: 0] += perChip[chip]
                let origin = segmented.grid.origin(of: chip)
                let centre = Self.stagePosition(
                    of: (
                        Double(origin.x) + Double(segmented.grid.chipSize - 1) / 2,
                        Double(origin.y) + Double(segmented.grid.chipSize - 1) / 2
                    ), in: scan)
                result.chips.append(
                    ChipObservation(
                        x: centre.0, y: centre.1, size: side, community: id, defects: found == nil ? nil : perChip[chip]
                    ))
            }
            result.communities = chips.keys.sorted().map {
                CommunityObservation(
                    id: $0, chips: chips[$0]!, area: Double(chips[$0]!) * side * side, defects: defects[$0] ?? 0)
            }
        } catch {
            entry.embedder?.nextDetections = nil
            problems.append("segmentation: \(error)")
        }
    }

    /// Where pixel (column, row) of a frame scanned as `scan` lies on the stage, nm.
    static func stagePosition(of pixel: (x: Double, y: Double), in scan: ScanGeometry) -> (Double, Double) {
        let pixelY = scan.fovY / Double(scan.height)
        let u = (pixel.x - Double(scan.width - 1) / 2) * scan.pixelSizeX
        let v = (pixel.y - Double(scan.height - 1) / 2) * pixelY
        let r = scan.rotation * .pi / 180
        return (scan.centerX + cos(r) * u - sin(r) * v, scan.centerY + sin(r) * u + cos(r) * v)
    }
}

extension Duration {
    /// The duration in milliseconds.
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
