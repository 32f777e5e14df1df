import Foundation
import NeuralNetwork
import Testing

/// Random tensors for tests, with distinct values (so ReLU and max pooling have no ties or kinks
/// within the finite-difference step).
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }

    mutating func tensor(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Tensor {
        Tensor(batch: n, channels: c, height: h, width: w, data: (0..<(n * c * h * w)).map { _ in next() })
    }
}

/// Compares an analytic gradient with central finite differences of a scalar function at a few
/// entries; float32 arithmetic, so the tolerance is relative to the gradient's scale.
func expectGradient(
    _ name: String, analytic: [Float], at point: [Float], entries: Int = 12,
    tolerance: Float = 2e-2, step: Float = 1e-2, loss: ([Float]) -> Float
) {
    let scale = max(analytic.map(abs).max() ?? 1, 1e-3)
    for k in 0..<min(entries, point.count) {
        let i = (k * 7919) % point.count
        var plus = point
        var minus = point
        plus[i] += step
        minus[i] -= step
        let numeric = (loss(plus) - loss(minus)) / (2 * step)
        #expect(
            abs(numeric - analytic[i]) <= tolerance * scale,
            "\(name)[\(i)]: analytic \(analytic[i]), numeric \(numeric)")
    }
}

/// L = Σ r · f(x) for a fixed random r, so dL/df = r.
func weightedSum(_ y: Tensor, _ r: [Float]) -> Float { zip(y.data, r).reduce(0) { $0 + $1.0 * $1.1 } }

@Suite("Gradient checks against finite differences")
struct GradientCheckTests {
    @Test("Conv2D: input, weight and bias gradients", arguments: [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 2, 0)])
    func convolution(kernel: Int, stride: Int, padding: Int) {
        var random = TestRandom(seed: 11)
        let conv = Conv2D(inChannels: 3, outChannels: 4, kernel: kernel, stride: stride, padding: padding, seed: 5)
        for i in conv.bias.value.indices { conv.bias.value[i] = random.next() }
        let x = random.tensor(2, 3, 7, 6)
        let y = conv.forward(x)
        let r = (0..<y.data.count).map { _ in random.next() }
        let dx = conv.backward(Tensor(batch: y.batch, channels: y.channels, height: y.height, width: y.width, data: r))
        func loss(input: [Float]? = nil, weight: [Float]? = nil, bias: [Float]? = nil) -> Float {
            let probe = Conv2D(inChannels: 3, outChannels: 4, kernel: kernel, stride: stride, padding: padding)
            probe.weight.value = weight ?? conv.weight.value
            probe.bias.value = bias ?? conv.bias.value
            let out = probe.forward(Tensor(batch: 2, channels: 3, height: 7, width: 6, data: input ?? x.data))
            return weightedSum(out, r)
        }
        expectGradient("dx", analytic: dx.data, at: x.data) { loss(input: $0) }
        expectGradient("dW", analytic: conv.weight.gradient, at: conv.weight.value) { loss(weight: $0) }
        expectGradient("db", analytic: conv.bias.gradient, at: conv.bias.value) { loss(bias: $0) }
    }

    @Test("ConvTranspose2D doubles the size, with correct input, weight and bias gradients")
    func transposedConvolution() {
        var random = TestRandom(seed: 12)
        let up = ConvTranspose2D(inChannels: 3, outChannels: 2, seed: 6)
        for i in up.bias.value.indices { up.bias.value[i] = random.next() }
        let x = random.tensor(2, 3, 4, 5)
        let y = up.forward(x)
        #expect(y.height == 8 && y.width == 10)
        let r = (0..<y.data.count).map { _ in random.next() }
        let dx = up.backward(Tensor(batch: y.batch, channels: y.channels, height: y.height, width: y.width, data: r))
        func loss(input: [Float]? = nil, weight: [Float]? = nil, bias: [Float]? = nil) -> Float {
            let probe = ConvTranspose2D(inChannels: 3, outChannels: 2)
            probe.weight.value = weight ?? up.weight.value
            probe.bias.value = bias ?? up.bias.value
            return weightedSum(
                probe.forward(Tensor(batch: 2, channels: 3, height: 4, width: 5, data: input ?? x.data)), r)
        }
        expectGradient("dx", analytic: dx.data, at: x.data) { loss(input: $0) }
        expectGradient("dW", analytic: up.weight.gradient, at: up.weight.value) { loss(weight: $0) }
        expectGradient("db", analytic: up.bias.gradient, at: up.bias.value) { loss(bias: $0) }
    }

    @Test("ReLU and MaxPool2D route gradients where the forward pass took its values")
    func reluAndPool() {
        var random = TestRandom(seed: 13)
        // Distinct values on a grid of spacing 1/96 that avoids zero: no kink within the step.
        let order = (0..<192).sorted { ($0 * 7919) % 192 < ($1 * 7919) % 192 }
        let x = Tensor(batch: 2, channels: 2, height: 6, width: 8, data: order.map { (Float($0) - 95.5) / 96 })
        let relu = ReLU()
        let pool = MaxPool2D()
        let y = pool.forward(relu.forward(x))
        #expect(y.height == 3 && y.width == 4)
        let r = (0..<y.data.count).map { _ in random.next() }
        let dx = relu.backward(pool.backward(Tensor(batch: 2, channels: 2, height: 3, width: 4, data: r)))
        expectGradient("dx", analytic: dx.data, at: x.data, entries: 40, step: 1e-3) {
            weightedSum(
                MaxPool2D().forward(ReLU().forward(Tensor(batch: 2, channels: 2, height: 6, width: 8, data: $0))), r)
        }
    }

    @Test("channel concat splits its gradient back")
    func concat() {
        var random = TestRandom(seed: 14)
        let a = random.tensor(2, 2, 3, 3)
        let b = random.tensor(2, 3, 3, 3)
        let y = ChannelConcat.forward(a, b)
        #expect(y.channels == 5)
        let (da, db) = ChannelConcat.backward(y, splitAt: 2)
        #expect(da == a && db == b)
    }

    @Test("weighted softmax cross-entropy: loss and gradient")
    func crossEntropy() {
        var random = TestRandom(seed: 15)
        let logits = random.tensor(2, 4, 3, 3)
        let labels = (0..<18).map { ($0 * 7) % 4 }
        let weights: [Float] = [0.2, 1, 3, 5]
        let (loss, gradient) = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels, weights: weights)
        #expect(loss > 0)
        expectGradient("dlogits", analytic: gradient.data, at: logits.data, entries: 30) {
            SoftmaxCrossEntropy.evaluate(
                logits: Tensor(batch: 2, channels: 4, height: 3, width: 3, data: $0), labels: labels, weights: weights
            ).loss
        }
    }
}
