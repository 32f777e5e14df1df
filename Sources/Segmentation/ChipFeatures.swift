import Foundation
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
    /// The largest context is further capped by the frame: the window of (2·context + 1) chips
    /// covers at most a third of the frame's shorter side (see `reach(for:)`). The neighbours count
    /// as much as the frame needs them: fully where its chips differ only by noise, not at all
    /// where neighbouring chips are already alike (see `ChipFeatureExtractor.contextWeight`).
    public var context = 0
    /// The sample's first-order lattice plane spacing, Å (WSe2: 2.842), when known: the Fourier
    /// rings are then placed in units of the lattice frequency, so that the same area gives the
    /// same descriptor at any pixel size. Without it the rings divide 0 ... Nyquist evenly.
    public var latticePeriod: Double?
    /// Describe every chip relative to its frame: intensities above the frame's dark level as a
    /// fraction of its median chip's, Fourier ring powers as a fraction of its square, and every
    /// value less the frame's median chip's value. A frame's overall brightness, dose, detector
    /// gain and focus then do not move its chips: what remains is how a chip differs from the
    /// frame's usual area (the sample, in a frame that is mostly sample). Off: absolute values.
    public var relativeToFrame = true

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
    /// Six-fold lattice order of every chip in the first channel, before any centring or context
    /// (nil without a lattice period or the Fourier descriptor): about 1.45 where a hexagonal
    /// lattice shows, about 0 on amorphous material and vacuum.
    public var latticeOrder: [Float]? = nil
    /// Each chip's mean signal in the first channel above the frame's dark level, as the log of
    /// its ratio to the frame's median lattice chip's (of its absolute value when descriptors are
    /// not relative to the frame), before any context: about 0 on the sample, far below on vacuum.
    public var signal: [Float]? = nil
    /// Each chip's log ratio of the second channel's mean signal (above its dark level) to the
    /// first's, before any context; nil for one channel. Light atoms scatter relatively more to
    /// low angles, so where carbon lies on the lattice MAADF over HAADF rises (hydrocarbon
    /// contamination on WSe2 raises MAADF by about 5 %, HAADF by 3 %), while the ratio is blind to
    /// what moves both channels together (how many atoms a chip holds, the dose, the scan). The
    /// probe moves it from frame to frame: the session compares it within a frame.
    public var channelRatio: [Float]? = nil

    /// Number of chips.
    public var count: Int { grid.count }

    /// Rings of power at the start of each "fourier" block (the lattice order follows them).
    public static let fourierRingCount = ChipDescriptors.radialBins
}

/// Something that turns a frame into one embedding vector per chip (the defect detector's
/// encoder, in ScopePilot).
public protocol ChipEmbedder {
    /// Values per chip.
    var embeddingWidth: Int { get }
    /// One `embeddingWidth` vector per chip of `grid`, chip-major.
    func embeddings(of image: Image, pixelSize: Double, grid: ChipGrid) -> [Float]
    /// The values of each embedding that are densities of detected defects, if any: a session
    /// that has split its lattice chips by their defect counts sets these aside within each part.
    var defectDensityColumns: Range<Int>? { get }
}

extension ChipEmbedder {
    /// None.
    public var defectDensityColumns: Range<Int>? { nil }
}

/// Computes chip descriptors, keeping an FFT plan per chip size.
public final class ChipFeatureExtractor {
    /// What to compute.
    public let options: ChipFeatureOptions
    /// The encoder for embeddings, if any.
    public let embedder: (any ChipEmbedder)?
    private var transforms: [PlanKey: (FourierTransform2D, [Float], ChipDescriptors.Rings)] = [:]

    /// Plans kept at most.
    static let maximumPlans = 8

    private struct PlanKey: Hashable {
        let side: Int
        let latticeFrequency: Double?
    }

    /// An extractor; embeddings need `embedder`.
    public init(options: ChipFeatureOptions = ChipFeatureOptions(), embedder: (any ChipEmbedder)? = nil) {
        self.options = options
        self.embedder = embedder
    }

