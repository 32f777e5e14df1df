import Foundation
import ImageNumerics

/// What a partition into communities optimises.
public enum CommunityQuality: Sendable, Hashable, Codable {
    /// Modularity with a resolution γ (1 is Newman–Girvan modularity; larger finds smaller
    /// communities).
    case modularity(resolution: Double)
    /// The constant Potts model with resolution γ: a community is worth its internal edge weight
    /// minus γ times the number of node pairs in it. Free of modularity's resolution limit.
    case constantPotts(resolution: Double)
}

/// Leiden community detection (Traag, Waltman and van Eck, Scientific Reports 9, 5233, 2019):
/// fast local moving of nodes, refinement of each community into well-connected pieces, and
/// aggregation of the refined pieces into the nodes of the next level, repeated until the
/// partition no longer changes. Deterministic for a given seed.
public struct Leiden: Sendable {
    /// What to optimise.
    public var quality: CommunityQuality
    /// Seed of the random node orders and refinement choices.
    public var seed: UInt64
    /// Randomness of the refinement (θ in the paper): lower is greedier.
    public var randomness: Double = 0.01
    /// Full Leiden iterations at most; it stops earlier when an iteration changes nothing.
    public var maximumIterations = 10

    /// A Leiden run with `quality` and `seed`.
    public init(quality: CommunityQuality = .modularity(resolution: 1), seed: UInt64 = 1) {
        self.quality = quality
        self.seed = seed
    }

    /// A community id per node, ids 0 ..< count numbered in order of first appearance; starts from
    /// `initial` when given (e.g. the previous partition of a growing graph).
    public func communities(of graph: WeightedGraph, initial: [Int]? = nil) -> [Int] {
        guard graph.nodeCount > 0 else { return [] }
        var random = SplitMix64(seed: seed)
        let (nodeWeights, scale) = weighting(graph)
        var membership = initial.map(Self.renumber) ?? Array(0..<graph.nodeCount)
        precondition(membership.count == graph.nodeCount, "one initial community per node")
        for _ in 0..<maximumIterations {
            let before = membership
            membership = iterate(graph, nodeWeights: nodeWeights, scale: scale, start: membership, random: &random)
            if membership == before { break }
        }
        return membership
    }

    /// The quality of `membership` on `graph`: modularity in its usual normalisation, or the
    /// constant Potts model's sum.
    public func value(of membership: [Int], on graph: WeightedGraph) -> Double {
        let count = (membership.max() ?? -1) + 1
        var inside = [Double](repeating: 0, count: count)
        var total = [Double](repeating: 0, count: count)
        let degrees = graph.degrees
        for v in 0..<graph.nodeCount {
            let c = membership[v]
            inside[c] += graph.selfLoops[v]
            for e in graph.offsets[v]..<graph.offsets[v + 1] where membership[Int(graph.neighbours[e])] == c {
                inside[c] += graph.weights[e] / 2
            }
            switch quality {
            case .modularity: total[c] += degrees[v]
            case .constantPotts: total[c] += graph.sizes[v]
            }
        }
        switch quality {
        case .modularity(let gamma):
            let twoM = graph.twiceTotalWeight
            guard twoM > 0 else { return 0 }
            return (0..<count).reduce(0) { $0 + 2 * inside[$1] - gamma * total[$1] * total[$1] / twoM } / twoM
        case .constantPotts(let gamma):
            return (0..<count).reduce(0) { $0 + inside[$1] - gamma * total[$1] * (total[$1] - 1) / 2 }
        }
    }

    /// Node weights and the factor λ such that moving node v into community C gains
    /// `k(v, C) − λ · w(v) · W(C)`.
    private func weighting(_ graph: WeightedGraph) -> ([Double], Double) {
        switch quality {
        case .modularity(let gamma):
            let twoM = graph.twiceTotalWeight
            return (graph.degrees, twoM > 0 ? gamma / twoM : 0)
        case .constantPotts(let gamma):
            return (graph.sizes, gamma)
        }
    }

