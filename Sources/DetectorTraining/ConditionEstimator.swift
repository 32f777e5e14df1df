public import DefectDetection
import Foundation
public import ImageNumerics

/// Why the realism step could not estimate the conditions.
public struct RealismError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case noFrames = "no_frames", tooSmall = "too_small", invalid }
        private let kind: Kind

        /// No frame to estimate from.
        public static let noFrames = Code(kind: .noFrames)
        /// A frame smaller than 128 pixels a side.
        public static let tooSmall = Code(kind: .tooSmall)
        /// A pixel size, dwell or pixels that are not usable numbers.
        public static let invalid = Code(kind: .invalid)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// What is wrong with the frames.
    public let description: String
}

/// The realism step's fitted physical condition model: estimates the microscope's conditions
/// (dose, read noise, defocus, astigmatism, coma, contrast exponent, line jitter, drift, slow
/// background) from unlabelled frames by simulation.
///
/// Approximate Bayesian computation with regression adjustment (Beaumont, Zhang and Balding
/// 2002), in two rounds: simulate tiles with conditions drawn from a wide prior and compute their
/// ``FrameStatistics``; take the simulations nearest the frames' statistics (each statistic scaled
/// by its spread), weight them by closeness, and fit each condition as a linear function of the
/// statistics there; move every kept simulation's conditions along that fit to the frames'
/// statistics. The adjusted values' weighted mean is the estimate and their spread its
/// uncertainty. The second round simulates within two standard deviations of the first estimate.
/// Defocus enters as its magnitude: the probe blurs alike either side of focus.
public enum ConditionEstimator {
    /// Side of the crops compared, pixels.
    public static let side = 256

    /// Estimates the conditions of `frames` taken at `pixelSize` Å. Give `dwell` (µs) when known:
    /// the dose then pins the current. Frames must be at least 128 pixels on a side, of finite
    /// pixels; a positive, finite pixel size.
    public static func estimate(
        frames: [Image], pixelSize: Double, dwell: Double? = nil, prior: ConditionRanges = .wide,
        simulationsPerRound: Int = 96, keep: Int = 40, seed: UInt64 = 1
    ) throws(RealismError) -> ConditionEstimate {
        guard let smallest = frames.map({ min($0.width, $0.height) }).min(), let narrowest = frames.map(\.width).min()
        else { throw RealismError(code: .noFrames, description: "the realism step needs at least one frame") }
        guard smallest >= 128 else {
            throw RealismError(
                code: .tooSmall, description: "a frame of \(smallest) px a side: the realism step needs at least 128")
        }
        guard pixelSize > 0, pixelSize.isFinite, dwell.map({ $0 > 0 && $0.isFinite }) ?? true else {
            throw RealismError(
                code: .invalid, description: "pixel size \(pixelSize) Å or dwell \(dwell ?? 0) µs is not positive")
        }
        let side = min(Self.side, smallest)
        guard
            let target = FrameStatistics.mean(
                frames.flatMap { crops(of: $0, side: side, rows: 2, pixelSize: pixelSize) })
        else {
            throw RealismError(code: .invalid, description: "the frames' statistics are not finite (NaN pixels?)")
        }
        // Simulations as wide as the frames (so each line takes as long, and drift, line jitter and
        // mains wobble distort them alike) and one crop high, cropped the same way.
        let lineLength = min(narrowest, 2 * side)
        var prior = prior
        prior.pixelSize = pixelSize...pixelSize
        if let dwell { prior.dwell = dwell...dwell }
        var ranges = prior

        var pool: [(conditions: TileConditions, statistics: [Double])] = []
        var fit = Fit(mean: [], deviation: [], distance: 0)
        for round in 0..<2 {
            let simulations = TrainingTiles.images(
                count: simulationsPerRound, width: lineLength, height: side, ranges: ranges,
                seed: seed &+ UInt64(round) &* 104_729)
            for simulation in simulations {
                guard
                    let statistics = FrameStatistics.mean(
                        crops(of: simulation.image, side: side, rows: 1, pixelSize: pixelSize))
                else { continue }
                pool.append((simulation.conditions, statistics.vector))
            }
            fit = adjust(pool, to: target.vector, keep: min(keep, pool.count))
            ranges = Parameters.ranges(mean: fit.mean, deviation: fit.deviation, within: prior)
        }
        var estimate = Parameters.conditions(Parameters.clamp(fit.mean, to: prior), pixelSize: pixelSize)
        if let dwell { estimate.dwell = dwell }
        return ConditionEstimate(
            conditions: estimate, ranges: ranges, statistics: target, distance: fit.distance, simulations: pool.count)
    }

