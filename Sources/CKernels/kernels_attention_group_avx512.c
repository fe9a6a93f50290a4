// AVX-512 attention for the query heads that share one KV head, bit for bit the AVX2 kernels'
// results (kernels_attention_group_avx2.c) with half the vector instructions.
//
// Scores: the AVX2 kernel keeps, per query head and key, 8 partial sums (lane l: the dims l, l + 8,
// ...) and adds them with one fixed reduction (hsum4 for 4 keys, hsum8 for one). Here one 512-bit
// vector carries two keys' 8 dims side by side, multiplied by the query's 8 dims in both halves:
// every lane sums the same products in the same order, and the reduction is the same function of
// the same 256-bit partial sums. Weighted values: each output element is a chain of multiply-adds
// over the keys in order, starting from its value in `out`, in any vector width; here 16 dims wide.
// So prompts, decode and every kernel level above scalar keep one rounding (the tests compare the
// two kernels bit for bit), and what changes is the work: a key pair takes one conversion and
// one multiply-add per head where AVX2 takes two of each.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>
#include "kernels_attention_group_x86.h"

#define M3_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma,f16c")))
#define M3_INLINE static inline __attribute__((always_inline))

/// Elements index..index+8 in the low half and index2..index2+8 in the high half, as floats.
M3_AVX512 M3_INLINE __m512 load8x2(const void *base, size_t index, size_t index2, const int type) {
    if (type == M3_KV_I8) {
        const __m128i lo = _mm_loadl_epi64((const __m128i *)((const int8_t *)base + index));
        const __m128i hi = _mm_loadl_epi64((const __m128i *)((const int8_t *)base + index2));
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_unpacklo_epi64(lo, hi)));
    }
    if (type == M3_KV_F16) {
        const __m128i lo = _mm_loadu_si128((const __m128i *)((const uint16_t *)base + index));
        const __m128i hi = _mm_loadu_si128((const __m128i *)((const uint16_t *)base + index2));
        return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
    }
    const __m512 lo = _mm512_castps256_ps512(_mm256_loadu_ps((const float *)base + index));
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(lo), _mm256_castps_pd(_mm256_loadu_ps((const float *)base + index2)), 1));
}

/// 16 consecutive elements as floats.
M3_AVX512 M3_INLINE __m512 load16(const void *base, size_t index, const int type) {
    if (type == M3_KV_I8) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)base + index))));
    if (type == M3_KV_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + index)));
    return _mm512_loadu_ps((const float *)base + index);
}

M3_AVX512 M3_INLINE __m256 low256(__m512 v) { return _mm512_castps512_ps256(v); }
M3_AVX512 M3_INLINE __m256 high256(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

/// Scores of `ng` (1...3) query heads against `quads` (1 or 2) groups of 4 keys from key j.
M3_AVX512 M3_INLINE void scores_block(const float *q, const int ng, const void *keys, const int type, int j, const int quads,
                                      int dim, __m128 vscale, __m128 vbias, float *out, int out_stride) {
    __m512 acc[M3_AG_GROUP_MAX][4];  // [head][pair of keys]
    const int pairs = 2 * quads;
    for (int g = 0; g < ng; g++)
        for (int p = 0; p < pairs; p++) acc[g][p] = _mm512_setzero_ps();
    const size_t row = (size_t)j * dim;
    m3_ag_prefetch_rows(keys, row, 4 * quads, dim, type);
    for (int i = 0; i < dim; i += 8) {
        __m512 k[4];
        for (int p = 0; p < pairs; p++) k[p] = load8x2(keys, row + (size_t)(2 * p) * dim + i, row + (size_t)(2 * p + 1) * dim + i, type);
        for (int g = 0; g < ng; g++) {
            const __m512 qv = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(q + (size_t)g * dim + i))));
            for (int p = 0; p < pairs; p++) acc[g][p] = _mm512_fmadd_ps(qv, k[p], acc[g][p]);
        }
    }
    for (int g = 0; g < ng; g++) {
        for (int h = 0; h < quads; h++) {
            const __m512 ab = acc[g][2 * h], cd = acc[g][2 * h + 1];
            const __m128 s = m3_ag_hsum4(low256(ab), high256(ab), low256(cd), high256(cd));
            _mm_storeu_ps(out + (size_t)g * out_stride + j + 4 * h, _mm_fmadd_ps(s, vscale, vbias));
        }
    }
}

