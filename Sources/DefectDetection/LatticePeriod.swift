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
/// the period is that of the lowest-frequency ring whose spots stand out and whose frequency the
/// strongest ring's is a hexagonal multiple of (the first order: for WSe2 the {100} planes,
/// 2.84 Å), refined to a fraction of a step by the spot's centroid.
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
        // The first order: the lowest ring whose spots stand out and whose frequency the
        // strongest's is a hexagonal lattice's multiple of (1, √3, 2, √7, 3: in a HAADF image of
        // WSe2 the {110} spots can outshine the {100}, and a spot spreads into the rings beside it).
        let strongestFrequency = frequency(row: strongest.row, column: strongest.column)
        let floor = max(minimumContrast, strongest.contrast * 1e-3)
        let orders = [1, 3.0.squareRoot(), 2, 7.0.squareRoot(), 3]
        for candidate in candidates where candidate.contrast >= floor {
            let f = frequency(row: candidate.row, column: candidate.column)
            guard f > 0 else { continue }
            let ratio = strongestFrequency / f
            guard orders.contains(where: { abs(ratio / $0 - 1) < 0.04 }) else { continue }
            return LatticePeriod(pixels: Double(side) / f, contrast: candidate.contrast)
        }
        return nil
    }

    /// The pixel size this period implies for a lattice of `period` Å.
    public func pixelSize(forSamplePeriod period: Double = wse2) -> Double { period / pixels }
}
