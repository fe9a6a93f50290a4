// AVX2/FMA/F16C attention for the query heads that share one KV head. Each key and value row is
// loaded (and, for fp16, converted) once and used by up to 3 query heads: during decode the reads
// of the key/values, not the arithmetic, bound attention (measured), so a row read once instead
// of once per query head is the saving. Head dimensions are multiples of 8.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX2 __attribute__((target("avx2,fma,f16c")))
#define M3_INLINE static inline __attribute__((always_inline))
/// Query heads handled per pass: 3 heads x 4 rows of accumulators use 12 of the 16 registers.
#define GROUP_MAX 3

/// How far ahead (bytes) the key and value rows are asked for: they stream from L3 once per layer
/// and token, as the weights do (M3_DECODE_PREFETCH_BYTES).
#define KV_PREFETCH_BYTES 2048

M3_AVX2 M3_INLINE void prefetch_rows(const void *base, size_t index, int rows, int dim, const int type) {
    const size_t esize = type == M3_KV_F16 ? 2 : 4;
    m3_prefetch_lines((const char *)base + index * esize + KV_PREFETCH_BYTES, (size_t)rows * (size_t)dim * esize);
}

/// 8 consecutive elements of a key/value array as floats.
M3_AVX2 M3_INLINE __m256 load8(const void *base, size_t index, const int type) {
    if (type == M3_KV_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + index)));
    return _mm256_loadu_ps((const float *)base + index);
}

M3_AVX2 M3_INLINE float hsum8(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Horizontal sums of four vectors, as the four lanes of one 128-bit vector.
M3_AVX2 M3_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/// Scores of `ng` (1...3, a constant after inlining) query heads, 4 keys at a time.
M3_AVX2 M3_INLINE void scores_pass(const float *q, const int ng, const void *keys, const int type, int count, int dim,
                                   float scale, float bias, float *out, int out_stride) {
    const __m128 vscale = _mm_set1_ps(scale), vbias = _mm_set1_ps(bias);
    int j = 0;
    for (; j + 4 <= count; j += 4) {
        __m256 acc[GROUP_MAX][4];
        for (int g = 0; g < ng; g++)
            for (int r = 0; r < 4; r++) acc[g][r] = _mm256_setzero_ps();
        const size_t row = (size_t)j * dim;
        prefetch_rows(keys, row, 4, dim, type);
        for (int i = 0; i < dim; i += 8) {
            const __m256 k0 = load8(keys, row + i, type), k1 = load8(keys, row + dim + i, type);
            const __m256 k2 = load8(keys, row + 2 * (size_t)dim + i, type), k3 = load8(keys, row + 3 * (size_t)dim + i, type);
            for (int g = 0; g < ng; g++) {
                const __m256 qv = _mm256_loadu_ps(q + (size_t)g * dim + i);
                acc[g][0] = _mm256_fmadd_ps(qv, k0, acc[g][0]);
                acc[g][1] = _mm256_fmadd_ps(qv, k1, acc[g][1]);
                acc[g][2] = _mm256_fmadd_ps(qv, k2, acc[g][2]);
                acc[g][3] = _mm256_fmadd_ps(qv, k3, acc[g][3]);
            }
        }
        for (int g = 0; g < ng; g++) {
            const __m128 s = hsum4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
            _mm_storeu_ps(out + (size_t)g * out_stride + j, _mm_fmadd_ps(s, vscale, vbias));
        }
    }
    for (; j < count; j++) {
        __m256 acc[GROUP_MAX];
        for (int g = 0; g < ng; g++) acc[g] = _mm256_setzero_ps();
        for (int i = 0; i < dim; i += 8) {
            const __m256 k = load8(keys, (size_t)j * dim + i, type);
            for (int g = 0; g < ng; g++) acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * dim + i), k, acc[g]);
        }
        for (int g = 0; g < ng; g++) out[(size_t)g * out_stride + j] = hsum8(acc[g]) * scale + bias;
    }
}