    /// One Leiden iteration from `start` on the original graph; returns the flat membership.
    private func iterate(
        _ original: WeightedGraph, nodeWeights originalWeights: [Double], scale: Double, start: [Int],
        random: inout SplitMix64
    ) -> [Int] {
        var graph = original
        var weights = originalWeights
        var partition = start
        // Which aggregate node each original node is in.
        var level = Array(0..<original.nodeCount)
        while true {
            moveNodesFast(graph, weights: weights, scale: scale, membership: &partition, random: &random)
            let communityCount = Set(partition).count
            if communityCount == graph.nodeCount { break }
            let refined = refine(graph, weights: weights, scale: scale, partition: partition, random: &random)
            let pieces = (refined.max() ?? -1) + 1
            if pieces == graph.nodeCount {
                // Refinement merged nothing: aggregating would not shrink the graph.
                break
            }
            // Aggregate: one node per refined piece, in the community its piece lies in.
            var aggregatePartition = [Int](repeating: 0, count: pieces)
            var aggregateWeights = [Double](repeating: 0, count: pieces)
            var sizes = [Double](repeating: 0, count: pieces)
            var loops = [Double](repeating: 0, count: pieces)
            var edges: [(Int, Int, Double)] = []
            edges.reserveCapacity(graph.neighbours.count / 2)
            for v in 0..<graph.nodeCount {
                let p = refined[v]
                aggregatePartition[p] = partition[v]
                aggregateWeights[p] += weights[v]
                sizes[p] += graph.sizes[v]
                loops[p] += graph.selfLoops[v]
                for e in graph.offsets[v]..<graph.offsets[v + 1] {
                    let u = Int(graph.neighbours[e])
                    guard u > v else { continue }
                    let q = refined[u]
                    if p == q { loops[p] += graph.weights[e] } else { edges.append((p, q, graph.weights[e])) }
                }
            }
            for i in level.indices { level[i] = refined[level[i]] }
            graph = WeightedGraph(nodeCount: pieces, edges: edges, sizes: sizes, selfLoops: loops)
            weights = aggregateWeights
            partition = Self.renumber(aggregatePartition)
        }
        return Self.renumber(level.map { partition[$0] })
    }

    /// Visits nodes from a queue (all of them first, in random order), moving each to the
    /// neighbouring or empty community that gains most; when a node moves, its neighbours outside
    /// its new community are queued again.
    private func moveNodesFast(
        _ graph: WeightedGraph, weights: [Double], scale: Double, membership: inout [Int], random: inout SplitMix64
    ) {
        let n = graph.nodeCount
        var communityWeight = [Double](repeating: 0, count: n)
        var communitySize = [Int](repeating: 0, count: n)
        for v in 0..<n {
            communityWeight[membership[v]] += weights[v]
            communitySize[membership[v]] += 1
        }
        var empty = (0..<n).filter { communitySize[$0] == 0 }
        var order = Array(0..<n)
        random.shuffle(&order)
        var queue = order
        var head = 0
        var queued = [Bool](repeating: true, count: n)
        var toCommunity = [Double](repeating: 0, count: n)
        var touched: [Int] = []
        while head < queue.count {
            let v = queue[head]
            head += 1
            if head > 4096 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            queued[v] = false
            let current = membership[v]
            for e in graph.offsets[v]..<graph.offsets[v + 1] {
                let c = membership[Int(graph.neighbours[e])]
                if toCommunity[c] == 0 { touched.append(c) }
                toCommunity[c] += graph.weights[e]
            }
            communityWeight[current] -= weights[v]
            communitySize[current] -= 1
            var best = current
            var bestGain = toCommunity[current] - scale * weights[v] * communityWeight[current]
            for c in touched where c != current {
                let gain = toCommunity[c] - scale * weights[v] * communityWeight[c]
                if gain > bestGain || (gain == bestGain && c < best) {
                    best = c
                    bestGain = gain
                }
            }
            if bestGain < 0 && communitySize[current] > 0 {
                // Alone is better than anywhere: an empty community.
                if let free = empty.popLast() { best = free }
            }
            if communitySize[current] == 0 && best != current { empty.append(current) }
            membership[v] = best
            communityWeight[best] += weights[v]
            communitySize[best] += 1
            if best != current {
                for e in graph.offsets[v]..<graph.offsets[v + 1] {
                    let u = Int(graph.neighbours[e])
                    if !queued[u] && membership[u] != best {
                        queued[u] = true
                        queue.append(u)
                    }
                }
            }
            for c in touched { toCommunity[c] = 0 }
            touched.removeAll(keepingCapacity: true)
        }
    }

