import Foundation
import ImageIO
import ImageNumerics
import NeuralNetwork
import ScopePilotTestSupport
import Testing

/// Compares an analytic gradient with central finite differences at `entries` entries, allowing a
/// few to miss. With ReLU after instance norm, moving one input moves every output of its planes,
/// and a difference whose step carries one of them across ReLU's kink is off by that output's
/// share (about one entry in eight at a step of 3e-4 on these small networks; fewer with smaller
/// steps, until float32 rounding takes over). A wrongly wired backward pass is wrong nearly
/// everywhere, so most entries must agree.
func expectGradientAcrossKinks(
    _ name: String, analytic: [Float], at point: [Float], entries: Int = 32, tolerance: Float = 3e-2,
    step: Float = 3e-4, allowedMisses: Double = 0.2, loss: ([Float]) -> Float
) {
    let scale = max(analytic.map(abs).max() ?? 1, 1e-3)
    var misses: [String] = []
    let tested = min(entries, point.count)
    for k in 0..<tested {
        let i = (k * 7919) % point.count
        var plus = point
        var minus = point
        plus[i] += step
        minus[i] -= step
        let numeric = (loss(plus) - loss(minus)) / (2 * step)
        if abs(numeric - analytic[i]) > tolerance * scale { misses.append("[\(i)] \(analytic[i]) vs \(numeric)") }
    }
    #expect(
        Double(misses.count) <= allowedMisses * Double(tested),
        "\(name): \(misses.count) of \(tested) entries differ: \(misses.joined(separator: ", "))")
}

/// The CycleGAN's generator and discriminators: shapes, gradients, and weights that an
/// independent implementation of the documented PyTorch modules, reading the safetensors by name,
/// runs to the same outputs.
@Suite("CycleGAN networks")
struct CycleGANNetworkTests {
    static let tinyGenerator = ResNetGenerator.Architecture(width: 2, downsamplings: 1, residualBlocks: 1)

    @Test("the generator keeps the tile's shape, stays within −1 ... 1 and has the right gradients")
    func generatorGradients() {
        var random = TestRandom(seed: 51)
        let generator = ResNetGenerator(architecture: Self.tinyGenerator, seed: 3)
        let x = random.tensor(2, 1, 8, 8)
        let y = generator.forward(x)
        #expect(y.sameShape(x))
        #expect(y.data.allSatisfy { abs($0) < 1 })
        let r = (0..<y.data.count).map { _ in random.next() }
        for p in generator.parameters { p.zeroGradient() }
        let dx = generator.backward(Tensor(batch: 2, channels: 1, height: 8, width: 8, data: r))
        expectGradientAcrossKinks("dx", analytic: dx.data, at: x.data) {
            weightedSum(generator.forward(Tensor(batch: 2, channels: 1, height: 8, width: 8, data: $0)), r)
        }
        // One parameter tensor of each kind: the first and last convolutions and a residual one.
        let state = generator.state
        for name in ["initial.conv.weight", "residual.0.second.conv.weight", "up.0.conv.weight", "final.conv.bias"] {
            guard case .parameter(let p) = state[name] else {
                Issue.record("no parameter \(name)")
                continue
            }
            let analytic = p.gradient
            let saved = p.value
            expectGradientAcrossKinks(name, analytic: analytic, at: saved, entries: 16) { values in
                p.value = values
                defer { p.value = saved }
                return weightedSum(generator.forward(x), r)
            }
        }
        #expect(generator.parameterCount > 0)
    }

    @Test(
        "pixel and Fourier PatchGAN discriminators score patches and pass the right gradient back",
        arguments: [false, true])
    func discriminatorGradients(fourier: Bool) {
        var random = TestRandom(seed: 53)
        let discriminator = PatchDiscriminator(
            architecture: PatchDiscriminator.Architecture(width: 2, layers: 3, fourier: fourier), seed: 7)
        let x = random.tensor(2, 1, 16, 16)
        let scores = discriminator.forward(x)
        // 16 → 8 → 4 → 3 (stride 1) → 2 (the head).
        #expect(scores.channels == 1 && scores.height == 2 && scores.width == 2)
        let r = (0..<scores.data.count).map { _ in random.next() }
        let dx = discriminator.backward(Tensor(batch: 2, channels: 1, height: 2, width: 2, data: r))
        expectGradient("dx", analytic: dx.data, at: x.data, entries: 16, step: 1e-2) {
            weightedSum(discriminator.forward(Tensor(batch: 2, channels: 1, height: 16, width: 16, data: $0)), r)
        }
    }

