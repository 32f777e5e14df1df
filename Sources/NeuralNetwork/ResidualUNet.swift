public import Foundation

/// The defect detector's network: a residual U-Net after the published one (REFERENCE.md section 2).
///
/// Encoder stage i (width·2^i channels): two conv-BN-ReLU blocks, whose output is kept for the skip
/// connection; then max pooling plus a 1 x 1 stride-2 convolution of the stage's input (the
/// residual shortcut), and dropout. A bottleneck of two blocks at width·2^depth. Decoder stage i:
/// a 3 x 3 stride-2 transposed convolution, concatenation with the skip, two blocks. A 1 x 1 head
/// gives one logit per class and pixel. Height and width must be multiples of 2^depth
/// (``FrameInference`` pads frames to that).
///
/// State names map one to one onto a PyTorch module built the same way:
/// `encoder.{i}.block{1,2}.conv.{weight,bias}`, `encoder.{i}.block{1,2}.bn.{weight,bias,running_mean,running_var}`,
/// `encoder.{i}.shortcut.{weight,bias}`, `bottleneck.block{1,2}.…`, `decoder.{i}.up.{weight,bias}`,
/// `decoder.{i}.block{1,2}.…`, `head.{weight,bias}`; decoder stage i pairs with encoder stage i.
public final class ResidualUNet {
    /// The shape of a network.
    public struct Architecture: Sendable, Hashable, Codable {
        /// Input channels (1 for a single detector).
        public var inputChannels = 1
        /// Output classes (background plus defect types).
        public var classes = 2
        /// Channels of the first stage; each stage doubles them.
        public var width = 16
        /// Encoder stages (the published network has 4).
        public var depth = 4
        /// Dropout after each encoder stage.
        public var dropout: Float = 0.1

        /// The published architecture for `classes` classes.
        public init(inputChannels: Int = 1, classes: Int = 2, width: Int = 16, depth: Int = 4, dropout: Float = 0.1) {
            self.inputChannels = inputChannels
            self.classes = classes
            self.width = width
            self.depth = depth
            self.dropout = dropout
        }

        /// Height and width must be multiples of this.
        public var granularity: Int { 1 << depth }
    }

    final class Encoder {
        let block1: ConvBlock
        let block2: ConvBlock
        let pool = MaxPool2D()
        let shortcut: Conv2D
        let dropout: Dropout
        var skipChannels: Int { block2.conv.outChannels }

        init(_ input: Int, _ output: Int, dropout rate: Float, seed: UInt64) {
            block1 = ConvBlock(input, output, seed: seed)
            block2 = ConvBlock(output, output, seed: seed + 1)
            shortcut = Conv2D(inChannels: input, outChannels: output, kernel: 1, stride: 2, padding: 0, seed: seed + 2)
            dropout = Dropout(rate: rate, seed: seed + 3)
        }

        func forward(_ x: Tensor, training: Bool) -> (down: Tensor, skip: Tensor) {
            let skip = block2.forward(block1.forward(x, training: training), training: training)
            var down = pool.forward(skip)
            let residual = shortcut.forward(x)
            for i in down.data.indices { down.data[i] += residual.data[i] }
            return (dropout.forward(down, training: training), skip)
        }

        func backward(down: Tensor, skip: Tensor) -> Tensor {
            let dDown = dropout.backward(down)
            var dSkip = pool.backward(dDown)
            for i in dSkip.data.indices { dSkip.data[i] += skip.data[i] }
            var dx = block1.backward(block2.backward(dSkip))
            let dShortcut = shortcut.backward(dDown)
            for i in dx.data.indices { dx.data[i] += dShortcut.data[i] }
            return dx
        }
    }

    final class Decoder {
        let up: ConvTranspose2D
        let block1: ConvBlock
        let block2: ConvBlock
        let upChannels: Int

        init(_ input: Int, _ skip: Int, _ output: Int, seed: UInt64) {
            up = ConvTranspose2D(inChannels: input, outChannels: output, seed: seed)
            upChannels = output
            block1 = ConvBlock(output + skip, output, seed: seed + 1)
            block2 = ConvBlock(output, output, seed: seed + 2)
        }

        func forward(_ x: Tensor, skip: Tensor, training: Bool) -> Tensor {
            let joined = ChannelConcat.forward(up.forward(x), skip)
            return block2.forward(block1.forward(joined, training: training), training: training)
        }

        func backward(_ dy: Tensor) -> (dx: Tensor, dSkip: Tensor) {
            let (dUp, dSkip) = ChannelConcat.backward(block1.backward(block2.backward(dy)), splitAt: upChannels)
            return (up.backward(dUp), dSkip)
        }
    }

    /// The architecture.
    public let architecture: Architecture
    let encoders: [Encoder]
    let bottleneck1: ConvBlock
    let bottleneck2: ConvBlock
    /// Deepest stage first.
    let decoders: [Decoder]
    /// The 1 x 1 classification head.
    public let head: Conv2D

