import Foundation
public import ImageNumerics

/// The lattice period an atomic-resolution frame shows, measured from its power spectrum: what
/// checks a claimed pixel size against the sample. A Å/nm mix-up or a wrong calibration at the
/// instrument makes the detector see thousands of "defects" with confidence; the lattice says
/// what the pixel size really is.
///
/// The measurement: the central square of the frame (at most 512 px), mean removed, Hann
/// windowed, its power spectrum in rings one frequency step wide. A lattice shows as spots that
/// stand far above their ring (the ring's peak over its median; noise alone reaches about 10);
/// the period is that of the lowest-frequency ring whose spots stand out and that has a partner
/// standing out at a hexagonal multiple of its frequency (the first order: for WSe2 the {100}
/// planes, 2.84 Å), refined to a fraction of a step by the spot's centroid. Each scan line's own
/// mean is removed first (line levelling): offsets from line to line, common in real frames, put
/// their power on the spectrum's vertical axis and would otherwise read as a "lattice" of streaks;
/// a hexagonal lattice keeps at least four of its six first-order spots off that axis.
public struct LatticePeriod: Sendable, Equatable {
    /// The period, pixels.
    public let pixels: Double
    /// How far the spots stand above their ring (peak / median power).
    public let contrast: Double

    /// WSe2's {100} plane spacing, Å: a·√3/2 with a = 3.282 Å.
    public static let wse2 = 2.842
    /// Spot contrast a lattice must reach to count as measured.
    public static let minimumContrast = 40.0
    /// Side of the central square measured, at most (512 px: about 10 ms, periods to better than
    /// 1 %). A smaller square can fall on a patch of amorphous film where the first-order spots
    /// fade while the {110} ones still stand out, and then reads the period √3 too short.
    public static let maximumSide = 512
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
        let window = (0..<side).map { i -> Float in
            let phase = 2 * Double.pi * Double(i) / Double(side)
            return Float(0.5 - 0.5 * cos(phase))
        }
        for y in 0..<side {
            var sum = 0.0
            for x in 0..<side {
                let v = image.pixels[(y0 + y) * image.width + x0 + x]
                guard v.isFinite else { return nil }
                values[y * side + x] = v
                sum += Double(v)
            }
            let mean = Float(sum / Double(side))
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
        // Spots under 2 % of the strongest are rarely the lattice's: shot noise and a frame's edges
        // leave isolated bright pixels of that order in a high-dose frame's spectrum. They are
        // looked at only when no pair stands out above that (a small frame whose streak near
        // Nyquist outshines the lattice).
        // A spot spreads into the rings beside it: only the ring where it peaks counts.
        let byRing = Dictionary(candidates.map { ($0.ring, $0.contrast) }, uniquingKeysWith: max)
        let peaks = candidates.filter { candidate in
            (-2...2).allSatisfy { offset in
                offset == 0 || (byRing[candidate.ring + offset] ?? 0) <= candidate.contrast
            }
        }
        let multiples: [Double] = [Double(3).squareRoot(), 2, Double(7).squareRoot(), 3]
        func significant(_ fraction: Double) -> [(frequency: Double, contrast: Double)] {
            let floor = max(minimumContrast, strongest.contrast * fraction)
            return peaks.filter { $0.contrast >= floor }.map {
                (frequency: frequency(row: $0.row, column: $0.column), contrast: $0.contrast)
            }.filter { $0.frequency > 0 }
        }
        let strong = significant(0.02)
        let faint = significant(1e-3)
        func isMultiple(_ high: Double, of low: Double) -> Bool {
            multiples.contains { abs(high / (low * $0) - 1) < 0.04 }
        }
        // A partnered pair among the strong spots; its lower spot may itself be a higher order of
        // a fainter first order (the {110} of a frame whose {100} spots are faint), which then wins.
        for candidates in [strong, faint] {
            for candidate in candidates.sorted(by: { $0.frequency < $1.frequency }) {
                guard candidates.contains(where: { isMultiple($0.frequency, of: candidate.frequency) }) else {
                    continue
                }
                let first =
                    faint.filter { isMultiple(candidate.frequency, of: $0.frequency) }
                    .min { $0.frequency < $1.frequency } ?? candidate
                return LatticePeriod(pixels: Double(side) / first.frequency, contrast: first.contrast)
            }
        }
        let f = frequency(row: strongest.row, column: strongest.column)
        return f > 0 ? LatticePeriod(pixels: Double(side) / f, contrast: strongest.contrast) : nil
    }

    /// The pixel size this period implies for a lattice of `period` Å.
    public func pixelSize(forSamplePeriod period: Double = wse2) -> Double { period / pixels }
}
