public import ImageNumerics

/// A claimed pixel size checked against the lattice the frame shows (``LatticePeriod``).
public enum PixelSizeCheck: Sendable, Equatable {
    /// The lattice agrees with the claimed pixel size (within ``tolerance``).
    case consistent(LatticePeriod)
    /// The lattice says the pixel size is `implied` Å, not the one claimed.
    case mismatch(LatticePeriod, implied: Double)
    /// No lattice stands out (vacuum, amorphous, a frame too coarse for atoms): nothing to check.
    case unmeasured

    /// How far the implied pixel size may be from the claimed one: 15 %. Calibrations are good to
    /// a few per cent; a mistake (Å for nm, a wrong magnification) is a factor.
    public static let tolerance = 0.15

    /// Checks `claimed` Å per pixel against the lattice of `image`, for a sample whose first-order
    /// lattice planes are `samplePeriod` Å apart (WSe2 by default).
    public init(_ image: Image, claimed: Double, samplePeriod: Double = LatticePeriod.wse2) {
        guard let period = LatticePeriod.measure(image) else {
            self = .unmeasured
            return
        }
        let implied = period.pixelSize(forSamplePeriod: samplePeriod)
        self = abs(implied / claimed - 1) <= Self.tolerance ? .consistent(period) : .mismatch(period, implied: implied)
    }

    /// The pixel size the lattice implies (nil when unmeasured).
    public var implied: Double? {
        switch self {
        case .consistent(let period): period.pixelSize()
        case .mismatch(_, let implied): implied
        case .unmeasured: nil
        }
    }

    /// What the lattice says against `claimed`, in words (nil unless a mismatch).
    public func finding(claimed: Double, samplePeriod: Double = LatticePeriod.wse2) -> String? {
        guard case .mismatch(let period, let implied) = self else { return nil }
        let factor = claimed > implied ? claimed / implied : implied / claimed
        return "the lattice in this image repeats every \(Self.format(period.pixels)) px, which for WSe2 "
            + "(\(Self.format(samplePeriod)) Å between {100} planes) means \(Self.format(implied)) Å per pixel, not "
            + "the \(Self.format(claimed)) Å given (\(Self.format(factor))x off)"
    }

    /// Why `claimed` is refused on the command line, with what to give instead (nil unless a
    /// mismatch).
    public func refusal(claimed: Double, samplePeriod: Double = LatticePeriod.wse2) -> String? {
        guard case .mismatch(_, let implied) = self, let finding = finding(claimed: claimed, samplePeriod: samplePeriod)
        else { return nil }
        return finding + ". Check the calibration; give --pixel-size \(Self.format(implied)), or --pixel-size auto to "
            + "use the measurement"
    }

    static func format(_ value: Double) -> String {
        let digits = value >= 10 ? 1 : (value >= 1 ? 2 : 3)
        var text = String(value.rounded(toPlaces: digits))
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}

extension Double {
    fileprivate func rounded(toPlaces places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}
