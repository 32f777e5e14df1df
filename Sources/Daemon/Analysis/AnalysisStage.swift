import DedicatedThreads
public import DefectDetection
import Foundation
public import ImageNumerics
import NeuralNetwork
import PolicyKit
public import Segmentation
import WireProtocol

/// Why a frame could not be analysed at all.
public struct AnalysisError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case noChannels = "no_channels", nonFinite = "non_finite" }
        private let kind: Kind

        /// The frame carries no pixel part.
        public static let noChannels = Code(kind: .noChannels)
        /// A channel holds NaN or infinite pixels.
        public static let nonFinite = Code(kind: .nonFinite)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// What is wrong with the frame.
    public let description: String
}

/// The analysis stage: drift registration against earlier overlapping frames, the condition
/// monitor, the defect detector and chip communities, one frame at a time.
///
/// Runs on its own thread (``ComputeThread``): a frame takes tens to hundreds of milliseconds of
/// arithmetic, which must not occupy the cooperative thread pool that the feed, the instrument link
/// and the log writer share. Nothing reads this actor's state while it works: every result leaves
/// in a ``FrameAnalysis``.
public actor AnalysisStage {
    private let thread = ComputeThread(name: "scopepilot-analysis")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    private var detector: DefectDetector?
    private var embedder: DetectorEmbedder?
    private var modelID: String?
    private var drift = DriftTracker()
    private var monitor: ConditionMonitor?
    private let baseline: any ConditionBaselineSource
    /// Segmentation sessions by chip size and whether the detector's densities are among the
    /// features; each has its own range of community ids (a multiple of 1000 apart).
    private var sessions: [String: (session: SegmentationSession, embedder: DetectorEmbedder?, idBase: Int)] = [:]
    private let segmentationOptions: SegmentationOptions
    /// Confidence threshold of the detector's peaks (nil: the model's calibrated one, else 0.6).
    public let threshold: Float?
    /// Whether each analysis keeps the frame's first channel whole (for a policy that asks for
    /// the pixels).
    public let keepsPixels: Bool

    /// Analysis with `detector` (none: drift and communities only), known in the log as `modelID`;
    /// the condition monitor compares frames with images from `baseline`.
    public init(
        detector: sending DefectDetector?, modelID: String?, baseline: any ConditionBaselineSource,
        threshold: Float? = nil, segmentation: SegmentationOptions = SegmentationOptions(), keepsPixels: Bool = false
    ) {
        self.keepsPixels = keepsPixels
        self.detector = detector
        self.modelID = detector == nil ? nil : modelID
        self.baseline = baseline
        self.threshold = threshold
        segmentationOptions = segmentation
        embedder = detector.map { DetectorEmbedder($0, parts: [.defectDensity]) }
        // One BLAS thread: this machine's two vCPUs give about one core of floating point, and
        // OpenBLAS's idle threads spin in sched_yield beside the simulator and the feed.
        BLASThreads.pinOnce()
        monitor = detector.map { ConditionMonitor(ranges: $0.metadata.trainingConditions, baseline: baseline) }
    }

    /// Analyses every frame of `frames` as it comes and hands each result to `deliver`; returns when
    /// `frames` ends. Then the stage's thread ends.
    public func run(
        _ frames: AsyncStream<ReceivedFrame>,
        deliver: @Sendable (Result<FrameAnalysis, FrameAnalysisFailure>) async -> Void
    ) async {
        for await frame in frames {
            do {
                await deliver(.success(try analyse(frame)))
            } catch {
                await deliver(.failure(FrameAnalysisFailure(frame: frame, error: error)))
            }
        }
        thread.finish()
    }

    /// Analyses one frame. Throws when it cannot be analysed at all (no channel, NaN pixels); a
    /// stage that fails on its own is left out and named in ``FrameAnalysis/problems``.
    public func analyse(_ received: ReceivedFrame) throws(AnalysisError) -> FrameAnalysis {
        var timings: [String: Double] = [:]
        var clock = ContinuousClock.now
        func lap(_ stage: String) {
            let now = ContinuousClock.now
            timings[stage] = (now - clock).milliseconds
            clock = now
        }
        let frame = received.frame
        let header = frame.header
        guard !frame.channels.isEmpty else {
            throw AnalysisError(code: .noChannels, description: "the frame has no channels")
        }
        var images: [(name: String, image: Image)] = []
        for (name, buffer) in zip(header.channels, frame.channels) {
            if let bad = buffer.nonFinitePixels() {
                throw AnalysisError(
                    code: .nonFinite,
                    description: "channel \(name) has \(bad.count) NaN or infinite pixels (first at row "
                        + "\(bad.firstRow), column \(bad.firstColumn))")
            }
            images.append((name, Image(width: buffer.width, height: buffer.height, pixels: buffer.floats())))
        }
        let primary = images.first { $0.name == "HAADF" }?.image ?? images[0].image
        let scan = header.scan
        let pixelSize = scan.pixelSizeX * 10  // Å
        var result = FrameAnalysis(key: received.key, header: header, receivedAt: received.receivedAt)
        result.channels = images.compactMap { channel in
            channel.image.statistics.map { ChannelStatistics(name: channel.name, mean: $0.mean, std: $0.std) }
        }
        let small = primary.blockAveraged(toAtMost: 128)
        result.thumbnail = FrameThumbnail(width: small.width, height: small.height, pixels: small.pixels)
        if keepsPixels { result.pixels = primary }
        lap("decode")

        do {
            result.drift = try drift.measure(received.key, scan: scan, time: header.time.start, image: primary)
        } catch {
            result.problems.append("drift: \(error)")
        }
        lap("drift")

        var calibrated = true
        if let detectorPixelSize = detector?.metadata.pixelSize, pixelSize >= 0.5 * detectorPixelSize,
            pixelSize <= 2 * detectorPixelSize
        {
            // The lattice must agree with the header's pixel size before the detector may judge
            // the frame: at the wrong scale it would report nonsense with confidence.
            let check = PixelSizeCheck(primary, claimed: pixelSize)
            let finding = check.finding(claimed: pixelSize)
            if let implied = check.implied {
                result.pixelSize = PixelSizeReading(claimed: pixelSize, measured: implied, consistent: finding == nil)
            }
            if let finding {
                calibrated = false
                // The header's pixel size is the scan's field of view over its pixels: the
                // instrument's magnification calibration or the driver adapter's units.
                result.calibrationRefusal =
                    "frame \(received.key) not analysed for defects: \(finding). Check the microscope's "
                    + "magnification calibration and the field of view (nm) the driver adapter reports"
                result.problems.append("pixel size: \(finding)")
            }
            lap("calibration")
        }
        if calibrated, let detector, let embedder,
            pixelSize >= 0.5 * detector.metadata.pixelSize && pixelSize <= 2 * detector.metadata.pixelSize
        {
            // One lattice mask serves the detector (no defects in vacuum) and the monitor (no
            // reading of a frame that is mostly vacuum).
            let lattice = LatticeMask(primary, pixelSize: pixelSize)
            let defects = detector.detect(primary, pixelSize: pixelSize, threshold: threshold, lattice: lattice)
            lap("detect")
            result.condition = monitor?.read(
                primary, pixelSize: pixelSize, confidences: defects.map(\.confidence), detector: detector,
                lattice: lattice)
            lap("condition")
            result.modelID = modelID
            result.detections = defects.map {
                let stage = scan.stagePosition(column: $0.x, row: $0.y)
                return Detection(
                    column: $0.x, row: $0.y, stageX: stage.x, stageY: stage.y, kind: $0.kind.description,
                    confidence: Double($0.confidence))
            }
            if min(primary.width, primary.height) >= 128 { result.atomicImage = (primary, pixelSize) }
            segment(images, pixelSize: pixelSize, scan: scan, found: defects, embedder: embedder, into: &result)
        } else {
            // No detector at this magnification: communities from the images alone.
            segment(images, pixelSize: pixelSize, scan: scan, found: nil, embedder: nil, into: &result)
        }
        lap("segment")
        result.timings = timings
        return result
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
        var monitor = ConditionMonitor(ranges: loaded.metadata.trainingConditions, baseline: baseline)
        if let pixelSize, !reference.isEmpty {
            monitor.rebaseline(on: reference, pixelSize: pixelSize, detector: loaded)
        }
        self.monitor = monitor
        // The segmentation sessions go on (community ids stay stable): they are given the new
        // detector's detections with every frame.
        modelID = id
    }

    /// Chip communities of a frame. Chips are 1.2 to 1.6 nm at atomic resolution (a sixteenth of
    /// the frame's shorter side, ``SegmentationOptions/automaticChipSide(frameSide:)``), described
    /// in units of WSe2's lattice frequency, and 16 pixels at survey magnification; one session
    /// per chip size and feature set, each with its own id range.
    private func segment(
        _ images: [(name: String, image: Image)], pixelSize: Double, scan: ScanGeometry, found: [DefectLocation]?,
        embedder: DetectorEmbedder?, into result: inout FrameAnalysis
    ) {
        var options = segmentationOptions
        // At atomic resolution chips of 1.2-1.6 nm (8 to 4096 px, whatever pixel size a header
        // claims), their rings in units of the lattice.
        let atomic = pixelSize < 1
        let shorter = Double(images.map { min($0.image.width, $0.image.height) }.min() ?? 0)
        let chipSide = SegmentationOptions.automaticChipSide(frameSide: shorter * pixelSize / 10)
        options.chipSize = atomic ? Int(min(max(8, (chipSide * 10 / pixelSize).rounded()), 4096)) : 16
        options.features.latticePeriod = atomic ? LatticePeriod.wse2 : nil
        options.stride = options.chipSize
        options.features.embedding = embedder != nil
        let key = "\(options.chipSize)/\(embedder != nil)"
        let entry =
            sessions[key]
            ?? (SegmentationSession(options: options, embedder: embedder), embedder, 1000 * sessions.count)
        sessions[key] = entry
        entry.embedder?.nextDetections = found
        let segmented: FrameSegmentation
        do {
            // The detector's counts per chip let the session tell defect-rich lattice apart.
            let counts = found.flatMap { found in
                images.first.map {
                    ChipGrid(
                        width: $0.image.width, height: $0.image.height, chipSize: options.chipSize,
                        stride: options.stride
                    ).counts(of: found.lazy.map { ($0.x, $0.y) })
                }
            }
            segmented = try entry.session.add(channels: images, pixelSize: pixelSize, defectsPerChip: counts)
        } catch {
            entry.embedder?.nextDetections = nil
            result.problems.append("segmentation: \(error)")
            return
        }
        let grid = segmented.grid
        let side = Double(grid.chipSize) * pixelSize / 10  // nm
        let perChip = grid.counts(of: (found ?? []).lazy.map { ($0.x, $0.y) })
        var chips: [ChipCommunities.Chip] = []
        var byCommunity: [Int: [ChipCommunities.Chip]] = [:]
        for (index, community) in segmented.communities.enumerated() {
            let id = community + entry.idBase
            let origin = grid.origin(of: index)
            let half = Double(grid.chipSize - 1) / 2
            let centre = scan.stagePosition(column: Double(origin.x) + half, row: Double(origin.y) + half)
            let channels = images.compactMap { channel in
                channel.image.statistics(x: origin.x, y: origin.y, width: grid.chipSize, height: grid.chipSize).map {
                    ChannelStatistics(name: channel.name, mean: $0.mean, std: $0.std)
                }
            }
            let chip = ChipCommunities.Chip(
                x: centre.x, y: centre.y, size: side, community: id, defects: found == nil ? nil : perChip[index],
                channels: channels)
            chips.append(chip)
            byCommunity[id, default: []].append(chip)
        }
        let parts = entry.session.communityParts()
        let summaries = byCommunity.keys.sorted().map { id in
            let members = byCommunity[id] ?? []
            let count = Double(max(1, members.count))
            return ChipCommunities.Summary(
                id: id, chips: members.count, area: Double(members.count) * side * side,
                defects: members.reduce(0) { $0 + ($1.defects ?? 0) }, x: members.reduce(0) { $0 + $1.x } / count,
                y: members.reduce(0) { $0 + $1.y } / count, channels: Self.pooled(members.map(\.channels)),
                part: parts[id - entry.idBase]?.rawValue)
        }
        result.chips = ChipCommunities(
            chips: chips, summaries: summaries, grid: ChipCommunities.Grid(grid))
    }
}

extension AnalysisStage {
    /// Channel statistics over equal-sized chips pooled: the mean of their means, and the standard
    /// deviation of all their pixels together.
    static func pooled(_ chips: [[ChannelStatistics]]) -> [ChannelStatistics] {
        guard let first = chips.first else { return [] }
        return first.indices.compactMap { index in
            let values = chips.compactMap { $0.indices.contains(index) ? $0[index] : nil }
            guard !values.isEmpty else { return nil }
            let count = Double(values.count)
            let mean = values.reduce(0) { $0 + $1.mean } / count
            let squares = values.reduce(0) { $0 + $1.std * $1.std + $1.mean * $1.mean } / count
            return ChannelStatistics(
                name: first[index].name, mean: mean, std: max(0, squares - mean * mean).squareRoot())
        }
    }
}

/// A frame that could not be analysed, and why.
public struct FrameAnalysisFailure: Error, Sendable {
    /// The frame.
    public let frame: ReceivedFrame
    /// Why.
    public let error: AnalysisError
}

extension Duration {
    /// The duration in milliseconds.
    package var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
