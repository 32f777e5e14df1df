import COpenBLAS
import Foundation
import NeuralNetwork

/// How chips are linked.
public enum GraphConstruction: Sendable, Hashable, Codable {
    /// Each chip to its `k` most similar chips (the union, so a link goes both ways).
    case nearestNeighbours(Int)
    /// Every pair whose similarity exceeds the mode of the similarity histogram, as the published
    /// method does; each chip keeps at most `limit` of its links (the most similar), so that the
    /// graph stays sparse on large sessions.
    case histogramModeCutoff(limit: Int)
    /// Each chip linked to its K nearest chips by Euclidean distance between standardised
    /// descriptors (not normalised to unit length), weighted exp(−d² / (σᵢ σⱼ)) with σ a chip's
    /// distance to its 7th nearest neighbour (self-tuning, after Zelnik-Manor and Perona). Unlike
    /// cosine similarity it keeps chips close to the session's average together: a chip of the
    /// usual area, described relative to its frame, sits near the origin where angles mean nothing.
    case gaussianNeighbours(Int)

    /// Whether rows are compared by distance (not normalised to unit length).
    public var usesDistance: Bool {
        if case .gaussianNeighbours = self { return true }
        return false
    }
}

/// Builds the chip similarity graph: cosine similarity (rows of a ``FeatureMatrix`` have unit
/// length, so one sgemm gives every dot product), computed a block of rows at a time so that
/// memory stays linear in the number of chips. Edge weights are the similarities; pairs that are
/// not positively similar are never linked.
public enum SimilarityGraph {
    /// Rows of the similarity matrix computed per sgemm.
    static let blockRows = 256

    /// The graph over the rows of `matrix`. `unlinked(i, j)`, when given, marks pairs of chips that
    /// must not be linked: chips whose descriptors share context (neighbours in one frame), so
    /// that links say "alike", not "next to each other", and chips on different sides of the
    /// lattice split.
    public static func build(
        _ matrix: FeatureMatrix, construction: GraphConstruction, unlinked overlapping: ((Int, Int) -> Bool)? = nil
    ) -> WeightedGraph {
        BLASThreads.pinOnce()
        let n = matrix.rows
        guard n > 1 else { return WeightedGraph(nodeCount: n, edges: []) }
        switch construction {
        case .nearestNeighbours(let k):
            var edges: [(Int, Int, Double)] = []
            edges.reserveCapacity(n * k)
            forEachBlock(matrix) { start, count, similarities in
                for r in 0..<count {
                    let i = start + r
                    let best = top(similarities, row: r, width: n, excluding: i, count: k, skip: overlapping)
                    for (j, s) in best where s > 0 { edges.append((i, j, Double(s))) }
                }
            }
            return WeightedGraph(nodeCount: n, edges: symmetricMaximum(edges))
        case .gaussianNeighbours(let k):
            let norms = (0..<n).map { i in matrix.row(i).reduce(Float(0)) { $0 + $1 * $1 } }
            var lists: [[(Int, Float)]] = Array(repeating: [], count: n)
            forEachBlock(matrix) { start, count, products in
                var negatedDistances = [Float](repeating: 0, count: n)
                for r in 0..<count {
                    let i = start + r
                    for j in 0..<n { negatedDistances[j] = 2 * products[r * n + j] - norms[i] - norms[j] }
                    lists[i] = top(negatedDistances, row: 0, width: n, excluding: i, count: k, skip: overlapping)
                        .map { ($0.0, max(-$0.1, 0)) }
                }
            }
            let sigma = lists.map { list -> Float in
                guard !list.isEmpty else { return 1 }
                return max(list[min(6, list.count - 1)].1.squareRoot(), 1e-6)
            }
            var edges: [(Int, Int, Double)] = []
            edges.reserveCapacity(n * k)
            for (i, list) in lists.enumerated() {
                for (j, squared) in list { edges.append((i, j, Double(exp(-squared / (sigma[i] * sigma[j]))))) }
            }
            return WeightedGraph(nodeCount: n, edges: symmetricMaximum(edges))
        case .histogramModeCutoff(let limit):
            // First pass: the histogram of all pairwise similarities, and its mode.
            var histogram = [Int](repeating: 0, count: 200)
            forEachBlock(matrix) { start, count, similarities in
                for r in 0..<count {
                    for j in (start + r + 1)..<n {
                        let s = similarities[r * n + j]
                        histogram[min(199, max(0, Int((s + 1) / 2 * 200)))] += 1
                    }
                }
            }
            let modeBin = histogram.indices.max { histogram[$0] < histogram[$1] } ?? 100
            let cutoff = max(Float(modeBin + 1) / 200 * 2 - 1, 0)
            var edges: [(Int, Int, Double)] = []
            forEachBlock(matrix) { start, count, similarities in
                for r in 0..<count {
                    let i = start + r
                    for (j, s) in top(similarities, row: r, width: n, excluding: i, count: limit, skip: overlapping)
                    where s > cutoff {
                        edges.append((i, j, Double(s)))
                    }
                }
            }
            return WeightedGraph(nodeCount: n, edges: symmetricMaximum(edges))
        }
    }

    /// Calls `body(start, count, similarities)` for each block of rows: `similarities` holds the
    /// dot products of rows start ..< start + count with every row, row-major.
    static func forEachBlock(_ matrix: FeatureMatrix, _ body: (Int, Int, [Float]) -> Void) {
        let n = matrix.rows
        let d = matrix.columns
        var block = [Float](repeating: 0, count: blockRows * n)
        matrix.values.withUnsafeBufferPointer { values in
            var start = 0
            while start < n {
                let count = min(blockRows, n - start)
                block.withUnsafeMutableBufferPointer { out in
                    guard let all = values.baseAddress, let target = out.baseAddress else { return }
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(n), Int32(d), 1, all + start * d,
                        Int32(d), all, Int32(d), 0, target, Int32(n))
                }
                body(start, count, block)
                start += count
            }
        }
    }

    /// The `count` largest entries of row `row` (other than column `excluding`), by column.
    static func top(
        _ similarities: [Float], row: Int, width: Int, excluding: Int, count: Int, skip: ((Int, Int) -> Bool)? = nil
    ) -> [(Int, Float)] {
        var best: [(Int, Float)] = []
        best.reserveCapacity(count + 1)
        var floor = -Float.infinity
        let base = row * width
        for j in 0..<width where j != excluding {
            let s = similarities[base + j]
            guard s > floor || best.count < count else { continue }
            if let skip, skip(excluding, j) { continue }
            // Insert in descending order.
            var position = best.count
            while position > 0 && best[position - 1].1 < s { position -= 1 }
            best.insert((j, s), at: position)
            if best.count > count { best.removeLast() }
            if best.count == count { floor = best[count - 1].1 }
        }
        return best
    }

    /// Each undirected pair once, with the larger of its two directed weights.
    static func symmetricMaximum(_ edges: [(Int, Int, Double)]) -> [(Int, Int, Double)] {
        var seen: [Int: Int] = [:]  // pair key → index in result
        var result: [(Int, Int, Double)] = []
        result.reserveCapacity(edges.count)
        for (a, b, w) in edges {
            let (lo, hi) = a < b ? (a, b) : (b, a)
            let key = lo &* 0x1_0000_0000 &+ hi
            if let index = seen[key] {
                result[index].2 = max(result[index].2, w)
            } else {
                seen[key] = result.count
                result.append((lo, hi, w))
            }
        }
        return result
    }
}
