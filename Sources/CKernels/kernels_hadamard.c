// The Walsh-Hadamard transform of rotated memory codecs (int3r, int2r): every key and value vector
// of a memory is rotated when it is stored and rotated back when it is read, so a cold memory swap
// runs it over every token of 5 memories (~230,000 vectors of 64 on SmolLM2).
#include "kernels_internal.h"

/// The unnormalised transform of n floats in place (n a power of two), stage by stage.
static void hadamard_block_scalar(float *p, int n) {
    for (int h = 1; h < n; h *= 2) {
        for (int i = 0; i < n; i += 2 * h) {
            for (int j = i; j < i + h; j++) {
                const float a = p[j], b = p[j + h];
                p[j] = a + b;
                p[j + h] = a - b;
            }
        }
    }
}

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX2 __attribute__((target("avx2,fma")))

// One block of n = 8 * rows floats: the three stages inside each group of 8 are a lane permute and
// a fused multiply-add each (x * s + swapped), the stages between groups add and subtract whole
// registers.
M3_AVX2 static void hadamard_block_avx2(float *p, int n) {
    const __m256 s1 = _mm256_setr_ps(1, -1, 1, -1, 1, -1, 1, -1);
    const __m256 s2 = _mm256_setr_ps(1, 1, -1, -1, 1, 1, -1, -1);
    const __m256 s4 = _mm256_setr_ps(1, 1, 1, 1, -1, -1, -1, -1);
    for (int r = 0; r < n; r += 8) {
        __m256 x = _mm256_loadu_ps(p + r);
        x = _mm256_fmadd_ps(x, s1, _mm256_permute_ps(x, 0xB1));
        x = _mm256_fmadd_ps(x, s2, _mm256_permute_ps(x, 0x4E));
        x = _mm256_fmadd_ps(x, s4, _mm256_permute2f128_ps(x, x, 1));
        _mm256_storeu_ps(p + r, x);
    }
    for (int h = 8; h < n; h *= 2) {
        for (int i = 0; i < n; i += 2 * h) {
            for (int j = i; j < i + h; j += 8) {
                const __m256 a = _mm256_loadu_ps(p + j), b = _mm256_loadu_ps(p + j + h);
                _mm256_storeu_ps(p + j, _mm256_add_ps(a, b));
                _mm256_storeu_ps(p + j + h, _mm256_sub_ps(a, b));
            }
        }
    }
}

// A whole 64-float vector in eight registers, signs and scales folded in: SmolLM2's head.
M3_AVX2 static void hadamard_rows64_avx2(float *x, size_t count, const float *before, const float *after) {
    const __m256 s1 = _mm256_setr_ps(1, -1, 1, -1, 1, -1, 1, -1);
    const __m256 s2 = _mm256_setr_ps(1, 1, -1, -1, 1, 1, -1, -1);
    const __m256 s4 = _mm256_setr_ps(1, 1, 1, 1, -1, -1, -1, -1);
    __m256 pre[8], post[8];
    for (int r = 0; r < 8; r++) {
        pre[r] = before ? _mm256_loadu_ps(before + 8 * r) : _mm256_set1_ps(1);
        post[r] = after ? _mm256_loadu_ps(after + 8 * r) : _mm256_set1_ps(1);
    }
    for (size_t v = 0; v < count; v++) {
        float *p = x + 64 * v;
        __m256 y[8];
        for (int r = 0; r < 8; r++) {
            __m256 t = _mm256_mul_ps(_mm256_loadu_ps(p + 8 * r), pre[r]);
            t = _mm256_fmadd_ps(t, s1, _mm256_permute_ps(t, 0xB1));
            t = _mm256_fmadd_ps(t, s2, _mm256_permute_ps(t, 0x4E));
            y[r] = _mm256_fmadd_ps(t, s4, _mm256_permute2f128_ps(t, t, 1));
        }
        for (int h = 1; h < 8; h *= 2) {
            for (int i = 0; i < 8; i += 2 * h) {
                for (int j = i; j < i + h; j++) {
                    const __m256 a = y[j], b = y[j + h];
                    y[j] = _mm256_add_ps(a, b);
                    y[j + h] = _mm256_sub_ps(a, b);
                }
            }
        }
        for (int r = 0; r < 8; r++) _mm256_storeu_ps(p + 8 * r, _mm256_mul_ps(y[r], post[r]));
    }
}
#endif

void m3_hadamard_rows(float *x, size_t count, int dim, int n, const float *before, const float *after) {
#if defined(M3_HAVE_X86)
    const int simd = m3_kernels_use_avx2() && n >= 8;
    if (simd && dim == 64 && n == 64) { hadamard_rows64_avx2(x, count, before, after); return; }
#else
    const int simd = 0;
#endif
    for (size_t v = 0; v < count; v++) {
        float *p = x + v * (size_t)dim;
        if (before) for (int i = 0; i < dim; i++) p[i] *= before[i];
        for (int b = 0; b < dim; b += n) {
#if defined(M3_HAVE_X86)
            if (simd) { hadamard_block_avx2(p + b, n); continue; }
#endif
            hadamard_block_scalar(p + b, n);
        }
        if (after) for (int i = 0; i < dim; i++) p[i] *= after[i];
    }
}
