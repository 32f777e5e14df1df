public import ImageNumerics

/// How chips are described and how a multimodal frame's channels are combined.
public struct ChipFeatureOptions: Sendable, Hashable, Codable {
    /// How the channels of a multimodal frame (HAADF and MAADF, say) are combined.
    public enum ChannelCombination: String, Sendable, Hashable, Codable, CaseIterable {
        /// One vector per chip: every channel's blocks side by side.
        case concatenate
        /// One similarity per channel, averaged (each channel's vector normalised on its own).
        case averageSimilarity = "average"
    }

    /// The Fourier descriptor (order against disorder).
    public var fourier = true
    /// Intensity statistics.
    public var intensity = true
    /// Pooled activations of the defect detector's encoder, when a detector is given (first
    /// channel only: the detector was trained on HAADF).
    public var embedding = true
    /// How channels combine.
    public var channels: ChannelCombination = .concatenate
    /// Weight of each block by name ("fourier", "intensity", "embedding"); 1 when absent.
    public var weights: [String: Float] = [:]
    /// Chips of context on each side whose descriptors are averaged into a chip's (0 for none, 1
    /// for the 3 x 3 neighbourhood): a chip then describes its surroundings as well, which steadies
    /// statistics of rare things (a few vacancies per chip) at the cost of blurring boundaries.
    public var context = 0

    /// Every block on, channels concatenated.
    public init() {}
}

/// One block of descriptors for every chip of a frame: `values[chip · width ..< (chip + 1) · width]`.
public struct FeatureBlock: Sendable {
    /// The channel it describes.
    public let channel: String
    /// "fourier", "intensity" or "embedding".
    public let name: String
    /// Values per chip.
    public let width: Int
    /// Chip-major values.
    public var values: [Float]

    /// The values of chip `index`.
    public func chip(_ index: Int) -> ArraySlice<Float> { values[(index * width)..<((index + 1) * width)] }
}

/// The descriptors of one frame's chips, before the session normalises them.
public struct ChipFeatures: Sendable {
    /// Where the chips are.
    public let grid: ChipGrid
    /// The blocks, channel by channel.
    public let blocks: [FeatureBlock]

    /// Number of chips.
    public var count: Int { grid.count }
}

/// Something that turns a frame into one embedding vector per chip (the defect detector's
/// encoder, in ScopePilot).
public protocol ChipEmbedder {
    /// Values per chip.
    var embeddingWidth: Int { get }
    /// One `embeddingWidth` vector per chip of `grid`, chip-major.
    func embeddings(of image: Image, pixelSize: Double, grid: ChipGrid) -> [Float]
}

/// Computes chip descriptors, keeping an FFT plan per chip size.
public final class ChipFeatureExtractor {
    /// What to compute.
    public let options: ChipFeatureOptions
    /// The encoder for embeddings, if any.
    public let embedder: (any ChipEmbedder)?
    private var transforms: [Int: (FourierTransform2D, [Float], [Int])] = [:]

    /// An extractor; embeddings need `embedder`.
    public init(options: ChipFeatureOptions = ChipFeatureOptions(), embedder: (any ChipEmbedder)? = nil) {
        self.options = options
        self.embedder = embedder
    }

    /// Descriptors of every chip of `grid` in each channel of `channels` (same size each).
    public func features(of channels: [(name: String, image: Image)], pixelSize: Double, grid: ChipGrid) -> ChipFeatures
    {
        var blocks: [FeatureBlock] = []
        let side = grid.chipSize
        for (name, image) in channels {
            var fourier: [Float] = []
            var intensity: [Float] = []
            var chip = [Float](repeating: 0, count: side * side)
            for index in 0..<grid.count {
                let (x0, y0) = grid.origin(of: index)
                for y in 0..<side {
                    for x in 0..<side { chip[y * side + x] = image.pixels[(y0 + y) * image.width + x0 + x] }
                }
                if options.fourier {
                    let (transform, window, bins) = plan(side)
                    fourier += ChipDescriptors.fourier(
                        chip, side: side, transform: transform, window: window, bins: bins)
                }
                if options.intensity { intensity += ChipDescriptors.intensity(chip) }
            }
            if options.fourier {
                blocks.append(
                    FeatureBlock(
                        channel: name, name: "fourier",
                        width: ChipDescriptors.radialBins * (1 + ChipDescriptors.angularBins), values: fourier))
            }
            if options.intensity {
                blocks.append(FeatureBlock(channel: name, name: "intensity", width: 7, values: intensity))
            }
            // The detector learned HAADF: only the first channel is embedded.
            if options.embedding, let embedder, name == channels.first?.name {
                blocks.append(
                    FeatureBlock(
                        channel: name, name: "embedding", width: embedder.embeddingWidth,
                        values: embedder.embeddings(of: image, pixelSize: pixelSize, grid: grid)))
            }
        }
        if options.context > 0 {
            blocks = blocks.map { Self.smooth($0, grid: grid, reach: options.context) }
        }
        return ChipFeatures(grid: grid, blocks: blocks)
    }

    /// Each chip's values replaced by the mean over a (2·reach + 1)² window of chips around it; at
    /// the frame's edges the window moves inwards rather than shrinking, so that every chip's
    /// descriptor averages as many chips (and is as steady) as any other's.
    static func smooth(_ block: FeatureBlock, grid: ChipGrid, reach: Int) -> FeatureBlock {
        var out = block
        let span = 2 * reach + 1
        for row in 0..<grid.rows {
            let top = max(0, min(row - reach, grid.rows - span))
            for column in 0..<grid.columns {
                let left = max(0, min(column - reach, grid.columns - span))
                var sum = [Float](repeating: 0, count: block.width)
                var count = 0
                for r in top..<min(grid.rows, top + span) {
                    for c in left..<min(grid.columns, left + span) {
                        for (k, v) in block.chip(r * grid.columns + c).enumerated() { sum[k] += v }
                        count += 1
                    }
                }
                let base = (row * grid.columns + column) * block.width
                for k in 0..<block.width { out.values[base + k] = sum[k] / Float(count) }
            }
        }
        return out
    }

    private func plan(_ side: Int) -> (FourierTransform2D, [Float], [Int]) {
        if let known = transforms[side] { return known }
        let transform = FourierTransform2D(width: side, height: side)
        let made = (transform, ChipDescriptors.hann(side), ChipDescriptors.bins(side: side, transform: transform))
        transforms[side] = made
        return made
    }
}
