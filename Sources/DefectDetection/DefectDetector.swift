public import Foundation
public import ImageNumerics
public import NeuralNetwork

/// What a detector model is, stored beside its weights as JSON.
public struct DetectorMetadata: Sendable, Codable, Hashable {
    /// The network's shape.
    public var architecture: ResidualUNet.Architecture
    /// The pixel size the model works at, Å; other images are resampled to it.
    public var pixelSize: Double
    /// Class names in output-channel order.
    public var classes: [String]
    /// The condition ranges of its training data.
    public var trainingConditions: ConditionRanges
    /// Seed of the training data.
    public var dataSeed: UInt64
    /// Validation figures, e.g. "se1_f1".
    public var metrics: [String: Double]
    /// How it was made (the command line).
    public var recipe: String
    /// The realism step's estimate the training conditions came from, if any.
    public var realism: ConditionEstimate?
    /// The peak threshold calibrated on held-out simulations (nil: the default, 0.6).
    public var peakThreshold: Float?
    /// The learned realism model its training tiles passed through ("cyclegan:PATH"), if any.
    public var realismModel: String?

    enum CodingKeys: String, CodingKey {
        case architecture, pixelSize = "pixel_size_angstrom", classes, trainingConditions = "training_conditions"
        case dataSeed = "data_seed", metrics, recipe, realism, peakThreshold = "peak_threshold"
        case realismModel = "realism_model"
    }
}

/// A model that could not be found or read, with what to do about it.
public struct ModelLoadError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case notFound = "not_found", unreadable }
        private let kind: Kind

        /// No model file or shipped model of that name.
        public static let notFound = Code(kind: .notFound)
        /// The model file cannot be read or is not a model.
        public static let unreadable = Code(kind: .unreadable)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code

    /// What went wrong and what to do.
    public let description: String
}

/// The single-atom defect detector: a residual U-Net and its metadata. Finds defects in images of
/// any size and pixel size.
public final class DefectDetector {
    /// The peak threshold of a model without a calibrated one.
    public static let defaultPeakThreshold: Float = 0.6
    /// The network.
    public let network: ResidualUNet
    /// What the model is.
    public var metadata: DetectorMetadata
    /// Largest tile run through the network at once (about 150 MB of activations at 1024 with the
    /// default model); larger images are tiled with overlap.
    public var tileSize = 1024
    /// Overlap between tiles, pixels (each tile's border is discarded).
    public var tileOverlap = 32
    /// Activation buffers, reused while frames keep their size.
    private let workspace = InferenceWorkspace()

    /// A new, untrained detector.
    public init(architecture: ResidualUNet.Architecture, pixelSize: Double, seed: UInt64 = 1) {
        network = ResidualUNet(architecture, seed: seed)
        metadata = DetectorMetadata(
            architecture: architecture, pixelSize: pixelSize,
            classes: DefectClass.allCases.prefix(architecture.classes).map(\.description),
            trainingConditions: ConditionRanges(), dataSeed: 0, metrics: [:], recipe: "")
    }

    /// The detector shipped with ScopePilot (Se1, trained on the virtual microscope; the exact
    /// command is in its metadata's `recipe`), if this build has it.
    public static var bundledModel: URL? { bundledModel(named: "se1") }

    /// A model shipped with ScopePilot by name: `se1` (Se1 only, the default) or `all` (Se1, Se2
    /// and W).
    public static func bundledModel(named name: String) -> URL? {
        Bundle.module.url(forResource: "detector-\(name)", withExtension: "safetensors", subdirectory: "Models")
    }

    /// Names of the models this build ships (`se1`, `all`).
    public static var bundledModelNames: [String] {
        guard let folder = Bundle.module.url(forResource: "Models", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path)
        else { return [] }
        return files.filter { $0.hasPrefix("detector-") && $0.hasSuffix(".safetensors") }
            .map { String($0.dropFirst("detector-".count).dropLast(".safetensors".count)) }.sorted()
    }

