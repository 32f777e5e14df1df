import Foundation
import ImageNumerics
import Testing

@Suite("Sub-pixel registration by phase correlation")
struct PhaseCorrelationTests {
    /// Random noise (without the Nyquist frequency, which a sub-pixel shift would make complex), and the same
    /// image with its content moved by (dx, dy) pixels, exactly, through the Fourier shift theorem
    /// (wrapping at the edges).
    static func pair(size: Int, dx: Double, dy: Double, seed: UInt64) -> (Image, Image) {
        var random = SplitMix64(seed: seed)
        let fft = ComplexFourierTransform2D(width: size, height: size)
        var field = [Float](repeating: 0, count: 2 * size * size)
        for i in 0..<(size * size) { field[2 * i] = Float(random.unit() - 0.5) }
        var spectrum = fft.transform(field, inverse: false)
        var moved = spectrum
        for row in 0..<size {
            let ky = Double(row < size / 2 ? row : row - size)
            for column in 0..<size {
                let kx = Double(column < size / 2 ? column : column - size)
                let i = 2 * (row * size + column)
                if abs(kx) >= Double(size) / 2 || abs(ky) >= Double(size) / 2 {
                    (spectrum[i], spectrum[i + 1], moved[i], moved[i + 1]) = (0, 0, 0, 0)
                    continue
                }
                let phase = -2 * Double.pi * (kx * dx + ky * dy) / Double(size)
                let (re, im) = (Double(spectrum[i]), Double(spectrum[i + 1]))
                moved[i] = Float(re * cos(phase) - im * sin(phase))
                moved[i + 1] = Float(re * sin(phase) + im * cos(phase))
            }
        }
        let a = fft.transform(spectrum, inverse: true)
        let b = fft.transform(moved, inverse: true)
        return (
            Image(width: size, height: size, pixels: (0..<(size * size)).map { a[2 * $0] }),
            Image(width: size, height: size, pixels: (0..<(size * size)).map { b[2 * $0] })
        )
    }

    @Test(
        "known sub-pixel displacements come back to within 1/50 pixel, sign included",
        arguments: [(3.25, -1.5), (-7.71, 0.33), (0.0, 0.0), (12.06, 9.9)])
    func knownShift(dx: Double, dy: Double) throws {
        let (reference, moved) = Self.pair(size: 64, dx: dx, dy: dy, seed: 7)
        let found = try PhaseCorrelation(width: 64, height: 64).shift(of: moved, against: reference)
        #expect(abs(found.x - dx) < 0.02 && abs(found.y - dy) < 0.02, "\(found) for (\(dx), \(dy))")
        #expect(found.peak > 0.5)
    }

    @Test("unrelated images give a low peak")
    func unrelated() throws {
        let (a, _) = Self.pair(size: 64, dx: 0, dy: 0, seed: 1)
        let (b, _) = Self.pair(size: 64, dx: 0, dy: 0, seed: 2)
        #expect(try PhaseCorrelation(width: 64, height: 64, upsampling: 10).shift(of: b, against: a).peak < 0.3)
    }

    @Test("without refinement the answer is the nearest whole pixel")
    func wholePixels() throws {
        let (reference, moved) = Self.pair(size: 48, dx: 5.3, dy: -2.8, seed: 3)
        let found = try PhaseCorrelation(width: 48, height: 48, upsampling: 1).shift(of: moved, against: reference)
        #expect(found.x == 5 && found.y == -3)
    }

    @Test("a frame of another size or with NaN pixels is refused with the reason, not registered")
    func badFrames() {
        let (reference, moved) = Self.pair(size: 32, dx: 1, dy: 1, seed: 4)
        let registration = PhaseCorrelation(width: 32, height: 32)
        var broken = moved
        broken[3, 3] = .nan
        #expect { try registration.shift(of: broken, against: reference) } throws: { "\($0)".contains("NaN") }
        #expect {
            try registration.shift(of: Image(width: 16, height: 32), against: reference)
        } throws: { "\($0)".contains("16 x 32") }
    }
}
