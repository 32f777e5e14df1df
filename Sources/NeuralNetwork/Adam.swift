import Foundation

/// The Adam optimiser (Kingma and Ba; PyTorch's defaults β1 = 0.9, β2 = 0.999, ε = 1e-8).
public final class Adam {
    /// Step size.
    public var learningRate: Float
    /// First-moment decay (0.5 for GANs, after Radford et al., as CycleGAN trains).
    public let beta1: Float
    /// Second-moment decay.
    public let beta2: Float = 0.999
    /// Added to the root of the second moment.
    public let epsilon: Float = 1e-8
    /// Steps taken (a resumed run sets it from its checkpoint).
    public internal(set) var steps = 0
    private let parameters: [Parameter]

    /// An optimiser for `parameters`.
    public init(parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
    }

    /// Moves every parameter against its gradient, then zeroes the gradients.
    public func step() {
        steps += 1
        let correction1 = 1 - pow(beta1, Float(steps))
        let correction2 = 1 - pow(beta2, Float(steps))
        for parameter in parameters {
            for i in parameter.value.indices {
                let g = parameter.gradient[i]
                parameter.firstMoment[i] = beta1 * parameter.firstMoment[i] + (1 - beta1) * g
                parameter.secondMoment[i] = beta2 * parameter.secondMoment[i] + (1 - beta2) * g * g
                let m = parameter.firstMoment[i] / correction1
                let v = parameter.secondMoment[i] / correction2
                parameter.value[i] -= learningRate * m / (v.squareRoot() + epsilon)
            }
            parameter.zeroGradient()
        }
    }
}