    @Test("saved weights run to the same outputs in numpy implementations of the documented modules")
    func weightsMapOntoTheModules() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-gan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func url(_ name: String) -> URL { folder.appendingPathComponent(name) }
        var random = TestRandom(seed: 57)
        let architecture = ResNetGenerator.Architecture(width: 3, downsamplings: 2, residualBlocks: 2)
        let generator = ResNetGenerator(architecture: architecture, seed: 11)
        for p in generator.parameters where p.shape.count == 1 {
            for i in p.value.indices { p.value[i] = random.next() }
        }
        let discriminator = PatchDiscriminator(
            architecture: PatchDiscriminator.Architecture(width: 3, layers: 3, fourier: true), seed: 13)
        let x = random.tensor(1, 1, 16, 12)
        let made = generator.forward(x)
        let scores = discriminator.forward(x)
        try generator.save(to: url("g.safetensors"), metadata: ["kind": "generator"])
        try discriminator.save(to: url("d.safetensors"))
        try NumpyFile.write(Image(width: 12, height: 16, pixels: x.data), as: .float32, to: url("x.npy"))
        try await TestPython.run(
            """
            import json, struct, numpy as np
            def load(path):
                raw = open(path, 'rb').read()
                n = struct.unpack('<Q', raw[:8])[0]; header = json.loads(raw[8:8 + n]); body = raw[8 + n:]
                return {k: np.frombuffer(body[v['data_offsets'][0]:v['data_offsets'][1]], '<f4').reshape(v['shape']).astype(np.float64)
                        for k, v in header.items() if k != '__metadata__'}
            def conv(x, w, b, s, p):
                c, h, wd = x.shape; o, _, k, _ = w.shape
                xp = np.pad(x, ((0, 0), (p, p), (p, p)))
                ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
                y = np.zeros((o, ho, wo))
                for i in range(ho):
                    for j in range(wo):
                        y[:, i, j] = np.tensordot(w, xp[:, i*s:i*s+k, j*s:j*s+k], axes=([1, 2, 3], [0, 1, 2])) + b
                return y
            def convt(x, w, b):
                c, h, wd = x.shape; _, o, k, _ = w.shape; s, p, op = 2, 1, 1
                full = np.zeros((o, (h - 1) * s + k + op, (wd - 1) * s + k + op))
                for i in range(h):
                    for j in range(wd):
                        full[:, i*s:i*s+k, j*s:j*s+k] += np.einsum('c,cokl->okl', x[:, i, j], w)
                return full[:, p:p + 2 * h, p:p + 2 * wd] + b[:, None, None]
            def inorm(x):
                return (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5)
            relu = lambda v: np.maximum(v, 0); leaky = lambda v: np.where(v > 0, v, 0.2 * v)
            x = np.load('\(url("x.npy").path)').astype(np.float64)[None]
            g = load('\(url("g.safetensors").path)')
            W = lambda n: (g[n + '.conv.weight'], g[n + '.conv.bias'])
            y = relu(inorm(conv(x, *W('initial'), 1, 3)))
            for i in range(\(architecture.downsamplings)): y = relu(inorm(conv(y, *W(f'down.{i}'), 2, 1)))
            for i in range(\(architecture.residualBlocks)):
                z = relu(inorm(conv(y, *W(f'residual.{i}.first'), 1, 1)))
                y = y + inorm(conv(z, *W(f'residual.{i}.second'), 1, 1))
            for i in range(\(architecture.downsamplings)): y = relu(inorm(convt(y, *W(f'up.{i}'))))
            y = np.tanh(conv(y, *W('final'), 1, 3))
            np.save('\(url("made.npy").path)', y[0].astype(np.float32))
            d = load('\(url("d.safetensors").path)')
            s = inorm(np.log(1e-3 + np.abs(np.fft.fftshift(np.fft.fft2(x, norm='ortho'), axes=(-2, -1)))))
            for i in range(3):
                s = conv(s, d[f'layers.{i}.conv.weight'], d[f'layers.{i}.conv.bias'], 2 if i < 2 else 1, 1)
                s = leaky(inorm(s) if i > 0 else s)
            s = conv(s, d['head.conv.weight'], d['head.conv.bias'], 1, 1)
            np.save('\(url("scores.npy").path)', s[0].astype(np.float32))
            """)
        let expectedMade = try NumpyFile.read(url("made.npy")).pixels
        let expectedScores = try NumpyFile.read(url("scores.npy")).pixels
        #expect(expectedMade.count == made.data.count && expectedScores.count == scores.data.count)
        let madeError = zip(made.data, expectedMade).map { abs($0 - $1) }.max() ?? .infinity
        let scoreError = zip(scores.data, expectedScores).map { abs($0 - $1) }.max() ?? .infinity
        #expect(madeError < 1e-4, "generator differs from numpy by up to \(madeError)")
        #expect(scoreError < 1e-3, "Fourier discriminator differs from numpy by up to \(scoreError)")
        // And the file loads back into a fresh generator, which then makes the same images.
        let reloaded = ResNetGenerator(architecture: architecture, seed: 99)
        #expect(try reloaded.load(from: url("g.safetensors"))["kind"] == "generator")
        #expect(reloaded.forward(x).data == made.data)
    }
}
