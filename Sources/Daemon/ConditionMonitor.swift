public import DefectDetection
public import Numerics

/// Compares the frames' statistics with those of the simulations the detector was trained on.
///
/// The baseline is a set of training tiles drawn from the model's condition ranges at the frames'
/// pixel size; the score is the mean over the seven ``FrameStatistics`` of |z|, the distance of
/// the recent frames' mean statistic from the baseline's mean in baseline standard deviations.
/// Frames like the training data score about 1; a microscope that has drifted away from them
/// scores well above 2.
public struct ConditionMonitor {
    /// What the monitor reports for a frame.
    public struct Reading: Sendable, Hashable {
        /// The score (mean |z| over the statistics of the recent frames).
        public var score: Double
        /// This frame's statistics.
        public var statistics: FrameStatistics
        /// Per-statistic z of the recent frames' mean.
        public var z: [Double]
    }

    private let ranges: ConditionRanges
    private var baseline: (pixelSize: Double, mean: [Double], deviation: [Double])?
    private var recent: [FrameStatistics] = []
    /// Frames averaged.
    public let window: Int
    /// Training tiles in the baseline.
    public let baselineTiles: Int

    /// A monitor for a detector trained within `ranges`.
    public init(ranges: ConditionRanges, window: Int = 3, baselineTiles: Int = 12) {
        self.ranges = ranges
        self.window = window
        self.baselineTiles = baselineTiles
    }

    /// Reads an atomic-resolution frame of `pixelSize` Å (at least 128 px a side).
    public mutating func read(_ image: Image, pixelSize: Double) -> Reading? {
        guard min(image.width, image.height) >= 128 else { return nil }
        let statistics = FrameStatistics(image, pixelSize: pixelSize)
        guard statistics.vector.allSatisfy(\.isFinite) else { return nil }
        if baseline == nil || abs(baseline!.pixelSize - pixelSize) > 0.02 * pixelSize {
            baseline = Self.baseline(ranges: ranges, pixelSize: pixelSize, tiles: baselineTiles)
            recent.removeAll()
        }
        recent.append(statistics)
        if recent.count > window { recent.removeFirst() }
        guard let baseline, let mean = FrameStatistics.mean(recent) else { return nil }
        let z = zip(mean.vector, zip(baseline.mean, baseline.deviation)).map { ($0 - $1.0) / $1.1 }
        return Reading(score: z.reduce(0) { $0 + abs($1) } / Double(z.count), statistics: statistics, z: z)
    }

    private static func baseline(
        ranges: ConditionRanges, pixelSize: Double, tiles count: Int
    ) -> (
        pixelSize: Double, mean: [Double], deviation: [Double]
    ) {
        var fixed = ranges
        fixed.pixelSize = pixelSize...pixelSize
        let tiles = TrainingTiles.generate(count: count, size: 256, ranges: fixed, seed: 0xC0FFEE)
        let vectors = tiles.map {
            FrameStatistics(Image(width: $0.size, height: $0.size, pixels: $0.image), pixelSize: pixelSize).vector
        }
        let n = Double(vectors.count)
        let mean = (0..<7).map { i in vectors.reduce(0) { $0 + $1[i] } / n }
        let deviation = (0..<7).map { i in
            // A floor keeps a statistic the tiles barely vary from dominating the score.
            max((vectors.reduce(0) { $0 + ($1[i] - mean[i]) * ($1[i] - mean[i]) } / n).squareRoot(), 0.05)
        }
        return (pixelSize, mean, deviation)
    }
}
