public import DefectDetection
import Foundation
public import ImageNumerics
import Simulator
import WireProtocol

/// One labelled training image: a z-scored HAADF tile and a class per pixel.
public struct TrainingTile: Sendable {
    /// Side, pixels.
    public let size: Int
    /// Pixel size, Å.
    public let pixelSize: Double
    /// The image, z-scored (mean 0, standard deviation 1), row-major.
    public let image: [Float]
    /// `DefectClass` raw value per pixel.
    public let labels: [Int]
    /// The defects, with their true positions.
    public let defects: [DefectLocation]
    /// The conditions it was simulated under.
    public let conditions: TileConditions
}

extension TrainingTile {
    /// A labelled square frame (a virtual-microscope frame with its ground truth, say) to score
    /// detectors on: z-scored, a label disk per defect; `conditions` when known.
    public init(frame: Image, pixelSize: Double, defects: [DefectLocation], conditions: TileConditions? = nil) {
        precondition(frame.width == frame.height, "a tile is square")
        let mean = frame.mean
        let deviation = max(frame.standardDeviation, 1e-6)
        self.init(
            size: frame.width, pixelSize: pixelSize, image: frame.pixels.map { ($0 - mean) / deviation },
            labels: TrainingTiles.labels(
                defects, size: frame.width, radius: TrainingTiles.labelRadius / pixelSize),
            defects: defects, conditions: conditions ?? .nominal(pixelSize: pixelSize))
    }
}

/// Labelled tiles from the virtual microscope under randomised conditions.
public enum TrainingTiles {
    /// Radius of a defect's label disk, Å.
    public static let labelRadius = 0.6

    /// `count` tiles of `size` pixels, deterministic for `seed`.
    public static func generate(
        count: Int, size: Int, ranges: ConditionRanges = ConditionRanges(), seed: UInt64
    ) -> [TrainingTile] {
        var random = Draw(seed: seed)
        return (0..<count).map { index in
            let conditions = ranges.draw(&random)
            return tile(size: size, conditions: conditions, seed: seed &+ UInt64(index) &* 7919, random: &random)
        }
    }

    /// `count` tiles of `size` pixels under exactly `conditions` (different places and noise).
    public static func generate(count: Int, size: Int, conditions: TileConditions, seed: UInt64) -> [TrainingTile] {
        var random = Draw(seed: seed)
        return (0..<count).map { index in
            tile(size: size, conditions: conditions, seed: seed &+ UInt64(index) &* 7919, random: &random)
        }
    }

    /// `count` unlabelled images of `width` x `height` pixels (scanned line by line, `width`
    /// pixels to a line), conditions drawn from `ranges`: the realism step's simulations, shaped
    /// like the frames they are compared with so that the scan's timing (line time, drift over
    /// the frame, mains wobble) is the same. Deterministic for `seed`.
    public static func images(
        count: Int, width: Int, height: Int, ranges: ConditionRanges, seed: UInt64
    ) -> [(image: Image, conditions: TileConditions)] {
        var random = Draw(seed: seed)
        return (0..<count).map { index in
            let conditions = ranges.draw(&random)
            let image = render(
                width: width, height: height, conditions: conditions, seed: seed &+ UInt64(index) &* 7919,
                holes: false, random: &random
            ).image
            return (image, conditions)
        }
    }

    /// `tiles` with an offset added to every scan line (row), `sigma` standard deviations of the
    /// tile, independent from line to line, then z-scored again: the horizontal streaks of a
    /// noisy scan or flyback, which the fitted condition model has no parameter for (an effect to
    /// test realism models on). Deterministic for `seed`.
    public static func addingLineNoise(_ tiles: [TrainingTile], _ sigma: Double, seed: UInt64) -> [TrainingTile] {
        guard sigma > 0 else { return tiles }
        var random = Draw(seed: seed)
        return tiles.map { tile in
            var image = Image(width: tile.size, height: tile.size, pixels: tile.image)
            for row in 0..<tile.size {
                let offset = Float(sigma * random.gaussian())
                for x in 0..<tile.size { image.pixels[row * tile.size + x] += offset }
            }
            return TrainingTile(
                frame: image, pixelSize: tile.pixelSize, defects: tile.defects, conditions: tile.conditions)
        }
    }

    /// One tile under `conditions`.
    static func tile(size: Int, conditions: TileConditions, seed: UInt64, random: inout Draw) -> TrainingTile {
        let (image, truth) = render(
            width: size, height: size, conditions: conditions, seed: seed, holes: true, random: &random)
        let defects = truth.defects.map {
            DefectLocation(x: $0.x, y: $0.y, kind: DefectClass(name: $0.kind.rawValue) ?? .background)
        }
        return TrainingTile(frame: image, pixelSize: conditions.pixelSize, defects: defects, conditions: conditions)
    }

