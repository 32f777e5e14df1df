import ArgumentParser
import Foundation
import ImageIO
import ImageNumerics
import Segmentation
import SegmentationEvaluation

/// `scopepilot-bench leiden`: ScopePilot's Leiden beside leidenalg (igraph) on the same chip
/// similarity graphs, and the time to segment one 1024 x 1024 frame end to end.
struct LeidenBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leiden",
        abstract: "Leiden communities beside leidenalg on the same graphs; one-frame segmentation time.")

    @Option(help: "Chip counts, comma-separated.") var sizes = "1000,10000,50000"
    @Option(help: "Repetitions; the best time is reported.") var repeats = 3
    @Option(help: "Leiden iterations for both (leidenalg's default is 2; -1: until nothing changes).") var iterations =
        2
    @Option(help: "Python with igraph and leidenalg (default: .venv/bin/python).") var python = ".venv/bin/python"

    func run() async throws {
        let counts = sizes.split(separator: ",").compactMap { Int($0) }
        print("Rendering the mixed-region session (9 frames of 1024 x 1024, HAADF and MAADF) ...")
        let session = MixedRegionSession()
        // Small chips, so that the session holds the largest graph asked for.
        let extractor = ChipFeatureExtractor(
            options: {
                var o = ChipFeatureOptions(); o.context = 1; return o
            }())
        var raw: [Float] = []
        var layout: FeatureLayout?
        for frame in session.frames {
            let grid = ChipGrid(width: 1024, height: 1024, chipSize: 12, stride: 12)
            let features = extractor.features(of: frame.channels, pixelSize: frame.pixelSize, grid: grid)
            raw += features.rawRows
            layout = features.layout
        }
        guard let layout else { throw ValidationError("the mixed-region session has no frames") }
        let width = layout.width
        let available = raw.count / width
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-leiden-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        print(
            "\nModularity (resolution 1) on 15-nearest-neighbour chip similarity graphs, \(iterations < 0 ? "iterating until nothing changes" : "\(iterations) Leiden iterations") each; both partitions scored by igraph."
        )
        print(
            "chips    edges     ScopePilot         Q        leidenalg          Q        igraph Leiden      Q       communities (ours/leidenalg)"
        )
        for n in counts where n <= available {
            // Chips spread over the whole session.
            var rows: [Float] = []
            rows.reserveCapacity(n * width)
            for i in 0..<n {
                let source = i * available / n
                rows += raw[(source * width)..<((source + 1) * width)]
            }
            let normalisation = FeatureMatrix.Normalisation(fitting: rows, layout: layout, perChannel: false)
            let graph = SimilarityGraph.build(
                FeatureMatrix(raw: rows, normalisation: normalisation), construction: .nearestNeighbours(15))
            var leiden = Leiden(quality: .modularity(resolution: 1), seed: 1)
            leiden.maximumIterations = iterations < 0 ? 1000 : iterations
            var membership: [Int] = []
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = ContinuousClock.now
                membership = leiden.communities(of: graph)
                best = min(best, (ContinuousClock.now - start).seconds)
            }
            let peer = try await compare(graph: graph, membership: membership, directory: directory)
            print(
                String(
                    format: "%-8d %-9d %8.1f ms  %8.4f   %8.1f ms  %8.4f   %8.1f ms  %8.4f    %d / %d", n,
                    graph.edgeCount,
                    best * 1000, peer.ours, peer.seconds * 1000, peer.theirs, peer.igraphSeconds * 1000, peer.igraph,
                    Set(membership).count, peer.communities))
        }

        // One frame end to end: descriptors, normalisation, graph, Leiden (no detector).
        var options = SegmentationOptions()
        options.chipSize = 64
        options.stride = 64
        var frameBest = Double.infinity
        for _ in 0..<repeats {
            let segmentation = SegmentationSession(options: options)
            let start = ContinuousClock.now
            try segmentation.add(channels: session.frames[0].channels, pixelSize: 0.25)
            frameBest = min(frameBest, (ContinuousClock.now - start).seconds)
        }
        print(
            String(
                format:
                    "\nOne 1024 x 1024 frame (HAADF + MAADF, 256 chips of 64 px) segmented end to end, detector excluded: %.1f ms (target ≤ 100 ms: %@)",
                frameBest * 1000, (frameBest <= 0.1 ? "met" : "NOT met") as NSString))
    }

    private struct PeerResult {
        let seconds: Double
        let ours: Double
        let theirs: Double
        let communities: Int
        let igraphSeconds: Double
        let igraph: Double
    }

    private func compare(graph: WeightedGraph, membership: [Int], directory: URL) async throws -> PeerResult {
        var edges: [Float] = []
        for v in 0..<graph.nodeCount {
            for e in graph.offsets[v]..<graph.offsets[v + 1] where Int(graph.neighbours[e]) > v {
                edges += [Float(v), Float(graph.neighbours[e]), Float(graph.weights[e])]
            }
        }
        let edgeFile = directory.appendingPathComponent("edges.npy")
        let membershipFile = directory.appendingPathComponent("membership.npy")
        try NumpyFile.write(Image(width: 3, height: edges.count / 3, pixels: edges), as: .float32, to: edgeFile)
        try NumpyFile.write(
            Image(width: membership.count, height: 1, pixels: membership.map(Float.init)), as: .float32,
            to: membershipFile)
        let result = try await PythonPeer.run(
            python: python, script: "leiden_peer.py",
            arguments: [
                "--edges", edgeFile.path, "--nodes", "\(graph.nodeCount)", "--membership", membershipFile.path,
                "--repeats", "\(repeats)", "--iterations", "\(iterations)",
            ], requirement: "igraph and leidenalg")
        guard let seconds = result["seconds"] as? Double, let ours = result["modularity_ours"] as? Double,
            let theirs = result["modularity_theirs"] as? Double, let communities = result["communities_theirs"] as? Int,
            let igraphSeconds = result["igraph_seconds"] as? Double, let igraph = result["modularity_igraph"] as? Double
        else { throw ValidationError("the leidenalg peer printed an incomplete result") }
        return PeerResult(
            seconds: seconds, ours: ours, theirs: theirs, communities: communities, igraphSeconds: igraphSeconds,
            igraph: igraph)
    }
}
