/// A convolution (plain or transposed), an optional instance norm without learned scale, and an
/// activation: the unit the CycleGAN's generators and discriminators are built from.
///
/// Its state is `conv.weight` and `conv.bias` under the unit's prefix, as a PyTorch module with
/// attributes `conv` (`nn.Conv2d` or `nn.ConvTranspose2d`), `norm`
/// (`nn.InstanceNorm2d(affine=False)`, no state) and an activation.
final class ConvNormActivation {
    /// The activation after the norm.
    enum Activation {
        case relu, leaky, tanh, none
    }

    private enum Convolution {
        case plain(Conv2D)
        case transposed(ConvTranspose2D)
    }

    private let convolution: Convolution
    private let norm: InstanceNorm2D?
    private let relu = ReLU()
    private let leaky = LeakyReLU(slope: 0.2)
    private let tanh = Tanh()
    private let activation: Activation

    /// A `kernel` x `kernel` convolution with `stride` and `padding`.
    init(
        _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int, normalised: Bool,
        activation: Activation, seed: UInt64
    ) {
        convolution = .plain(
            Conv2D(
                inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
                seed: seed))
        norm = normalised ? InstanceNorm2D(channels: outChannels, affine: false) : nil
        self.activation = activation
    }

    /// A 3 x 3 transposed convolution of stride 2 that doubles the size.
    init(upsampling inChannels: Int, _ outChannels: Int, seed: UInt64) {
        convolution = .transposed(ConvTranspose2D(inChannels: inChannels, outChannels: outChannels, seed: seed))
        norm = InstanceNorm2D(channels: outChannels, affine: false)
        activation = .relu
    }

    func forward(_ x: Tensor) -> Tensor {
        var y: Tensor
        switch convolution {
        case .plain(let conv): y = conv.forward(x)
        case .transposed(let conv): y = conv.forward(x)
        }
        if let norm { y = norm.forward(y) }
        switch activation {
        case .relu: return relu.forward(y)
        case .leaky: return leaky.forward(y)
        case .tanh: return tanh.forward(y)
        case .none: return y
        }
    }

    func backward(_ dy: Tensor) -> Tensor {
        var d: Tensor
        switch activation {
        case .relu: d = relu.backward(dy)
        case .leaky: d = leaky.backward(dy)
        case .tanh: d = tanh.backward(dy)
        case .none: d = dy
        }
        if let norm { d = norm.backward(d) }
        switch convolution {
        case .plain(let conv): return conv.backward(d)
        case .transposed(let conv): return conv.backward(d)
        }
    }

    func state(_ prefix: String) -> [String: StateTensor] {
        switch convolution {
        case .plain(let conv):
            ["\(prefix).conv.weight": .parameter(conv.weight), "\(prefix).conv.bias": .parameter(conv.bias)]
        case .transposed(let conv):
            ["\(prefix).conv.weight": .parameter(conv.weight), "\(prefix).conv.bias": .parameter(conv.bias)]
        }
    }
}
