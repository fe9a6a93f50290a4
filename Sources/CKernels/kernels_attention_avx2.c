// AVX2/FMA attention kernels over fp32 keys and values (head dimensions that are multiples of 8).
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX2 __attribute__((target("avx2,fma")))

/// Horizontal sums of four vectors, as the four lanes of one 128-bit vector.
M3_AVX2 static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

M3_AVX2 void m3_attention_scores_avx2(const float *q, const float *keys, int count, int dim, float scale, float bias, float *out) {
    const __m128 vscale = _mm_set1_ps(scale), vbias = _mm_set1_ps(bias);
    int j = 0;
    for (; j + 4 <= count; j += 4) {
        const float *k = keys + (size_t)j * dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int i = 0; i < dim; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + i), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + dim + i), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + 2 * dim + i), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + 3 * dim + i), a3);
        }
        _mm_storeu_ps(out + j, _mm_fmadd_ps(hsum4(a0, a1, a2, a3), vscale, vbias));
    }
    m3_attention_scores_scalar(q, keys + (size_t)j * dim, count - j, dim, scale, bias, out + j);
}

M3_AVX2 void m3_attention_accumulate_avx2(const float *weights, const float *values, int count, int dim, float *out) {
    if (dim > 128) {
        m3_attention_accumulate_scalar(weights, values, count, dim, out);
        return;
    }
    // The output row stays in registers (up to 16 x 8 floats) while value rows stream past.
    __m256 acc[16];
    const int lanes = dim / 8;
    for (int i = 0; i < lanes; i++) acc[i] = _mm256_loadu_ps(out + 8 * i);
    for (int j = 0; j < count; j++) {
        const __m256 w = _mm256_set1_ps(weights[j]);
        const float *v = values + (size_t)j * dim;
        for (int i = 0; i < lanes; i++) acc[i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * i), acc[i]);
    }
    for (int i = 0; i < lanes; i++) _mm256_storeu_ps(out + 8 * i, acc[i]);
}
#endif