M3_AVX512 M3_INLINE void scores_pass(const float *q, const int ng, const void *keys, const int type, int count, int dim,
                                     float scale, float bias, float *out, int out_stride) {
    const __m128 vscale = _mm_set1_ps(scale), vbias = _mm_set1_ps(bias);
    int j = 0;
    for (; j + 8 <= count; j += 8) scores_block(q, ng, keys, type, j, 2, dim, vscale, vbias, out, out_stride);
    for (; j + 4 <= count; j += 4) scores_block(q, ng, keys, type, j, 1, dim, vscale, vbias, out, out_stride);
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

/// out[g][lo ..< lo + 16 * width] += the weighted value rows, for `ng` query heads.
M3_AVX512 M3_INLINE void accumulate_slice(const float *weights, int weight_stride, const int ng, const void *values,
                                          const int type, int count, int dim, float *out, int lo, const int width) {
    __m512 acc[M3_AG_GROUP_MAX][4];
    for (int g = 0; g < ng; g++)
        for (int r = 0; r < width; r++) acc[g][r] = _mm512_loadu_ps(out + (size_t)g * dim + lo + 16 * r);
    for (int j = 0; j < count; j++) {
        if (lo == 0) m3_ag_prefetch_rows(values, (size_t)j * dim, 1, dim, type);
        __m512 x[4];
        for (int r = 0; r < width; r++) x[r] = load16(values, (size_t)j * dim + lo + 16 * r, type);
        for (int g = 0; g < ng; g++) {
            const __m512 w = _mm512_set1_ps(weights[(size_t)g * weight_stride + j]);
            for (int r = 0; r < width; r++) acc[g][r] = _mm512_fmadd_ps(w, x[r], acc[g][r]);
        }
    }
    for (int g = 0; g < ng; g++)
        for (int r = 0; r < width; r++) _mm512_storeu_ps(out + (size_t)g * dim + lo + 16 * r, acc[g][r]);
}

/// The last 8 dims when dim is an odd multiple of 8.
M3_AVX512 M3_INLINE void accumulate_slice8(const float *weights, int weight_stride, const int ng, const void *values,
                                           const int type, int count, int dim, float *out, int lo) {
    __m256 acc[M3_AG_GROUP_MAX];
    for (int g = 0; g < ng; g++) acc[g] = _mm256_loadu_ps(out + (size_t)g * dim + lo);
    for (int j = 0; j < count; j++) {
        const __m256 x = m3_ag_load8(values, (size_t)j * dim + lo, type);
        for (int g = 0; g < ng; g++) acc[g] = _mm256_fmadd_ps(_mm256_broadcast_ss(weights + (size_t)g * weight_stride + j), x, acc[g]);
    }
    for (int g = 0; g < ng; g++) _mm256_storeu_ps(out + (size_t)g * dim + lo, acc[g]);
}

M3_AVX512 M3_INLINE void accumulate_pass(const float *weights, int weight_stride, const int ng, const void *values,
                                         const int type, int count, int dim, float *out) {
    int lo = 0;
    for (; lo + 64 <= dim; lo += 64) accumulate_slice(weights, weight_stride, ng, values, type, count, dim, out, lo, 4);
    for (; lo + 16 <= dim; lo += 16) accumulate_slice(weights, weight_stride, ng, values, type, count, dim, out, lo, 1);
    if (lo < dim) accumulate_slice8(weights, weight_stride, ng, values, type, count, dim, out, lo);
}

M3_AG_ENTRY_POINTS(M3_AVX512, m3_attention_group_scores_avx512, m3_attention_group_accumulate_avx512)
#endif
