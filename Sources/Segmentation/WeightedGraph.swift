/// An undirected weighted graph in compressed sparse rows: every edge is stored in both of its
/// nodes' rows, self-loops apart. Each node also carries a size (1 for a chip; the number of chips
/// for an aggregate node), which the constant Potts model counts.
public struct WeightedGraph: Sendable {
    /// Number of nodes.
    public let nodeCount: Int
    /// Row `v` is `neighbours[offsets[v] ..< offsets[v + 1]]`.
    public let offsets: [Int]
    /// Neighbour of each stored edge end.
    public let neighbours: [Int32]
    /// Weight of each stored edge end.
    public let weights: [Double]
    /// Self-loop weight of each node (internal edges of an aggregate node).
    public let selfLoops: [Double]
    /// Size of each node.
    public let sizes: [Double]

    /// A graph of `nodeCount` nodes from undirected edges `(a, b, weight)`; repeated edges add up,
    /// `a == b` makes a self-loop, non-positive and non-finite weights are dropped.
    public init(nodeCount: Int, edges: [(Int, Int, Double)], sizes: [Double]? = nil, selfLoops: [Double]? = nil) {
        precondition(nodeCount >= 0)
        precondition(sizes.map { $0.count == nodeCount } ?? true, "one size per node")
        self.nodeCount = nodeCount
        var loops = selfLoops ?? [Double](repeating: 0, count: nodeCount)
        var counts = [Int](repeating: 0, count: nodeCount + 1)
        for (a, b, w) in edges where w > 0 && w.isFinite {
            precondition(a >= 0 && a < nodeCount && b >= 0 && b < nodeCount, "edge (\(a), \(b)) out of range")
            if a == b { continue }
            counts[a + 1] += 1
            counts[b + 1] += 1
        }
        for v in 0..<nodeCount { counts[v + 1] += counts[v] }
        var fill = counts
        var rawNeighbours = [Int32](repeating: 0, count: counts[nodeCount])
        var rawWeights = [Double](repeating: 0, count: counts[nodeCount])
        for (a, b, w) in edges where w > 0 && w.isFinite {
            if a == b {
                loops[a] += w
                continue
            }
            rawNeighbours[fill[a]] = Int32(b)
            rawWeights[fill[a]] = w
            fill[a] += 1
            rawNeighbours[fill[b]] = Int32(a)
            rawWeights[fill[b]] = w
            fill[b] += 1
        }
        // Merge repeated neighbours within each row.
        var offsets = [0]
        var neighbours: [Int32] = []
        var weights: [Double] = []
        neighbours.reserveCapacity(rawNeighbours.count)
        weights.reserveCapacity(rawWeights.count)
        var slot = [Int](repeating: -1, count: nodeCount)
        for v in 0..<nodeCount {
            let start = neighbours.count
            for e in counts[v]..<counts[v + 1] {
                let u = Int(rawNeighbours[e])
                if slot[u] >= start {
                    weights[slot[u]] += rawWeights[e]
                } else {
                    slot[u] = neighbours.count
                    neighbours.append(Int32(u))
                    weights.append(rawWeights[e])
                }
            }
            offsets.append(neighbours.count)
        }
        self.offsets = offsets
        self.neighbours = neighbours
        self.weights = weights
        self.selfLoops = loops
        self.sizes = sizes ?? [Double](repeating: 1, count: nodeCount)
    }

    /// Number of undirected edges between distinct nodes.
    public var edgeCount: Int { neighbours.count / 2 }

    /// Weighted degree of each node: its edges plus twice its self-loop.
    public var degrees: [Double] {
        (0..<nodeCount).map { v in
            var k = 2 * selfLoops[v]
            for e in offsets[v]..<offsets[v + 1] { k += weights[e] }
            return k
        }
    }

    /// Twice the total edge weight (the sum of degrees).
    public var twiceTotalWeight: Double { degrees.reduce(0, +) }
}