    /// Descriptors of every chip of `grid` in each channel of `channels` (same size each).
    public func features(of channels: [(name: String, image: Image)], pixelSize: Double, grid: ChipGrid) -> ChipFeatures
    {
        var blocks: [FeatureBlock] = []
        var order: [Float]?
        let side = grid.chipSize
        let latticeFrequency = options.latticePeriod.map { pixelSize / $0 }
        let relative = options.relativeToFrame
        // Each channel's mean signal above its dark level, per chip.
        var signals: [[Double]] = []
        var firstSignal: [Float]?
        for (name, image) in channels {
            var statistics: [[Float]] = []
            var spectra: [ChipDescriptors.Spectrum] = []
            var chip = [Float](repeating: 0, count: side * side)
            for index in 0..<grid.count {
                let (x0, y0) = grid.origin(of: index)
                for y in 0..<side {
                    for x in 0..<side { chip[y * side + x] = image.pixels[(y0 + y) * image.width + x0 + x] }
                }
                if options.fourier {
                    let (transform, window, rings) = plan(side, latticeFrequency: latticeFrequency)
                    spectra.append(
                        ChipDescriptors.spectrum(chip, side: side, transform: transform, window: window, rings: rings))
                }
                statistics.append(ChipDescriptors.intensity(chip))
            }
            if options.fourier, options.latticePeriod != nil, order == nil {
                order = spectra.map { Float($0.latticeOrder) }
            }
            // The frame's reference chips: those showing the lattice when there are enough of
            // them (the same kind of area in every frame), else all.
            let reference = Self.referenceChips(order: order, count: grid.count)
            // The frame's reference: its dark level and its median reference chip's mean above it.
            let dark = relative ? Double(ChipDescriptors.percentile(image.pixels, 0.01)) : 0
            let scale = relative ? max(Self.median(reference.map { Double(statistics[$0][0]) }) - dark, 1e-6) : 1
            let spread = relative ? max(Self.median(reference.map { Double(statistics[$0][1]) }), 1e-9) : 1
            if options.fourier {
                var values: [Float] = []
                values.reserveCapacity(grid.count * ChipDescriptors.fourierWidth)
                let floor = relative ? 1e-3 * scale * scale : 1e-6
                for spectrum in spectra {
                    for power in spectrum.ringPower { values.append(Float(log10(max(power, floor) / (scale * scale)))) }
                    values.append(Float(spectrum.latticeOrder))
                }
                blocks.append(
                    FeatureBlock(channel: name, name: "fourier", width: ChipDescriptors.fourierWidth, values: values))
            }
            if options.intensity {
                var values: [Float] = []
                values.reserveCapacity(grid.count * ChipDescriptors.intensityWidth)
                for s in statistics {
                    guard relative else {
                        values += s
                        continue
                    }
                    let level = { (v: Float) in Float((Double(v) - dark) / scale) }
                    values += [
                        Float(log(max((Double(s[0]) - dark) / scale, 0.02))),
                        Float(log(max(Double(s[1]) / spread, 1e-3))),
                        s[2], s[3], level(s[4]), level(s[5]), level(s[6]),
                    ]
                }
                blocks.append(
                    FeatureBlock(
                        channel: name, name: "intensity", width: ChipDescriptors.intensityWidth, values: values))
            }
            signals.append(statistics.map { max(Double($0[0]) - dark, 0.02 * scale) })
            if firstSignal == nil, let last = signals.last { firstSignal = last.map { Float(log($0 / scale)) } }
            if relative {
                blocks = blocks.map { $0.channel == name ? Self.centred($0, reference: reference) : $0 }
            }
            // The detector learned HAADF: only the first channel is embedded.
            if options.embedding, let embedder, name == channels.first?.name {
                blocks.append(
                    FeatureBlock(
                        channel: name, name: "embedding", width: embedder.embeddingWidth,
                        values: embedder.embeddings(of: image, pixelSize: pixelSize, grid: grid)))
            }
        }
        // The second channel's signal over the first's, per chip (see `channelRatio`).
        let ratio: [Float]? =
            signals.count > 1 ? zip(signals[1], signals[0]).map { Float(log($0 / $1)) } : nil
        let reach = options.reach(for: grid)
        if reach > 0 {
            let weights = Self.contextWeights(blocks, grid: grid, reach: reach)
            blocks = blocks.map { Self.smooth($0, weights: weights) }
        }
        return ChipFeatures(
            grid: grid, blocks: blocks, latticeOrder: order, signal: firstSignal, channelRatio: ratio)
    }

    /// The chips a frame's descriptors are measured against: those whose lattice order exceeds
    /// ``latticeReferenceOrder`` when at least ``minimumReferenceChips`` do, else every chip.
    static func referenceChips(order: [Float]?, count: Int) -> [Int] {
        if let order {
            let lattice = order.indices.filter { order[$0] > latticeReferenceOrder }
            if lattice.count >= minimumReferenceChips { return lattice }
        }
        return Array(0..<count)
    }

    /// The lattice order above which a chip counts as showing the lattice (a perfect one gives
    /// about 1.45).
    static let latticeReferenceOrder = SegmentationSession.latticeOrderThreshold
    /// The fewest lattice chips a frame needs for them to be its reference.
    static let minimumReferenceChips = 4

