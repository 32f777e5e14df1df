import Foundation
import ImageIO
import ImageNumerics
import NeuralNetwork
import ScopePilotTestSupport
import Testing

/// The pieces a CycleGAN needs: activations, instance normalisation, regression losses and the
/// Fourier log amplitude of the Fourier-space discriminators, each checked against finite
/// differences and against numpy.
@Suite("CycleGAN layers")
struct AdversarialLayerTests {
    @Test("LeakyReLU and Tanh: values and gradients")
    func activations() {
        var random = TestRandom(seed: 31)
        // Values on a grid of spacing 1/96 that avoids zero: no kink within the step.
        let order = (0..<96).sorted { ($0 * 7919) % 96 < ($1 * 7919) % 96 }
        let x = Tensor(batch: 2, channels: 2, height: 4, width: 6, data: order.map { (Float($0) - 47.5) / 24 })
        let leaky = LeakyReLU(slope: 0.2)
        let y = leaky.forward(x)
        for (a, b) in zip(x.data, y.data) { #expect(b == (a > 0 ? a : 0.2 * a)) }
        let r = (0..<y.data.count).map { _ in random.next() }
        let dx = leaky.backward(Tensor(batch: 2, channels: 2, height: 4, width: 6, data: r))
        expectGradient("LeakyReLU", analytic: dx.data, at: x.data, entries: 40, step: 1e-3) {
            weightedSum(LeakyReLU(slope: 0.2).forward(Tensor(batch: 2, channels: 2, height: 4, width: 6, data: $0)), r)
        }
        let tanhLayer = Tanh()
        let t = tanhLayer.forward(x)
        #expect(t.data.allSatisfy { abs($0) < 1 })
        let dt = tanhLayer.backward(Tensor(batch: 2, channels: 2, height: 4, width: 6, data: r))
        expectGradient("Tanh", analytic: dt.data, at: x.data, entries: 40, step: 1e-3) {
            weightedSum(Tanh().forward(Tensor(batch: 2, channels: 2, height: 4, width: 6, data: $0)), r)
        }
    }

    @Test(
        "InstanceNorm2D normalises each plane and has the right input, scale and shift gradients",
        arguments: [true, false])
    func instanceNorm(affine: Bool) {
        var random = TestRandom(seed: 37)
        let norm = InstanceNorm2D(channels: 3, affine: affine)
        if affine {
            for i in 0..<3 {
                norm.scale.value[i] = 0.5 + random.next()
                norm.shift.value[i] = random.next()
            }
        }
        var x = random.tensor(2, 3, 5, 4)
        for i in x.data.indices { x.data[i] = x.data[i] * Float(1 + i % 3) + Float(i / 20) }
        let y = norm.forward(x)
        if !affine {
            for plane in 0..<6 {
                let values = y.data[(plane * 20)..<((plane + 1) * 20)]
                let mean = values.reduce(0, +) / 20
                let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 20
                #expect(
                    abs(mean) < 1e-5 && abs(variance - 1) < 1e-3, "plane \(plane): mean \(mean), variance \(variance)")
            }
        }
        let r = (0..<y.data.count).map { _ in random.next() }
        let dx = norm.backward(Tensor(batch: 2, channels: 3, height: 5, width: 4, data: r))
        #expect(norm.parameters.count == (affine ? 2 : 0))
        func loss(input: [Float]? = nil, scale: [Float]? = nil, shift: [Float]? = nil) -> Float {
            let probe = InstanceNorm2D(channels: 3, affine: affine)
            probe.scale.value = scale ?? norm.scale.value
            probe.shift.value = shift ?? norm.shift.value
            return weightedSum(
                probe.forward(Tensor(batch: 2, channels: 3, height: 5, width: 4, data: input ?? x.data)), r)
        }
        expectGradient("dx", analytic: dx.data, at: x.data, entries: 30, step: 1e-2) { loss(input: $0) }
        if affine {
            expectGradient("dγ", analytic: norm.scale.gradient, at: norm.scale.value) { loss(scale: $0) }
            expectGradient("dβ", analytic: norm.shift.gradient, at: norm.shift.value) { loss(shift: $0) }
        }
    }

