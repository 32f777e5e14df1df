/// A frame's pixel size as its header claims it and as its lattice measures it.
public struct PixelSizeReading: Sendable, Hashable {
    /// The header's pixel size (field of view over pixels), Å.
    public var claimed: Double
    /// The pixel size the lattice's period implies for the sample, Å.
    public var measured: Double
    /// Whether the two agree (within 15 %). A frame whose calibration is off is not analysed for
    /// defects: at the wrong scale the detector would report nonsense with confidence.
    public var consistent: Bool

    /// A reading.
    public init(claimed: Double, measured: Double, consistent: Bool) {
        self.claimed = claimed
        self.measured = measured
        self.consistent = consistent
    }
}