    /// The statistics of up to `rows` x 2 non-overlapping `side`-pixel crops of `image`, from its
    /// top left.
    static func crops(of image: Image, side: Int, rows: Int, pixelSize: Double) -> [FrameStatistics] {
        var result: [FrameStatistics] = []
        for cy in 0..<min(rows, image.height / side) {
            for cx in 0..<min(2, image.width / side) {
                var crop = Image(width: side, height: side)
                for y in 0..<side { for x in 0..<side { crop[x, y] = image[cx * side + x, cy * side + y] } }
                result.append(FrameStatistics(crop, pixelSize: pixelSize, side: side))
            }
        }
        return result
    }

    /// The conditions as the vector the regression works on.
    enum Parameters {
        static func vector(_ c: TileConditions) -> [Double] {
            [
                c.dwell, c.current, abs(c.defocus), c.astigmatism, c.coma, c.exponent, c.readNoise, c.lineJitter,
                c.drift, c.background,
            ]
        }

        static func conditions(_ v: [Double], pixelSize: Double) -> TileConditions {
            TileConditions(
                pixelSize: pixelSize, dwell: v[0], current: v[1], defocus: v[2], astigmatism: v[3], coma: v[4],
                exponent: v[5], readNoise: v[6], lineJitter: v[7], drift: v[8], background: v[9])
        }

        static var keys: [WritableKeyPath<ConditionRanges, ClosedRange<Double>>] {
            [
                \.dwell, \.current, \.defocus, \.astigmatism, \.coma, \.exponent, \.readNoise, \.lineJitter, \.drift,
                \.background,
            ]
        }

        /// Each value moved into its prior range (defocus as a magnitude).
        static func clamp(_ v: [Double], to prior: ConditionRanges) -> [Double] {
            keys.enumerated().map { i, key in
                let bounds = prior[keyPath: key]
                let low = key == \ConditionRanges.defocus ? 0 : bounds.lowerBound
                guard v[i].isFinite else { return (low + bounds.upperBound) / 2 }
                return min(max(v[i], low), bounds.upperBound)
            }
        }

        /// Two standard deviations around `mean`, within `prior`; defocus both sides of focus.
        static func ranges(mean: [Double], deviation: [Double], within prior: ConditionRanges) -> ConditionRanges {
            var r = prior
            for (i, key) in keys.enumerated() where mean[i].isFinite && deviation[i].isFinite {
                let bounds = prior[keyPath: key]
                // At least a tenth of the prior's width each way, so that a tight but wrong fit
                // (statistics can trade current against blur) still leaves the truth some room.
                let half = max(2 * deviation[i], 0.1 * (bounds.upperBound - bounds.lowerBound))
                if key == \ConditionRanges.defocus {
                    let reach = max(0, min(max(abs(bounds.lowerBound), abs(bounds.upperBound)), abs(mean[i]) + half))
                    r.defocus = max(bounds.lowerBound, -reach)...min(bounds.upperBound, reach)
                } else {
                    let low = min(max(bounds.lowerBound, mean[i] - half), bounds.upperBound)
                    let high = max(min(bounds.upperBound, mean[i] + half), low)
                    r[keyPath: key] = low...high
                }
            }
            return r
        }
    }

    struct Fit {
        var mean: [Double]
        var deviation: [Double]
        var distance: Double
    }