    /// `block` less, in every column, the median over the `reference` chips.
    static func centred(_ block: FeatureBlock, reference: [Int]) -> FeatureBlock {
        var out = block
        let count = block.values.count / max(block.width, 1)
        for k in 0..<block.width {
            let m = Float(median(reference.map { Double(block.values[$0 * block.width + k]) }))
            for chip in 0..<count { out.values[chip * block.width + k] -= m }
        }
        return out
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// The chips whose descriptors each chip's context averages, with their weights: the chips of
    /// a (2·reach + 1)² window around it (at the frame's edges the window moves inwards rather
    /// than shrinking, so that every chip's context is as large as any other's), the chip itself
    /// with weight 1 and the others with ``contextWeight(_:grid:)``.
    static func contextWeights(_ blocks: [FeatureBlock], grid: ChipGrid, reach: Int) -> [[(chip: Int, weight: Float)]] {
        let neighbour = contextWeight(blocks, grid: grid)
        let span = 2 * reach + 1
        var windows = [[(chip: Int, weight: Float)]](repeating: [], count: grid.count)
        for row in 0..<grid.rows {
            let top = max(0, min(row - reach, grid.rows - span))
            for column in 0..<grid.columns {
                let left = max(0, min(column - reach, grid.columns - span))
                let centre = row * grid.columns + column
                for r in top..<min(grid.rows, top + span) {
                    for c in left..<min(grid.columns, left + span) {
                        let other = r * grid.columns + c
                        windows[centre].append((other, other == centre ? 1 : neighbour))
                    }
                }
            }
        }
        return windows
    }

    /// How much a chip's neighbours count in its context, from 0 to 1: 1 − ρ / ``structuredCorrelation``
    /// (at least 0), with ρ the correlation of neighbouring chips' descriptors (each column's
    /// correlation between horizontally and vertically adjacent chips, averaged over the columns
    /// of each block, then over the blocks). Where a frame's chips differ only by noise, neighbours
    /// are no more alike than chips far apart (ρ near 0): the context then averages the noise out.
    /// Where neighbours are alike, the chips' own descriptors already show the frame's structure,
    /// and averaging them with their neighbours would only blur the edges of small regions.
    static func contextWeight(_ blocks: [FeatureBlock], grid: ChipGrid) -> Float {
        let count = grid.count
        var correlations: [Double] = []
        for block in blocks {
            var sum = 0.0
            var columns = 0
            for k in 0..<block.width {
                let v = (0..<count).map { Double(block.values[$0 * block.width + k]) }
                let mean = v.reduce(0, +) / Double(count)
                let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count)
                guard variance > 1e-12 else { continue }
                var covariance = 0.0
                var pairs = 0
                for row in 0..<grid.rows {
                    for column in 0..<grid.columns {
                        let i = row * grid.columns + column
                        if column + 1 < grid.columns {
                            covariance += (v[i] - mean) * (v[i + 1] - mean)
                            pairs += 1
                        }
                        if row + 1 < grid.rows {
                            covariance += (v[i] - mean) * (v[i + grid.columns] - mean)
                            pairs += 1
                        }
                    }
                }
                guard pairs > 0 else { continue }
                sum += covariance / Double(pairs) / variance
                columns += 1
            }
            if columns > 0 { correlations.append(sum / Double(columns)) }
        }
        guard !correlations.isEmpty else { return 1 }
        let rho = correlations.reduce(0, +) / Double(correlations.count)
        return Float(min(1, max(0, 1 - rho / structuredCorrelation)))
    }

    /// The neighbour correlation at and above which a frame's chips get no context.
    static let structuredCorrelation = 0.4

    /// Each chip's values replaced by the weighted mean over its context (see
    /// ``contextWeights(_:grid:reach:)``).
    static func smooth(_ block: FeatureBlock, weights: [[(chip: Int, weight: Float)]]) -> FeatureBlock {
        var out = block
        for (chip, window) in weights.enumerated() {
            var sum = [Float](repeating: 0, count: block.width)
            var total: Float = 0
            for (other, weight) in window {
                for (k, v) in block.chip(other).enumerated() { sum[k] += weight * v }
                total += weight
            }
            let base = chip * block.width
            for k in 0..<block.width { out.values[base + k] = sum[k] / max(total, 1e-12) }
        }
        return out
    }

    private func plan(_ side: Int, latticeFrequency: Double?) -> (FourierTransform2D, [Float], ChipDescriptors.Rings) {
        let key = PlanKey(side: side, latticeFrequency: latticeFrequency)
        if let known = transforms[key] { return known }
        // Frames whose headers claim slightly different pixel sizes each need their own rings: a
        // long session must not keep one plan per frame.
        if transforms.count >= Self.maximumPlans { transforms.removeAll() }
        let transform = FourierTransform2D(width: side, height: side)
        let made = (
            transform, ChipDescriptors.hann(side),
            ChipDescriptors.rings(side: side, transform: transform, latticeFrequency: latticeFrequency)
        )
        transforms[key] = made
        return made
    }
}

extension ChipFeatureOptions {
    /// The context used on `grid`: `context`, capped so that the window of (2·reach + 1) chips
    /// covers at most a third of the frame's shorter side. A frame of 4 x 4 chips is then described
    /// chip by chip, one of 16 x 16 with its 5 x 5 neighbourhood, so a chip's descriptor never
    /// averages most of its frame.
    public func reach(for grid: ChipGrid) -> Int {
        let shorter = min(grid.rows, grid.columns)
        return max(0, min(context, (shorter / 3 - 1) / 2))
    }
}
