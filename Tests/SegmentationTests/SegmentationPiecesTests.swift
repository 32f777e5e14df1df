import Foundation
import ImageNumerics
import Segmentation
import Testing

@Suite("Chips, descriptors, similarity graph, agreement scores")
struct SegmentationPiecesTests {
    @Test("a chip grid is centred, and every pixel of a tiling finds its chip")
    func grid() {
        let grid = ChipGrid(width: 100, height: 70, chipSize: 32, stride: 32)
        #expect(grid.columns == 3 && grid.rows == 2 && grid.count == 6)
        #expect(grid.originX == 2 && grid.originY == 3)
        #expect(grid.origin(of: 4) == (34, 35))
        #expect(grid.chip(containingX: 34, y: 35) == 4 && grid.chip(containingX: 65, y: 66) == 4)
        #expect(grid.chip(containingX: 0, y: 0) == nil && grid.chip(containingX: 98, y: 10) == nil)
        #expect(ChipGrid(width: 20, height: 20, chipSize: 32, stride: 32).count == 0)
        let overlapping = ChipGrid(width: 64, height: 64, chipSize: 32, stride: 16)
        #expect(overlapping.columns == 3 && overlapping.count == 9)
    }

    @Test("adjusted Rand index and NMI: 1 for the same partition under other names, known values otherwise")
    func agreement() {
        #expect(ClusteringAgreement.adjustedRandIndex([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 9, 9]) == 1)
        #expect(abs(ClusteringAgreement.normalisedMutualInformation([0, 0, 1, 1], [1, 1, 0, 0]) - 1) < 1e-12)
        // scikit-learn's documented example: adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]) = 0.5714...
        #expect(abs(ClusteringAgreement.adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]) - 4.0 / 7) < 1e-12)
        // Independent labellings: NMI 0.
        #expect(abs(ClusteringAgreement.normalisedMutualInformation([0, 0, 1, 1], [0, 1, 0, 1])) < 1e-12)
        #expect(ClusteringAgreement.adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]) < 0)
    }

    @Test("normalised rows have unit length; a constant feature gets no weight")
    func featureMatrix() {
        let layout = FeatureLayout(blocks: [
            .init(channel: "HAADF", name: "a", width: 2), .init(channel: "MAADF", name: "b", width: 1),
        ])
        let raw: [Float] = [1, 7, 3, 2, 7, 5, 3, 7, 4, 4, 7, 9]
        let normalisation = FeatureMatrix.Normalisation(fitting: raw, layout: layout, perChannel: false)
        #expect(normalisation.scale[1] == 0)
        let matrix = FeatureMatrix(raw: raw, normalisation: normalisation)
        #expect(matrix.rows == 4 && matrix.columns == 3)
        for r in 0..<4 {
            let norm = matrix.row(r).reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-5)
            #expect(matrix.row(r)[r * 3 + 1] == 0)
        }
        // Averaged channel similarities: each channel's part has length 1/√2.
        let perChannel = FeatureMatrix(
            raw: raw, normalisation: .init(fitting: raw, layout: layout, perChannel: true))
        let first = perChannel.row(0)
        #expect(abs(first[0] * first[0] + first[1] * first[1] - 0.5) < 1e-5)
    }

    @Test("the k-nearest-neighbour graph links each chip to its most similar ones, both ways, never itself")
    func nearestNeighbours() {
        // Two tight groups of directions.
        var raw: [Float] = []
        for i in 0..<20 {
            let angle = (i < 10 ? 0.1 : 1.5) + Float(i % 10) * 0.01
            raw += [cos(angle), sin(angle), Float(i % 3) * 0.001]
        }
        let layout = FeatureLayout(blocks: [.init(channel: "c", name: "a", width: 3)])
        let matrix = FeatureMatrix(raw: raw, normalisation: .init(fitting: raw, layout: layout, perChannel: false))
        let graph = SimilarityGraph.build(matrix, construction: .nearestNeighbours(3))
        #expect(graph.selfLoops.allSatisfy { $0 == 0 })
        for v in 0..<20 {
            let row = graph.offsets[v]..<graph.offsets[v + 1]
            #expect(row.count >= 3)
            for e in row { #expect((Int(graph.neighbours[e]) < 10) == (v < 10), "\(v) linked across groups") }
        }
        let cutoff = SimilarityGraph.build(matrix, construction: .histogramModeCutoff(limit: 50))
        #expect(cutoff.edgeCount > 0)
    }
}
