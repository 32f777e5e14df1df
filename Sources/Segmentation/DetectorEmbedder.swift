public import DefectDetection
import Foundation
public import ImageNumerics
import NeuralNetwork

/// Chip embeddings from the defect detector: the encoder's bottleneck activations (one vector per
/// 2^depth-pixel block, at the model's pixel size) averaged and max-pooled over each chip — the
/// analogue of the published method's pretrained CNN features, but learned on this material — and,
/// optionally, the number of each defect type the detector finds per nm² of the chip, which tells
/// vacancy-rich lattice from pristine.
public final class DetectorEmbedder: ChipEmbedder {
    /// What goes into the embedding.
    public struct Parts: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Pooled bottleneck activations.
        public static let bottleneck = Parts(rawValue: 1)
        /// Defects found per nm², per defect type (logarithmic).
        public static let defectDensity = Parts(rawValue: 2)
    }

    private let detector: DefectDetector
    /// What goes into the embedding.
    public let parts: Parts
    private let frozen: FrozenResidualUNet
    private let modelPixelSize: Double
    private let workspace = InferenceWorkspace()
    private let channels: Int
    /// Largest piece of a frame encoded at once, pixels at the model's pixel size.
    public var tileSize = 1024
    /// Detections of the next frame, when the caller has run the detector already; used once.
    public var nextDetections: [DefectLocation]?

    /// Embeddings from `detector`'s current weights.
    public init(_ detector: DefectDetector, parts: Parts = [.bottleneck, .defectDensity]) {
        self.detector = detector
        self.parts = parts
        frozen = FrozenResidualUNet(detector.network)
        modelPixelSize = detector.metadata.pixelSize
        channels = detector.metadata.architecture.width << detector.metadata.architecture.depth
    }

    private var defectTypes: Int { detector.metadata.architecture.classes - 1 }

    /// Mean and maximum of each bottleneck channel, then one density per defect type.
    public var embeddingWidth: Int {
        (parts.contains(.bottleneck) ? 2 * channels : 0) + (parts.contains(.defectDensity) ? defectTypes : 0)
    }

    /// Runs the detector on `image` once for both uses: returns the defects it finds in each chip
    /// of `grid` (for ``SegmentationSession/add(channels:pixelSize:defectsPerChip:)``) and keeps them
    /// for the next ``embeddings(of:pixelSize:grid:)``.
    public func defectCounts(of image: Image, pixelSize: Double, grid: ChipGrid) -> [Int] {
        let found = detector.detect(image, pixelSize: pixelSize)
        nextDetections = found
        return grid.counts(of: found.lazy.map { ($0.x, $0.y) })
    }

    /// The densities come last, one per defect type.
    public var defectDensityColumns: Range<Int>? {
        parts.contains(.defectDensity) ? (embeddingWidth - defectTypes)..<embeddingWidth : nil
    }

    /// One vector per chip of `grid`.
    public func embeddings(of image: Image, pixelSize: Double, grid: ChipGrid) -> [Float] {
        let pooled =
            parts.contains(.bottleneck) ? bottleneckEmbeddings(of: image, pixelSize: pixelSize, grid: grid) : []
        guard parts.contains(.defectDensity) else { return pooled }
        let density = defectDensities(of: image, pixelSize: pixelSize, grid: grid)
        guard parts.contains(.bottleneck) else { return density }
        var out: [Float] = []
        out.reserveCapacity(grid.count * embeddingWidth)
        for chip in 0..<grid.count {
            out += pooled[(chip * 2 * channels)..<((chip + 1) * 2 * channels)]
            out += density[(chip * defectTypes)..<((chip + 1) * defectTypes)]
        }
        return out
    }

    /// Defects found in each chip, per type (the detector's peaks, as `scopepilot detect` reports
    /// them), as log(1 + density / 0.1 nm⁻²): the logarithm keeps a damaged zone's dozens of
    /// "defects" from drowning the difference between one vacancy per 10 nm² and one per 100.
    private func defectDensities(of image: Image, pixelSize: Double, grid: ChipGrid) -> [Float] {
        let chipArea = pow(Double(grid.chipSize) * pixelSize / 10, 2)  // nm²
        var out = [Float](repeating: 0, count: grid.count * defectTypes)
        let found = nextDetections ?? detector.detect(image, pixelSize: pixelSize)
        nextDetections = nil
        for defect in found {
            guard let chip = grid.chip(containingX: Int(defect.x.rounded()), y: Int(defect.y.rounded())) else {
                continue
            }
            out[chip * defectTypes + defect.kind.rawValue - 1] += Float(1 / chipArea)
        }
        return out.map { Float(log1p(Double($0) / 0.1)) }
    }

    /// Mean and maximum of each bottleneck channel over each chip.
    private func bottleneckEmbeddings(of image: Image, pixelSize: Double, grid: ChipGrid) -> [Float] {
        let scale = pixelSize / modelPixelSize
        let resampled = DefectDetector.resample(image, scale: scale)
        let mean = resampled.mean
        let deviation = max(resampled.standardDeviation, 1e-6)
        let granularity = frozen.architecture.granularity
        // Bottleneck cells: centre in original pixels, and their vectors.
        var centres: [(x: Double, y: Double)] = []
        var vectors: [Float] = []
        var y0 = 0
        while y0 < resampled.height {
            var x0 = 0
            let th = min(tileSize, resampled.height - y0)
            while x0 < resampled.width {
                let tw = min(tileSize, resampled.width - x0)
                let ph = (th + granularity - 1) / granularity * granularity
                let pw = (tw + granularity - 1) / granularity * granularity
                var tile = [Float](repeating: 0, count: ph * pw)
                for y in 0..<ph {
                    let sy = y0 + min(y, th - 1)  // edge replication into the padding
                    for x in 0..<pw {
                        tile[y * pw + x] =
                            (resampled.pixels[sy * resampled.width + x0 + min(x, tw - 1)] - mean) / deviation
                    }
                }
                let cells = tile.withUnsafeBufferPointer {
                    frozen.bottleneck($0, height: ph, width: pw, workspace: workspace)
                }
                for cy in 0..<cells.height {
                    for cx in 0..<cells.width {
                        let rx = Double(x0) + (Double(cx) + 0.5) * Double(granularity) - 0.5
                        let ry = Double(y0) + (Double(cy) + 0.5) * Double(granularity) - 0.5
                        guard rx < Double(x0 + tw), ry < Double(y0 + th) else { continue }  // padding only
                        centres.append(((rx + 0.5) / scale - 0.5, (ry + 0.5) / scale - 0.5))
                        for c in 0..<channels { vectors.append(cells.data[(c * cells.height + cy) * cells.width + cx]) }
                    }
                }
                x0 += tw
            }
            y0 += th
        }
        let width = 2 * channels
        var out = [Float](repeating: 0, count: grid.count * width)
        for index in 0..<grid.count {
            let (ox, oy) = grid.origin(of: index)
            let side = Double(grid.chipSize)
            var members = centres.indices.filter {
                centres[$0].x >= Double(ox) - 0.5 && centres[$0].x < Double(ox) + side - 0.5
                    && centres[$0].y >= Double(oy) - 0.5 && centres[$0].y < Double(oy) + side - 0.5
            }
            if members.isEmpty {
                // A chip smaller than a cell: the nearest cell.
                let cx = Double(ox) + side / 2
                let cy = Double(oy) + side / 2
                let nearest = centres.indices.min {
                    let a = centres[$0]
                    let b = centres[$1]
                    return (a.x - cx) * (a.x - cx) + (a.y - cy) * (a.y - cy) < (b.x - cx) * (b.x - cx)
                        + (b.y - cy) * (b.y - cy)
                }
                if let nearest { members = [nearest] }
            }
            guard !members.isEmpty else { continue }
            for c in 0..<channels {
                var sum: Float = 0
                var largest = -Float.infinity
                for m in members {
                    let v = vectors[m * channels + c]
                    sum += v
                    largest = max(largest, v)
                }
                out[index * width + c] = sum / Float(members.count)
                out[index * width + channels + c] = largest
            }
        }
        return out
    }
}
