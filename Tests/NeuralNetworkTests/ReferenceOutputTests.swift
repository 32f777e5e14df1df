import Foundation
import ImageIO
import ImageNumerics
import NeuralNetwork
import ScopePilotTestSupport
import Testing

/// The forward passes against an independent numpy implementation, run in the test itself: numpy
/// computes the expected outputs from the same inputs and weights, written here as .npy files.
@Suite("Reference outputs from numpy")
struct ReferenceOutputTests {
    /// Writes a tensor as a 2-D .npy of shape (N·C·H, W).
    static func save(_ values: [Float], rows: Int, to url: URL) throws {
        try NumpyFile.write(Image(width: values.count / rows, height: rows, pixels: values), as: .float32, to: url)
    }

    static func runNumpy(_ program: String) async throws { try await TestPython.run(program) }

    @Test("Conv2D (3x3 stride 2), ConvTranspose2D (3x3 stride 2), max pool and weighted cross-entropy match numpy")
    func matchesNumpy() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-nn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

        var random = TestRandom(seed: 21)
        let x = random.tensor(2, 3, 9, 8)
        let conv = Conv2D(inChannels: 3, outChannels: 4, kernel: 3, stride: 2, padding: 1, seed: 3)
        for i in conv.bias.value.indices { conv.bias.value[i] = random.next() }
        let up = ConvTranspose2D(inChannels: 4, outChannels: 2, seed: 4)
        for i in up.bias.value.indices { up.bias.value[i] = random.next() }
        let convolved = conv.forward(x)
        let upsampled = up.forward(convolved)
        let pooled = MaxPool2D().forward(x)
        let labels = (0..<(upsampled.batch * upsampled.planeSize)).map { ($0 * 5) % 2 }
        let (loss, _) = SoftmaxCrossEntropy.evaluate(logits: upsampled, labels: labels, weights: [0.5, 2])

        try Self.save(x.data, rows: 2 * 3 * 9, to: URL(fileURLWithPath: path("x.npy")))
        try Self.save(conv.weight.value, rows: 4 * 3 * 3, to: URL(fileURLWithPath: path("w.npy")))
        try Self.save(conv.bias.value, rows: 1, to: URL(fileURLWithPath: path("b.npy")))
        try Self.save(up.weight.value, rows: 4 * 2 * 3, to: URL(fileURLWithPath: path("wt.npy")))
        try Self.save(up.bias.value, rows: 1, to: URL(fileURLWithPath: path("bt.npy")))
        try await Self.runNumpy(
            """
            import numpy as np
            x = np.load('\(path("x.npy"))').astype(np.float64).reshape(2, 3, 9, 8)
            w = np.load('\(path("w.npy"))').astype(np.float64).reshape(4, 3, 3, 3)
            b = np.load('\(path("b.npy"))').astype(np.float64).reshape(4)
            wt = np.load('\(path("wt.npy"))').astype(np.float64).reshape(4, 2, 3, 3)
            bt = np.load('\(path("bt.npy"))').astype(np.float64).reshape(2)
            def conv2d(x, w, b, s, p):
                n, c, h, wd = x.shape; o, _, k, _ = w.shape
                xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
                ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
                y = np.zeros((n, o, ho, wo))
                for i in range(ho):
                    for j in range(wo):
                        y[:, :, i, j] = np.tensordot(xp[:, :, i*s:i*s+k, j*s:j*s+k], w, axes=([1, 2, 3], [1, 2, 3])) + b
                return y
            def conv_transpose(x, w, b, s, p, op):
                n, c, h, wd = x.shape; _, o, k, _ = w.shape
                ho, wo = (h - 1) * s - 2 * p + k + op, (wd - 1) * s - 2 * p + k + op
                full = np.zeros((n, o, (h - 1) * s + k + op, (wd - 1) * s + k + op))
                for i in range(h):
                    for j in range(wd):
                        full[:, :, i*s:i*s+k, j*s:j*s+k] += np.einsum('nc,cokl->nokl', x[:, :, i, j], w)
                return full[:, :, p:p+ho, p:p+wo] + b[None, :, None, None]
            def maxpool(x):
                n, c, h, wd = x.shape
                return x[:, :, :h//2*2, :wd//2*2].reshape(n, c, h//2, 2, wd//2, 2).max(axis=(3, 5))
            y = conv2d(x, w, b, 2, 1)
            u = conv_transpose(y, wt, bt, 2, 1, 1)
            labels = (np.arange(u.shape[0] * u.shape[2] * u.shape[3]) * 5 % 2).reshape(u.shape[0], u.shape[2], u.shape[3])
            weights = np.array([0.5, 2.0])
            z = u - u.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            picked = np.take_along_axis(logp, labels[:, None], axis=1)[:, 0]
            wl = weights[labels]
            loss = -(wl * picked).sum() / wl.sum()
            np.save('\(path("y.npy"))', y.astype(np.float32).reshape(-1, y.shape[3]))
            np.save('\(path("u.npy"))', u.astype(np.float32).reshape(-1, u.shape[3]))
            np.save('\(path("p.npy"))', maxpool(x).astype(np.float32).reshape(-1, 4))
            np.save('\(path("loss.npy"))', np.array([[loss]], dtype=np.float32))
            """)
        func load(_ name: String) throws -> [Float] { try NumpyFile.read(URL(fileURLWithPath: path(name))).pixels }
        func close(_ a: [Float], _ b: [Float], _ what: String) {
            #expect(a.count == b.count, "\(what): \(a.count) values, numpy \(b.count)")
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-4, "\(what): largest difference from numpy \(worst)")
        }
        close(convolved.data, try load("y.npy"), "Conv2D")
        close(upsampled.data, try load("u.npy"), "ConvTranspose2D")
        close(pooled.data, try load("p.npy"), "MaxPool2D")
        close([loss], try load("loss.npy"), "SoftmaxCrossEntropy")
    }
}
