#include "scopepilot_convolution.h"

#include <immintrin.h>

int scopepilot_convolution_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

// One block: 8 output channels x 32 pixels of one output row, 16 accumulators in registers.
// Per input channel and tap: two (masked) loads of 16 pixels, eight weight broadcasts, sixteen FMAs.
__attribute__((target("avx512f"))) static inline void block8x32(
    const float *padded, int inChannels, int paddedPlane, int paddedWidth, const float *weights,
    const float *bias, int relu, float *output, int outputPlane, __mmask16 m0, __mmask16 m1) {
    __m512 a[8][2];
    for (int o = 0; o < 8; o++) {
        a[o][0] = _mm512_set1_ps(bias[o]);
        a[o][1] = a[o][0];
    }
    for (int c = 0; c < inChannels; c++) {
        const float *plane = padded + (long)c * paddedPlane;
        const float *w = weights + (long)c * 72;
        for (int ky = 0; ky < 3; ky++) {
            const float *row = plane + (long)ky * paddedWidth;
            for (int kx = 0; kx < 3; kx++) {
                __m512 v0 = _mm512_maskz_loadu_ps(m0, row + kx);
                __m512 v1 = _mm512_maskz_loadu_ps(m1, row + kx + 16);
                const float *tap = w + (ky * 3 + kx) * 8;
                for (int o = 0; o < 8; o++) {
                    __m512 weight = _mm512_set1_ps(tap[o]);
                    a[o][0] = _mm512_fmadd_ps(weight, v0, a[o][0]);
                    a[o][1] = _mm512_fmadd_ps(weight, v1, a[o][1]);
                }
            }
        }
    }
    __m512 zero = _mm512_setzero_ps();
    for (int o = 0; o < 8; o++) {
        __m512 r0 = relu ? _mm512_max_ps(a[o][0], zero) : a[o][0];
        __m512 r1 = relu ? _mm512_max_ps(a[o][1], zero) : a[o][1];
        _mm512_mask_storeu_ps(output + (long)o * outputPlane, m0, r0);
        _mm512_mask_storeu_ps(output + (long)o * outputPlane + 16, m1, r1);
    }
}

__attribute__((target("avx512f"))) void scopepilot_convolution3x3_avx512(
    const float *padded, int inChannels, int height, int width, const float *packedWeights, const float *bias,
    int outChannels, int relu, float *output, int rowStart, int rowEnd) {
    const int paddedWidth = width + 2;
    const int paddedPlane = (height + 2) * paddedWidth;
    const int outputPlane = height * width;
    const int groups = outChannels / 8;
    for (int y = rowStart; y < rowEnd; y++) {
        for (int x0 = 0; x0 < width; x0 += 32) {
            int n = width - x0;
            if (n > 32) n = 32;
            __mmask16 m0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            __mmask16 m1 = n >= 32 ? (__mmask16)0xFFFF : (n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0);
            // Output (y, x) reads padded rows y ... y + 2, columns x ... x + 2.
            const float *origin = padded + (long)y * paddedWidth + x0;
            for (int g = 0; g < groups; g++) {
                block8x32(
                    origin, inChannels, paddedPlane, paddedWidth, packedWeights + (long)g * inChannels * 72,
                    bias + g * 8, relu, output + (long)g * 8 * outputPlane + (long)y * width + x0, outputPlane,
                    m0, m1);
            }
        }
    }
}
