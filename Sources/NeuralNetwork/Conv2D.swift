import Foundation

/// A 2-D convolution with square kernels, any stride and zero padding: im2col, then one sgemm per
/// batch item. Weights are `[out, in, k, k]` and the bias `[out]`, as PyTorch's `nn.Conv2d`.
public final class Conv2D {
    /// Input channels.
    public let inChannels: Int
    /// Output channels.
    public let outChannels: Int
    /// Kernel side.
    public let kernel: Int
    /// Stride.
    public let stride: Int
    /// Zero padding on every side.
    public let padding: Int
    /// `[out, in, k, k]`.
    public let weight: Parameter
    /// `[out]`.
    public let bias: Parameter

    private var input: Tensor?
    private var columns: [Float] = []

    /// A convolution with He-initialised weights (suited to ReLU) from `seed`, zero bias.
    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil, seed: UInt64 = 1)
    {
        precondition(
            inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0, "convolution sizes must be positive")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding ?? kernel / 2
        let fanIn = inChannels * kernel * kernel
        var random = Initialiser(seed: seed)
        let scale = (2 / Float(fanIn)).squareRoot()
        weight = Parameter(
            shape: [outChannels, inChannels, kernel, kernel],
            value: (0..<(outChannels * fanIn)).map { _ in random.gaussian() * scale })
        bias = Parameter(shape: [outChannels], value: [Float](repeating: 0, count: outChannels))
    }

    /// Output size along one axis for an input of `size`.
    public func outputSize(_ size: Int) -> Int { (size + 2 * padding - kernel) / stride + 1 }

    /// Convolves `x`, keeping what ``backward(_:)`` needs.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.channels == inChannels, "expected \(inChannels) input channels, got \(x.channels)")
        let outHeight = outputSize(x.height)
        let outWidth = outputSize(x.width)
        precondition(outHeight > 0 && outWidth > 0, "the input is smaller than the kernel")
        let rows = inChannels * kernel * kernel
        let plane = outHeight * outWidth
        columns = [Float](repeating: 0, count: x.batch * rows * plane)
        var y = Tensor(batch: x.batch, channels: outChannels, height: outHeight, width: outWidth)
        x.data.withUnsafeBufferPointer { input in
            columns.withUnsafeMutableBufferPointer { cols in
                weight.value.withUnsafeBufferPointer { w in
                    y.data.withUnsafeMutableBufferPointer { out in
                        for n in 0..<x.batch {
                            let col = cols.baseAddress! + n * rows * plane
                            Im2Col.gather(
                                input.baseAddress! + n * x.itemSize, channels: inChannels, height: x.height,
                                width: x.width, kernel: kernel, stride: stride, padding: padding, outHeight: outHeight,
                                outWidth: outWidth, into: col)
                            let target = out.baseAddress! + n * outChannels * plane
                            for o in 0..<outChannels {
                                (target + o * plane).update(repeating: bias.value[o], count: plane)
                            }
                            sgemm(
                                transposeA: false, transposeB: false, m: outChannels, n: plane, k: rows, w.baseAddress!,
                                col, beta: 1, target)
                        }
                    }
                }
            }
        }
        input = x
        return y
    }

    /// Accumulates the weight and bias gradients for `dy` (the loss gradient at the output) and
    /// returns the gradient at the input.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let rows = inChannels * kernel * kernel
        let plane = dy.planeSize
        var dx = x.zerosLike()
        var dColumns = [Float](repeating: 0, count: rows * plane)
        dy.data.withUnsafeBufferPointer { grad in
            columns.withUnsafeBufferPointer { cols in
                weight.value.withUnsafeBufferPointer { w in
                    weight.gradient.withUnsafeMutableBufferPointer { dw in
                        dColumns.withUnsafeMutableBufferPointer { dcol in
                            dx.data.withUnsafeMutableBufferPointer { dinput in
                                for n in 0..<dy.batch {
                                    let g = grad.baseAddress! + n * outChannels * plane
                                    // dW += dY · colsᵀ
                                    sgemm(
                                        transposeA: false, transposeB: true, m: outChannels, n: rows, k: plane, g,
                                        cols.baseAddress! + n * rows * plane, beta: 1, dw.baseAddress!)
                                    // dcols = Wᵀ · dY, scattered back to the input.
                                    sgemm(
                                        transposeA: true, transposeB: false, m: rows, n: plane, k: outChannels,
                                        w.baseAddress!, g, beta: 0, dcol.baseAddress!)
                                    Im2Col.scatter(
                                        dcol.baseAddress!, channels: inChannels, height: x.height, width: x.width,
                                        kernel: kernel, stride: stride, padding: padding, outHeight: dy.height,
                                        outWidth: dy.width, into: dinput.baseAddress! + n * x.itemSize)
                                    for o in 0..<outChannels {
                                        var sum: Float = 0
                                        for i in 0..<plane { sum += g[o * plane + i] }
                                        bias.gradient[o] += sum
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// The learnable parameters.
    public var parameters: [Parameter] { [weight, bias] }
}

/// Deterministic initial weights.
struct Initialiser {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func uniform() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
    }

    mutating func gaussian() -> Float {
        let u1 = max(uniform(), 1e-7)
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
