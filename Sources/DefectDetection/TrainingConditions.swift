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

}