    /// Loads a model given as a path or as the name of a shipped model (`se1`, `all`); nil loads
    /// the default. Every failure says what was looked for and what to do.
    public static func load(_ pathOrName: String?) throws(ModelLoadError) -> (detector: DefectDetector, url: URL) {
        let url: URL
        if let pathOrName {
            let isName = !pathOrName.contains("/") && !pathOrName.hasSuffix(".safetensors")
            if isName, let shipped = bundledModel(named: pathOrName) {
                url = shipped
            } else if isName && !FileManager.default.fileExists(atPath: pathOrName) {
                throw ModelLoadError(
                    code: .notFound,
                    description:
                        "no model file '\(pathOrName)' and no shipped model of that name (shipped: \(bundledModelNames.joined(separator: ", ")))"
                )
            } else {
                url = URL(fileURLWithPath: pathOrName)
            }
        } else if let shipped = bundledModel {
            url = shipped
        } else {
            throw ModelLoadError(
                code: .notFound,
                description:
                    "this build ships no model; pass --model PATH (train one with `scopepilot train --out PATH`)")
        }
        do {
            return (try DefectDetector(contentsOf: url), url)
        } catch {
            throw ModelLoadError(
                code: .unreadable,
                description:
                    "cannot load the model \(url.path): \(error). Train one with `scopepilot train --out PATH`.")
        }
    }

    /// Loads `NAME.safetensors` and `NAME.json`.
    public init(contentsOf url: URL) throws {
        let metadataURL = url.deletingPathExtension().appendingPathExtension("json")
        do {
            metadata = try JSONDecoder().decode(DetectorMetadata.self, from: try Data(contentsOf: metadataURL))
        } catch {
            throw SafeTensorsError(
                .unreadable, path: metadataURL.path,
                problem: "cannot read the model's metadata beside its weights: \(error.localizedDescription)")
        }
        network = ResidualUNet(metadata.architecture)
        try network.load(from: url)
    }

    /// An independent copy: same weights, statistics and metadata.
    public func copy() -> DefectDetector {
        let twin = DefectDetector(architecture: metadata.architecture, pixelSize: metadata.pixelSize)
        twin.metadata = metadata
        twin.tileSize = tileSize
        twin.tileOverlap = tileOverlap
        let source = network.state
        for (name, tensor) in twin.network.state {
            if let original = source[name] { tensor.assign(original.values) }
        }
        return twin
    }