    /// A network with deterministic initial weights from `seed`.
    public init(_ architecture: Architecture, seed: UInt64 = 1) {
        precondition(
            architecture.depth >= 1 && architecture.width >= 1 && architecture.classes >= 2, "invalid architecture")
        self.architecture = architecture
        var encoders: [Encoder] = []
        var channels = architecture.inputChannels
        for stage in 0..<architecture.depth {
            let output = architecture.width << stage
            encoders.append(Encoder(channels, output, dropout: architecture.dropout, seed: seed &+ UInt64(100 * stage)))
            channels = output
        }
        let bottom = architecture.width << architecture.depth
        bottleneck1 = ConvBlock(channels, bottom, seed: seed &+ 1000)
        bottleneck2 = ConvBlock(bottom, bottom, seed: seed &+ 1001)
        var decoders: [Decoder] = []
        channels = bottom
        for stage in (0..<architecture.depth).reversed() {
            let output = architecture.width << stage
            decoders.append(
                Decoder(channels, encoders[stage].skipChannels, output, seed: seed &+ UInt64(2000 + 100 * stage)))
            channels = output
        }
        self.encoders = encoders
        self.decoders = decoders
        head = Conv2D(
            inChannels: channels, outChannels: architecture.classes, kernel: 1, padding: 0, seed: seed &+ 3000)
    }

    /// Per-pixel class logits for `x` (height and width multiples of 2^depth).
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.channels == architecture.inputChannels, "expected \(architecture.inputChannels) input channels")
        precondition(
            x.height % architecture.granularity == 0 && x.width % architecture.granularity == 0,
            "height and width must be multiples of \(architecture.granularity)")
        var skips: [Tensor] = []
        var h = x
        for encoder in encoders {
            let (down, skip) = encoder.forward(h, training: training)
            skips.append(skip)
            h = down
        }
        h = bottleneck2.forward(bottleneck1.forward(h, training: training), training: training)
        for (decoder, skip) in zip(decoders, skips.reversed()) {
            h = decoder.forward(h, skip: skip, training: training)
        }
        return head.forward(h)
    }

    /// Back-propagates `dLogits` through the last forward pass, accumulating every parameter's
    /// gradient; returns the gradient at the input.
    @discardableResult
    public func backward(_ dLogits: Tensor) -> Tensor {
        var d = head.backward(dLogits)
        // Back through the decoders from the last (shallowest) to the first (deepest); the skip
        // gradients then run from stage 0 down, and the encoders go from the deepest up.
        var dSkips: [Tensor] = []
        for decoder in decoders.reversed() {
            let (dx, dSkip) = decoder.backward(d)
            dSkips.append(dSkip)
            d = dx
        }
        d = bottleneck1.backward(bottleneck2.backward(d))
        for (encoder, dSkip) in zip(encoders.reversed(), dSkips.reversed()) {
            d = encoder.backward(down: d, skip: dSkip)
        }
        return d
    }

    /// Every tensor of the model's state (parameters and running statistics) by name.
    public var state: [String: StateTensor] {
        var state: [String: StateTensor] = [:]
        for (i, encoder) in encoders.enumerated() {
            state.merge(encoder.block1.state("encoder.\(i).block1")) { $1 }
            state.merge(encoder.block2.state("encoder.\(i).block2")) { $1 }
            state["encoder.\(i).shortcut.weight"] = .parameter(encoder.shortcut.weight)
            state["encoder.\(i).shortcut.bias"] = .parameter(encoder.shortcut.bias)
        }
        state.merge(bottleneck1.state("bottleneck.block1")) { $1 }
        state.merge(bottleneck2.state("bottleneck.block2")) { $1 }
        for (k, decoder) in decoders.enumerated() {
            let stage = architecture.depth - 1 - k
            state["decoder.\(stage).up.weight"] = .parameter(decoder.up.weight)
            state["decoder.\(stage).up.bias"] = .parameter(decoder.up.bias)
            state.merge(decoder.block1.state("decoder.\(stage).block1")) { $1 }
            state.merge(decoder.block2.state("decoder.\(stage).block2")) { $1 }
        }
        state["head.weight"] = .parameter(head.weight)
        state["head.bias"] = .parameter(head.bias)
        return state
    }

    /// The learnable parameters, for the optimiser.
    public var parameters: [Parameter] {
        let state = self.state
        return state.keys.sorted().compactMap { if case .parameter(let p) = state[$0]! { p } else { nil } }
    }

    /// Writes the state as safetensors (names as above), with `metadata`.
    public func save(to url: URL, metadata: [String: String] = [:]) throws(SafeTensorsError) {
        try SafeTensors.save(state: state, metadata: metadata, to: url)
    }

    /// Reads the state from safetensors: every name must be present with its shape, and nothing
    /// else; a file that does not fit leaves the network unchanged. Returns the file's metadata.
    @discardableResult
    public func load(from url: URL) throws(SafeTensorsError) -> [String: String] {
        try SafeTensors.load(url, into: state)
    }

    /// Number of learnable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}
