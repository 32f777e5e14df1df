import Foundation
import ImageNumerics

/// The electron probe: beam energy, convergence and aberrations, and the source size.
///
/// The probe wave function in reciprocal space is the aperture times exp(-iχ), with the aberration
/// function (θ = λ|k|, φ its azimuth)
///
///     χ(θ, φ) = 2π/λ · [ C1 θ²/2 + A1 θ²/2 · cos 2(φ − φA1) + B2 θ³/3 · cos(φ − φB2) + C3 θ⁴/4 ],
///
/// and the probe intensity |ψ(r)|², blurred by a Gaussian source of the given FWHM, is what the
/// incoherent image is convolved with.
public struct ProbeOptics: Sendable, Codable, Hashable {
    /// High tension, kV (60 ... 300).
    public var beamEnergy = 80.0
    /// Convergence semi-angle, mrad.
    public var convergence = 25.2
    /// Defocus C1, nm.
    public var defocus = 0.0
    /// Twofold astigmatism A1, nm, and its azimuth, degrees.
    public var astigmatism = 0.0
    /// Azimuth of A1, degrees.
    public var astigmatismAngle = 0.0
    /// Axial coma B2, nm, and its azimuth, degrees.
    public var coma = 0.0
    /// Azimuth of B2, degrees.
    public var comaAngle = 0.0
    /// Spherical aberration C3, um.
    public var sphericalAberration = 0.3
    /// Source size, FWHM, nm.
    public var sourceSize = 0.08
    /// Probe current, pA.
    public var current = 30.0

    /// Default optics: 80 kV, 25.2 mrad, aberration-corrected (the published simulation's).
    public init() {}

    /// The relativistic electron wavelength, nm.
    public var wavelength: Double {
        let volts = beamEnergy * 1000
        return 1.226_39 / (volts * (1 + 0.978_45e-6 * volts)).squareRoot()
    }

    /// Electrons per pixel for a dwell in microseconds.
    public func electrons(dwell: Double) -> Double { current * 1e-12 * dwell * 1e-6 / 1.602_176_634e-19 }

    /// The probe intensity on a `width` x `height` grid of `pixel` nm, centred on pixel (0, 0)
    /// with wrap-around, normalised to sum 1.
    public func intensity(width: Int, height: Int, pixel: Double) -> [Float] {
        let lambda = wavelength
        let alpha = convergence * 1e-3
        let c3 = sphericalAberration * 1000
        var field = [Float](repeating: 0, count: 2 * width * height)
        for row in 0..<height {
            let ky = Double(row <= height / 2 ? row : row - height) / (Double(height) * pixel)
            for column in 0..<width {
                let kx = Double(column <= width / 2 ? column : column - width) / (Double(width) * pixel)
                let theta = lambda * (kx * kx + ky * ky).squareRoot()
                guard theta <= alpha else { continue }
                let phi = atan2(ky, kx)
                let t2 = theta * theta
                let chi =
                    2 * Double.pi / lambda
                    * (defocus * t2 / 2
                        + astigmatism * t2 / 2 * cos(2 * (phi - astigmatismAngle * .pi / 180))
                        + coma * t2 * theta / 3 * cos(phi - comaAngle * .pi / 180)
                        + c3 * t2 * t2 / 4)
                let index = 2 * (row * width + column)
                field[index] = Float(cos(chi))
                field[index + 1] = Float(-sin(chi))
            }
        }
        let psi = ComplexFourierTransform2D(width: width, height: height).transform(field, inverse: true)
        var intensity = [Float](repeating: 0, count: width * height)
        var total: Float = 0
        for i in 0..<(width * height) {
            intensity[i] = psi[2 * i] * psi[2 * i] + psi[2 * i + 1] * psi[2 * i + 1]
            total += intensity[i]
        }
        return total > 0 ? intensity.map { $0 / total } : intensity
    }

    /// The half spectrum (for `FourierTransform2D.convolve`) of the probe intensity blurred by
    /// the source.
    func transfer(using fft: FourierTransform2D, pixel: Double) -> [Float] {
        var spectrum = fft.forward(intensity(width: fft.width, height: fft.height, pixel: pixel))
        let sigma = sourceSize / 2.3548
        for row in 0..<fft.height {
            let fy = Double(fft.frequencyY(row)) / pixel
            for column in 0..<fft.spectrumWidth {
                let fx = Double(fft.frequencyX(column)) / pixel
                let g = Float(exp(-2 * Double.pi * Double.pi * sigma * sigma * (fx * fx + fy * fy)))
                let index = 2 * (row * fft.spectrumWidth + column)
                spectrum[index] *= g
                spectrum[index + 1] *= g
            }
        }
        return spectrum
    }
}
