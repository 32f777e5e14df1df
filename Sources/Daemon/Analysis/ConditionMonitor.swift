public import DefectDetection
public import ImageNumerics

/// Compares the frames with the simulations the detector was trained on: their statistics, and
/// how sure the detector is of what it finds in them.
///
/// The baseline is a set of training tiles drawn from the model's condition ranges at the frames'
/// pixel size. The score is the mean over eight figures of |z|, the distance of the recent frames'
/// mean from the baseline's mean in baseline standard deviations: the seven ``FrameStatistics``
/// and the detector's mean peak confidence (a detector out of its depth finds fainter peaks).
/// Frames like the training data score about 1; a microscope that has drifted away from them
/// scores well above 2. Frames that show little lattice (holes in the film) are not read. After a
/// retraining the baseline is centred on the frames the new detector was retrained for
/// (``rebaseline(on:pixelSize:detector:)``).
public struct ConditionMonitor {
    /// What the monitor reports for a frame.
    public struct Reading: Sendable, Hashable {
        /// The score (mean |z| over the figures of the recent frames).
        public var score: Double
        /// This frame's statistics.
        public var statistics: FrameStatistics
        /// The detector's mean peak confidence on this frame (nil: it found nothing).
        public var confidence: Double?
        /// Per-figure z of the recent frames' mean: the seven statistics, then the confidence.
        public var z: [Double]
    }

    private let ranges: ConditionRanges
    private let source: any ConditionBaselineSource
    private var baseline: (pixelSize: Double, mean: [Double], deviation: [Double])?
    private var recent: [[Double]] = []
    /// Frames averaged.
    public let window: Int
    /// Training tiles in the baseline.
    public let baselineTiles: Int

    /// The least fraction of a frame that must be lattice for it to be read.
    static let leastLattice = 0.5
    /// The least lattice signal (``FrameStatistics/signalToNoise``) of a frame that is read: vacuum,
    /// which the lattice mask cannot tell from anything when it fills the frame, gives about 1.7,
    /// atomic-resolution frames of WSe2 4 to 5.
    static let leastLatticeSignal = 2.5

    /// A monitor for a detector trained within `ranges`, comparing with images from `source`.
    public init(
        ranges: ConditionRanges, baseline source: any ConditionBaselineSource, window: Int = 3, baselineTiles: Int = 12
    ) {
        self.ranges = ranges
        self.source = source
        self.window = window
        self.baselineTiles = baselineTiles
    }

    /// Reads an atomic-resolution frame of `pixelSize` Å (at least 128 px a side) in which
    /// `detector` found peaks with `confidences`; nil when the frame is too small or shows too
    /// little lattice to judge the microscope by. `lattice` is the frame's ``LatticeMask`` when
    /// already computed.
    public mutating func read(
        _ image: Image, pixelSize: Double, confidences: [Float], detector: DefectDetector,
        lattice: LatticeMask? = nil
    )
        -> Reading?
    {
        guard min(image.width, image.height) >= 128 else { return nil }
        // A frame of little lattice (a hole in the film) tells of the sample, not the microscope.
        let lattice = lattice ?? LatticeMask(image, pixelSize: pixelSize)
        guard lattice.latticeFraction >= Self.leastLattice else { return nil }
        let statistics = FrameStatistics(image, pixelSize: pixelSize)
        guard statistics.vector.allSatisfy(\.isFinite), statistics.signalToNoise >= Self.leastLatticeSignal else {
            return nil
        }
        let baseline: (pixelSize: Double, mean: [Double], deviation: [Double])
        if let fitting = fittingBaseline(pixelSize) {
            baseline = fitting
        } else {
            baseline = simulatedBaseline(pixelSize: pixelSize, detector: detector)
            self.baseline = baseline
            recent.removeAll()
        }
        let confidence = Self.meanConfidence(confidences)
        // A frame without peaks says nothing about confidence: it counts as the baseline's mean.
        recent.append(statistics.vector + [confidence ?? baseline.mean[7]])
        if recent.count > window { recent.removeFirst() }
        let mean = (0..<8).map { i in recent.reduce(0) { $0 + $1[i] } / Double(recent.count) }
        let z = zip(mean, zip(baseline.mean, baseline.deviation)).map { ($0 - $1.0) / $1.1 }
        return Reading(
            score: z.reduce(0) { $0 + abs($1) } / Double(z.count), statistics: statistics, confidence: confidence, z: z)
    }

