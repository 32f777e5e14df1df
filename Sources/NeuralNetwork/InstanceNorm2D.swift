/// Instance normalisation: each channel of each item normalised by its own mean and (biased)
/// variance over the plane, then, if `affine`, scaled and shifted per channel, as PyTorch's
/// `nn.InstanceNorm2d(channels, affine:, track_running_stats=False)`. It keeps no running
/// statistics, so training and inference compute the same thing; an image's overall brightness
/// and contrast do not reach the next layer, which is why image-to-image generators use it.
public final class InstanceNorm2D {
    /// Channels.
    public let channels: Int
    /// Whether γ and β are learned.
    public let affine: Bool
    /// Scale γ, `[channels]` (PyTorch: weight); 1 and not learned without `affine`.
    public let scale: Parameter
    /// Shift β, `[channels]` (PyTorch: bias); 0 and not learned without `affine`.
    public let shift: Parameter
    /// Added to the variance.
    public let epsilon: Float = 1e-5

    private var normalised: Tensor?
    private var inverseDeviation: [Float] = []

    /// An instance norm over `channels`, with learned γ = 1, β = 0 if `affine`.
    public init(channels: Int, affine: Bool = true) {
        precondition(channels > 0, "an instance norm needs channels")
        self.channels = channels
        self.affine = affine
        scale = Parameter(shape: [channels], value: [Float](repeating: 1, count: channels))
        shift = Parameter(shape: [channels], value: [Float](repeating: 0, count: channels))
    }

    /// The learnable parameters (none without `affine`).
    public var parameters: [Parameter] { affine ? [scale, shift] : [] }

    /// Normalises every plane of `x`.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.channels == channels, "expected \(channels) channels, got \(x.channels)")
        var y = x
        var xHat = x
        let size = x.planeSize
        inverseDeviation = [Float](repeating: 0, count: x.batch * channels)
        for plane in 0..<(x.batch * channels) {
            let base = plane * size
            var sum: Double = 0
            var squares: Double = 0
            for i in base..<(base + size) {
                let v = Double(x.data[i])
                sum += v
                squares += v * v
            }
            let mean = sum / Double(size)
            let variance = max(0, squares / Double(size) - mean * mean)
            let inverse = Float(1 / (variance + Double(epsilon)).squareRoot())
            inverseDeviation[plane] = inverse
            let c = plane % channels
            for i in base..<(base + size) {
                xHat.data[i] = (x.data[i] - Float(mean)) * inverse
                y.data[i] = scale.value[c] * xHat.data[i] + shift.value[c]
            }
        }
        normalised = xHat
        return y
    }

    /// Accumulates γ and β gradients (with `affine`) and returns the gradient at the input.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let xHat = normalised else { preconditionFailure("backward before forward") }
        var dx = dy
        let size = dy.planeSize
        let count = Float(size)
        for plane in 0..<(dy.batch * channels) {
            let base = plane * size
            let c = plane % channels
            var sum: Float = 0
            var dotted: Float = 0
            for i in base..<(base + size) {
                sum += dy.data[i]
                dotted += dy.data[i] * xHat.data[i]
            }
            if affine {
                scale.gradient[c] += dotted
                shift.gradient[c] += sum
            }
            // With γ folded in: dL/dx̂ = γ·dy, so its sums are γ·sum and γ·dotted.
            let factor = scale.value[c] * inverseDeviation[plane] / count
            for i in base..<(base + size) {
                dx.data[i] = factor * (count * dy.data[i] - sum - xHat.data[i] * dotted)
            }
        }
        return dx
    }
}
