import Foundation
public import ImageNumerics

/// Summary statistics of an atomic-resolution HAADF frame of WSe2 that the microscope's state
/// shapes and the sample's particular atoms barely do: the realism step compares them between
/// real frames and simulated ones.
///
/// Most come from the power spectrum of a windowed square crop. The honeycomb lattice puts its
/// power in rings of spots at |g₁| = 2/(√3·a), √3·|g₁| and 2·|g₁|; the probe's transfer falls
/// with frequency (defocus, astigmatism, coma, source size), the dose and detector noise set a
/// flat floor, line jitter damps spots with a large horizontal frequency, and W against Se2
/// contrast changes the second ring (the sublattices add in phase there) against the first.
public struct FrameStatistics: Sendable, Hashable, Codable {
    /// The lattice constant of the material the detectors are for (2H-WSe2), nm: its first
    /// reflection is where the lattice signal is measured.
    public static let latticeConstant = 0.328

    /// log10 of the first ring's power above the noise floor over the floor: dose and detector noise.
    public var signalToNoise: Double
    /// log10 of the second ring's excess power over the first's: contrast and resolution.
    public var secondRing: Double
    /// log10 of the third ring's excess power over the first's: resolution.
    public var thirdRing: Double
    /// Excess-power-weighted mean of kx²/k² over the second and third rings, minus 1/2: line
    /// jitter (0 for an undistorted lattice, whatever its rotation).
    public var anisotropy: Double
    /// Skewness of the 3 x 3-smoothed image: column contrast.
    public var skewness: Double
    /// log10 of the power below 0.12 Å⁻¹ (beyond 8 Å) over the first ring's: slow background.
    public var background: Double
    /// log10 of the pixel-to-pixel noise variance on the brightest quarter of the image over that
    /// on the darkest quarter: shot noise grows with the signal, read noise does not, so this
    /// separates a low current from a noisy detector.
    public var noiseGrowth: Double