    /// Centres the baseline on `frames` (atomic resolution, `pixelSize` Å): the frames a detector
    /// was retrained for describe the conditions it fits better than simulations at the realism
    /// step's estimate of them, which is biased. The spread stays the simulations'. The score then
    /// measures the drift since those frames.
    public mutating func rebaseline(on frames: [Image], pixelSize: Double, detector: DefectDetector) {
        let vectors = frames.filter { min($0.width, $0.height) >= 128 }.map {
            Self.figures(of: $0, pixelSize: pixelSize, detector: detector)
        }
        guard !vectors.isEmpty else { return }
        var simulated =
            fittingBaseline(pixelSize)
            ?? simulatedBaseline(pixelSize: pixelSize, detector: detector)
        for i in 0..<8 {
            let values = vectors.map { $0[i] }.filter(\.isFinite)
            if !values.isEmpty { simulated.mean[i] = values.reduce(0, +) / Double(values.count) }
        }
        baseline = simulated
        recent.removeAll()
    }

    /// The baseline, if it was made for frames of `pixelSize` (within 2 %).
    private func fittingBaseline(_ pixelSize: Double) -> (pixelSize: Double, mean: [Double], deviation: [Double])? {
        guard let baseline, abs(baseline.pixelSize - pixelSize) <= 0.02 * pixelSize else { return nil }
        return baseline
    }

    /// The eight figures of an image without the detector's peaks at hand: its statistics and the
    /// detector's mean peak confidence on it (NaN when it finds nothing).
    private static func figures(of image: Image, pixelSize: Double, detector: DefectDetector) -> [Double] {
        let confidence = meanConfidence(detector.detect(image, pixelSize: pixelSize).map(\.confidence))
        return FrameStatistics(image, pixelSize: pixelSize).vector + [confidence ?? .nan]
    }

    private static func meanConfidence(_ confidences: [Float]) -> Double? {
        confidences.isEmpty ? nil : confidences.reduce(0) { $0 + Double($1) } / Double(confidences.count)
    }

    private func simulatedBaseline(
        pixelSize: Double, detector: DefectDetector
    ) -> (
        pixelSize: Double, mean: [Double], deviation: [Double]
    ) {
        let images = source.images(count: baselineTiles, side: 256, ranges: ranges, pixelSize: pixelSize)
        let vectors = images.map { Self.figures(of: $0, pixelSize: pixelSize, detector: detector) }
        let n = Double(vectors.count)
        var mean = (0..<8).map { i in vectors.reduce(0) { $0 + $1[i] } / n }
        var deviation = (0..<8).map { i in
            // A floor keeps a figure the tiles barely vary from dominating the score.
            max((vectors.reduce(0) { $0 + ($1[i] - mean[i]) * ($1[i] - mean[i]) } / n).squareRoot(), 0.05)
        }
        // Tiles without peaks: the confidence comes from those with.
        let confident = vectors.map { $0[7] }.filter(\.isFinite)
        if confident.isEmpty {
            (mean[7], deviation[7]) = (0.8, 0.1)
        } else {
            mean[7] = confident.reduce(0, +) / Double(confident.count)
            deviation[7] = max(
                (confident.reduce(0) { $0 + ($1 - mean[7]) * ($1 - mean[7]) } / Double(confident.count)).squareRoot(),
                0.02)
        }
        return (pixelSize, mean, deviation)
    }
}
