import CConvolutionKernels
import COpenBLAS

/// A convolution frozen for inference: its batch norm folded into the weights and bias, an optional
/// ReLU fused after it, and nothing kept for a backward pass.
///
/// The 3 x 3 path runs a register-blocked direct convolution (CConvolutionKernels) when the CPU has
/// AVX-512 and the output channels come in eights. Otherwise it gathers receptive fields (im2col)
/// one band of rows at a time, sized to stay in the core's L2 cache, and multiplies each band
/// straight into the NCHW output with one sgemm; a whole-frame im2col at 1024 x 1024 would stream
/// hundreds of megabytes through memory.
struct FoldedConvolution: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    let stride: Int
    /// `[out, in·k·k]`, row-major.
    let weight: [Float]
    let bias: [Float]
    let relu: Bool
    /// `[out/8][in][9][8]` for the direct kernel, or empty when it does not apply.
    let packedWeight: [Float]

    /// Whether this CPU runs the direct kernel.
    static let directKernelAvailable = scopepilot_convolution_avx512_available() != 0

    /// `conv`, with `norm` folded in when given.
    init(_ conv: Conv2D, norm: BatchNorm2D? = nil, relu: Bool = false) {
        let folded = norm.map { conv.folding($0) } ?? conv
        inChannels = conv.inChannels
        outChannels = conv.outChannels
        kernel = conv.kernel
        stride = conv.stride
        precondition(
            (kernel == 3 && stride == 1 && conv.padding == 1) || (kernel == 1 && conv.padding == 0),
            "inference supports 3 x 3 stride-1 convolutions padded by 1 and unpadded 1 x 1 convolutions")
        weight = folded.weight.value
        bias = folded.bias.value
        self.relu = relu
        if kernel == 3 && outChannels % 8 == 0 && Self.directKernelAvailable {
            var packed = [Float](repeating: 0, count: weight.count)
            for o in 0..<outChannels {
                for c in 0..<inChannels {
                    for tap in 0..<9 {
                        packed[(((o / 8) * inChannels + c) * 9 + tap) * 8 + o % 8] =
                            weight[(o * inChannels + c) * 9 + tap]
                    }
                }
            }
            packedWeight = packed
        } else {
            packedWeight = []
        }
    }

    /// Multiply-adds per output pixel.
    var multiplyAddsPerPixel: Int { outChannels * inChannels * kernel * kernel }

    /// Floats of scratch for a `height` x `width` input: the zero-padded input for the direct
    /// kernel, or one band of im2col columns.
    func scratchNeeded(height: Int, width: Int) -> Int {
        guard kernel == 3 else { return 0 }
        if !packedWeight.isEmpty { return inChannels * (height + 2) * (width + 2) }
        return inChannels * 9 * bandRows(width: width, height: height) * width
    }

    /// Rows per band so that a band's columns take about `budget` bytes (at least one row).
    func bandRows(width: Int, height: Int, budget: Int = 256 * 1024) -> Int {
        max(1, min(height, budget / max(1, inChannels * 9 * width * MemoryLayout<Float>.size)))
    }

    /// 3 x 3, stride 1, padding 1: `input` `[in, height, width]` to `output` `[out, height, width]`.
    func apply3x3(
        _ input: UnsafePointer<Float>, height: Int, width: Int, into output: UnsafeMutablePointer<Float>,
        columns: UnsafeMutablePointer<Float>
    ) {
        precondition(kernel == 3)
        if !packedWeight.isEmpty {
            Self.pad(input, channels: inChannels, height: height, width: width, into: columns)
            packedWeight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    scopepilot_convolution3x3_avx512(
                        columns, Int32(inChannels), Int32(height), Int32(width), w.baseAddress!, b.baseAddress!,
                        Int32(outChannels), relu ? 1 : 0, output, 0, Int32(height))
                }
            }
            return
        }
        let plane = height * width
        let band = bandRows(width: width, height: height)
        weight.withUnsafeBufferPointer { w in
            var top = 0
            while top < height {
                let rows = min(band, height - top)
                let pixels = rows * width
                Self.gather3x3(
                    input, channels: inChannels, height: height, width: width, rows: top..<(top + rows),
                    into: columns)
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(pixels),
                    Int32(inChannels * 9), 1, w.baseAddress!, Int32(inChannels * 9), columns, Int32(pixels), 0,
                    output + top * width, Int32(plane))
                finish(output + top * width, planeStride: plane, count: pixels)
                top += rows
            }
        }
    }

    /// 1 x 1, stride 1: a single sgemm over the planes, with `beta` 1 adding to what `output` holds.
    func apply1x1(
        _ input: UnsafePointer<Float>, plane: Int, into output: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        precondition(kernel == 1 && stride == 1)
        weight.withUnsafeBufferPointer { w in
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(plane), Int32(inChannels), 1,
                w.baseAddress!, Int32(inChannels), input, Int32(plane), accumulate ? 1 : 0, output, Int32(plane))
        }
        finish(output, planeStride: plane, count: plane)
    }

    /// 1 x 1, stride 2, adding to `output` `[out, height/2, width/2]` (the encoder's shortcut
    /// added to the pooled skip). `columns` holds the subsampled input.
    func accumulate1x1Stride2(
        _ input: UnsafePointer<Float>, height: Int, width: Int, into output: UnsafeMutablePointer<Float>,
        columns: UnsafeMutablePointer<Float>
    ) {
        precondition(kernel == 1 && stride == 2)
        let outWidth = (width - 1) / 2 + 1
        let outHeight = (height - 1) / 2 + 1
        let plane = outWidth * outHeight
        for c in 0..<inChannels {
            let source = input + c * height * width
            let target = columns + c * plane
            for y in 0..<outHeight {
                let row = source + 2 * y * width
                for x in 0..<outWidth { target[y * outWidth + x] = row[2 * x] }
            }
        }
        weight.withUnsafeBufferPointer { w in
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(plane), Int32(inChannels), 1,
                w.baseAddress!, Int32(inChannels), columns, Int32(plane), 1, output, Int32(plane))
        }
        finish(output, planeStride: plane, count: plane)
    }

    /// Adds the bias and applies the ReLU to `count` pixels of every output channel.
    private func finish(_ output: UnsafeMutablePointer<Float>, planeStride: Int, count: Int) {
        for o in 0..<outChannels {
            let p = output + o * planeStride
            let b = bias[o]
            if relu {
                for i in 0..<count { p[i] = max(p[i] + b, 0) }
            } else {
                for i in 0..<count { p[i] += b }
            }
        }
    }

    /// Copies `[channels, height, width]` into `[channels, height + 2, width + 2]` with a zero border.
    static func pad(
        _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, into padded: UnsafeMutablePointer<Float>
    ) {
        let paddedWidth = width + 2
        for c in 0..<channels {
            let target = padded + c * (height + 2) * paddedWidth
            target.update(repeating: 0, count: paddedWidth)
            for y in 0..<height {
                let row = target + (y + 1) * paddedWidth
                row[0] = 0
                (row + 1).update(from: input + (c * height + y) * width, count: width)
                row[width + 1] = 0
            }
            (target + (height + 1) * paddedWidth).update(repeating: 0, count: paddedWidth)
        }
    }

    /// im2col for 3 x 3, stride 1, padding 1, output rows `rows` only: row
    /// `(c·9 + ky·3 + kx)` of `columns` holds `input[c, y + ky − 1, x + kx − 1]` for the band.
    static func gather3x3(
        _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, rows: Range<Int>,
        into columns: UnsafeMutablePointer<Float>
    ) {
        let pixels = rows.count * width
        for c in 0..<channels {
            let plane = input + c * height * width
            for ky in 0..<3 {
                for kx in 0..<3 {
                    let row = columns + (c * 9 + ky * 3 + kx) * pixels
                    for y in rows {
                        let target = row + (y - rows.lowerBound) * width
                        let sourceRow = y + ky - 1
                        guard sourceRow >= 0 && sourceRow < height else {
                            target.update(repeating: 0, count: width)
                            continue
                        }
                        let source = plane + sourceRow * width
                        switch kx {
                        case 0:
                            target[0] = 0
                            (target + 1).update(from: source, count: width - 1)
                        case 1:
                            target.update(from: source, count: width)
                        default:
                            target.update(from: source + 1, count: width - 1)
                            target[width - 1] = 0
                        }
                    }
                }
            }
        }
    }
}