    /// The statistics of `image` at `pixelSize` Å, from its central `side` x `side` pixels (or
    /// fewer, if it is smaller). The signal-to-noise figure grows with the side, so only compare
    /// statistics taken over the same side.
    public init(_ image: Image, pixelSize: Double, side wanted: Int = 256) {
        let side = Self.transformSide(min(image.width, image.height, wanted))
        let x0 = (image.width - side) / 2
        let y0 = (image.height - side) / 2
        var crop = [Float](repeating: 0, count: side * side)
        var sum: Double = 0
        for y in 0..<side { for x in 0..<side { crop[y * side + x] = image[x0 + x, y0 + y] } }
        for v in crop { sum += Double(v) }
        let mean = Float(sum / Double(crop.count))
        var variance: Double = 0
        for v in crop { variance += Double((v - mean) * (v - mean)) }
        let deviation = Float(max((variance / Double(crop.count)).squareRoot(), 1e-12))
        var window = [Float](repeating: 0, count: side)
        for i in 0..<side { window[i] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(side))) }
        var windowed = crop
        for y in 0..<side {
            for x in 0..<side {
                windowed[y * side + x] = (crop[y * side + x] - mean) / deviation * window[x] * window[y]
            }
        }
        let transform = FourierTransform2D(width: side, height: side)
        let spectrum = transform.forward(windowed)

        let g1 = 2 / (3.0.squareRoot() * Self.latticeConstant * 10)  // Å⁻¹
        let nyquist = 0.5 / pixelSize
        var power: [(k: Double, kx2: Double, p: Double)] = []
        power.reserveCapacity(side * transform.spectrumWidth)
        for row in 0..<side {
            let fy = Double(transform.frequencyY(row)) / pixelSize
            for column in 0..<transform.spectrumWidth {
                let fx = Double(transform.frequencyX(column)) / pixelSize
                let k = (fx * fx + fy * fy).squareRoot()
                guard k > 0 else { continue }
                let re = Double(spectrum[2 * (row * transform.spectrumWidth + column)])
                let im = Double(spectrum[2 * (row * transform.spectrumWidth + column) + 1])
                power.append((k, fx * fx / (k * k), re * re + im * im))
            }
        }
        // The floor: median power well beyond the probe's cut-off, or near Nyquist for coarse pixels.
        let floorStart = min(1.4, 0.75 * nyquist)
        let floorValues = power.filter { $0.k > floorStart && $0.k < 0.97 * nyquist }.map(\.p).sorted()
        let floor = max(floorValues.isEmpty ? 1e-12 : floorValues[floorValues.count / 2], 1e-12)
        func excess(_ g: Double) -> (total: Double, anisotropy: Double) {
            var total = 0.0
            var weighted = 0.0
            for bin in power where abs(bin.k - g) < 0.06 * g {
                let e = max(bin.p - floor, 0)
                total += e
                weighted += e * bin.kx2
            }
            return (max(total, floor), weighted)
        }
        let first = excess(g1)
        let second = excess(3.0.squareRoot() * g1)
        let third = excess(2 * g1)
        signalToNoise = log10(first.total / floor)
        secondRing = log10(second.total / first.total)
        thirdRing = log10(third.total / first.total)
        anisotropy = (second.anisotropy + third.anisotropy) / (second.total + third.total) - 0.5
        let low = power.filter { $0.k < 0.12 }.reduce(0) { $0 + $1.p }
        background = log10(max(low, floor) / first.total)

        var smoothed = [Double](repeating: 0, count: side * side)
        for y in 1..<(side - 1) {
            for x in 1..<(side - 1) {
                var s: Float = 0
                for dy in -1...1 { for dx in -1...1 { s += crop[(y + dy) * side + x + dx] } }
                smoothed[y * side + x] = Double(s / 9)
            }
        }
        let interior = (1..<(side - 1)).flatMap { y in (1..<(side - 1)).map { smoothed[y * side + $0] } }
        let m = interior.reduce(0, +) / Double(interior.count)
        let m2 = interior.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(interior.count)
        let m3 = interior.reduce(0) { $0 + ($1 - m) * ($1 - m) * ($1 - m) } / Double(interior.count)
        skewness = m2 > 0 ? m3 / (m2 * m2.squareRoot()) : 0

        // Noise: each pixel against the mean of its left and right neighbours (the probe spans
        // several pixels, so this is mostly noise; rows are left alone because of line jitter).
        let ordered = interior.sorted()
        let darkLimit = ordered[ordered.count / 4]
        let brightLimit = ordered[3 * ordered.count / 4]
        var dark = (sum: 0.0, count: 0)
        var bright = (sum: 0.0, count: 0)
        for y in 1..<(side - 1) {
            for x in 1..<(side - 1) {
                let i = y * side + x
                let residual = Double(crop[i]) - 0.5 * Double(crop[i - 1] + crop[i + 1])
                if smoothed[i] <= darkLimit {
                    dark = (dark.sum + residual * residual, dark.count + 1)
                } else if smoothed[i] >= brightLimit {
                    bright = (bright.sum + residual * residual, bright.count + 1)
                }
            }
        }
        let darkVariance = dark.sum / Double(max(dark.count, 1))
        let brightVariance = bright.sum / Double(max(bright.count, 1))
        noiseGrowth = log10(max(brightVariance, 1e-12) / max(darkVariance, 1e-12))
    }

    /// The statistics as a vector, in declaration order.
    public var vector: [Double] {
        [signalToNoise, secondRing, thirdRing, anisotropy, skewness, background, noiseGrowth]
    }

    /// The mean of several frames' statistics.
    public static func mean(_ all: [FrameStatistics]) -> FrameStatistics? {
        guard var result = all.first else { return nil }
        let n = Double(all.count)
        result.signalToNoise = all.reduce(0) { $0 + $1.signalToNoise } / n
        result.secondRing = all.reduce(0) { $0 + $1.secondRing } / n
        result.thirdRing = all.reduce(0) { $0 + $1.thirdRing } / n
        result.anisotropy = all.reduce(0) { $0 + $1.anisotropy } / n
        result.skewness = all.reduce(0) { $0 + $1.skewness } / n
        result.background = all.reduce(0) { $0 + $1.background } / n
        result.noiseGrowth = all.reduce(0) { $0 + $1.noiseGrowth } / n
        return result
    }

    /// The largest side ≤ `n` whose only prime factors are 2, 3 and 5 (fast for FFTW).
    static func transformSide(_ n: Int) -> Int {
        var side = n
        while side > 1 {
            var m = side
            for p in [2, 3, 5] { while m % p == 0 { m /= p } }
            if m == 1 { return side }
            side -= 1
        }
        return 1
    }
}
