import Segmentation
import Testing

/// Zachary's karate club (1977): 34 members, 78 friendships, the standard community test graph.
let karateClub: [(Int, Int)] = [
    (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 10), (0, 11), (0, 12), (0, 13), (0, 17),
    (0, 19), (0, 21), (0, 31), (1, 2), (1, 3), (1, 7), (1, 13), (1, 17), (1, 19), (1, 21), (1, 30), (2, 3), (2, 7),
    (2, 8), (2, 9), (2, 13), (2, 27), (2, 28), (2, 32), (3, 7), (3, 12), (3, 13), (4, 6), (4, 10), (5, 6), (5, 10),
    (5, 16), (6, 16), (8, 30), (8, 32), (8, 33), (9, 33), (13, 33), (14, 32), (14, 33), (15, 32), (15, 33), (18, 32),
    (18, 33), (19, 33), (20, 32), (20, 33), (22, 32), (22, 33), (23, 25), (23, 27), (23, 29), (23, 32), (23, 33),
    (24, 25), (24, 27), (24, 31), (25, 31), (26, 29), (26, 33), (27, 33), (28, 31), (28, 33), (29, 32), (29, 33),
    (30, 32), (30, 33), (31, 32), (31, 33), (32, 33),
]

/// `groups` cliques of `size` nodes, each clique joined to the next by one weak edge.
func cliques(_ groups: Int, size: Int, bridge: Double = 0.1) -> WeightedGraph {
    var edges: [(Int, Int, Double)] = []
    for g in 0..<groups {
        for a in 0..<size { for b in (a + 1)..<size { edges.append((g * size + a, g * size + b, 1)) } }
        edges.append((g * size, ((g + 1) % groups) * size + 1, bridge))
    }
    return WeightedGraph(nodeCount: groups * size, edges: edges)
}

@Suite("Leiden community detection")
struct LeidenTests {
    @Test("cliques joined by weak edges come out one community each, under both quality functions")
    func plantedCliques() {
        let graph = cliques(5, size: 8)
        for quality in [CommunityQuality.modularity(resolution: 1), .constantPotts(resolution: 0.5)] {
            let membership = Leiden(quality: quality, seed: 3).communities(of: graph)
            #expect(Set(membership).count == 5, "\(quality): \(membership)")
            for g in 0..<5 { #expect(Set(membership[(g * 8)..<(g * 8 + 8)]).count == 1) }
        }
    }

    @Test("the karate club reaches the best known modularity to within half a percent")
    func karate() {
        let graph = WeightedGraph(nodeCount: 34, edges: karateClub.map { ($0.0, $0.1, 1) })
        #expect(graph.edgeCount == 78)
        let leiden = Leiden(seed: 42)
        let membership = leiden.communities(of: graph)
        let q = leiden.value(of: membership, on: graph)
        // The maximum modularity of this graph is 0.4198 (Brandes et al. 2008).
        #expect(q > 0.4198 * 0.995 && q < 0.41981, "modularity \(q)")
        #expect(Set(membership).count == 4)
    }

    @Test("the same seed gives the same communities; starting from them changes nothing")
    func deterministic() {
        let graph = WeightedGraph(nodeCount: 34, edges: karateClub.map { ($0.0, $0.1, 1) })
        let a = Leiden(seed: 7).communities(of: graph)
        #expect(Leiden(seed: 7).communities(of: graph) == a)
        #expect(Leiden(seed: 8).communities(of: graph, initial: a) == a)
    }

    @Test("the Potts resolution runs from connected components (γ = 0) to single nodes (γ above every weight)")
    func pottsResolution() {
        let graph = cliques(3, size: 6)
        #expect(Set(Leiden(quality: .constantPotts(resolution: 0), seed: 1).communities(of: graph)).count == 1)
        #expect(Set(Leiden(quality: .constantPotts(resolution: 2), seed: 1).communities(of: graph)).count == 18)
    }

    @Test("modularity of a partition matches the textbook formula on a small graph")
    func modularityValue() {
        // Two triangles joined by one edge; the natural split has Q = 5/14.
        let graph = WeightedGraph(
            nodeCount: 6, edges: [(0, 1, 1), (1, 2, 1), (0, 2, 1), (3, 4, 1), (4, 5, 1), (3, 5, 1), (2, 3, 1)])
        let q = Leiden().value(of: [0, 0, 0, 1, 1, 1], on: graph)
        #expect(abs(q - 5.0 / 14) < 1e-12, "\(q)")
        #expect(abs(Leiden().value(of: [0, 0, 0, 0, 0, 0], on: graph)) < 1e-12)
    }

    @Test("an empty graph and isolated nodes are handled")
    func degenerate() {
        #expect(Leiden().communities(of: WeightedGraph(nodeCount: 0, edges: [])) == [])
        let isolated = Leiden().communities(of: WeightedGraph(nodeCount: 3, edges: []))
        #expect(isolated.count == 3 && Set(isolated).count == 3)
    }
}