/// out[g][lo ..< lo + 8 * width] += the weighted value rows, for `ng` query heads; the output
/// slice stays in registers while the value rows stream past.
M3_AVX2 M3_INLINE void accumulate_slice(const float *weights, int weight_stride, const int ng, const void *values,
                                        const int type, int count, int dim, float *out, int lo, const int width) {
    __m256 acc[GROUP_MAX][4];
    for (int g = 0; g < ng; g++)
        for (int r = 0; r < width; r++) acc[g][r] = _mm256_loadu_ps(out + (size_t)g * dim + lo + 8 * r);
    for (int j = 0; j < count; j++) {
        if (lo == 0) prefetch_rows(values, (size_t)j * dim, 1, dim, type);
        __m256 x[4];
        for (int r = 0; r < width; r++) x[r] = load8(values, (size_t)j * dim + lo + 8 * r, type);
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

// One specialized copy per (element type, heads in the pass).
#define SPECIALIZE(NAME, TYPE, NG)                                                                              \
    M3_AVX2 static void NAME##_scores(const float *q, const void *k, int count, int dim, float scale, float bias, \
                                      float *out, int out_stride) {                                            \
        scores_pass(q, NG, k, TYPE, count, dim, scale, bias, out, out_stride);                                 \
    }                                                                                                           \
    M3_AVX2 static void NAME##_accumulate(const float *w, int weight_stride, const void *v, int count, int dim,  \
                                          float *out) {                                                         \
        accumulate_pass(w, weight_stride, NG, v, TYPE, count, dim, out);                                        \
    }
SPECIALIZE(f32_1, M3_KV_F32, 1)
SPECIALIZE(f32_2, M3_KV_F32, 2)
SPECIALIZE(f32_3, M3_KV_F32, 3)
SPECIALIZE(f16_1, M3_KV_F16, 1)
SPECIALIZE(f16_2, M3_KV_F16, 2)
SPECIALIZE(f16_3, M3_KV_F16, 3)

typedef void (*scores_fn)(const float *, const void *, int, int, float, float, float *, int);
typedef void (*accumulate_fn)(const float *, int, const void *, int, int, float *);
static const scores_fn scores_table[2][GROUP_MAX] = {{f32_1_scores, f32_2_scores, f32_3_scores},
                                                     {f16_1_scores, f16_2_scores, f16_3_scores}};
static const accumulate_fn accumulate_table[2][GROUP_MAX] = {
    {f32_1_accumulate, f32_2_accumulate, f32_3_accumulate},
    {f16_1_accumulate, f16_2_accumulate, f16_3_accumulate}};

void m3_attention_group_scores_avx2(const float *q, int groups, const void *keys, int key_type, int count, int dim,
                                    float scale, float bias, float *out, int out_stride) {
    const int t = key_type == M3_KV_F16;
    for (int g = 0; g < groups; g += GROUP_MAX) {
        const int ng = groups - g < GROUP_MAX ? groups - g : GROUP_MAX;
        scores_table[t][ng - 1](q + (size_t)g * dim, keys, count, dim, scale, bias, out + (size_t)g * out_stride, out_stride);
    }
}

void m3_attention_group_accumulate_avx2(const float *weights, int weight_stride, int groups, const void *values,
                                        int value_type, int count, int dim, float *out) {
    const int t = value_type == M3_KV_F16;
    for (int g = 0; g < groups; g += GROUP_MAX) {
        const int ng = groups - g < GROUP_MAX ? groups - g : GROUP_MAX;
        accumulate_table[t][ng - 1](weights + (size_t)g * weight_stride, weight_stride, values, count, dim, out + (size_t)g * dim);
    }
}

M3_AVX2 void m3_fp32_to_fp16_f16c(const float *x, uint16_t *out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) out[i] = m3_fp32_to_fp16_scalar(x[i]);
}
#endif
