import COpenBLAS

/// Rearranges one item's receptive fields into columns (im2col) so that a convolution is one
/// matrix product, and scatters columns back (col2im) for the gradient.
enum Im2Col {
    /// `columns[(c·k·k + ky·k + kx) · outH·outW + oy·outW + ox] = input[c, oy·s − p + ky, ox·s − p + kx]`,
    /// zero outside the input.
    static func gather(
        _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int,
        outHeight: Int, outWidth: Int, into columns: UnsafeMutablePointer<Float>
    ) {
        let plane = outHeight * outWidth
        for c in 0..<channels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = columns + ((c * kernel + ky) * kernel + kx) * plane
                    for oy in 0..<outHeight {
                        let y = oy * stride - padding + ky
                        let target = row + oy * outWidth
                        guard y >= 0 && y < height else {
                            target.update(repeating: 0, count: outWidth)
                            continue
                        }
                        let source = input + (c * height + y) * width
                        for ox in 0..<outWidth {
                            let x = ox * stride - padding + kx
                            target[ox] = x >= 0 && x < width ? source[x] : 0
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `gather`: adds each column entry back to the input position it came from.
    static func scatter(
        _ columns: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int,
        outHeight: Int, outWidth: Int, into input: UnsafeMutablePointer<Float>
    ) {
        let plane = outHeight * outWidth
        for c in 0..<channels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = columns + ((c * kernel + ky) * kernel + kx) * plane
                    for oy in 0..<outHeight {
                        let y = oy * stride - padding + ky
                        guard y >= 0 && y < height else { continue }
                        let target = input + (c * height + y) * width
                        for ox in 0..<outWidth {
                            let x = ox * stride - padding + kx
                            if x >= 0 && x < width { target[x] += row[oy * outWidth + ox] }
                        }
                    }
                }
            }
        }
    }
}

/// Row-major single-precision C = alpha · op(A) · op(B) + beta · C through OpenBLAS.
func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, _ a: UnsafePointer<Float>,
    _ b: UnsafePointer<Float>, beta: Float, _ c: UnsafeMutablePointer<Float>
) {
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n), beta, c,
        Int32(n))
}
