import Foundation
import NeuralNetwork
import Testing

@Suite("Residual U-Net")
struct ResidualUNetTests {
    @Test("the published architecture has the published size (about 2.6 M parameters)")
    func publishedSize() {
        let network = ResidualUNet(.init(classes: 2, width: 16, depth: 4))
        #expect(network.parameterCount > 2_000_000 && network.parameterCount < 3_500_000, "\(network.parameterCount)")
        let logits = network.forward(Tensor(batch: 1, channels: 1, height: 32, width: 32), training: false)
        #expect(logits.channels == 2 && logits.height == 32 && logits.width == 32)
    }

    @Test("gradients through the whole network match finite differences")
    func wholeNetworkGradient() {
        var random = TestRandom(seed: 41)
        let architecture = ResidualUNet.Architecture(classes: 3, width: 2, depth: 2, dropout: 0)
        let network = ResidualUNet(architecture, seed: 3)
        let x = random.tensor(2, 1, 8, 8)
        let labels = (0..<128).map { ($0 * 11) % 3 }
        let weights: [Float] = [1, 2, 3]
        let (_, dLogits) = SoftmaxCrossEntropy.evaluate(
            logits: network.forward(x, training: true), labels: labels, weights: weights)
        let dx = network.backward(dLogits)
        func loss(_ input: [Float]) -> Float {
            let fresh = ResidualUNet(architecture, seed: 3)
            return SoftmaxCrossEntropy.evaluate(
                logits: fresh.forward(Tensor(batch: 2, channels: 1, height: 8, width: 8, data: input), training: true),
                labels: labels, weights: weights
            ).loss
        }
        expectGradient("dx", analytic: dx.data, at: x.data, entries: 16, tolerance: 5e-2, step: 1e-3, loss: loss)
        // One parameter deep inside: the first encoder convolution's weight.
        let state = network.state
        guard case .parameter(let deep) = state["encoder.0.block1.conv.weight"]! else { return }
        expectGradient(
            "encoder.0.block1.conv.weight", analytic: deep.gradient, at: deep.value, entries: 8, tolerance: 5e-2,
            step: 1e-3
        ) {
            values in
            let fresh = ResidualUNet(architecture, seed: 3)
            if case .parameter(let p) = fresh.state["encoder.0.block1.conv.weight"]! { p.value = values }
            return SoftmaxCrossEntropy.evaluate(
                logits: fresh.forward(x, training: true), labels: labels, weights: weights
            ).loss
        }
    }

    @Test("a saved network loads into another and gives the same output")
    func saveAndLoad() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scopepilot-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        var random = TestRandom(seed: 42)
        let architecture = ResidualUNet.Architecture(classes: 2, width: 4, depth: 2)
        let original = ResidualUNet(architecture, seed: 1)
        _ = original.forward(random.tensor(2, 1, 16, 16), training: true)  // moves the running statistics
        try original.save(to: url, metadata: ["pixel_size_angstrom": "0.2"])
        let copy = ResidualUNet(architecture, seed: 99)
        #expect(try copy.load(from: url) == ["pixel_size_angstrom": "0.2"])
        let x = random.tensor(1, 1, 16, 16)
        #expect(copy.forward(x, training: false) == original.forward(x, training: false))
        let other = ResidualUNet(.init(classes: 2, width: 4, depth: 3))
        #expect(throws: SafeTensorsError.self) { try other.load(from: url) }
    }

    @Test("a small network learns to find bright spots")
    func learnsSpots() {
        var random = TestRandom(seed: 43)
        let size = 32
        var images: [Float] = []
        var labels: [Int] = []
        for _ in 0..<6 {
            var image = [Float](repeating: 0, count: size * size)
            var label = [Int](repeating: 0, count: size * size)
            for _ in 0..<4 {
                let cx = Float(4 + Int((random.next() + 1) * 12))
                let cy = Float(4 + Int((random.next() + 1) * 12))
                for y in 0..<size {
                    for x in 0..<size {
                        let r2 = (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy)
                        image[y * size + x] += exp(-r2 / 4)
                        if r2 <= 4 { label[y * size + x] = 1 }
                    }
                }
            }
            for i in image.indices { image[i] += 0.1 * random.next() }
            images += image
            labels += label
        }
        let x = Tensor(batch: 6, channels: 1, height: size, width: size, data: images)
        let network = ResidualUNet(.init(classes: 2, width: 4, depth: 2, dropout: 0), seed: 7)
        let optimiser = Adam(parameters: network.parameters, learningRate: 0.01)
        let weights: [Float] = [1, 5]
        var losses: [Float] = []
        for _ in 0..<60 {
            let (loss, gradient) = SoftmaxCrossEntropy.evaluate(
                logits: network.forward(x, training: true), labels: labels, weights: weights)
            network.backward(gradient)
            optimiser.step()
            losses.append(loss)
        }
        #expect(losses.last! < 0.3 * losses.first!, "loss \(losses.first!) -> \(losses.last!)")
        let logits = network.forward(x, training: false)
        var hits = 0
        var spots = 0
        for n in 0..<6 {
            for p in 0..<(size * size) where labels[n * size * size + p] == 1 {
                spots += 1
                if logits.data[n * 2 * size * size + size * size + p] > logits.data[n * 2 * size * size + p] {
                    hits += 1
                }
            }
        }
        #expect(Float(hits) / Float(spots) > 0.8, "\(hits) of \(spots) spot pixels found")
    }
}
