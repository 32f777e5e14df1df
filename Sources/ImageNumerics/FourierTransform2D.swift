import CFFTW3

/// 2-D discrete Fourier transforms of one size, with the plans and aligned buffers they need.
///
/// `real` (width x height) transforms to `spectrum`, the non-redundant half of the spectrum:
/// `height` rows of `width / 2 + 1` complex values, interleaved (re, im). The inverse is
/// unnormalised, as FFTW's: forward then inverse multiplies by `width * height`.
///
/// Not thread safe: one instance per actor or task. Plans are made with FFTW_ESTIMATE, which
/// costs microseconds, unless `measure` asks for FFTW_MEASURE: about twice as fast to execute,
/// hundreds of milliseconds to plan the first time a size is seen in a process (FFTW keeps the
/// wisdom), so worth it only for sizes used many times.
public final class FourierTransform2D {
    /// Columns of the real image.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Complex values per spectrum row: `width / 2 + 1`.
    public let spectrumWidth: Int

    private let realBuffer: UnsafeMutablePointer<Float>
    private let complexBuffer: UnsafeMutablePointer<fftwf_complex>
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    /// Plans transforms for `width` x `height` images.
    public init(width: Int, height: Int, measure: Bool = false) {
        precondition(width > 0 && height > 0, "transform size must be positive")
        self.width = width
        self.height = height
        spectrumWidth = width / 2 + 1
        realBuffer = fftwf_alloc_real(width * height)!
        complexBuffer = fftwf_alloc_complex(spectrumWidth * height)!
        let (real, complex) = (realBuffer, complexBuffer)
        let flags = UInt32((measure ? FFTW_MEASURE : FFTW_ESTIMATE) | FFTW_DESTROY_INPUT)
        (forwardPlan, inversePlan) = FFTWPlanner.withLock {
            (
                fftwf_plan_dft_r2c_2d(Int32(height), Int32(width), real, complex, flags)!,
                fftwf_plan_dft_c2r_2d(Int32(height), Int32(width), complex, real, flags)!
            )
        }
    }

    deinit {
        FFTWPlanner.withLock {
            fftwf_destroy_plan(forwardPlan)
            fftwf_destroy_plan(inversePlan)
        }
        fftwf_free(realBuffer)
        fftwf_free(complexBuffer)
    }

    /// The half spectrum of `image`, interleaved (re, im), `height` rows of `spectrumWidth`.
    public func forward(_ image: [Float]) -> [Float] {
        precondition(image.count == width * height, "image size does not match the transform")
        image.withUnsafeBufferPointer { realBuffer.update(from: $0.baseAddress!, count: image.count) }
        fftwf_execute(forwardPlan)
        return [Float](
            UnsafeBufferPointer(
                start: UnsafeRawPointer(complexBuffer).assumingMemoryBound(to: Float.self),
                count: 2 * spectrumWidth * height))
    }

    /// The real image of a half spectrum, unnormalised.
    public func inverse(_ spectrum: [Float]) -> [Float] {
        precondition(spectrum.count == 2 * spectrumWidth * height, "spectrum size does not match the transform")
        spectrum.withUnsafeBufferPointer {
            UnsafeMutableRawPointer(complexBuffer).assumingMemoryBound(to: Float.self).update(
                from: $0.baseAddress!, count: spectrum.count)
        }
        fftwf_execute(inversePlan)
        return [Float](UnsafeBufferPointer(start: realBuffer, count: width * height))
    }

    /// `image` convolved (circularly) with the kernel whose half spectrum is `transfer`:
    /// forward, multiply, inverse, normalise.
    public func convolve(_ image: [Float], transfer: [Float]) -> [Float] {
        precondition(transfer.count == 2 * spectrumWidth * height, "transfer size does not match the transform")
        image.withUnsafeBufferPointer { realBuffer.update(from: $0.baseAddress!, count: image.count) }
        fftwf_execute(forwardPlan)
        let scale = 1 / Float(width * height)
        let spectrum = UnsafeMutableRawPointer(complexBuffer).assumingMemoryBound(to: Float.self)
        transfer.withUnsafeBufferPointer { t in
            for i in 0..<(spectrumWidth * height) {
                let (a, b) = (spectrum[2 * i], spectrum[2 * i + 1])
                let (c, d) = (t[2 * i], t[2 * i + 1])
                spectrum[2 * i] = (a * c - b * d) * scale
                spectrum[2 * i + 1] = (a * d + b * c) * scale
            }
        }
        fftwf_execute(inversePlan)
        return [Float](UnsafeBufferPointer(start: realBuffer, count: width * height))
    }

    /// The spatial frequency (cycles per pixel, -0.5 ..< 0.5) of spectrum row `row`.
    public func frequencyY(_ row: Int) -> Float {
        Float(row <= height / 2 ? row : row - height) / Float(height)
    }

    /// The spatial frequency (cycles per pixel, 0 ... 0.5) of spectrum column `column`.
    public func frequencyX(_ column: Int) -> Float { Float(column) / Float(width) }
}

/// A complex 2-D transform (for fields such as a probe wave function), interleaved (re, im).
public final class ComplexFourierTransform2D {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    private let buffer: UnsafeMutablePointer<fftwf_complex>
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    /// Plans transforms for `width` x `height` complex fields.
    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0, "transform size must be positive")
        self.width = width
        self.height = height
        buffer = fftwf_alloc_complex(width * height)!
        let field = buffer
        (forwardPlan, inversePlan) = FFTWPlanner.withLock {
            (
                fftwf_plan_dft_2d(Int32(height), Int32(width), field, field, FFTW_FORWARD, UInt32(FFTW_ESTIMATE))!,
                fftwf_plan_dft_2d(Int32(height), Int32(width), field, field, FFTW_BACKWARD, UInt32(FFTW_ESTIMATE))!
            )
        }
    }

    deinit {
        FFTWPlanner.withLock {
            fftwf_destroy_plan(forwardPlan)
            fftwf_destroy_plan(inversePlan)
        }
        fftwf_free(buffer)
    }

    /// Transforms `field` (interleaved, `width * height` complex values) forward or backward,
    /// unnormalised.
    public func transform(_ field: [Float], inverse: Bool) -> [Float] {
        precondition(field.count == 2 * width * height, "field size does not match the transform")
        let floats = UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: Float.self)
        field.withUnsafeBufferPointer { floats.update(from: $0.baseAddress!, count: field.count) }
        fftwf_execute(inverse ? inversePlan : forwardPlan)
        return [Float](UnsafeBufferPointer(start: floats, count: field.count))
    }
}
