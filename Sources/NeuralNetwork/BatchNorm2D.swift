/// Batch normalisation over each channel (PyTorch's `nn.BatchNorm2d`: momentum 0.1, eps 1e-5,
/// running variance unbiased). In training it normalises with the batch's statistics and updates
/// the running ones; in inference it uses the running statistics, and ``Conv2D/folding(_:)`` folds
/// it into the convolution before it so that inference pays nothing for it.
public final class BatchNorm2D {
    /// Channels.
    public let channels: Int
    /// Scale γ, `[channels]` (PyTorch: weight).
    public let scale: Parameter
    /// Shift β, `[channels]` (PyTorch: bias).
    public let shift: Parameter
    /// Running mean, `[channels]`.
    public var runningMean: [Float]
    /// Running variance, `[channels]`.
    public var runningVariance: [Float]
    /// Weight of each new batch in the running statistics.
    public let momentum: Float = 0.1
    /// Added to the variance.
    public let epsilon: Float = 1e-5

    private var normalised: Tensor?
    private var inverseDeviation: [Float] = []

    /// A batch norm with γ = 1, β = 0.
    public init(channels: Int) {
        self.channels = channels
        scale = Parameter(shape: [channels], value: [Float](repeating: 1, count: channels))
        shift = Parameter(shape: [channels], value: [Float](repeating: 0, count: channels))
        runningMean = [Float](repeating: 0, count: channels)
        runningVariance = [Float](repeating: 1, count: channels)
    }

    /// The learnable parameters.
    public var parameters: [Parameter] { [scale, shift] }

    /// Normalises `x`: with the batch's statistics when `training`, else the running ones.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.channels == channels, "expected \(channels) channels, got \(x.channels)")
        var y = x
        let count = Float(x.batch * x.planeSize)
        var xHat = x
        inverseDeviation = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            var mean: Float
            var variance: Float
            if training {
                var sum: Double = 0
                var squares: Double = 0
                for n in 0..<x.batch {
                    for i in 0..<x.planeSize {
                        let v = Double(x.data[n * x.itemSize + c * x.planeSize + i])
                        sum += v
                        squares += v * v
                    }
                }
                mean = Float(sum / Double(count))
                variance = max(0, Float(squares / Double(count)) - mean * mean)
                let unbiased = count > 1 ? variance * count / (count - 1) : variance
                runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean
                runningVariance[c] = (1 - momentum) * runningVariance[c] + momentum * unbiased
            } else {
                mean = runningMean[c]
                variance = runningVariance[c]
            }
            let inverse = 1 / (variance + epsilon).squareRoot()
            inverseDeviation[c] = inverse
            for n in 0..<x.batch {
                for i in 0..<x.planeSize {
                    let index = n * x.itemSize + c * x.planeSize + i
                    xHat.data[index] = (x.data[index] - mean) * inverse
                    y.data[index] = scale.value[c] * xHat.data[index] + shift.value[c]
                }
            }
        }
        normalised = xHat
        return y
    }

    /// Accumulates γ and β gradients and returns the gradient at the input (training mode).
    public func backward(_ dy: Tensor) -> Tensor {
        guard let xHat = normalised else { preconditionFailure("backward before forward") }
        var dx = dy
        let count = Float(dy.batch * dy.planeSize)
        for c in 0..<channels {
            var sum: Float = 0
            var dotted: Float = 0
            for n in 0..<dy.batch {
                for i in 0..<dy.planeSize {
                    let index = n * dy.itemSize + c * dy.planeSize + i
                    sum += dy.data[index]
                    dotted += dy.data[index] * xHat.data[index]
                }
            }
            scale.gradient[c] += dotted
            shift.gradient[c] += sum
            let factor = scale.value[c] * inverseDeviation[c] / count
            for n in 0..<dy.batch {
                for i in 0..<dy.planeSize {
                    let index = n * dy.itemSize + c * dy.planeSize + i
                    dx.data[index] = factor * (count * dy.data[index] - sum - xHat.data[index] * dotted)
                }
            }
        }
        return dx
    }
}

extension Conv2D {
    /// This convolution followed by `norm` in inference mode, as one convolution:
    /// W' = W · γ/σ and b' = (b − μ) · γ/σ + β per output channel.
    public func folding(_ norm: BatchNorm2D) -> Conv2D {
        precondition(norm.channels == outChannels, "the batch norm must follow this convolution")
        let folded = Conv2D(
            inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
        let perOutput = inChannels * kernel * kernel
        for o in 0..<outChannels {
            let factor = norm.scale.value[o] / (norm.runningVariance[o] + norm.epsilon).squareRoot()
            for i in 0..<perOutput { folded.weight.value[o * perOutput + i] = weight.value[o * perOutput + i] * factor }
            folded.bias.value[o] = (bias.value[o] - norm.runningMean[o]) * factor + norm.shift.value[o]
        }
        return folded
    }
}
