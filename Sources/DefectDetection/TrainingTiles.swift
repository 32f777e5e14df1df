import Foundation
import Numerics
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

    /// The default ranges.
    public init() {}
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
            let conditions = TileConditions(
                pixelSize: random.in(ranges.pixelSize), dwell: random.in(ranges.dwell),
                current: random.in(ranges.current),
                defocus: random.in(ranges.defocus), astigmatism: random.in(ranges.astigmatism),
                coma: random.in(ranges.coma),
                exponent: random.in(ranges.exponent), readNoise: random.in(ranges.readNoise))
            return tile(size: size, conditions: conditions, seed: seed &+ UInt64(index) &* 7919, random: &random)
        }
    }

    /// One tile under `conditions`.
    static func tile(size: Int, conditions: TileConditions, seed: UInt64, random: inout Draw) -> TrainingTile {
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
        let scope = VirtualMicroscope(
            sample: Sample(layout: layout), optics: optics, detectors: [haadf], noiseSeed: seed ^ 0x5DEE_CE66)
        let fov = conditions.pixelSize / 10 * Double(size)
        let scan = ScanGeometry(
            centerX: random.in(-800...800), centerY: random.in(-800...800), fovX: fov, width: size, height: size,
            dwell: conditions.dwell, rotation: random.in(0...360))
        let frame = scope.acquire(scan, channels: ["HAADF"], deposit: false)
        let image = frame.channels["HAADF"]!
        let mean = image.mean
        let deviation = max(image.standardDeviation, 1e-6)
        let defects = frame.truth.defects.map {
            DefectLocation(x: $0.x, y: $0.y, kind: DefectClass(name: $0.kind.rawValue) ?? .background)
        }
        return TrainingTile(
            size: size, pixelSize: conditions.pixelSize, image: image.pixels.map { ($0 - mean) / deviation },
            labels: labels(defects, size: size, radius: labelRadius / conditions.pixelSize), defects: defects,
            conditions: conditions)
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
