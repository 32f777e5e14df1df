import COpenBLAS
import Foundation

/// How far one image's content lies from another's, in pixels.
public struct ImageShift: Sendable, Hashable, Codable {
    /// Displacement along x (columns), pixels: `moving(x, y) ≈ reference(x − self.x, y − self.y)`.
    public var x: Double
    /// Displacement along y (rows), pixels.
    public var y: Double
    /// Height of the normalised phase-correlation peak, 0 ... 1: near 1 for a clean match, small
    /// when the images share little.
    public var peak: Double
}

/// Sub-pixel image registration by phase correlation: the normalised cross-power spectrum's
/// inverse transform peaks at the displacement; the peak is then refined on a grid of
/// 1/`upsampling` pixel over ±0.75 pixel by a matrix-multiply DFT (Guizar-Sicairos, Thurman and
/// Fienup, Optics Letters 33, 156, 2008), two complex sgemms through OpenBLAS. The method
/// scikit-image's `phase_cross_correlation` uses, with its sign flipped: this returns where the
/// content went, not the shift that undoes it.
///
/// Not thread safe: one instance per actor or task, kept for frames of one size.
public final class PhaseCorrelation {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Refinement steps per pixel.
    public let upsampling: Int
    /// Highest spatial frequency used, as a fraction of Nyquist (1: all). Above the probe's
    /// cut-off an atomic-resolution frame holds only noise, which the normalisation would
    /// otherwise raise to the same weight as the signal.
    public let band: Double
    /// Largest displacement looked for, pixels (nil: anywhere). A crystal correlates with itself
    /// at every lattice translation; a frame-to-frame drift much smaller than the lattice period
    /// keeps the search on the right peak.
    public let maximumShift: Double?
    private let transform: ComplexFourierTransform2D
    private let window: [Float]

    /// A registration for `width` x `height` images, refined to 1/`upsampling` pixel. The images
    /// are tapered by a Hann window so that their edges do not correlate.
    public init(
        width: Int, height: Int, upsampling: Int = 100, band: Double = 1, maximumShift: Double? = nil,
        window: Bool = false
    ) {
        precondition(width > 1 && height > 1 && upsampling >= 1, "registration needs at least 2 x 2 pixels")
        precondition(band > 0 && band <= 1, "band is a fraction of Nyquist")
        self.width = width
        self.height = height
        self.upsampling = upsampling
        self.band = band
        self.maximumShift = maximumShift
        transform = ComplexFourierTransform2D(width: width, height: height)
        var taper = [Float](repeating: 1, count: width * height)
        if window {
            for y in 0..<height {
                let wy = 0.5 - 0.5 * cos(2 * Double.pi * Double(y) / Double(height))
                for x in 0..<width {
                    taper[y * width + x] = Float(wy * (0.5 - 0.5 * cos(2 * Double.pi * Double(x) / Double(width))))
                }
            }
        }
        self.window = taper
    }