    /// Splits each community into well-connected pieces: starting from singletons, each node that
    /// is still alone and well connected to its community joins a well-connected piece of the same
    /// community, chosen at random with probability growing as exp(gain / θ). Returns piece ids
    /// 0 ..< count.
    private func refine(
        _ graph: WeightedGraph, weights: [Double], scale: Double, partition: [Int], random: inout SplitMix64
    ) -> [Int] {
        let n = graph.nodeCount
        var piece = Array(0..<n)
        var pieceWeight = weights
        var pieceSize = [Int](repeating: 1, count: n)
        var communityWeight = [Double](repeating: 0, count: n)
        var members = [[Int]](repeating: [], count: n)
        for v in 0..<n {
            communityWeight[partition[v]] += weights[v]
            members[partition[v]].append(v)
        }
        // Edge weight from each piece to the rest of its community.
        var external = [Double](repeating: 0, count: n)
        for v in 0..<n {
            for e in graph.offsets[v]..<graph.offsets[v + 1] where partition[Int(graph.neighbours[e])] == partition[v] {
                external[v] += graph.weights[e]
            }
        }
        var toPiece = [Double](repeating: 0, count: n)
        var touched: [Int] = []
        for community in members.indices where members[community].count > 1 {
            var nodes = members[community]
            random.shuffle(&nodes)
            let total = communityWeight[community]
            for v in nodes {
                guard pieceSize[piece[v]] == 1 else { continue }
                // v must be well connected to the rest of its community.
                guard external[piece[v]] >= scale * weights[v] * (total - weights[v]) else { continue }
                for e in graph.offsets[v]..<graph.offsets[v + 1] {
                    let u = Int(graph.neighbours[e])
                    guard partition[u] == community else { continue }
                    let p = piece[u]
                    if toPiece[p] == 0 { touched.append(p) }
                    toPiece[p] += graph.weights[e]
                }
                let own = piece[v]
                var candidates: [(piece: Int, gain: Double)] = []
                var largest = 0.0
                for p in touched where p != own {
                    // Only pieces well connected to the rest of the community take new nodes.
                    guard external[p] >= scale * pieceWeight[p] * (total - pieceWeight[p]) else { continue }
                    let gain = toPiece[p] - scale * weights[v] * pieceWeight[p]
                    if gain >= 0 {
                        candidates.append((p, gain))
                        largest = max(largest, gain)
                    }
                }
                if let lastCandidate = candidates.max(by: { $0.piece < $1.piece }) {
                    candidates.sort { $0.piece < $1.piece }  // order independent of hashing
                    let chances = candidates.map { exp(($0.gain - largest) / randomness) }
                    var pick = random.unit() * chances.reduce(0, +)
                    var chosen = lastCandidate.piece
                    for (candidate, chance) in zip(candidates, chances) {
                        pick -= chance
                        if pick <= 0 {
                            chosen = candidate.piece
                            break
                        }
                    }
                    // Merge v into the chosen piece.
                    external[chosen] = external[chosen] + external[own] - 2 * toPiece[chosen]
                    pieceWeight[chosen] += weights[v]
                    pieceSize[chosen] += 1
                    pieceSize[own] = 0
                    piece[v] = chosen
                }
                for p in touched { toPiece[p] = 0 }
                touched.removeAll(keepingCapacity: true)
            }
        }
        return Self.renumber(piece)
    }

    /// Ids renumbered 0 ..< count in order of first appearance.
    static func renumber(_ ids: [Int]) -> [Int] {
        var map: [Int: Int] = [:]
        return ids.map { id in
            if let known = map[id] { return known }
            map[id] = map.count
            return map.count - 1
        }
    }
}
