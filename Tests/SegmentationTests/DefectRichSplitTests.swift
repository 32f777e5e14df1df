import Foundation
import ImageNumerics
import Testing

@testable import Segmentation

/// Poisson counts with mean `rate` (Knuth's method), from a seeded generator.
func poissonCounts(_ count: Int, rate: Double, seed: UInt64) -> [Int] {
    var random = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let limit = exp(-rate)
        var k = 0
        var product = Double(random.next() >> 11) / Double(1 << 53)
        while product > limit {
            k += 1
            product *= Double(random.next() >> 11) / Double(1 << 53)
        }
        return k
    }
}

/// An embedder whose only value per chip is the defect count it is handed, as a density.
final class CountEmbedder: ChipEmbedder {
    var next: [Int] = []
    let embeddingWidth = 1
    var defectDensityColumns: Range<Int>? { 0..<1 }
    func embeddings(of image: Image, pixelSize: Double, grid: ChipGrid) -> [Float] {
        next.map { Float(log1p(Double($0) / 0.1)) }
    }
}

@Suite("Defect-rich lattice told apart by the detector's counts")
struct DefectRichSplitTests {
    @Test("two kinds of lattice: the rates are found and the line falls between them")
    func twoKinds() throws {
        let counts = poissonCounts(80, rate: 0.2, seed: 1) + poissonCounts(30, rate: 4, seed: 2)
        let split = try #require(DefectRichSplit(counts: counts))
        #expect(abs(split.poorRate - 0.2) < 0.15, "\(split)")
        #expect(abs(split.richRate - 4) < 1, "\(split)")
        #expect(abs(split.richShare - 30.0 / 110) < 0.08, "\(split)")
        #expect((1...3).contains(split.threshold), "\(split)")
    }

    @Test("one kind, a thin tail, too few chips or no defects: no split")
    func oneKind() {
        #expect(DefectRichSplit(counts: poissonCounts(200, rate: 1, seed: 3)) == nil)
        #expect(DefectRichSplit(counts: poissonCounts(200, rate: 0.2, seed: 4)) == nil)
        // 5 % of the chips rich: the tail of one kind as often as a kind of its own.
        #expect(
            DefectRichSplit(counts: poissonCounts(190, rate: 0.3, seed: 5) + poissonCounts(10, rate: 4, seed: 6)) == nil
        )
        #expect(DefectRichSplit(counts: [0, 0, 5, 6, 0, 7]) == nil)
        #expect(DefectRichSplit(counts: Array(repeating: 0, count: 50)) == nil)
        // Rich, but barely: 1 defect a chip against 0.5 is not two kinds.
        #expect(
            DefectRichSplit(counts: poissonCounts(100, rate: 0.5, seed: 7) + poissonCounts(100, rate: 1, seed: 8))
                == nil)
    }

    @Test("a session puts defect-rich lattice chips in communities of their own, and new frames follow")
    func sessionSeparates() throws {
        // Every chip the same lattice: only the detector's counts tell the halves apart.
        let frame = hexagonalLattice(size: 512, spacing: 2.842 / 0.25, rotation: 0.2)
        let grid = ChipGrid(width: 512, height: 512, chipSize: 64, stride: 64)
        func counts(seed: UInt64) -> [Int] {
            let poor = poissonCounts(grid.count, rate: 0.2, seed: seed)
            let rich = poissonCounts(grid.count, rate: 5, seed: seed + 1)
            // Left half rich.
            return (0..<grid.count).map { $0 % grid.columns < grid.columns / 2 ? rich[$0] : poor[$0] }
        }
        func session(separating: Bool) throws -> (SegmentationSession, [[Int]]) {
            var options = SegmentationOptions()
            options.features.latticePeriod = 2.842
            options.features.embedding = false
            options.repartitionEvery = 2
            options.separatesDefectRich = separating
            let session = SegmentationSession(options: options)
            let given = (0..<3).map { counts(seed: 10 * UInt64($0) + 1) }
            for frameCounts in given {
                try session.add(channels: [("HAADF", frame)], pixelSize: 0.25, defectsPerChip: frameCounts)
            }
            return (session, given)
        }
        func sharedCommunities(_ session: SegmentationSession, _ given: [[Int]]) -> [Set<Int>] {
            zip(session.frames, given).map { frame, frameCounts in
                let rich = Set(frame.communities.indices.filter { frameCounts[$0] >= 3 }.map { frame.communities[$0] })
                let poor = Set(frame.communities.indices.filter { frameCounts[$0] == 0 }.map { frame.communities[$0] })
                return rich.intersection(poor)
            }
        }
        let (separated, given) = try session(separating: true)
        // The third frame was assigned by vote, after the partition of the first two.
        #expect(sharedCommunities(separated, given).allSatisfy { $0.isEmpty }, "\(separated.frames.map(\.communities))")
        // Without the split the counts are not seen at all: the halves share communities.
        let (together, _) = try session(separating: false)
        #expect(sharedCommunities(together, given).contains { !$0.isEmpty })
    }

    @Test("within a part, a chip's one detection against its neighbours' none does not set it apart")
    func countsSetAsideWithinParts() throws {
        let frame = hexagonalLattice(size: 512, spacing: 2.842 / 0.25, rotation: 0.2)
        let grid = ChipGrid(width: 512, height: 512, chipSize: 64, stride: 64)
        var options = SegmentationOptions()
        options.features.latticePeriod = 2.842
        options.repartitionEvery = 2
        // The densities weigh heavily, as where other descriptors vary little.
        options.features.weights = ["embedding": 5]
        let embedder = CountEmbedder()
        let session = SegmentationSession(options: options, embedder: embedder)
        var given: [[Int]] = []
        for seed in [UInt64(1), 11] {
            let rich = poissonCounts(grid.count, rate: 5, seed: seed + 1)
            // The poor half: one detection in every third chip, none elsewhere.
            let counts = (0..<grid.count).map {
                $0 % grid.columns < grid.columns / 2 ? max(rich[$0], 3) : ($0 % 3 == 0 ? 1 : 0)
            }
            embedder.next = counts
            try session.add(channels: [("HAADF", frame)], pixelSize: 0.25, defectsPerChip: counts)
            given.append(counts)
        }
        var ones = Set<Int>()
        var zeros = Set<Int>()
        var rich = Set<Int>()
        for (frame, counts) in zip(session.frames, given) {
            for (chip, community) in frame.communities.enumerated() {
                switch counts[chip] {
                case 0: zeros.insert(community)
                case 1: ones.insert(community)
                default: rich.insert(community)
                }
            }
        }
        #expect(rich.isDisjoint(with: zeros.union(ones)))
        #expect(ones.isSubset(of: zeros), "chips with one detection: \(ones), with none: \(zeros)")
    }
}
