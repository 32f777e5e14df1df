import Foundation
import NeuralNetwork
import Testing

@Suite("Batch norm, dropout and Adam")
struct NormalisationAndTrainingTests {
    @Test("batch norm in training mode: input, scale and shift gradients")
    func batchNormGradients() {
        var random = TestRandom(seed: 31)
        let norm = BatchNorm2D(channels: 3)
        for c in 0..<3 {
            norm.scale.value[c] = 0.5 + Float(c)
            norm.shift.value[c] = random.next()
        }
        let x = random.tensor(2, 3, 4, 4)
        let y = norm.forward(x, training: true)
        let r = (0..<y.data.count).map { _ in random.next() }
        let dx = norm.backward(Tensor(batch: 2, channels: 3, height: 4, width: 4, data: r))
        func loss(input: [Float]? = nil, scale: [Float]? = nil, shift: [Float]? = nil) -> Float {
            let probe = BatchNorm2D(channels: 3)
            probe.scale.value = scale ?? norm.scale.value
            probe.shift.value = shift ?? norm.shift.value
            return weightedSum(
                probe.forward(
                    Tensor(batch: 2, channels: 3, height: 4, width: 4, data: input ?? x.data), training: true), r)
        }
        expectGradient("dx", analytic: dx.data, at: x.data, entries: 20, tolerance: 3e-2) { loss(input: $0) }
        expectGradient("dgamma", analytic: norm.scale.gradient, at: norm.scale.value) { loss(scale: $0) }
        expectGradient("dbeta", analytic: norm.shift.gradient, at: norm.shift.value) { loss(shift: $0) }
    }

    @Test("a batch norm folded into its convolution gives the same inference output")
    func folding() {
        var random = TestRandom(seed: 32)
        let conv = Conv2D(inChannels: 2, outChannels: 3, kernel: 3, seed: 9)
        let norm = BatchNorm2D(channels: 3)
        // A few training batches give the running statistics something to hold.
        for _ in 0..<5 { _ = norm.forward(conv.forward(random.tensor(4, 2, 6, 6)), training: true) }
        for c in 0..<3 {
            norm.scale.value[c] = 1 + 0.3 * Float(c)
            norm.shift.value[c] = -0.2 * Float(c)
        }
        let x = random.tensor(2, 2, 6, 6)
        let reference = norm.forward(conv.forward(x), training: false)
        let folded = conv.folding(norm).forward(x)
        let worst = zip(reference.data, folded.data).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4, "folded output differs by \(worst)")
        #expect(norm.runningMean.contains { $0 != 0 })
    }

    @Test("dropout drops about its rate in training, keeps the mean, and is the identity in inference")
    func dropout() {
        let dropout = Dropout(rate: 0.25, seed: 4)
        let x = Tensor(batch: 1, channels: 1, height: 100, width: 100, value: 1)
        #expect(dropout.forward(x, training: false) == x)
        let y = dropout.forward(x, training: true)
        let dropped = Float(y.data.filter { $0 == 0 }.count) / Float(y.data.count)
        #expect(abs(dropped - 0.25) < 0.03)
        #expect(abs(y.data.reduce(0, +) / Float(y.data.count) - 1) < 0.05)
        let dx = dropout.backward(x)
        #expect(dx == y, "the gradient passes through the same mask")
    }

    @Test("Adam trains a per-pixel classifier: the loss falls and every pixel is classified right")
    func adamTrains() {
        // Two channels in; class 1 where the first channel exceeds the second.
        var random = TestRandom(seed: 33)
        let conv = Conv2D(inChannels: 2, outChannels: 2, kernel: 1, seed: 2)
        let optimiser = Adam(parameters: conv.parameters, learningRate: 0.05)
        let x = random.tensor(4, 2, 8, 8)
        var labels: [Int] = []
        for n in 0..<4 {
            for i in 0..<64 { labels.append(x.data[n * 128 + i] > x.data[n * 128 + 64 + i] ? 1 : 0) }
        }
        let first = SoftmaxCrossEntropy.evaluate(logits: conv.forward(x), labels: labels, weights: [1, 1]).loss
        var last = first
        for _ in 0..<300 {
            let (loss, gradient) = SoftmaxCrossEntropy.evaluate(
                logits: conv.forward(x), labels: labels, weights: [1, 1])
            _ = conv.backward(gradient)
            optimiser.step()
            last = loss
        }
        #expect(last < 0.2 * first, "loss \(first) -> \(last)")
        let logits = conv.forward(x)
        var correct = 0
        for n in 0..<4 {
            for i in 0..<64 {
                let predicted = logits.data[n * 128 + 64 + i] > logits.data[n * 128 + i] ? 1 : 0
                if predicted == labels[n * 64 + i] { correct += 1 }
            }
        }
        #expect(correct >= 250, "\(correct) of 256 pixels right")
        #expect(conv.weight.gradient.allSatisfy { $0 == 0 }, "a step zeroes the gradients")
    }
}