    /// The displacement of `moving`'s content relative to `reference`'s (same size).
    public func shift(of moving: Image, against reference: Image) -> ImageShift {
        precondition(
            moving.width == width && moving.height == height && reference.width == width
                && reference.height == height, "images must be \(width) x \(height)")
        let a = transform.transform(complex(reference), inverse: false)
        let b = transform.transform(complex(moving), inverse: false)
        // Normalised cross-power spectrum A · conj(B) / |A · conj(B)|.
        var product = [Float](repeating: 0, count: 2 * width * height)
        let limit = band * 0.5
        for i in 0..<(width * height) {
            if band < 1 {
                let row = i / width
                let column = i % width
                let fy = Double(row <= height / 2 ? row : row - height) / Double(height)
                let fx = Double(column <= width / 2 ? column : column - width) / Double(width)
                if fx * fx + fy * fy > limit * limit { continue }
            }
            let re = a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1]
            let im = a[2 * i + 1] * b[2 * i] - a[2 * i] * b[2 * i + 1]
            let magnitude = max((re * re + im * im).squareRoot(), 1e-20)
            product[2 * i] = re / magnitude
            product[2 * i + 1] = im / magnitude
        }
        // Whole-pixel peak.
        let correlation = transform.transform(product, inverse: true)
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<(width * height) {
            if let maximumShift {
                let row = i / width
                let column = i % width
                let y = Double(row <= height / 2 ? row : row - height)
                let x = Double(column <= width / 2 ? column : column - width)
                if x * x + y * y > maximumShift * maximumShift { continue }
            }
            let value = correlation[2 * i] * correlation[2 * i] + correlation[2 * i + 1] * correlation[2 * i + 1]
            if value > bestValue {
                bestValue = value
                best = i
            }
        }
        var peakY = Double(best / width)
        var peakX = Double(best % width)
        if peakY > Double(height / 2) { peakY -= Double(height) }
        if peakX > Double(width / 2) { peakX -= Double(width) }
        let used = Double(
            product.indices.lazy.filter { $0 % 2 == 0 }.count { product[$0] != 0 || product[$0 + 1] != 0 })
        var peak = Double(bestValue.squareRoot()) / max(used, 1)
        if upsampling > 1 {
            let (dy, dx, value) = refine(product, aroundY: peakY, x: peakX)
            peakY += dy
            peakX += dx
            peak = value / max(used, 1)
        }
        // The correlation peaks at minus the displacement.
        return ImageShift(x: -peakX, y: -peakY, peak: min(1, peak))
    }

    private func complex(_ image: Image) -> [Float] {
        var field = [Float](repeating: 0, count: 2 * width * height)
        let mean = image.mean
        for i in 0..<(width * height) { field[2 * i] = (image.pixels[i] - mean) * window[i] }
        return field
    }

    /// The correlation on a 1/upsampling grid within ±0.75 pixel of (y, x), by matrix-multiply DFT;
    /// returns the offset of its maximum from (y, x) and the maximum's magnitude.
    private func refine(_ spectrum: [Float], aroundY y: Double, x: Double) -> (Double, Double, Double) {
        let size = Int((1.5 * Double(upsampling)).rounded(.up))
        let centre = Double(size / 2)
        func frequency(_ k: Int, _ n: Int) -> Double { Double(k < (n + 1) / 2 ? k : k - n) }
        // Rows of the upsampled grid against spectrum rows: exp(2πi · ky · uy / H).
        var rowKernel = [Float](repeating: 0, count: 2 * size * height)
        for i in 0..<size {
            let u = y + (Double(i) - centre) / Double(upsampling)
            for k in 0..<height {
                let phase = 2 * Double.pi * frequency(k, height) * u / Double(height)
                rowKernel[2 * (i * height + k)] = Float(cos(phase))
                rowKernel[2 * (i * height + k) + 1] = Float(sin(phase))
            }
        }
        // Spectrum columns against grid columns: exp(2πi · kx · ux / W).
        var columnKernel = [Float](repeating: 0, count: 2 * width * size)
        for k in 0..<width {
            for j in 0..<size {
                let u = x + (Double(j) - centre) / Double(upsampling)
                let phase = 2 * Double.pi * frequency(k, width) * u / Double(width)
                columnKernel[2 * (k * size + j)] = Float(cos(phase))
                columnKernel[2 * (k * size + j) + 1] = Float(sin(phase))
            }
        }
        var partial = [Float](repeating: 0, count: 2 * size * width)
        var grid = [Float](repeating: 0, count: 2 * size * size)
        var one: [Float] = [1, 0]
        var zero: [Float] = [0, 0]
        cblas_cgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(width), Int32(height), &one, rowKernel,
            Int32(height), spectrum, Int32(width), &zero, &partial, Int32(width))
        cblas_cgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(size), Int32(width), &one, partial,
            Int32(width), columnKernel, Int32(size), &zero, &grid, Int32(size))
        var best = 0
        var bestValue: Float = -1
        for i in 0..<(size * size) {
            let value = grid[2 * i] * grid[2 * i] + grid[2 * i + 1] * grid[2 * i + 1]
            if value > bestValue {
                bestValue = value
                best = i
            }
        }
        return (
            (Double(best / size) - centre) / Double(upsampling), (Double(best % size) - centre) / Double(upsampling),
            Double(bestValue.squareRoot())
        )
    }
}
