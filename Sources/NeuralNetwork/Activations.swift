import Foundation

/// x for x > 0, `slope` · x otherwise, element-wise (PyTorch's `nn.LeakyReLU(slope)`); the
/// activation of PatchGAN discriminators, which keeps a gradient for every input.
public final class LeakyReLU {
    /// The slope for negative inputs (0.2 in CycleGAN's discriminators).
    public let slope: Float
    private var positive: [Bool] = []

    /// A leaky ReLU with `slope` for negative inputs.
    public init(slope: Float = 0.2) {
        precondition(slope >= 0 && slope < 1, "a leaky ReLU's slope is between 0 and 1")
        self.slope = slope
    }

    /// Applies the activation, keeping which inputs were positive.
    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        positive = x.data.map { $0 > 0 }
        for i in y.data.indices where !positive[i] { y.data[i] *= slope }
        return y
    }

    /// The gradient: passed where the input was positive, scaled by `slope` elsewhere.
    public func backward(_ dy: Tensor) -> Tensor {
        var dx = dy
        for i in dx.data.indices where !positive[i] { dx.data[i] *= slope }
        return dx
    }
}

/// tanh(x), element-wise (PyTorch's `nn.Tanh`): a generator's output, in −1 ... 1.
public final class Tanh {
    private var output: [Float] = []

    /// A tanh.
    public init() {}

    /// Applies tanh, keeping the output for the gradient.
    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        for i in y.data.indices { y.data[i] = tanh(y.data[i]) }
        output = y.data
        return y
    }

    /// The gradient: dy · (1 − tanh²).
    public func backward(_ dy: Tensor) -> Tensor {
        var dx = dy
        for i in dx.data.indices { dx.data[i] *= 1 - output[i] * output[i] }
        return dx
    }
}
