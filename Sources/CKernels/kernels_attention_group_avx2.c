// AVX2/FMA/F16C attention for the query heads that share one KV head. Each key and value row is
// loaded (and, for fp16, converted) once and used by up to 3 query heads: during decode the reads
// of the key/values, not the arithmetic, bound attention (measured), so a row read once instead
// of once per query head is the saving. Head dimensions are multiples of 8.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>
#include "kernels_attention_group_x86.h"

#define M3_AVX2 __attribute__((target("avx2,fma,f16c")))
#define M3_INLINE static inline __attribute__((always_inline))

/// Scores of `ng` (1...3, a constant after inlining) query heads, 4 keys at a time.
M3_AVX2 M3_INLINE void scores_pass(const float *q, const int ng, const void *keys, const int type, int count, int dim,
                                   float scale, float bias, float *out, int out_stride) {
    const __m128 vscale = _mm_set1_ps(scale), vbias = _mm_set1_ps(bias);
    int j = 0;
    for (; j + 4 <= count; j += 4) {
        __m256 acc[M3_AG_GROUP_MAX][4];
        for (int g = 0; g < ng; g++)
            for (int r = 0; r < 4; r++) acc[g][r] = _mm256_setzero_ps();
        const size_t row = (size_t)j * dim;
        m3_ag_prefetch_rows(keys, row, 4, dim, type);
        for (int i = 0; i < dim; i += 8) {
            const __m256 k0 = m3_ag_load8(keys, row + i, type), k1 = m3_ag_load8(keys, row + dim + i, type);
            const __m256 k2 = m3_ag_load8(keys, row + 2 * (size_t)dim + i, type), k3 = m3_ag_load8(keys, row + 3 * (size_t)dim + i, type);
            for (int g = 0; g < ng; g++) {
                const __m256 qv = _mm256_loadu_ps(q + (size_t)g * dim + i);
                acc[g][0] = _mm256_fmadd_ps(qv, k0, acc[g][0]);
                acc[g][1] = _mm256_fmadd_ps(qv, k1, acc[g][1]);
                acc[g][2] = _mm256_fmadd_ps(qv, k2, acc[g][2]);
                acc[g][3] = _mm256_fmadd_ps(qv, k3, acc[g][3]);
            }
        }
        for (int g = 0; g < ng; g++) {
            const __m128 s = m3_ag_hsum4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
            _mm_storeu_ps(out + (size_t)g * out_stride + j, _mm_fmadd_ps(s, vscale, vbias));
        }
    }
    for (; j < count; j++) {
        __m256 acc[M3_AG_GROUP_MAX];
        for (int g = 0; g < ng; g++) acc[g] = _mm256_setzero_ps();
        for (int i = 0; i < dim; i += 8) {
            const __m256 k = m3_ag_load8(keys, (size_t)j * dim + i, type);
            for (int g = 0; g < ng; g++) acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * dim + i), k, acc[g]);
        }
        for (int g = 0; g < ng; g++) out[(size_t)g * out_stride + j] = m3_ag_hsum8(acc[g]) * scale + bias;
    }
}

/// out[g][lo ..< lo + 8 * width] += the weighted value rows, for `ng` query heads; the output
/// slice stays in registers while the value rows stream past.
M3_AVX2 M3_INLINE void accumulate_slice(const float *weights, int weight_stride, const int ng, const void *values,
                                        const int type, int count, int dim, float *out, int lo, const int width) {
    __m256 acc[M3_AG_GROUP_MAX][4];
    for (int g = 0; g < ng; g++)
        for (int r = 0; r < width; r++) acc[g][r] = _mm256_loadu_ps(out + (size_t)g * dim + lo + 8 * r);
    for (int j = 0; j < count; j++) {
        if (lo == 0) m3_ag_prefetch_rows(values, (size_t)j * dim, 1, dim, type);
        __m256 x[4];
        for (int r = 0; r < width; r++) x[r] = m3_ag_load8(values, (size_t)j * dim + lo + 8 * r, type);
        for (int g = 0; g < ng; g++) {
            const __m256 w = _mm256_broadcast_ss(weights + (size_t)g * weight_stride + j);
            for (int r = 0; r < width; r++) acc[g][r] = _mm256_fmadd_ps(w, x[r], acc[g][r]);
        }
    }
    for (int g = 0; g < ng; g++)
        for (int r = 0; r < width; r++) _mm256_storeu_ps(out + (size_t)g * dim + lo + 8 * r, acc[g][r]);
}

M3_AVX2 M3_INLINE void accumulate_pass(const float *weights, int weight_stride, const int ng, const void *values,
                                       const int type, int count, int dim, float *out) {
    int lo = 0;
    for (; lo + 32 <= dim; lo += 32) accumulate_slice(weights, weight_stride, ng, values, type, count, dim, out, lo, 4);
    for (; lo < dim; lo += 8) accumulate_slice(weights, weight_stride, ng, values, type, count, dim, out, lo, 1);
}

M3_AG_ENTRY_POINTS(M3_AVX2, m3_attention_group_scores_avx2, m3_attention_group_accumulate_avx2)

M3_AVX2 void m3_fp32_to_fp16_f16c(const float *x, uint16_t *out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) out[i] = m3_fp32_to_fp16_scalar(x[i]);
}
#endif
