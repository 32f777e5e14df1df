import Foundation
public import ImageNumerics

/// The lattice period an atomic-resolution frame shows, measured from its power spectrum: what
/// checks a claimed pixel size against the sample. A Å/nm mix-up or a wrong calibration at the
/// instrument makes the detector see thousands of "defects" with confidence; the lattice says
/// what the pixel size really is.
///
/// The measurement: the central square of the frame (at most 256 px), mean removed, Hann
/// windowed, its power spectrum in rings one frequency step wide. A lattice shows as spots that
/// stand far above their ring (the ring's peak over its median; noise alone reaches about 10);
/// the period is that of the lowest-frequency ring whose spots stand out and that has a partner
/// standing out at a hexagonal multiple of its frequency (the first order: for WSe2 the {100}
/// planes, 2.84 Å), refined to a fraction of a step by the spot's centroid.
public struct LatticePeriod: Sendable, Equatable {
    /// The period, pixels.
    public let pixels: Double
    /// How far the spots stand above their ring (peak / median power).
    public let contrast: Double

    /// WSe2's {100} plane spacing, Å: a·√3/2 with a = 3.282 Å.
    public static let wse2 = 2.842
    /// Spot contrast a lattice must reach to count as measured.
    public static let minimumContrast = 40.0
    /// Side of the central square measured, at most (256 px: a few ms, periods to about 1 %).
    public static let maximumSide = 256
    /// Longest period measured, as a fraction of the square's side.
    static let longestFraction = 1.0 / 4

    /// The period `image` shows, or nil when no lattice stands out (vacuum, amorphous film, a
    /// survey frame whose pixels are too coarse for atoms).
    public static func measure(_ image: Image) -> LatticePeriod? {
        let side = min(image.width, image.height, maximumSide) & ~1
        guard side >= 32 else { return nil }
        let x0 = (image.width - side) / 2
        let y0 = (image.height - side) / 2
        var values = [Float](repeating: 0, count: side * side)
        var sum = 0.0
        for y in 0..<side {
            for x in 0..<side {
                let v = image.pixels[(y0 + y) * image.width + x0 + x]
                guard v.isFinite else { return nil }
                values[y * side + x] = v
                sum += Double(v)
            }
        }
        let mean = Float(sum / Double(side * side))
        let window = (0..<side).map { i -> Float in
            let phase = 2 * Double.pi * Double(i) / Double(side)
            return Float(0.5 - 0.5 * cos(phase))
        }
        for y in 0..<side {
            for x in 0..<side { values[y * side + x] = (values[y * side + x] - mean) * window[x] * window[y] }
        }
        let transform = FourierTransform2D(width: side, height: side)
        let spectrum = transform.forward(values)
        let columns = transform.spectrumWidth
        var power = [Float](repeating: 0, count: columns * side)
        for i in power.indices {
            power[i] = spectrum[2 * i] * spectrum[2 * i] + spectrum[2 * i + 1] * spectrum[2 * i + 1]
        }

        // Rings one frequency step wide, from the longest period measured to Nyquist.
        let nyquist = side / 2
        let first = max(4, Int((1 / longestFraction).rounded(.up)))
        var rings = [[(value: Float, row: Int, column: Int)]](repeating: [], count: nyquist + 1)
        for row in 0..<side {
            let ky = row <= nyquist ? row : row - side
            for column in 0..<columns {
                let ring = Int((Double(column * column + ky * ky)).squareRoot().rounded())
                guard ring >= first, ring <= nyquist else { continue }
                rings[ring].append((power[row * columns + column], ky, column))
            }
        }
        var candidates: [(ring: Int, contrast: Double, row: Int, column: Int)] = []
        for ring in first...nyquist where rings[ring].count >= 8 {
            let sorted = rings[ring].map(\.value).sorted()
            let median = Double(sorted[sorted.count / 2])
            guard let peak = rings[ring].max(by: { $0.value < $1.value }), median > 0 else { continue }
            candidates.append((ring, Double(peak.value) / median, peak.row, peak.column))
        }
        guard let strongest = candidates.max(by: { $0.contrast < $1.contrast }),
            strongest.contrast >= minimumContrast
        else { return nil }
        // The spot's centroid over its 3 x 3 neighbourhood, for a fraction of a step.
        func frequency(row spotRow: Int, column spotColumn: Int) -> Double {
            var weight = 0.0
            var fx = 0.0
            var fy = 0.0
            for dy in -1...1 {
                for dx in -1...1 {
                    let column = spotColumn + dx
                    let ky = spotRow + dy
                    guard column >= 0, column < columns, abs(ky) <= nyquist else { continue }
                    let row = ky >= 0 ? ky : ky + side
                    let p = Double(power[row * columns + column])
                    weight += p
                    fx += p * Double(column)
                    fy += p * Double(ky)
                }
            }
            return weight > 0 ? ((fx / weight) * (fx / weight) + (fy / weight) * (fy / weight)).squareRoot() : 0
        }
        // The first order: the lowest ring whose spots stand out and that has a partner standing
        // out at a hexagonal lattice's multiple of its frequency (√3, 2, √7, 3: the {110}, {200},
        // ... spots of the same lattice). Without any such pair, the strongest ring. Chosen among
        // the candidates themselves, not relative to the strongest: in a HAADF image of WSe2 the
        // {110} spots can outshine the {100}, and a small frame's edges can leave a streak near
        // Nyquist that outshines both.
        let floor = max(minimumContrast, strongest.contrast * 1e-3)
        // A spot spreads into the rings beside it: only the ring where it peaks counts.
        let byRing = Dictionary(candidates.map { ($0.ring, $0.contrast) }, uniquingKeysWith: max)
        let peaks = candidates.filter { candidate in
            (-2...2).allSatisfy { offset in
                offset == 0 || (byRing[candidate.ring + offset] ?? 0) <= candidate.contrast
            }
        }
        let significant = peaks.filter { $0.contrast >= floor }.map {
            (frequency: frequency(row: $0.row, column: $0.column), contrast: $0.contrast)
        }.filter { $0.frequency > 0 }
        let multiples: [Double] = [Double(3).squareRoot(), 2, Double(7).squareRoot(), 3]
        for candidate in significant.sorted(by: { $0.frequency < $1.frequency }) {
            let partnered = significant.contains { other in
                multiples.contains { abs(other.frequency / (candidate.frequency * $0) - 1) < 0.04 }
            }
            if partnered {
                return LatticePeriod(pixels: Double(side) / candidate.frequency, contrast: candidate.contrast)
            }
        }
        let f = frequency(row: strongest.row, column: strongest.column)
        return f > 0 ? LatticePeriod(pixels: Double(side) / f, contrast: strongest.contrast) : nil
    }

    /// The pixel size this period implies for a lattice of `period` Å.
    public func pixelSize(forSamplePeriod period: Double = wse2) -> Double { period / pixels }
}
