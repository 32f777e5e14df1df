import Foundation

/// Whether one measured value of a set of chips (their signal, say, or a ratio of two channels)
/// shows two kinds of area, and where the line between them lies.
///
/// A mixture of two normal distributions is fitted to the values (expectation maximisation) and
/// the split is made only when the mixture explains them clearly better than one normal
/// distribution (BIC), when the two kinds are well apart (Ashman's D at least ``minimumSeparation``:
/// their means differ by more than twice their typical spread, which one skewed population does
/// not give), when their means differ by at least the `minimumDifference` the caller knows to
/// matter, and when each kind holds at least ``minimumShare`` of the chips. A value is in the
/// upper kind when that kind is the more probable one for it.
public struct TwoKindSplit: Sendable, Hashable {
    /// Mean of the lower kind.
    public let lowerMean: Double
    /// Mean of the upper kind.
    public let upperMean: Double
    /// Share of the values in the upper kind.
    public let upperShare: Double
    /// Values at or above it are in the upper kind.
    public let threshold: Double

    /// The least Ashman's D, |μ₁ − μ₂| √2 / √(σ₁² + σ₂²), of two kinds.
    public static let minimumSeparation = 2.0
    /// The least share of the values in each kind.
    public static let minimumShare = 0.08
    /// The fewest values a split is looked for in.
    public static let minimumCount = 12

    /// The split of `values`, or nil when they are one kind (or too few, or not finite).
    public init?(values: [Double], minimumDifference: Double, minimumSeparation: Double = Self.minimumSeparation) {
        let n = values.count
        guard n >= Self.minimumCount, values.allSatisfy(\.isFinite) else { return nil }
        let mean = values.reduce(0, +) / Double(n)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        guard variance > 0 else { return nil }
        // No value may make a kind of its own with no spread: a floor on each variance.
        let floor = variance * 1e-4
        func logNormal(_ x: Double, _ m: Double, _ v: Double) -> Double {
            -0.5 * (log(2 * .pi * v) + (x - m) * (x - m) / v)
        }
        let single = values.reduce(0) { $0 + logNormal($1, mean, variance) }
        // Start from the lower and upper thirds.
        let sorted = values.sorted()
        var low = sorted[..<(n / 3)].reduce(0, +) / Double(n / 3)
        var high = sorted[(2 * n / 3)...].reduce(0, +) / Double(n - 2 * n / 3)
        var lowVariance = variance / 4
        var highVariance = variance / 4
        var share = 0.5
        var likelihood = -Double.infinity
        for _ in 0..<500 {
            var responsibility = 0.0
            var highSum = 0.0
            var lowSum = 0.0
            var responsibilities: [Double] = []
            responsibilities.reserveCapacity(n)
            likelihood = 0
            for x in values {
                let a = log(1 - share) + logNormal(x, low, lowVariance)
                let b = log(share) + logNormal(x, high, highVariance)
                let top = max(a, b)
                let norm = top + log(exp(a - top) + exp(b - top))
                let r = exp(b - norm)
                likelihood += norm
                responsibilities.append(r)
                responsibility += r
                highSum += r * x
                lowSum += (1 - r) * x
            }
            let lowWeight = max(Double(n) - responsibility, 1e-9)
            let newShare = min(max(responsibility / Double(n), 1e-6), 1 - 1e-6)
            let newHigh = highSum / max(responsibility, 1e-9)
            let newLow = lowSum / lowWeight
            var highSquares = 0.0
            var lowSquares = 0.0
            for (x, r) in zip(values, responsibilities) {
                highSquares += r * (x - newHigh) * (x - newHigh)
                lowSquares += (1 - r) * (x - newLow) * (x - newLow)
            }
            let newHighVariance = max(highSquares / max(responsibility, 1e-9), floor)
            let newLowVariance = max(lowSquares / lowWeight, floor)
            let settled =
                abs(newShare - share) < 1e-10 && abs(newHigh - high) < 1e-10 * (1 + abs(high))
                && abs(newLow - low) < 1e-10 * (1 + abs(low))
            (share, high, low, highVariance, lowVariance) = (newShare, newHigh, newLow, newHighVariance, newLowVariance)
            if settled { break }
        }
        if low > high {
            (low, high, lowVariance, highVariance, share) = (high, low, highVariance, lowVariance, 1 - share)
        }
        let separation = (high - low) * 2.0.squareRoot() / (lowVariance + highVariance).squareRoot()
        // Three more parameters than one normal distribution.
        guard 2 * (likelihood - single) > 3 * log(Double(n)), separation >= minimumSeparation,
            high - low >= minimumDifference, share >= Self.minimumShare, share <= 1 - Self.minimumShare
        else { return nil }
        // Where the upper kind becomes the more probable, searched between the two means.
        var below = low
        var above = high
        for _ in 0..<60 {
            let middle = (below + above) / 2
            if log(share) + logNormal(middle, high, highVariance) >= log(1 - share)
                + logNormal(middle, low, lowVariance)
            {
                above = middle
            } else {
                below = middle
            }
        }
        lowerMean = low
        upperMean = high
        upperShare = share
        threshold = above
    }
}
