public import ImageNumerics

/// Where an atomic-resolution frame shows a lattice. A vacancy is a missing column in a lattice,
/// so a detection where there is none (a hole in the film: vacuum holding only detector noise,
/// which a network trained on whole films can take for anything) is not a defect.
///
/// Lattice is where the local contrast, the standard deviation over a window of about 5 Å (more
/// than a unit cell) of the image binned and smoothed to about 1 Å, reaches 0.4 of the frame's 90th
/// percentile of it: atoms make contrast, vacuum only noise, which the smoothing mostly removes.
/// Within a window of the rim, where vacuum borrows the film's contrast, the mean level decides.
/// A frame with no lattice anywhere (all vacuum, or all amorphous) has no reference to compare
/// with and is left whole.
public struct LatticeMask: Sendable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Whether each pixel (row-major) is lattice.
    public let isLattice: [Bool]

    /// Half-width of the contrast window, Å.
    static let window = 2.5
    /// Half-width of the smoothing box, Å.
    static let smoothing = 0.4
    /// Pixel size the mask is computed at (frames with finer pixels are binned to about it), Å.
    static let working = 0.4
    /// Fraction of the reference contrast below which a pixel is not lattice.
    static let fraction: Float = 0.4

    /// The mask of `image` at `pixelSize` Å per pixel.
    public init(_ image: Image, pixelSize: Double) {
        width = image.width
        height = image.height
        // Binned to about 0.4 Å: the mask needs no finer detail, and it costs a quarter as much.
        let bin = max(1, Int((Self.working / pixelSize).rounded(.down)))
        let binned = Self.binned(image, by: bin)
        let coarse = Self.mask(
            binned.values, width: binned.width, height: binned.height, pixelSize: pixelSize * Double(bin))
        var isLattice = [Bool](repeating: true, count: width * height)
        for y in 0..<height {
            let row = min(y / bin, binned.height - 1) * binned.width
            for x in 0..<width { isLattice[y * width + x] = coarse[row + min(x / bin, binned.width - 1)] }
        }
        self.isLattice = isLattice
    }

    /// The mean of each `bin` x `bin` block of `image` (partial blocks at the edges included).
    static func binned(_ image: Image, by bin: Int) -> (values: [Double], width: Int, height: Int) {
        let w = (image.width + bin - 1) / bin
        let h = (image.height + bin - 1) / bin
        var sums = [Double](repeating: 0, count: w * h)
        var counts = [Double](repeating: 0, count: w * h)
        for y in 0..<image.height {
            for x in 0..<image.width {
                sums[(y / bin) * w + x / bin] += Double(image.pixels[y * image.width + x])
                counts[(y / bin) * w + x / bin] += 1
            }
        }
        for i in sums.indices { sums[i] /= counts[i] }
        return (sums, w, h)
    }

    /// The lattice mask of a `width` x `height` image of `pixelSize` Å.
    static func mask(_ values: [Double], width: Int, height: Int, pixelSize: Double) -> [Bool] {
        func pixels(_ angstroms: Double) -> Int { max(1, Int((angstroms / pixelSize).rounded())) }
        let smoothed = boxMean(values, width: width, height: height, half: pixels(smoothing))
        let half = max(2, pixels(window))
        let means = boxMean(smoothed, width: width, height: height, half: half)
        let meanSquares = boxMean(smoothed.map { $0 * $0 }, width: width, height: height, half: half)
        var contrast = [Float](repeating: 0, count: width * height)
        for i in contrast.indices { contrast[i] = Float(max(meanSquares[i] - means[i] * means[i], 0).squareRoot()) }
        // The reference from every 7th pixel: a percentile needs no more.
        let sample = stride(from: 0, to: contrast.count, by: 7).map { contrast[$0] }.sorted()
        let reference = sample.isEmpty ? 0 : sample[min(sample.count - 1, sample.count * 9 / 10)]
        let limit = fraction * reference
        let byContrast = contrast.map { !($0 < limit) }
        // Within a window of the rim the vacuum borrows the film's contrast; there the level
        // decides: lattice is where the mean over about a unit cell is above a third of the way
        // from the vacuum's level to the film's (each the median over the pixels the contrast has
        // already decided).
        let vacuum = byContrast.indices.filter { !byContrast[$0] }
        guard !vacuum.isEmpty, vacuum.count < byContrast.count else { return byContrast }
        let levels = boxMean(smoothed, width: width, height: height, half: pixels(1.6))
        func median(_ indices: some Sequence<Int>) -> Double {
            let values = indices.map { levels[$0] }.sorted()
            return values.isEmpty ? 0 : values[values.count / 2]
        }
        let vacuumLevel = median(stride(from: 0, to: vacuum.count, by: 7).map { vacuum[$0] })
        let filmLevel = median(stride(from: 0, to: byContrast.count, by: 7).filter { byContrast[$0] })
        let cut = vacuumLevel + 0.35 * (filmLevel - vacuumLevel)
        let brighter = filmLevel > vacuumLevel
        // Only near vacuum: elsewhere a cluster of vacancies may dim the film below the cut.
        let nearVacuum = boxMean(byContrast.map { $0 ? 0 : 1 }, width: width, height: height, half: half)
        return byContrast.indices.map { i in
            byContrast[i] && (nearVacuum[i] == 0 || (levels[i] > cut) == brighter)
        }
    }

    /// The fraction of the frame that is lattice.
    public var latticeFraction: Double {
        isLattice.isEmpty ? 0 : Double(isLattice.lazy.filter { $0 }.count) / Double(isLattice.count)
    }

    /// Whether the point (`x`, `y`), in pixels, lies on lattice (points outside the frame do not).
    public func contains(x: Double, y: Double) -> Bool {
        let column = Int(x.rounded())
        let row = Int(y.rounded())
        guard column >= 0, column < width, row >= 0, row < height else { return false }
        return isLattice[row * width + column]
    }
}

extension LatticeMask {
    /// The mean of `values` over the square of half-width `half` around each pixel, clipped to the
    /// image: two passes of running sums, rows then columns.
    static func boxMean(_ values: [Double], width: Int, height: Int, half: Int) -> [Double] {
        var rows = [Double](repeating: 0, count: values.count)
        var result = [Double](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { input in
            rows.withUnsafeMutableBufferPointer { rows in
                for y in 0..<height {
                    let base = y * width
                    var sum = 0.0
                    for x in 0..<min(half, width) { sum += input[base + x] }
                    for x in 0..<width {
                        if x + half < width { sum += input[base + x + half] }
                        if x - half - 1 >= 0 { sum -= input[base + x - half - 1] }
                        rows[base + x] = sum / Double(min(width, x + half + 1) - max(0, x - half))
                    }
                }
            }
        }
        // Columns: a running sum per column, moved down one row at a time (rows stay contiguous).
        var columns = [Double](repeating: 0, count: width)
        rows.withUnsafeBufferPointer { rows in
            result.withUnsafeMutableBufferPointer { result in
                columns.withUnsafeMutableBufferPointer { columns in
                    for y in 0..<min(half, height) { for x in 0..<width { columns[x] += rows[y * width + x] } }
                    for y in 0..<height {
                        if y + half < height { for x in 0..<width { columns[x] += rows[(y + half) * width + x] } }
                        if y - half - 1 >= 0 { for x in 0..<width { columns[x] -= rows[(y - half - 1) * width + x] } }
                        let count = Double(min(height, y + half + 1) - max(0, y - half))
                        for x in 0..<width { result[y * width + x] = columns[x] / count }
                    }
                }
            }
        }
        return result
    }
}
