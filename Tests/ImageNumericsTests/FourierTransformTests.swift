import Foundation
import ImageNumerics
import Testing

@Suite("Fourier transforms")
struct FourierTransformTests {
    @Test("forward then inverse gives the image back, times its size")
    func roundTrip() {
        let fft = FourierTransform2D(width: 12, height: 10)
        let image = (0..<120).map { Float(($0 * 37) % 11) - 5 }
        let back = fft.inverse(fft.forward(image)).map { $0 / 120 }
        for (a, b) in zip(image, back) { #expect(abs(a - b) < 1e-4) }
    }

    @Test("convolving with a shifted delta shifts the image circularly")
    func convolutionShifts() {
        let (w, h) = (16, 8)
        let fft = FourierTransform2D(width: w, height: h)
        var image = [Float](repeating: 0, count: w * h)
        image[2 * w + 3] = 1
        image[5 * w + 10] = 2
        var delta = [Float](repeating: 0, count: w * h)
        delta[1 * w + 2] = 1  // shift by (x + 2, y + 1)
        let out = fft.convolve(image, transfer: fft.forward(delta))
        #expect(abs(out[3 * w + 5] - 1) < 1e-5)
        #expect(abs(out[6 * w + 12] - 2) < 1e-5)
        #expect(abs(out.reduce(0, +) - 3) < 1e-4)
    }

    @Test("a cosine's spectrum peaks at its frequency")
    func frequencies() {
        let (w, h) = (32, 16)
        let fft = FourierTransform2D(width: w, height: h)
        // 4 cycles across, 3 cycles down.
        let image = (0..<(w * h)).map { i -> Float in
            let (x, y) = (Float(i % w), Float(i / w))
            return cos(2 * .pi * (4 * x / Float(w) + 3 * y / Float(h)))
        }
        let spectrum = fft.forward(image)
        var best = (0, 0, Float(0))
        for row in 0..<h {
            for column in 0..<fft.spectrumWidth {
                let i = row * fft.spectrumWidth + column
                let magnitude = hypot(spectrum[2 * i], spectrum[2 * i + 1])
                if magnitude > best.2 { best = (column, row, magnitude) }
            }
        }
        #expect(fft.frequencyX(best.0) == 4 / Float(w))
        #expect(fft.frequencyY(best.1) == 3 / Float(h))
    }

    @Test("the complex transform round-trips")
    func complexRoundTrip() {
        let fft = ComplexFourierTransform2D(width: 8, height: 6)
        let field = (0..<96).map { Float(($0 * 13) % 7) - 3 }
        let back = fft.transform(fft.transform(field, inverse: false), inverse: true).map { $0 / 48 }
        for (a, b) in zip(field, back) { #expect(abs(a - b) < 1e-4) }
    }

    @Test("bilinear sampling interpolates and clamps")
    func sampling() {
        let image = Image(width: 2, height: 2, pixels: [0, 1, 2, 3])
        #expect(image.sample(x: 0.5, y: 0.5) == 1.5)
        #expect(image.sample(x: -4, y: 0) == 0)
        #expect(image.sample(x: 9, y: 9) == 3)
    }
}