    /// Writes `NAME.safetensors` and `NAME.json`.
    public func save(to url: URL) throws {
        try network.save(
            to: url,
            metadata: [
                "pixel_size_angstrom": "\(metadata.pixelSize)", "classes": metadata.classes.joined(separator: ","),
            ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(metadata).write(to: url.deletingPathExtension().appendingPathExtension("json"))
    }

    /// Per-class probability maps for an image already at the model's pixel size.
    public func probabilities(_ image: Image) -> [[Float]] {
        let classes = metadata.architecture.classes
        let granularity = metadata.architecture.granularity
        // Frozen per call: training changes the weights between calls, and folding is cheap.
        let frozen = FrozenResidualUNet(network)
        var maps = [[Float]](repeating: [Float](repeating: 0, count: image.width * image.height), count: classes)
        let normalised = Self.zScore(image)
        // One tile when the image fits; otherwise blocks whose tiles overlap their neighbours.
        let fits = image.width <= tileSize && image.height <= tileSize
        let overlap = fits ? 0 : tileOverlap
        let step = fits ? max(image.width, image.height) : max(granularity, tileSize - 2 * tileOverlap)
        var y0 = 0
        while y0 < image.height {
            var x0 = 0
            while x0 < image.width {
                // A tile around the block (x0, y0, step), padded to the granularity by reflection.
                let bx = min(step, image.width - x0)
                let by = min(step, image.height - y0)
                let left = min(overlap, x0)
                let top = min(overlap, y0)
                let tw = Self.roundUp(bx + left + min(overlap, image.width - x0 - bx), granularity)
                let th = Self.roundUp(by + top + min(overlap, image.height - y0 - by), granularity)
                var tile = [Float](repeating: 0, count: tw * th)
                for ty in 0..<th {
                    let sy = Self.reflect(y0 - top + ty, image.height)
                    for tx in 0..<tw {
                        tile[ty * tw + tx] =
                            normalised.pixels[sy * image.width + Self.reflect(x0 - left + tx, image.width)]
                    }
                }
                let logits = tile.withUnsafeBufferPointer {
                    frozen.logits($0, height: th, width: tw, workspace: workspace)
                }
                var e = [Float](repeating: 0, count: classes)  // reused for every pixel
                for y in 0..<by {
                    for x in 0..<bx {
                        let p = (y + top) * tw + x + left
                        var largest = -Float.infinity
                        for c in 0..<classes { largest = max(largest, logits.data[c * th * tw + p]) }
                        var sum: Float = 0
                        for c in 0..<classes {
                            e[c] = exp(logits.data[c * th * tw + p] - largest)
                            sum += e[c]
                        }
                        for c in 0..<classes { maps[c][(y0 + y) * image.width + x0 + x] = e[c] / sum }
                    }
                }
                x0 += step
            }
            y0 += step
        }
        return maps
    }

    /// Defects in `image` of `pixelSize` Å, in the image's own pixel coordinates; none where the
    /// image shows no lattice (`lattice`, the image's ``LatticeMask``, computed when not given).
    public func detect(
        _ image: Image, pixelSize: Double, threshold: Float? = nil, lattice: LatticeMask? = nil
    ) -> [DefectLocation] {
        let scale = pixelSize / metadata.pixelSize
        let resampled = Self.resample(image, scale: scale)
        return peaks(
            in: probabilities(resampled), width: resampled.width, height: resampled.height, scale: scale,
            threshold: threshold ?? metadata.peakThreshold ?? Self.defaultPeakThreshold,
            lattice: lattice ?? LatticeMask(image, pixelSize: pixelSize))
    }

    /// Defects in `image` of `pixelSize` Å (as ``detect(_:pixelSize:threshold:lattice:)``) and the
    /// per-class probability maps behind them, in the image's own pixels, one per class in
    /// ``DefectClass`` order (background first); each pixel's probabilities sum to 1.
    public func detectWithProbabilities(
        _ image: Image, pixelSize: Double, threshold: Float? = nil
    ) -> (defects: [DefectLocation], probabilities: [Image]) {
        let scale = pixelSize / metadata.pixelSize
        let resampled = Self.resample(image, scale: scale)
        let maps = probabilities(resampled)
        let defects = peaks(
            in: maps, width: resampled.width, height: resampled.height, scale: scale,
            threshold: threshold ?? metadata.peakThreshold ?? Self.defaultPeakThreshold,
            lattice: LatticeMask(image, pixelSize: pixelSize))
        let inImagePixels = maps.map { map -> Image in
            let model = Image(width: resampled.width, height: resampled.height, pixels: map)
            guard model.width != image.width || model.height != image.height else { return model }
            var out = Image(width: image.width, height: image.height)
            for y in 0..<image.height {
                for x in 0..<image.width {
                    out[x, y] = model.sample(
                        x: Float((Double(x) + 0.5) * scale - 0.5), y: Float((Double(y) + 0.5) * scale - 0.5))
                }
            }
            return out
        }
        return (defects, inImagePixels)
    }

    /// Defects from per-class probability maps of an image resampled by `scale`, in the original
    /// image's pixel coordinates; with `lattice` (the original image's), only those on lattice.
    public func peaks(
        in maps: [[Float]], width: Int, height: Int, scale: Double = 1, threshold: Float,
        lattice: LatticeMask? = nil
    )
        -> [DefectLocation]
    {
        // The published cluster radius is 9 px at 0.207 Å/px: about 1.9 Å.
        let radius = 1.9 / metadata.pixelSize
        var found: [DefectLocation] = []
        for (index, map) in maps.enumerated().dropFirst() {
            let kind = DefectClass(rawValue: index) ?? .se1
            for peak in PeakExtraction.peaks(
                map, width: width, height: height, threshold: threshold, clusterRadius: radius)
            {
                // Pixel centres at integers: centre-aligned scaling.
                let x = (peak.x + 0.5) / scale - 0.5
                let y = (peak.y + 0.5) / scale - 0.5
                guard lattice?.contains(x: x, y: y) ?? true else { continue }
                found.append(DefectLocation(x: x, y: y, kind: kind, confidence: peak.confidence))
            }
        }
        return found
    }

    /// The image scaled by `scale` (bilinear, centre-aligned); unchanged when scale is about 1.
    public static func resample(_ image: Image, scale: Double) -> Image {
        guard abs(scale - 1) > 1e-3 else { return image }
        let width = max(1, Int((Double(image.width) * scale).rounded()))
        let height = max(1, Int((Double(image.height) * scale).rounded()))
        var out = Image(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                out[x, y] = image.sample(
                    x: Float((Double(x) + 0.5) / scale - 0.5), y: Float((Double(y) + 0.5) / scale - 0.5))
            }
        }
        return out
    }

    static func zScore(_ image: Image) -> Image {
        let mean = image.mean
        let deviation = max(image.standardDeviation, 1e-6)
        return Image(width: image.width, height: image.height, pixels: image.pixels.map { ($0 - mean) / deviation })
    }

    static func roundUp(_ n: Int, _ multiple: Int) -> Int { (n + multiple - 1) / multiple * multiple }

    /// Index `i` reflected into 0 ..< n (…2 1 0 1 2… at the edges).
    static func reflect(_ i: Int, _ n: Int) -> Int {
        guard n > 1 else { return 0 }
        let period = 2 * (n - 1)
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - m
    }
}