    @Test("mean squared and mean absolute error: values and gradients")
    func regressionLosses() {
        var random = TestRandom(seed: 41)
        let prediction = random.tensor(2, 1, 3, 5)
        let target = random.tensor(2, 1, 3, 5)
        let (mse, dMSE) = RegressionLoss.meanSquaredError(prediction, target)
        let expected = zip(prediction.data, target.data).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / 30
        #expect(abs(mse - expected) < 1e-6)
        expectGradient("MSE", analytic: dMSE.data, at: prediction.data, entries: 30, step: 1e-3) {
            RegressionLoss.meanSquaredError(Tensor(batch: 2, channels: 1, height: 3, width: 5, data: $0), target).loss
        }
        let (constant, _) = RegressionLoss.meanSquaredError(prediction, target: 1)
        #expect(abs(constant - prediction.data.reduce(0) { $0 + ($1 - 1) * ($1 - 1) } / 30) < 1e-6)
        let (l1, dL1) = RegressionLoss.meanAbsoluteError(prediction, target)
        #expect(abs(l1 - zip(prediction.data, target.data).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } / 30) < 1e-6)
        expectGradient("L1", analytic: dL1.data, at: prediction.data, entries: 30, step: 1e-4) {
            RegressionLoss.meanAbsoluteError(Tensor(batch: 2, channels: 1, height: 3, width: 5, data: $0), target).loss
        }
    }

    @Test("the Fourier log amplitude has the exact gradient, for even and odd sizes", arguments: [(8, 6), (7, 5)])
    func fourierGradient(height: Int, width: Int) {
        var random = TestRandom(seed: 43)
        let x = random.tensor(2, 1, height, width)
        let layer = FourierLogAmplitude(epsilon: 1e-2)
        let y = layer.forward(x)
        #expect(y.sameShape(x))
        let r = (0..<y.data.count).map { _ in random.next() }
        let dx = layer.backward(Tensor(batch: 2, channels: 1, height: height, width: width, data: r))
        expectGradient("dx", analytic: dx.data, at: x.data, entries: 40, step: 1e-3) {
            weightedSum(
                FourierLogAmplitude(epsilon: 1e-2).forward(
                    Tensor(batch: 2, channels: 1, height: height, width: width, data: $0)),
                r)
        }
    }

    @Test(
        "the Fourier log amplitude puts a lattice's spots where numpy's fftshift does, and InstanceNorm2D matches numpy"
    )
    func matchesNumpy() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-gan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        var random = TestRandom(seed: 47)
        // A lattice-like tile (two plane waves) plus noise, 12 x 10.
        let (h, w) = (12, 10)
        var x = Tensor(batch: 1, channels: 2, height: h, width: w)
        for c in 0..<2 {
            for y in 0..<h {
                for xx in 0..<w {
                    x.data[c * h * w + y * w + xx] =
                        cos(2 * .pi * Float(3 * xx) / Float(w)) + 0.5 * cos(2 * .pi * Float(2 * y) / Float(h))
                        + 0.1 * random.next() + Float(c)
                }
            }
        }
        let spectrum = FourierLogAmplitude(epsilon: 1e-3).forward(x)
        let norm = InstanceNorm2D(channels: 2, affine: true)
        norm.scale.value = [1.5, 0.5]
        norm.shift.value = [0.25, -1]
        let normalised = norm.forward(x)
        try NumpyFile.write(
            Image(width: w, height: 2 * h, pixels: x.data), as: .float32, to: URL(fileURLWithPath: path("x.npy")))
        try await TestPython.run(
            """
            import numpy as np
            x = np.load('\(path("x.npy"))').astype(np.float64).reshape(1, 2, \(h), \(w))
            s = np.log(1e-3 + np.abs(np.fft.fftshift(np.fft.fft2(x, norm='ortho'), axes=(-2, -1))))
            m = x.mean(axis=(2, 3), keepdims=True); v = x.var(axis=(2, 3), keepdims=True)
            n = (x - m) / np.sqrt(v + 1e-5) * np.array([1.5, 0.5])[None, :, None, None] + np.array([0.25, -1])[None, :, None, None]
            np.save('\(path("s.npy"))', s.astype(np.float32).reshape(-1, \(w)))
            np.save('\(path("n.npy"))', n.astype(np.float32).reshape(-1, \(w)))
            """)
        let expectedSpectrum = try NumpyFile.read(URL(fileURLWithPath: path("s.npy"))).pixels
        let expectedNorm = try NumpyFile.read(URL(fileURLWithPath: path("n.npy"))).pixels
        let spectrumError = zip(spectrum.data, expectedSpectrum).map { abs($0 - $1) }.max() ?? .infinity
        let normError = zip(normalised.data, expectedNorm).map { abs($0 - $1) }.max() ?? .infinity
        #expect(spectrumError < 1e-3, "log amplitude differs from numpy by up to \(spectrumError)")
        #expect(normError < 1e-4, "instance norm differs from numpy by up to \(normError)")
        // The plane wave of 3 cycles across the width is a spot 3 columns from the centre.
        let centre = (h / 2) * w + w / 2
        #expect(spectrum.data[centre + 3] > spectrum.data[centre + 2] + 2)
    }
}
