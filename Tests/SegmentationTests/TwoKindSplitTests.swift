import Foundation
import ImageNumerics
import Testing

@testable import Segmentation

/// `count` normal values of mean `mean` and spread `deviation` (Box–Muller), from a seeded
/// generator.
func normalValues(_ count: Int, mean: Double, deviation: Double, seed: UInt64) -> [Double] {
    var random = SplitMix64(seed: seed)
    func uniform() -> Double { (Double(random.next() >> 11) + 0.5) / Double(1 << 53) }
    return (0..<count).map { _ in mean + deviation * (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
}

@Suite("One measurement split into two kinds of area")
struct TwoKindSplitTests {
    @Test("two kinds well apart: their means and shares are found and the line falls between them")
    func twoKinds() throws {
        let values =
            normalValues(70, mean: 0, deviation: 0.1, seed: 1) + normalValues(30, mean: 1, deviation: 0.15, seed: 2)
        let split = try #require(TwoKindSplit(values: values, minimumDifference: 0.2))
        #expect(abs(split.lowerMean) < 0.05, "\(split)")
        #expect(abs(split.upperMean - 1) < 0.08, "\(split)")
        #expect(abs(split.upperShare - 0.3) < 0.05, "\(split)")
        #expect((0.3...0.7).contains(split.threshold), "\(split)")
        // Every value on its own kind's side.
        #expect(values.prefix(70).allSatisfy { $0 < split.threshold })
        #expect(values.suffix(30).allSatisfy { $0 >= split.threshold })
    }

    @Test("one kind, or one skewed kind: no split")
    func oneKind() {
        #expect(TwoKindSplit(values: normalValues(200, mean: 3, deviation: 0.5, seed: 3), minimumDifference: 0) == nil)
        // A log-normal population has a long tail, not a second kind.
        let skewed = normalValues(200, mean: 0, deviation: 0.6, seed: 4).map(exp)
        #expect(TwoKindSplit(values: skewed, minimumDifference: 0) == nil)
    }

    @Test("kinds that overlap, differ by less than what matters or hold too few values: no split")
    func notApart() {
        // Means 1.5 spreads apart: two humps that overlap, Ashman's D about 1.5.
        let overlapping =
            normalValues(100, mean: 0, deviation: 1, seed: 5) + normalValues(100, mean: 1.5, deviation: 1, seed: 6)
        #expect(TwoKindSplit(values: overlapping, minimumDifference: 0) == nil)
        // Clearly two kinds, 1 % apart, where 2 % is the least that means anything.
        let close =
            normalValues(60, mean: 0, deviation: 0.001, seed: 7)
            + normalValues(40, mean: 0.01, deviation: 0.001, seed: 8)
        #expect(TwoKindSplit(values: close, minimumDifference: 0.02) == nil)
        #expect(TwoKindSplit(values: close, minimumDifference: 0.005) != nil)
        // 3 % of the values: an outlier or two, not a kind.
        let few = normalValues(97, mean: 0, deviation: 0.1, seed: 9) + [5, 5.1, 4.9]
        #expect(TwoKindSplit(values: few, minimumDifference: 0) == nil)
        #expect(TwoKindSplit(values: [0, 0, 0, 1, 1, 1], minimumDifference: 0) == nil)
        #expect(
            TwoKindSplit(values: normalValues(40, mean: 0, deviation: 1, seed: 10) + [.nan], minimumDifference: 0)
                == nil)
        #expect(TwoKindSplit(values: Array(repeating: 2, count: 50), minimumDifference: 0) == nil)
    }

    @Test("a stricter separation refuses kinds that a looser one accepts")
    func separation() {
        // Ashman's D about 2.5.
        let values =
            normalValues(100, mean: 0, deviation: 0.1, seed: 11)
            + normalValues(50, mean: 0.25, deviation: 0.1, seed: 12)
        #expect(TwoKindSplit(values: values, minimumDifference: 0, minimumSeparation: 2) != nil)
        #expect(TwoKindSplit(values: values, minimumDifference: 0, minimumSeparation: 3.5) == nil)
    }
}
