/// The shape of a chip's raw descriptor vector: its blocks, in order.
public struct FeatureLayout: Sendable, Hashable, Codable {
    /// One block: which channel, which descriptor, how many values.
    public struct Block: Sendable, Hashable, Codable {
        /// Channel name.
        public let channel: String
        /// "fourier", "intensity" or "embedding".
        public let name: String
        /// Values.
        public let width: Int

        /// A block.
        public init(channel: String, name: String, width: Int) {
            self.channel = channel
            self.name = name
            self.width = width
        }
    }

    /// The blocks.
    public let blocks: [Block]

    /// A layout of `blocks`, in order.
    public init(blocks: [Block]) { self.blocks = blocks }

    /// Values per chip.
    public var width: Int { blocks.reduce(0) { $0 + $1.width } }

    /// Column ranges of each channel's blocks.
    public var channelRanges: [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        var column = 0
        for (i, block) in blocks.enumerated() {
            column += block.width
            if i == blocks.count - 1 || blocks[i + 1].channel != block.channel {
                ranges.append(start..<column)
                start = column
            }
        }
        return ranges
    }
}

extension ChipFeatures {
    /// The layout of these features.
    public var layout: FeatureLayout {
        FeatureLayout(blocks: blocks.map { .init(channel: $0.channel, name: $0.name, width: $0.width) })
    }

    /// Chip-major raw vectors: every block of chip 0, then chip 1, and so on.
    public var rawRows: [Float] {
        var rows: [Float] = []
        rows.reserveCapacity(count * layout.width)
        for chip in 0..<count { for block in blocks { rows += block.chip(chip) } }
        return rows
    }
}

/// Chip descriptors as one matrix ready for cosine similarity: each feature z-scored over the
/// chips the normalisation was fitted to, each block scaled so that it carries the same total
/// variance whatever its width, and each row (or, when channels' similarities are averaged, each
/// channel's part of it, scaled by 1/√channels) brought to unit length.
public struct FeatureMatrix: Sendable {
    /// Rows (chips).
    public let rows: Int
    /// Values per row.
    public let columns: Int
    /// Row-major values.
    public internal(set) var values: [Float]

    /// Per-feature centring and scale, kept so that later chips land in the same space.
    public struct Normalisation: Sendable, Codable {
        /// Mean of each raw feature.
        public var mean: [Float]
        /// Scale after centring: 1 / (standard deviation · √block width); 0 for a constant feature.
        public var scale: [Float]
        /// Columns normalised together to unit length.
        public var parts: [Range<Int>]

        /// Fitted to `raw` (`count` rows of `layout.width`); `weights` scales blocks by name (a
        /// block's share of the similarity grows with the square of its weight).
        public init(
            fitting raw: [Float], layout: FeatureLayout, perChannel: Bool, weights: [String: Float] = [:]
        ) {
            let width = layout.width
            let count = width > 0 ? raw.count / width : 0
            var sum = [Double](repeating: 0, count: width)
            var squares = [Double](repeating: 0, count: width)
            for r in 0..<count {
                for k in 0..<width {
                    let v = Double(raw[r * width + k])
                    sum[k] += v
                    squares[k] += v * v
                }
            }
            mean = [Float](repeating: 0, count: width)
            scale = [Float](repeating: 0, count: width)
            var column = 0
            for block in layout.blocks {
                for k in column..<(column + block.width) {
                    let m = count > 0 ? sum[k] / Double(count) : 0
                    let variance = count > 0 ? max(squares[k] / Double(count) - m * m, 0) : 0
                    mean[k] = Float(m)
                    let weight = Double(weights[block.name] ?? 1)
                    scale[k] =
                        variance > 1e-12
                        ? Float(weight / (variance.squareRoot() * Double(block.width).squareRoot())) : 0
                }
                column += block.width
            }
            parts = perChannel ? layout.channelRanges : [0..<width]
        }
    }

    /// `raw` rows (of `normalisation.mean.count` values each) under `normalisation`.
    public init(raw: [Float], normalisation: Normalisation) {
        let width = normalisation.mean.count
        let count = width > 0 ? raw.count / width : 0
        var values = [Float](repeating: 0, count: count * width)
        let share = 1 / Float(max(normalisation.parts.count, 1)).squareRoot()
        for r in 0..<count {
            let base = r * width
            for k in 0..<width { values[base + k] = (raw[base + k] - normalisation.mean[k]) * normalisation.scale[k] }
            for part in normalisation.parts {
                var norm: Float = 0
                for k in part { norm += values[base + k] * values[base + k] }
                let factor = norm > 0 ? share / norm.squareRoot() : 0
                for k in part { values[base + k] *= factor }
            }
        }
        rows = count
        columns = width
        self.values = values
    }

    /// Row `index`.
    public func row(_ index: Int) -> ArraySlice<Float> { values[(index * columns)..<((index + 1) * columns)] }
}
