/// Convolution, batch norm, ReLU: the U-Net's basic unit.
public final class ConvBlock {
    /// The convolution (its bias is kept, as in the published network).
    public let conv: Conv2D
    /// The batch norm after it.
    public let norm: BatchNorm2D
    private let relu = ReLU()

    /// A 3 x 3 block from `inChannels` to `outChannels`.
    public init(_ inChannels: Int, _ outChannels: Int, seed: UInt64) {
        conv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 3, seed: seed)
        norm = BatchNorm2D(channels: outChannels)
    }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        relu.forward(norm.forward(conv.forward(x), training: training))
    }

    func backward(_ dy: Tensor) -> Tensor {
        conv.backward(norm.backward(relu.backward(dy)))
    }

    /// Tensors by name suffix: conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var.
    func state(_ prefix: String) -> [String: StateTensor] {
        [
            "\(prefix).conv.weight": .parameter(conv.weight), "\(prefix).conv.bias": .parameter(conv.bias),
            "\(prefix).bn.weight": .parameter(norm.scale), "\(prefix).bn.bias": .parameter(norm.shift),
            "\(prefix).bn.running_mean": .buffer(
                shape: [norm.channels], get: { self.norm.runningMean }, set: { self.norm.runningMean = $0 }),
            "\(prefix).bn.running_var": .buffer(
                shape: [norm.channels], get: { self.norm.runningVariance }, set: { self.norm.runningVariance = $0 }),
        ]
    }
}

/// A named tensor of a model's state: a learnable parameter, or a buffer such as a running mean.
public enum StateTensor {
    /// A learnable parameter.
    case parameter(Parameter)
    /// A buffer, read and written through closures.
    case buffer(shape: [Int], get: () -> [Float], set: ([Float]) -> Void)

    /// The tensor's shape.
    public var shape: [Int] {
        switch self {
        case .parameter(let p): p.shape
        case .buffer(let shape, _, _): shape
        }
    }

    /// The tensor's values.
    public var values: [Float] {
        switch self {
        case .parameter(let p): p.value
        case .buffer(_, let get, _): get()
        }
    }

    /// Replaces the values.
    public func assign(_ values: [Float]) {
        switch self {
        case .parameter(let p): p.value = values
        case .buffer(_, _, let set): set(values)
        }
    }
}
