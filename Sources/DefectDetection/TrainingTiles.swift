import Foundation
public import Numerics
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

/// The microscope conditions of one simulated tile.
public struct TileConditions: Sendable, Hashable, Codable {
    /// Pixel size, Å.
    public var pixelSize: Double
    /// Dwell, us.
    public var dwell: Double
    /// Probe current, pA.
    public var current: Double
    /// Defocus, nm.
    public var defocus: Double
    /// Twofold astigmatism, nm.
    public var astigmatism: Double
    /// Axial coma, nm.
    public var coma: Double
    /// HAADF contrast exponent.
    public var exponent: Double
    /// Read noise, ADU.
    public var readNoise: Double
    /// Line jitter, pixels (standard deviation of each line's x offset).
    public var lineJitter: Double = 0.25
    /// Thermal drift speed, nm/s, in a random direction.
    public var drift: Double = 0.01
    /// Slow background (contamination, detector offset) as a fraction of the mean signal.
    public var background: Double = 0

    /// Conditions of one tile.
    public init(
        pixelSize: Double, dwell: Double, current: Double, defocus: Double, astigmatism: Double, coma: Double,
        exponent: Double, readNoise: Double, lineJitter: Double = 0.25, drift: Double = 0.01, background: Double = 0
    ) {
        self.pixelSize = pixelSize
        self.dwell = dwell
        self.current = current
        self.defocus = defocus
        self.astigmatism = astigmatism
        self.coma = coma
        self.exponent = exponent
        self.readNoise = readNoise
        self.lineJitter = lineJitter
        self.drift = drift
        self.background = background
    }
}

/// The range each condition is drawn from; by default wide enough to cover real instruments'
/// variation around the published simulation's values. A realism step narrows it around the
/// conditions estimated from real frames.
public struct ConditionRanges: Sendable, Hashable, Codable {
    /// Pixel size, Å.
    public var pixelSize: ClosedRange<Double> = 0.16...0.26
    /// Dwell, us.
    public var dwell: ClosedRange<Double> = 8...40
    /// Current, pA.
    public var current: ClosedRange<Double> = 15...45
    /// Defocus, nm.
    public var defocus: ClosedRange<Double> = -3...3
    /// Astigmatism, nm.
    public var astigmatism: ClosedRange<Double> = 0...2
    /// Coma, nm.
    public var coma: ClosedRange<Double> = 0...60
    /// Contrast exponent (multislice-like contrast is lower than 1.7: REFERENCE.md section 2).
    public var exponent: ClosedRange<Double> = 1.3...1.8
    /// Read noise, ADU.
    public var readNoise: ClosedRange<Double> = 1...12
    /// Line jitter, pixels.
    public var lineJitter: ClosedRange<Double> = 0...1
    /// Drift speed, nm/s.
    public var drift: ClosedRange<Double> = 0...0.05
    /// Slow background, fraction of the mean signal.
    public var background: ClosedRange<Double> = 0...0.3

    /// The default ranges.
    public init() {}

    /// Ranges wide enough to hold any instrument's state: the prior of ``ConditionEstimator``.
    public static let wide: ConditionRanges = {
        var r = ConditionRanges()
        r.dwell = 4...60
        r.current = 8...60
        r.defocus = -8...8
        r.astigmatism = 0...6
        r.coma = 0...120
        r.exponent = 1.2...1.9
        r.readNoise = 0...20
        r.lineJitter = 0...1.5
        r.drift = 0...0.1
        r.background = 0...0.5
        return r
    }()

    /// The ranges of conditions that never change: every range is one value.
    public init(exactly c: TileConditions) {
        pixelSize = c.pixelSize...c.pixelSize
        dwell = c.dwell...c.dwell
        current = c.current...c.current
        defocus = c.defocus...c.defocus
        astigmatism = c.astigmatism...c.astigmatism
        coma = c.coma...c.coma
        exponent = c.exponent...c.exponent
        readNoise = c.readNoise...c.readNoise
        lineJitter = c.lineJitter...c.lineJitter
        drift = c.drift...c.drift
        background = c.background...c.background
    }

    enum CodingKeys: String, CodingKey {
        case pixelSize, dwell, current, defocus, astigmatism, coma, exponent, readNoise, lineJitter, drift, background
    }

    /// Decodes ranges; those a model's metadata predates keep their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ConditionRanges()
        pixelSize = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .pixelSize) ?? d.pixelSize
        dwell = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .dwell) ?? d.dwell
        current = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .current) ?? d.current
        defocus = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .defocus) ?? d.defocus
        astigmatism = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .astigmatism) ?? d.astigmatism
        coma = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .coma) ?? d.coma
        exponent = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .exponent) ?? d.exponent
        readNoise = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .readNoise) ?? d.readNoise
        lineJitter = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .lineJitter) ?? 0.25...0.25
        drift = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .drift) ?? 0.01...0.01
        background = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .background) ?? 0...0
    }

    /// Draws one set of conditions.
    func draw(_ random: inout Draw) -> TileConditions {
        TileConditions(
            pixelSize: random.in(pixelSize), dwell: random.in(dwell), current: random.in(current),
            defocus: random.in(defocus), astigmatism: random.in(astigmatism), coma: random.in(coma),
            exponent: random.in(exponent), readNoise: random.in(readNoise), lineJitter: random.in(lineJitter),
            drift: random.in(drift), background: random.in(background))
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
        var image = frame.channels["HAADF"]!
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
}
