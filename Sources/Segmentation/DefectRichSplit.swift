import Foundation

/// Whether the lattice chips of a session are two kinds by how many defects the detector finds
/// in them, and where the line between them lies.
///
/// Chip communities alone tell vacancy-rich lattice from pristine badly: a chip's few detections
/// are one descriptor among many, and Poisson noise puts pristine chips with one or two real
/// vacancies beside the vacancy-rich ones. The counts themselves are the evidence: a mixture of
/// two Poisson distributions is fitted to the lattice chips' counts (expectation maximisation),
/// and the split is made only when the mixture explains the counts clearly better than one
/// Poisson distribution (BIC), the richer kind has at least ``minimumRate`` defects per chip and
/// ``minimumRatio`` times the other's rate, and each kind holds at least ``minimumShare`` of
/// the chips. A chip is defect-rich when the richer kind is the more probable one for its count.
public struct DefectRichSplit: Sendable, Hashable {
    /// Mean defects per chip of each kind.
    public let poorRate: Double
    /// Mean defects per chip of the richer kind.
    public let richRate: Double
    /// Share of the chips in the richer kind.
    public let richShare: Double
    /// The least count that makes a chip defect-rich.
    public let threshold: Int

    /// The richer kind's least rate, defects per chip.
    public static let minimumRate = 1.5
    /// The least ratio of the two rates.
    public static let minimumRatio = 4.0
    /// The least share of the chips in each kind.
    public static let minimumShare = 0.1

    /// The split of `counts` (defects per lattice chip), or nil when they are one kind.
    public init?(counts: [Int]) {
        let n = counts.count
        guard n >= 10 else { return nil }
        let values = counts.map(Double.init)
        let mean = values.reduce(0, +) / Double(n)
        guard mean > 0 else { return nil }
        func logPoisson(_ k: Double, _ rate: Double) -> Double { k * log(rate) - rate - lgamma(k + 1) }
        let single = values.reduce(0) { $0 + logPoisson($1, mean) }
        // Start from the lower and upper parts of the counts.
        let sorted = values.sorted()
        var low = max(sorted[..<(n / 2)].reduce(0, +) / Double(max(n / 2, 1)), 0.05)
        var high = max(sorted[(4 * n / 5)...].reduce(0, +) / Double(n - 4 * n / 5), 2 * low)
        var share = 0.2
        var likelihood = -Double.infinity
        for _ in 0..<200 {
            var responsibility = 0.0
            var weighted = 0.0
            var total = 0.0
            var sum = 0.0
            likelihood = 0
            for k in values {
                let a = log(1 - share) + logPoisson(k, low)
                let b = log(share) + logPoisson(k, high)
                let top = max(a, b)
                let norm = top + log(exp(a - top) + exp(b - top))
                let r = exp(b - norm)
                likelihood += norm
                responsibility += r
                weighted += r * k
                total += 1 - r
                sum += (1 - r) * k
            }
            let newShare = min(max(responsibility / Double(n), 1e-6), 1 - 1e-6)
            let newHigh = max(weighted / max(responsibility, 1e-9), 1e-6)
            let newLow = max(sum / max(total, 1e-9), 1e-6)
            let settled = abs(newShare - share) < 1e-9 && abs(newHigh - high) < 1e-9 && abs(newLow - low) < 1e-9
            (share, high, low) = (newShare, newHigh, newLow)
            if settled { break }
        }
        if low > high { (low, high, share) = (high, low, 1 - share) }
        // Two more parameters than one Poisson distribution.
        guard 2 * (likelihood - single) > 2 * log(Double(n)), high >= Self.minimumRate,
            high >= Self.minimumRatio * low, share >= Self.minimumShare, share <= 1 - Self.minimumShare
        else { return nil }
        var threshold = 0
        while threshold < 10_000,
            log(share) + logPoisson(Double(threshold), high) <= log(1 - share) + logPoisson(Double(threshold), low)
        {
            threshold += 1
        }
        poorRate = low
        richRate = high
        richShare = share
        self.threshold = threshold
    }
}
