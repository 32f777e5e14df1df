import Foundation
import ImageNumerics

/// The log amplitude of each plane's 2-D Fourier transform, centred: y = log(ε + |F x| / √(H·W)),
/// with the zero frequency at row H/2, column W/2 (numpy's `fftshift`), the input of the paper's
/// Fourier-space discriminators, which judge a tile by its spectrum (lattice spots, noise floor,
/// blur) rather than its pixels. Differentiable: ``backward(_:)`` returns the exact gradient, so a
/// generator learns from what a Fourier discriminator says. In PyTorch the same map is
/// `torch.log(eps + torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1)).abs())`.
public final class FourierLogAmplitude {
    /// Added to the amplitude before the logarithm: the floor of the log spectrum.
    public let epsilon: Float
    private var transform: FourierTransform2D?
    /// Each plane's half spectrum from the last forward pass, interleaved (re, im).
    private var spectra: [[Float]] = []
    private var shape: Tensor?

    /// The layer, with `epsilon` the amplitude floor (the transform is orthonormal, so amplitudes
    /// are on the scale of the pixels' values).
    public init(epsilon: Float = 1e-3) {
        precondition(epsilon > 0, "the amplitude floor must be positive")
        self.epsilon = epsilon
    }

    private func plan(width: Int, height: Int) -> FourierTransform2D {
        if let transform, transform.width == width, transform.height == height { return transform }
        let made = FourierTransform2D(width: width, height: height)
        transform = made
        return made
    }

    /// The centred log amplitude spectrum of every plane of `x`, same shape.
    public func forward(_ x: Tensor) -> Tensor {
        let (h, w) = (x.height, x.width)
        let fft = plan(width: w, height: h)
        let half = fft.spectrumWidth
        let norm = 1 / Float(h * w).squareRoot()
        var y = x.zerosLike()
        spectra = []
        spectra.reserveCapacity(x.batch * x.channels)
        for plane in 0..<(x.batch * x.channels) {
            let base = plane * x.planeSize
            let spectrum = fft.forward(Array(x.data[base..<(base + x.planeSize)]))
            for ky in 0..<h {
                for kx in 0..<w {
                    let (re, im) = Self.value(spectrum, ky: ky, kx: kx, height: h, width: w, half: half)
                    let amplitude = (re * re + im * im).squareRoot() * norm
                    y.data[base + ((ky + h / 2) % h) * w + (kx + w / 2) % w] = log(epsilon + amplitude)
                }
            }
            spectra.append(spectrum)
        }
        shape = x.zerosLike()
        return y
    }

    /// The gradient at the input. With w_k = g_k / (√(HW)·|X_k|·(ε + |X_k|/√(HW))) for the
    /// output gradient g at frequency k, dL/dx = Re Σ_k w_k X_k e^{+2πi k·n}: the inverse
    /// transform of X_k (w_k + w_−k) / 2, a Hermitian spectrum, so one real inverse transform.
    public func backward(_ dy: Tensor) -> Tensor {
        guard var dx = shape, let fft = transform else { preconditionFailure("backward before forward") }
        let (h, w) = (dy.height, dy.width)
        let half = fft.spectrumWidth
        let norm = 1 / Float(h * w).squareRoot()
        for plane in 0..<(dy.batch * dy.channels) {
            let base = plane * dy.planeSize
            let spectrum = spectra[plane]
            func weight(ky: Int, kx: Int) -> Float {
                let (re, im) = Self.value(spectrum, ky: ky, kx: kx, height: h, width: w, half: half)
                let magnitude = (re * re + im * im).squareRoot()
                guard magnitude > 0 else { return 0 }
                let g = dy.data[base + ((ky + h / 2) % h) * w + (kx + w / 2) % w]
                return g * norm / (magnitude * (epsilon + magnitude * norm))
            }
            var hermitian = [Float](repeating: 0, count: 2 * half * h)
            for ky in 0..<h {
                for kx in 0..<half {
                    let mirrored = weight(ky: (h - ky) % h, kx: (w - kx) % w)
                    let factor = (weight(ky: ky, kx: kx) + mirrored) / 2
                    let entry = 2 * (ky * half + kx)
                    hermitian[entry] = spectrum[entry] * factor
                    hermitian[entry + 1] = spectrum[entry + 1] * factor
                }
            }
            let gradient = fft.inverse(hermitian)
            dx.data.replaceSubrange(base..<(base + dy.planeSize), with: gradient)
        }
        return dx
    }

    /// X at frequency (ky, kx) of the full spectrum, from the half spectrum of a real plane.
    private static func value(
        _ spectrum: [Float], ky: Int, kx: Int, height: Int, width: Int, half: Int
    ) -> (Float, Float) {
        if kx < half {
            let entry = 2 * (ky * half + kx)
            return (spectrum[entry], spectrum[entry + 1])
        }
        let entry = 2 * (((height - ky) % height) * half + (width - kx))
        return (spectrum[entry], -spectrum[entry + 1])
    }
}
