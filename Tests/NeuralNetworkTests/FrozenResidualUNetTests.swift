import NeuralNetwork
import Testing

@Suite("Frozen residual U-Net (inference)")
struct FrozenResidualUNetTests {
    /// A network whose batch norms have non-trivial statistics and affine terms, so that folding
    /// them has something to get wrong.
    static func trainedLookingNetwork(_ architecture: ResidualUNet.Architecture, seed: UInt64) -> ResidualUNet {
        let network = ResidualUNet(architecture, seed: seed)
        var random = TestRandom(seed: seed)
        for (name, tensor) in network.state where !name.hasSuffix("conv.weight") {
            let values = (0..<tensor.values.count).map { _ in (random.next() + 1) / 2 }
            if name.hasSuffix("running_var") {
                tensor.assign(values.map { 0.2 + 2 * $0 })
            } else if name.hasSuffix("bn.weight") {
                tensor.assign(values.map { 0.5 + $0 })
            } else {
                tensor.assign(values.map { $0 - 0.5 })
            }
        }
        return network
    }

    @Test(
        "frozen logits equal the network's inference forward pass",
        arguments: [
            (ResidualUNet.Architecture(classes: 2, width: 8, depth: 3), 64, 96),
            (ResidualUNet.Architecture(classes: 4, width: 3, depth: 2), 40, 24),
            (ResidualUNet.Architecture(classes: 3, width: 4, depth: 1), 18, 2),
        ])
    func matchesForward(architecture: ResidualUNet.Architecture, height: Int, width: Int) {
        let network = Self.trainedLookingNetwork(architecture, seed: UInt64(height))
        var random = TestRandom(seed: 5)
        let x = random.tensor(1, 1, height, width)
        let expected = network.forward(x, training: false)
        let frozen = FrozenResidualUNet(network)
        let workspace = InferenceWorkspace()
        let got = x.data.withUnsafeBufferPointer {
            frozen.logits($0, height: height, width: width, workspace: workspace)
        }
        #expect(got.channels == architecture.classes && got.height == height && got.width == width)
        // Folding and the direct kernel sum in another order: float32 rounding, not more.
        var worst: Float = 0
        for (a, b) in zip(expected.data, got.data) { worst = max(worst, abs(a - b) / max(1, abs(a))) }
        #expect(worst < 1e-3, "largest relative difference \(worst)")
        let scale = expected.data.map(abs).max() ?? 0
        #expect(scale > 0.1, "the logits should not be trivially small (\(scale))")
    }

    @Test("the workspace is reused for one size and replaced for another, with the same answers")
    func workspaceReuse() {
        let network = Self.trainedLookingNetwork(.init(classes: 2, width: 4, depth: 2), seed: 9)
        let frozen = FrozenResidualUNet(network)
        let workspace = InferenceWorkspace()
        var random = TestRandom(seed: 6)
        let small = random.tensor(1, 1, 16, 16)
        let large = random.tensor(1, 1, 32, 48)
        func run(_ x: Tensor) -> [Float] {
            x.data.withUnsafeBufferPointer {
                frozen.logits($0, height: x.height, width: x.width, workspace: workspace).data
            }
        }
        let first = run(small)
        let bytesSmall = workspace.bytes
        _ = run(large)
        #expect(workspace.bytes > bytesSmall)
        #expect(run(small) == first)
        #expect(workspace.bytes == bytesSmall)
    }

    @Test("the operation count is twice the multiply-adds of every layer")
    func operationCount() {
        // width 1, depth 1, 2 classes on 4 x 4: encoder 1→1 twice (9 + 9 per pixel), shortcut 1
        // per output pixel, upsampling 2→1 (18) per input pixel, decoder 2→1 (18) and 1→1 (9),
        // bottleneck 1→2 (18) and 2→2 (36) per bottom pixel, head 1→2 (2).
        let frozen = FrozenResidualUNet(ResidualUNet(.init(classes: 2, width: 1, depth: 1)))
        let expected = 16 * (9 + 9) + 4 * 1 + 4 * 18 + 16 * (18 + 9) + 4 * (18 + 36) + 16 * 2
        #expect(frozen.floatingPointOperations(height: 4, width: 4) == Double(2 * expected))
    }
}
