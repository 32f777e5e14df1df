#ifndef SCOPEPILOT_CONVOLUTION_H
#define SCOPEPILOT_CONVOLUTION_H
// Direct 3 x 3 convolution kernels for the defect detector's inference path. OpenBLAS sgemm on
// im2col columns runs at a quarter of this machine's peak when a layer has only 8 output
// channels (the U-Net's full-resolution stages); a register-blocked direct convolution keeps the
// FMA units busy instead. Compiled for AVX-512 with a target attribute and chosen at run time,
// so the package still builds and runs on CPUs without it (the Swift side falls back to sgemm).

/// 1 when this CPU runs the AVX-512 kernel.
int scopepilot_convolution_avx512_available(void);

/// 3 x 3, stride 1 convolution of a zero-padded input, output rows [rowStart, rowEnd).
///
/// - padded: [inChannels][height + 2][width + 2], the image at row 1, column 1, zeros around it.
/// - packedWeights: [outChannels / 8][inChannels][9][8]: for each group of 8 output channels, the
///   8 weights of one input channel and tap side by side.
/// - bias: [outChannels]; relu: non-zero to apply max(0, x).
/// - output: [outChannels][height][width].
/// outChannels must be a multiple of 8.
void scopepilot_convolution3x3_avx512(
    const float *padded, int inChannels, int height, int width, const float *packedWeights, const float *bias,
    int outChannels, int relu, float *output, int rowStart, int rowEnd);

#endif
