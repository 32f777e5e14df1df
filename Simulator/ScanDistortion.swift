import Foundation

/// How the scan departs from the ideal raster, and thermal drift of the sample.
///
/// Every pixel is sampled where the beam really was: nominal position, plus the drift the sample
/// has made by that pixel's time, plus the line's jitter, plus the flyback lag at the start of each
/// line, plus a mains-frequency wobble along x.
public struct ScanDistortion: Sendable, Codable, Hashable {
    /// Drift velocity at the start of the session, nm/s (x, y).
    public var driftVelocityX = 0.01
    /// Drift velocity y, nm/s.
    public var driftVelocityY = -0.005
    /// Random walk of the drift velocity, nm/s per √s.
    public var driftWalk = 0.002
    /// Standard deviation of each line's x offset, pixels.
    public var lineJitter = 0.25
    /// Flyback lag at the first pixel of a line, pixels; it decays over `flybackDecay` pixels.
    public var flybackAmplitude = 1.5
    /// Decay length of the flyback lag, pixels.
    public var flybackDecay = 12.0
    /// Mains wobble amplitude along x, nm.
    public var mainsAmplitude = 0.01
    /// Mains frequency, Hz.
    public var mainsFrequency = 50.0
    /// Flyback time per line, us.
    public var flybackTime = 100.0

    /// The default distortions of a well-behaved instrument.
    public init() {}

    /// No distortion and no drift: the ideal raster.
    public static let none: ScanDistortion = {
        var d = ScanDistortion()
        d.driftVelocityX = 0
        d.driftVelocityY = 0
        d.driftWalk = 0
        d.lineJitter = 0
        d.flybackAmplitude = 0
        d.mainsAmplitude = 0
        return d
    }()
}

/// The sample's drift over the session: a velocity that wanders, integrated over simulated time.
struct DriftState: Sendable {
    /// Offset of the sample, nm, at `time`.
    var offsetX = 0.0
    var offsetY = 0.0
    var velocityX: Double
    var velocityY: Double
    /// Simulated time, s.
    var time = 0.0

    init(_ distortion: ScanDistortion) {
        velocityX = distortion.driftVelocityX
        velocityY = distortion.driftVelocityY
    }

    /// Advances to `time`, letting the velocity take a random-walk step.
    mutating func advance(to newTime: Double, walk: Double, noise: inout NoiseGenerator) {
        let dt = newTime - time
        guard dt > 0 else { return }
        offsetX += velocityX * dt
        offsetY += velocityY * dt
        velocityX += walk * dt.squareRoot() * noise.gaussian()
        velocityY += walk * dt.squareRoot() * noise.gaussian()
        time = newTime
    }
}
