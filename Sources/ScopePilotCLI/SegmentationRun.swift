import ArgumentParser
import DefectDetection
import ImageNumerics
import Segmentation

/// The segmentation `scopepilot segment` runs, shared with `eval-segmentation --set` so that the
/// evaluation scores exactly what a user gets from the same settings.
struct SegmentationRun {
    /// Chip side, nm (nil: ``SegmentationOptions/automaticChipSide(frameSide:)`` of the session's
    /// smallest frame).
    var chip: Double?
    /// Distance between chips, nm (nil: the chip side).
    var stride: Double?
    /// Chips of context on each side averaged into a descriptor.
    var context = 2
    /// Nearest neighbours per chip in the graph.
    var neighbours = 20
    /// Link pairs above the similarity histogram's mode instead (the published method).
    var histogramCutoff = false
    /// `distance` (Euclidean, self-tuning Gaussian weights) or `cosine`.
    var similarity = "distance"
    /// `modularity` or `cpm`.
    var quality = "modularity"
    /// The quality function's resolution.
    var resolution = 0.3
    /// Seed of the community detection.
    var seed: UInt64 = 1
    /// `concatenate` or `average`.
    var combine = "concatenate"
    /// The detector whose defect density joins the descriptor, if any.
    var detector: DefectDetector?
    /// Also pool the detector's bottleneck activations.
    var bottleneck = false
    /// The sample's first-order lattice plane spacing, Å, for Fourier rings in lattice units.
    var latticePeriod: Double? = LatticePeriod.wse2
    /// Smaller communities are merged into their most strongly linked neighbour.
    var minimumCommunity = 3
    /// Describe chips by their absolute values, not relative to their frame.
    var absolute = false

    /// The graph `--similarity` names: `cosine` (K nearest by cosine) or `distance` (K nearest by
    /// Euclidean distance, self-tuning Gaussian weights).
    static func graph(similarity: String, neighbours: Int) -> GraphConstruction {
        similarity == "cosine" ? .nearestNeighbours(neighbours) : .gaussianNeighbours(neighbours)
    }

    /// Refuses a `--similarity` other than `distance` or `cosine`.
    static func checkSimilarity(_ similarity: String) throws {
        guard ["distance", "cosine"].contains(similarity) else {
            throw ValidationError("--similarity is distance or cosine, not \(similarity)")
        }
    }

    /// The chip side, nm, for `frames` at `pixelSize` Å: `chip`, or the automatic choice for the
    /// smallest frame.
    func chipSide(_ frames: [(name: String, channels: [(name: String, image: Image)])], pixelSize: Double) -> Double {
        if let chip { return chip }
        let shorter = frames.map { min($0.channels[0].image.width, $0.channels[0].image.height) }.min() ?? 0
        return SegmentationOptions.automaticChipSide(frameSide: Double(shorter) * pixelSize / 10)
    }

    /// One session over `frames` (each a list of named channels, the first the one the detector
    /// reads), all at `pixelSize` Å, partitioned once at the end.
    func segment(
        _ frames: [(name: String, channels: [(name: String, image: Image)])], pixelSize: Double
    ) throws
        -> SegmentationSession
    {
        var options = SegmentationOptions()
        let chip = chipSide(frames, pixelSize: pixelSize)
        options.chipSize = Int((chip * 10 / pixelSize).rounded())
        options.stride = Int(((stride ?? chip) * 10 / pixelSize).rounded())
        options.features.context = context
        options.features.latticePeriod = latticePeriod
        options.features.relativeToFrame = !absolute
        options.minimumCommunity = minimumCommunity
        options.features.channels = ChipFeatureOptions.ChannelCombination(rawValue: combine) ?? .concatenate
        options.graph =
            histogramCutoff
            ? .histogramModeCutoff(limit: 50) : Self.graph(similarity: similarity, neighbours: neighbours)
        options.quality =
            quality == "cpm" ? .constantPotts(resolution: resolution) : .modularity(resolution: resolution)
        options.seed = seed
        // The session holds every chip of the call, so every chip gets the final partition.
        options.repartitionEvery = Int.max
        let embedder = detector.map {
            DetectorEmbedder($0, parts: bottleneck ? [.bottleneck, .defectDensity] : [.defectDensity])
        }
        options.features.embedding = embedder != nil
        options.reservoirCapacity = max(
            options.reservoirCapacity,
            frames.reduce(0) {
                let first = $1.channels[0].image
                return $0
                    + ChipGrid(
                        width: first.width, height: first.height, chipSize: options.chipSize, stride: options.stride
                    ).count
            })
        let session = SegmentationSession(options: options, embedder: embedder)
        for (name, frame) in frames {
            let grid = ChipGrid(
                width: frame[0].image.width, height: frame[0].image.height, chipSize: options.chipSize,
                stride: options.stride)
            let counts = embedder?.defectCounts(of: frame[0].image, pixelSize: pixelSize, grid: grid)
            do {
                try session.add(
                    channels: frame.map { ($0.name, $0.image) }, pixelSize: pixelSize, defectsPerChip: counts)
            } catch {
                throw ValidationError("\(name): \(error)")
            }
        }
        session.repartition()
        return session
    }
}
