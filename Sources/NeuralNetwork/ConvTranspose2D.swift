/// A transposed 2-D convolution (PyTorch's `nn.ConvTranspose2d`), the decoder's learned upsampling:
/// the adjoint of a convolution with the same kernel, stride and padding. Output size is
/// (in − 1)·stride − 2·padding + kernel + outputPadding. Weights are `[in, out, k, k]`.
public final class ConvTranspose2D {
    /// Input channels.
    public let inChannels: Int
    /// Output channels.
    public let outChannels: Int
    /// Kernel side.
    public let kernel: Int
    /// Stride.
    public let stride: Int
    /// Padding removed from every side.
    public let padding: Int
    /// Extra rows and columns at the bottom and right of the output.
    public let outputPadding: Int
    /// `[in, out, k, k]`.
    public let weight: Parameter
    /// `[out]`.
    public let bias: Parameter

    private var input: Tensor?

    /// A transposed convolution with He-initialised weights from `seed`. The defaults (3 x 3,
    /// stride 2, padding 1, output padding 1) double the height and width, as in the U-Net decoder.
    public init(
        inChannels: Int, outChannels: Int, kernel: Int = 3, stride: Int = 2, padding: Int = 1, outputPadding: Int = 1,
        seed: UInt64 = 1
    ) {
        precondition(outputPadding < stride, "output padding must be smaller than the stride")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        var random = Initialiser(seed: seed)
        let scale = (2 / Float(inChannels * kernel * kernel)).squareRoot()
        weight = Parameter(
            shape: [inChannels, outChannels, kernel, kernel],
            value: (0..<(inChannels * outChannels * kernel * kernel)).map { _ in random.gaussian() * scale })
        bias = Parameter(shape: [outChannels], value: [Float](repeating: 0, count: outChannels))
    }

    /// Output size along one axis.
    public func outputSize(_ size: Int) -> Int { (size - 1) * stride - 2 * padding + kernel + outputPadding }

    /// Upsamples `x`.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.channels == inChannels, "expected \(inChannels) input channels, got \(x.channels)")
        let outHeight = outputSize(x.height)
        let outWidth = outputSize(x.width)
        let rows = outChannels * kernel * kernel
        var columns = [Float](repeating: 0, count: rows * x.planeSize)
        var y = Tensor(batch: x.batch, channels: outChannels, height: outHeight, width: outWidth)
        x.data.withUnsafeBufferPointer { input in
            weight.value.withUnsafeBufferPointer { w in
                columns.withUnsafeMutableBufferPointer { cols in
                    y.data.withUnsafeMutableBufferPointer { out in
                        for n in 0..<x.batch {
                            // cols = Wᵀ · X, then scattered as a convolution's gradient would be.
                            sgemm(
                                transposeA: true, transposeB: false, m: rows, n: x.planeSize, k: inChannels,
                                w.baseAddress!, input.baseAddress! + n * x.itemSize, beta: 0, cols.baseAddress!)
                            let target = out.baseAddress! + n * outChannels * outHeight * outWidth
                            Im2Col.scatter(
                                cols.baseAddress!, channels: outChannels, height: outHeight, width: outWidth,
                                kernel: kernel, stride: stride, padding: padding, outHeight: x.height,
                                outWidth: x.width,
                                into: target)
                            for o in 0..<outChannels {
                                let plane = target + o * outHeight * outWidth
                                for i in 0..<(outHeight * outWidth) { plane[i] += bias.value[o] }
                            }
                        }
                    }
                }
            }
        }
        input = x
        return y
    }

    /// Accumulates weight and bias gradients and returns the gradient at the input.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let rows = outChannels * kernel * kernel
        var columns = [Float](repeating: 0, count: rows * x.planeSize)
        var dx = x.zerosLike()
        dy.data.withUnsafeBufferPointer { grad in
            x.data.withUnsafeBufferPointer { input in
                weight.value.withUnsafeBufferPointer { w in
                    weight.gradient.withUnsafeMutableBufferPointer { dw in
                        columns.withUnsafeMutableBufferPointer { cols in
                            dx.data.withUnsafeMutableBufferPointer { dinput in
                                for n in 0..<dy.batch {
                                    let g = grad.baseAddress! + n * dy.itemSize
                                    Im2Col.gather(
                                        g, channels: outChannels, height: dy.height, width: dy.width, kernel: kernel,
                                        stride: stride, padding: padding, outHeight: x.height, outWidth: x.width,
                                        into: cols.baseAddress!)
                                    // dX = W · gather(dY); dW += X · gather(dY)ᵀ
                                    sgemm(
                                        transposeA: false, transposeB: false, m: inChannels, n: x.planeSize, k: rows,
                                        w.baseAddress!, cols.baseAddress!, beta: 0, dinput.baseAddress! + n * x.itemSize
                                    )
                                    sgemm(
                                        transposeA: false, transposeB: true, m: inChannels, n: rows, k: x.planeSize,
                                        input.baseAddress! + n * x.itemSize, cols.baseAddress!, beta: 1, dw.baseAddress!
                                    )
                                    for o in 0..<outChannels {
                                        var sum: Float = 0
                                        for i in 0..<dy.planeSize { sum += g[o * dy.planeSize + i] }
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
