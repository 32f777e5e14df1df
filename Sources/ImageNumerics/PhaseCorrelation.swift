import COpenBLAS
import Foundation

/// Why two images could not be registered.
public struct RegistrationError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable, Hashable { case size, nonFinite = "non_finite" }
        private let kind: Kind

        /// The images are not of the registration's size.
        public static let size = Code(kind: .size)
        /// An image holds NaN or infinite pixels.
        public static let nonFinite = Code(kind: .nonFinite)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure.
    public let code: Code

    /// What is wrong with the images.
    public let description: String
}

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
    private let transform: FourierTransform2D
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
        transform = FourierTransform2D(width: width, height: height)
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

    /// The displacement of `moving`'s content relative to `reference`'s. Throws when either image
    /// is not this registration's size or holds NaN or infinite pixels: a drift measured from such
    /// a frame would be noise, so the caller logs the frame as unregistered instead.
    public func shift(of moving: Image, against reference: Image) throws(RegistrationError) -> ImageShift {
        for (name, image) in [("moving", moving), ("reference", reference)] {
            guard image.width == width && image.height == height else {
                throw RegistrationError(
                    code: .size,
                    description:
                        "the \(name) image is \(image.width) x \(image.height); this registration is for \(width) x \(height)"
                )
            }
            guard image.pixels.allSatisfy(\.isFinite) else {
                throw RegistrationError(code: .nonFinite, description: "the \(name) image holds NaN or infinite pixels")
            }
        }
        // Real-to-complex transforms: the half spectrum, rows of width / 2 + 1.
        let a = transform.forward(prepared(reference))
        let b = transform.forward(prepared(moving))
        let half = transform.spectrumWidth
        // Normalised cross-power spectrum A · conj(B) / |A · conj(B)| within the band.
        var product = [Float](repeating: 0, count: 2 * half * height)
        let limit = band * 0.5
        var used = 0
        for row in 0..<height {
            let fy = Double(row <= height / 2 ? row : row - height) / Double(height)
            for column in 0..<half {
                let fx = Double(column) / Double(width)
                if band < 1 && fx * fx + fy * fy > limit * limit { continue }
                let i = row * half + column
                let re = a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1]
                let im = a[2 * i + 1] * b[2 * i] - a[2 * i] * b[2 * i + 1]
                let magnitude = max((re * re + im * im).squareRoot(), 1e-20)
                product[2 * i] = re / magnitude
                product[2 * i + 1] = im / magnitude
                // Columns other than 0 and Nyquist stand for their mirror images too.
                used += column == 0 || (width % 2 == 0 && column == width / 2) ? 1 : 2
            }
        }
        // Whole-pixel peak of the (real) correlation.
        let correlation = transform.inverse(product)
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<(width * height) {
            if let maximumShift {
                let y = Double(i / width <= height / 2 ? i / width : i / width - height)
                let x = Double(i % width <= width / 2 ? i % width : i % width - width)
                if x * x + y * y > maximumShift * maximumShift { continue }
            }
            if correlation[i] > bestValue {
                bestValue = correlation[i]
                best = i
            }
        }
        var peakY = Double(best / width)
        var peakX = Double(best % width)
        if peakY > Double(height / 2) { peakY -= Double(height) }
        if peakX > Double(width / 2) { peakX -= Double(width) }
        let count = Double(max(used, 1))
        var peak = Double(bestValue) / count
        if upsampling > 1 {
            let (dy, dx, value) = refine(product, aroundY: peakY, x: peakX)
            peakY += dy
            peakX += dx
            peak = value / count
        }
        // The correlation peaks at minus the displacement.
        return ImageShift(x: -peakX, y: -peakY, peak: min(1, max(0, peak)))
    }

    /// The image less its mean, tapered by the window.
    private func prepared(_ image: Image) -> [Float] {
        let mean = image.mean
        return (0..<(width * height)).map { (image.pixels[$0] - mean) * window[$0] }
    }

    /// The correlation on a 1/upsampling grid within ±0.75 pixel of (y, x), by matrix-multiply DFT
    /// over the frequencies inside the band (the half spectrum mirrored into the full one);
    /// returns the offset of its maximum from (y, x) and the maximum's magnitude.
    private func refine(_ half: [Float], aroundY y: Double, x: Double) -> (Double, Double, Double) {
        let size = Int((1.5 * Double(upsampling)).rounded(.up))
        let centre = Double(size / 2)
        let halfWidth = transform.spectrumWidth
        // Signed frequencies kept along each axis.
        let reachY = band < 1 ? min(height / 2, Int((band * 0.5 * Double(height)).rounded(.up))) : height / 2
        let reachX = band < 1 ? min(width / 2, Int((band * 0.5 * Double(width)).rounded(.up))) : width / 2
        let rows = Array(-reachY...reachY).filter { $0 >= -(height / 2) && $0 < height - height / 2 }
        let columns = Array(-reachX...reachX).filter { $0 >= -(width / 2) && $0 < width - width / 2 }
        // The full spectrum at (ky, kx), from the half spectrum and Hermitian symmetry.
        var spectrum = [Float](repeating: 0, count: 2 * rows.count * columns.count)
        for (i, ky) in rows.enumerated() {
            for (j, kx) in columns.enumerated() {
                let row: Int
                let column: Int
                let sign: Float
                if kx >= 0 {
                    row = (ky + height) % height
                    column = kx
                    sign = 1
                } else {
                    row = (-ky + height) % height
                    column = -kx
                    sign = -1
                }
                guard column < halfWidth else { continue }
                spectrum[2 * (i * columns.count + j)] = half[2 * (row * halfWidth + column)]
                spectrum[2 * (i * columns.count + j) + 1] = sign * half[2 * (row * halfWidth + column) + 1]
            }
        }
        var rowKernel = [Float](repeating: 0, count: 2 * size * rows.count)
        for i in 0..<size {
            let u = y + (Double(i) - centre) / Double(upsampling)
            for (k, ky) in rows.enumerated() {
                let phase = 2 * Double.pi * Double(ky) * u / Double(height)
                rowKernel[2 * (i * rows.count + k)] = Float(cos(phase))
                rowKernel[2 * (i * rows.count + k) + 1] = Float(sin(phase))
            }
        }
        var columnKernel = [Float](repeating: 0, count: 2 * columns.count * size)
        for (k, kx) in columns.enumerated() {
            for j in 0..<size {
                let u = x + (Double(j) - centre) / Double(upsampling)
                let phase = 2 * Double.pi * Double(kx) * u / Double(width)
                columnKernel[2 * (k * size + j)] = Float(cos(phase))
                columnKernel[2 * (k * size + j) + 1] = Float(sin(phase))
            }
        }
        var partial = [Float](repeating: 0, count: 2 * size * columns.count)
        var grid = [Float](repeating: 0, count: 2 * size * size)
        var one: [Float] = [1, 0]
        var zero: [Float] = [0, 0]
        cblas_cgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(columns.count), Int32(rows.count), &one,
            rowKernel, Int32(rows.count), spectrum, Int32(columns.count), &zero, &partial, Int32(columns.count))
        cblas_cgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(size), Int32(columns.count), &one, partial,
            Int32(columns.count), columnKernel, Int32(size), &zero, &grid, Int32(size))
        var best = 0
        var bestValue: Float = -Float.infinity
        for i in 0..<(size * size) where grid[2 * i] > bestValue {
            // The correlation of real images is real: its real part is what peaks.
            bestValue = grid[2 * i]
            best = i
        }
        return (
            (Double(best / size) - centre) / Double(upsampling), (Double(best % size) - centre) / Double(upsampling),
            Double(bestValue)
        )
    }
}
