public import Foundation

/// A CycleGAN generator, after the published one (a ResNet generator) but small enough to train
/// on a CPU: a 7 x 7 convolution, `downsamplings` stride-2 convolutions that double the channels,
/// `residualBlocks` residual blocks, as many transposed convolutions back, and a 7 x 7
/// convolution to one image, through tanh (images in −1 ... 1). Every unit but the last has an
/// instance norm (no learned scale) and ReLU. Zero padding throughout. Height and width must be
/// multiples of 2^downsamplings.
///
/// State names map one to one onto a PyTorch module built the same way (`nn.Conv2d(padding=3)`,
/// `nn.Conv2d(kernel_size=3, stride=2, padding=1)`, `nn.ConvTranspose2d(kernel_size=3, stride=2,
/// padding=1, output_padding=1)`, `nn.InstanceNorm2d(affine=False)`): `initial.conv.*`,
/// `down.{i}.conv.*`, `residual.{i}.first.conv.*` and `residual.{i}.second.conv.*` (the block
/// adds its input to the second unit's output, which has no activation), `up.{i}.conv.*`,
/// `final.conv.*`; each `*` is `weight` and `bias`.
public final class ResNetGenerator {
    /// The shape of a generator.
    public struct Architecture: Sendable, Hashable, Codable {
        /// Image channels in and out.
        public var channels = 1
        /// Channels after the first convolution; each downsampling doubles them.
        public var width = 8
        /// Stride-2 convolutions (and transposed ones back).
        public var downsamplings = 2
        /// Residual blocks at the lowest resolution.
        public var residualBlocks = 3

        /// A generator's shape.
        public init(channels: Int = 1, width: Int = 8, downsamplings: Int = 2, residualBlocks: Int = 3) {
            self.channels = channels
            self.width = width
            self.downsamplings = downsamplings
            self.residualBlocks = residualBlocks
        }

        /// Height and width must be multiples of this.
        public var granularity: Int { 1 << downsamplings }
    }

    private final class ResidualBlock {
        let first: ConvNormActivation
        let second: ConvNormActivation

        init(_ channels: Int, seed: UInt64) {
            first = ConvNormActivation(
                channels, channels, kernel: 3, padding: 1, normalised: true, activation: .relu, seed: seed)
            second = ConvNormActivation(
                channels, channels, kernel: 3, padding: 1, normalised: true, activation: .none, seed: seed + 1)
        }

        func forward(_ x: Tensor) -> Tensor {
            var y = second.forward(first.forward(x))
            for i in y.data.indices { y.data[i] += x.data[i] }
            return y
        }

        func backward(_ dy: Tensor) -> Tensor {
            var dx = first.backward(second.backward(dy))
            for i in dx.data.indices { dx.data[i] += dy.data[i] }
            return dx
        }
    }

    /// The shape.
    public let architecture: Architecture
    private let initial: ConvNormActivation
    private let down: [ConvNormActivation]
    private let residual: [ResidualBlock]
    private let up: [ConvNormActivation]
    private let final: ConvNormActivation

    /// A generator with weights initialised from `seed`.
    public init(architecture: Architecture = Architecture(), seed: UInt64 = 1) {
        precondition(
            architecture.channels > 0 && architecture.width > 0 && architecture.downsamplings >= 0
                && architecture.residualBlocks >= 0, "a generator's sizes must be positive")
        self.architecture = architecture
        let w = architecture.width
        initial = ConvNormActivation(
            architecture.channels, w, kernel: 7, padding: 3, normalised: true, activation: .relu, seed: seed)
        down = (0..<architecture.downsamplings).map { i in
            ConvNormActivation(
                w << i, w << (i + 1), kernel: 3, stride: 2, padding: 1, normalised: true, activation: .relu,
                seed: seed + 10 + UInt64(i))
        }
        let deepest = w << architecture.downsamplings
        residual = (0..<architecture.residualBlocks).map { ResidualBlock(deepest, seed: seed + 20 + 2 * UInt64($0)) }
        up = (0..<architecture.downsamplings).map { i in
            let from = w << (architecture.downsamplings - i)
            return ConvNormActivation(upsampling: from, from / 2, seed: seed + 50 + UInt64(i))
        }
        final = ConvNormActivation(
            w, architecture.channels, kernel: 7, padding: 3, normalised: false, activation: .tanh, seed: seed + 60)
    }

    /// The translated images, same shape as `x`; keeps what ``backward(_:)`` needs (one forward
    /// pass at a time: call backward before the next forward if its gradient is wanted).
    public func forward(_ x: Tensor) -> Tensor {
        precondition(
            x.channels == architecture.channels, "expected \(architecture.channels) channels, got \(x.channels)")
        precondition(
            x.height % architecture.granularity == 0 && x.width % architecture.granularity == 0,
            "height and width must be multiples of \(architecture.granularity)")
        var y = initial.forward(x)
        for unit in down { y = unit.forward(y) }
        for block in residual { y = block.forward(y) }
        for unit in up { y = unit.forward(y) }
        return final.forward(y)
    }

    /// Accumulates every parameter's gradient for `dy` at the output of the last forward pass and
    /// returns the gradient at its input.
    public func backward(_ dy: Tensor) -> Tensor {
        var d = final.backward(dy)
        for unit in up.reversed() { d = unit.backward(d) }
        for block in residual.reversed() { d = block.backward(d) }
        for unit in down.reversed() { d = unit.backward(d) }
        return initial.backward(d)
    }

    /// Every tensor of the state by name.
    public var state: [String: StateTensor] {
        var state = initial.state("initial")
        for (i, unit) in down.enumerated() { state.merge(unit.state("down.\(i)")) { $1 } }
        for (i, block) in residual.enumerated() {
            state.merge(block.first.state("residual.\(i).first")) { $1 }
            state.merge(block.second.state("residual.\(i).second")) { $1 }
        }
        for (i, unit) in up.enumerated() { state.merge(unit.state("up.\(i)")) { $1 } }
        state.merge(final.state("final")) { $1 }
        return state
    }

    /// The learnable parameters, in the order of their names.
    public var parameters: [Parameter] { Self.parameters(of: state) }

    /// Number of learnable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Writes the state as safetensors (names as above), with `metadata`.
    public func save(to url: URL, metadata: [String: String] = [:]) throws(SafeTensorsError) {
        try SafeTensors.save(state: state, metadata: metadata, to: url)
    }

    /// Reads the state from safetensors: every name must be present with its shape. Returns the
    /// file's metadata.
    @discardableResult
    public func load(from url: URL) throws(SafeTensorsError) -> [String: String] {
        try SafeTensors.load(url, into: state)
    }

    static func parameters(of state: [String: StateTensor]) -> [Parameter] {
        state.keys.sorted().compactMap { if case .parameter(let p) = state[$0]! { p } else { nil } }
    }
}
