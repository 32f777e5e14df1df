import Foundation

/// An annular detector: what it collects, and the noise it adds.
///
/// The scattered fraction for a probe at r is Σ σ(Z)·P(r − r_i) over atoms, with the cross-section
/// σ(Z) = σ_W · (Z / 74)^n and P the probe intensity per nm². Detected counts are Poisson with mean
/// electrons x fraction x efficiency; the output is gain x counts + offset + Gaussian read noise,
/// in ADU (clamped to uint16).
public struct Detector: Sendable, Codable, Hashable {
    /// Name, as in frame headers.
    public var name: String
    /// Exponent n of the Z-contrast (about 1.7 for HAADF, lower at medium angles).
    public var exponent: Double
    /// Cross-section of one W atom for this detector, nm².
    public var tungstenCrossSection: Double
    /// Fraction of scattered electrons counted.
    public var efficiency: Double
    /// ADU per count.
    public var gain: Double
    /// ADU added to every pixel.
    public var offset: Double
    /// Read noise, ADU (standard deviation).
    public var readNoise: Double

    /// The HAADF detector.
    public static let haadf = Detector(
        name: "HAADF", exponent: 1.7, tungstenCrossSection: 1.5e-4, efficiency: 0.9, gain: 4, offset: 100,
        readNoise: 3)
    /// A medium-angle detector: lower Z contrast, more signal from light atoms.
    public static let maadf = Detector(
        name: "MAADF", exponent: 1.2, tungstenCrossSection: 3e-4, efficiency: 0.9, gain: 4, offset: 100,
        readNoise: 3)

    /// σ(Z), nm².
    public func crossSection(_ z: Int) -> Double {
        tungstenCrossSection * pow(Double(z) / Double(WSe2Lattice.tungsten), exponent)
    }
}