    /// Regression-adjusted estimate from the `keep` simulations nearest `target`.
    static func adjust(
        _ pool: [(conditions: TileConditions, statistics: [Double])], to target: [Double], keep: Int
    )
        -> Fit
    {
        let dimensions = target.count
        var spread = [Double](repeating: 1, count: dimensions)
        for d in 0..<dimensions {
            let values = pool.map { $0.statistics[d] }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            spread[d] = max(variance.squareRoot(), 1e-9)
        }
        let scored = pool.map { candidate -> (conditions: TileConditions, z: [Double], distance: Double) in
            let z = (0..<dimensions).map { (candidate.statistics[$0] - target[$0]) / spread[$0] }
            return (candidate.conditions, z, z.reduce(0) { $0 + $1 * $1 }.squareRoot())
        }
        .sorted { $0.distance < $1.distance }
        let kept = Array(scored.prefix(keep))
        let reach = max(kept.last?.distance ?? 0, 1e-9) * 1.0001
        let weights = kept.map { 1 - ($0.distance / reach) * ($0.distance / reach) }  // Epanechnikov
        let totalWeight = weights.reduce(0, +)
        let parameters = kept.map { Parameters.vector($0.conditions) }
        let count = parameters[0].count
        // Weighted least squares of each parameter on [1, z]; the intercept is the adjusted mean.
        let columns = dimensions + 1
        var normal = [Double](repeating: 0, count: columns * columns)
        var rightHandSides = [[Double]](repeating: [Double](repeating: 0, count: columns), count: count)
        for (i, candidate) in kept.enumerated() {
            let x = [1] + candidate.z
            for a in 0..<columns {
                for b in 0..<columns { normal[a * columns + b] += weights[i] * x[a] * x[b] }
                for p in 0..<count { rightHandSides[p][a] += weights[i] * x[a] * parameters[i][p] }
            }
        }
        // A little ridge on the slopes keeps the system solvable when statistics are collinear.
        for a in 1..<columns { normal[a * columns + a] += 1e-3 * totalWeight }
        var mean = [Double](repeating: 0, count: count)
        var deviation = [Double](repeating: 0, count: count)
        for p in 0..<count {
            let beta = solve(normal, rightHandSides[p], size: columns)
            var adjusted: [Double] = []
            for (i, candidate) in kept.enumerated() {
                var value = parameters[i][p]
                for d in 0..<dimensions { value -= beta[d + 1] * candidate.z[d] }
                adjusted.append(value)
            }
            let m = zip(adjusted, weights).reduce(0) { $0 + $1.0 * $1.1 } / totalWeight
            let v = zip(adjusted, weights).reduce(0) { $0 + $1.1 * ($1.0 - m) * ($1.0 - m) } / totalWeight
            mean[p] = m
            deviation[p] = v.squareRoot()
        }
        return Fit(
            mean: mean, deviation: deviation,
            distance: zip(kept, weights).reduce(0) { $0 + $1.0.distance * $1.1 } / totalWeight)
    }

    /// Solves the symmetric system `matrix · x = rhs` by Gaussian elimination with partial pivoting.
    static func solve(_ matrix: [Double], _ rhs: [Double], size n: Int) -> [Double] {
        var a = matrix
        var b = rhs
        for column in 0..<n {
            var pivot = column
            for row in (column + 1)..<n where abs(a[row * n + column]) > abs(a[pivot * n + column]) { pivot = row }
            if pivot != column {
                for k in 0..<n { a.swapAt(column * n + k, pivot * n + k) }
                b.swapAt(column, pivot)
            }
            let diagonal = a[column * n + column]
            guard abs(diagonal) > 1e-12 else { continue }
            for row in (column + 1)..<n {
                let factor = a[row * n + column] / diagonal
                guard factor != 0 else { continue }
                for k in column..<n { a[row * n + k] -= factor * a[column * n + k] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in (0..<n).reversed() {
            var sum = b[row]
            for k in (row + 1)..<n { sum -= a[row * n + k] * x[k] }
            let diagonal = a[row * n + row]
            x[row] = abs(diagonal) > 1e-12 ? sum / diagonal : 0
        }
        return x
    }
}
