import COpenBLAS

/// The decoder's 3 x 3, stride-2 transposed convolution (padding 1, output padding 1) frozen for
/// inference: one band of input rows at a time, an sgemm into L2-sized columns, then each column
/// entry added to the output pixel it lands on.
struct FoldedUpsampling: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// `[in, out·9]`, row-major (PyTorch's `[in, out, 3, 3]`).
    let weight: [Float]
    let bias: [Float]

    init(_ layer: ConvTranspose2D) {
        precondition(
            layer.kernel == 3 && layer.stride == 2 && layer.padding == 1 && layer.outputPadding == 1,
            "inference supports the decoder's 3 x 3 stride-2 transposed convolution")
        inChannels = layer.inChannels
        outChannels = layer.outChannels
        weight = layer.weight.value
        bias = layer.bias.value
    }

    /// Multiply-adds per input pixel.
    var multiplyAddsPerInputPixel: Int { inChannels * outChannels * 9 }

    /// Input rows per band so that a band's columns take about `budget` bytes.
    func bandRows(width: Int, height: Int, budget: Int = 512 * 1024) -> Int {
        max(1, min(height, budget / max(1, outChannels * 9 * width * MemoryLayout<Float>.size)))
    }

    /// Floats of scratch for a band of `rows` input rows.
    func columnsNeeded(rows: Int, width: Int) -> Int { outChannels * 9 * rows * width }

    /// `input` `[in, height, width]` to `output` `[out, 2·height, 2·width]`.
    func apply(
        _ input: UnsafePointer<Float>, height: Int, width: Int, into output: UnsafeMutablePointer<Float>,
        columns: UnsafeMutablePointer<Float>
    ) {
        let outWidth = 2 * width
        let outPlane = 4 * height * width
        for o in 0..<outChannels { (output + o * outPlane).update(repeating: bias[o], count: outPlane) }
        let band = bandRows(width: width, height: height)
        weight.withUnsafeBufferPointer { w in
            var top = 0
            while top < height {
                let rows = min(band, height - top)
                let pixels = rows * width
                cblas_sgemm(
                    CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outChannels * 9), Int32(pixels), Int32(inChannels),
                    1, w.baseAddress!, Int32(outChannels * 9), input + top * width, Int32(height * width), 0,
                    columns, Int32(pixels))
                // Input (y, x) with tap (ky, kx) lands on output (2y − 1 + ky, 2x − 1 + kx).
                for o in 0..<outChannels {
                    let plane = output + o * outPlane
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let row = columns + (o * 9 + ky * 3 + kx) * pixels
                            for y in top..<(top + rows) {
                                let outY = 2 * y - 1 + ky
                                guard outY >= 0 else { continue }
                                let source = row + (y - top) * width
                                let target = plane + outY * outWidth + kx - 1
                                for x in (kx == 0 ? 1 : 0)..<width { target[2 * x] += source[x] }
                            }
                        }
                    }
                }
                top += rows
            }
        }
    }
}