    /// A raw HAADF image under `conditions` and its ground truth; with `holes`, some at or in a hole.
    static func render(
        width: Int, height: Int, conditions: TileConditions, seed: UInt64, holes: Bool, random: inout Draw
    ) -> (image: Image, truth: GroundTruth) {
        // A defect-rich sample without zones, so every tile teaches something.
        var layout = SampleLayout.standard(seed: seed)
        layout.holes = []
        layout.vacancyRich = []
        layout.damaged = []
        layout.contamination = []
        layout.pristineVacancies = VacancyConcentrations(se1: random.in(0.01...0.05), se2: 0.004, w: 0.003)
        var optics = ProbeOptics()
        optics.current = conditions.current
        optics.defocus = conditions.defocus
        optics.astigmatism = conditions.astigmatism
        optics.astigmatismAngle = random.in(0...180)
        optics.coma = conditions.coma
        optics.comaAngle = random.in(0...360)
        var haadf = Detector.haadf
        haadf.exponent = conditions.exponent
        haadf.readNoise = conditions.readNoise
        var distortion = ScanDistortion()
        distortion.lineJitter = conditions.lineJitter
        let driftAngle = random.in(0...(2 * .pi))
        distortion.driftVelocityX = conditions.drift * cos(driftAngle)
        distortion.driftVelocityY = conditions.drift * sin(driftAngle)
        let fov = conditions.pixelSize / 10 * Double(width)
        let scan = ScanGeometry(
            centerX: random.in(-800...800), centerY: random.in(-800...800), fovX: fov, width: width, height: height,
            dwell: conditions.dwell, rotation: random.in(0...360))
        if holes {
            // One tile in eight at the rim of a hole or inside one: real frames run into holes, and
            // a detector that never saw vacuum finds defects in its noise. (Drawn apart from
            // `random`, so that the other tiles of a seed stay as they were.)
            var own = Draw(seed: seed ^ 0x401E_5EED)
            if own.unit() < 0.125 {
                let radius = 30.0
                let angle = own.in(0...(2 * .pi))
                let distance = radius + own.in(-1.5 * fov...0.5 * fov)
                layout.holes = [
                    Disc(
                        x: scan.centerX + distance * cos(angle), y: scan.centerY + distance * sin(angle), radius: radius
                    )
                ]
            }
        }
        let scope = VirtualMicroscope(
            sample: Sample(layout: layout), optics: optics, detectors: [haadf], distortion: distortion,
            noiseSeed: seed ^ 0x5DEE_CE66)
        let frame = scope.acquire(scan, channels: ["HAADF"], deposit: false)
        guard var image = frame.channels["HAADF"] else {
            preconditionFailure("the training microscope is built with a HAADF detector")
        }
        addBackground(to: &image, fraction: conditions.background, pixelSize: conditions.pixelSize, random: &random)
        return (image, frame.truth)
    }

    /// A slow background of `fraction` of the mean signal (contamination, detector offset): a few
    /// random waves of 2 to 8 nm, rescaled to 0 ... 1.
    static func addBackground(to image: inout Image, fraction: Double, pixelSize: Double, random: inout Draw) {
        guard fraction > 0 else { return }
        let waves = (0..<3).map { _ in
            let wavelength = random.in(20...80) / pixelSize  // pixels
            let angle = random.in(0...(2 * .pi))
            return (
                kx: 2 * .pi / wavelength * cos(angle), ky: 2 * .pi / wavelength * sin(angle),
                phase: random.in(0...(2 * .pi))
            )
        }
        var field = [Double](repeating: 0, count: image.pixels.count)
        for y in 0..<image.height {
            for x in 0..<image.width {
                field[y * image.width + x] = waves.reduce(0) {
                    $0 + cos($1.kx * Double(x) + $1.ky * Double(y) + $1.phase)
                }
            }
        }
        let low = field.min() ?? 0
        let span = max((field.max() ?? 1) - low, 1e-9)
        let scale = fraction * Double(image.mean)
        for i in field.indices { image.pixels[i] += Float(scale * (field[i] - low) / span) }
    }

    /// A class per pixel: each defect's disk of `radius` pixels carries its class.
    public static func labels(_ defects: [DefectLocation], size: Int, radius: Double) -> [Int] {
        var labels = [Int](repeating: DefectClass.background.rawValue, count: size * size)
        let reach = Int(radius.rounded(.up))
        for defect in defects {
            let cx = Int(defect.x.rounded())
            let cy = Int(defect.y.rounded())
            for y in max(0, cy - reach)...min(size - 1, cy + reach) where cy - reach < size && cy + reach >= 0 {
                for x in max(0, cx - reach)...min(size - 1, cx + reach) where cx - reach < size && cx + reach >= 0 {
                    let d2 =
                        (Double(x) - defect.x) * (Double(x) - defect.x) + (Double(y) - defect.y)
                        * (Double(y) - defect.y)
                    if d2 <= radius * radius { labels[y * size + x] = defect.kind.rawValue }
                }
            }
        }
        return labels
    }
}

/// Seeded draws for training-data conditions.
struct Draw {
    private var state: UInt64
    init(seed: UInt64) { state = seed | 1 }

    mutating func unit() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53)
    }

    mutating func `in`(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * unit()
    }

    /// A standard normal draw (Box-Muller).
    mutating func gaussian() -> Double {
        let u = max(unit(), 1e-300)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * unit())
    }
}

extension ConditionRanges {
    /// Draws one set of conditions.
    func draw(_ random: inout Draw) -> TileConditions {
        TileConditions(
            pixelSize: random.in(pixelSize), dwell: random.in(dwell), current: random.in(current),
            defocus: random.in(defocus), astigmatism: random.in(astigmatism), coma: random.in(coma),
            exponent: random.in(exponent), readNoise: random.in(readNoise), lineJitter: random.in(lineJitter),
            drift: random.in(drift), background: random.in(background))
    }
}
