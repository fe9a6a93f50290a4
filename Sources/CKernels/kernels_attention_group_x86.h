// What the AVX2 and AVX-512 attention kernels share (kernels_attention_group_avx2.c, _avx512.c):
// the row loads, the prefetch distance and, above all, the reductions of the scores' partial sums.
// The AVX-512 kernel gives the AVX2 kernel's bits because both reduce the same 256-bit partial
// sums with these same functions (defined once here, for AVX2; an AVX-512 function inlines them).
// Included after <immintrin.h> on x86 only.
#ifndef MEMORY3_KERNELS_ATTENTION_GROUP_X86_H
#define MEMORY3_KERNELS_ATTENTION_GROUP_X86_H

#define M3_AG_AVX2 __attribute__((target("avx2,fma,f16c")))
#define M3_AG_INLINE static inline __attribute__((always_inline))
/// Query heads handled per pass: 3 heads x 4 rows of accumulators use 12 of AVX2's 16 registers.
#define M3_AG_GROUP_MAX 3
/// How far ahead (bytes) the key and value rows are asked for: they stream from L3 once per layer
/// and token, as the weights do (M3_DECODE_PREFETCH_BYTES).
#define M3_AG_KV_PREFETCH_BYTES 2048

M3_AG_AVX2 M3_AG_INLINE void m3_ag_prefetch_rows(const void *base, size_t index, int rows, int dim, const int type) {
    const size_t esize = type == M3_KV_I8 ? 1 : type == M3_KV_F16 ? 2 : 4;
    m3_prefetch_lines((const char *)base + index * esize + M3_AG_KV_PREFETCH_BYTES, (size_t)rows * (size_t)dim * esize);
}

/// 8 consecutive elements of a key/value array as floats.
M3_AG_AVX2 M3_AG_INLINE __m256 m3_ag_load8(const void *base, size_t index, const int type) {
    if (type == M3_KV_I8) return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)base + index))));
    if (type == M3_KV_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + index)));
    return _mm256_loadu_ps((const float *)base + index);
}

/// One key's 8 partial sums, added.
M3_AG_AVX2 M3_AG_INLINE float m3_ag_hsum8(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Four keys' partial sums, added, as the four lanes of one 128-bit vector.
M3_AG_AVX2 M3_AG_INLINE __m128 m3_ag_hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/// One specialised copy of a kernel file's `scores_pass` and `accumulate_pass` for an element type
/// and a constant number of heads per pass (the accumulators then stay in registers).
#define M3_AG_SPECIALIZE(TARGET, NAME, TYPE, NG)                                                                         \
    TARGET static void NAME##_scores(const float *q, const void *k, int count, int dim, float scale, float bias,       \
                                     float *out, int out_stride) {                                                     \
        scores_pass(q, NG, k, TYPE, count, dim, scale, bias, out, out_stride);                                         \
    }                                                                                                                   \
    TARGET static void NAME##_accumulate(const float *w, int weight_stride, const void *v, int count, int dim,         \
                                         float *out) {                                                                 \
        accumulate_pass(w, weight_stride, NG, v, TYPE, count, dim, out);                                               \
    }

/// The entry points of one instruction set, from its `scores_pass` and `accumulate_pass`: the
/// specialised copies, picked from a table per call.
#define M3_AG_ENTRY_POINTS(TARGET, SCORES_NAME, ACCUMULATE_NAME)                                                           \
    M3_AG_SPECIALIZE(TARGET, f32_1, M3_KV_F32, 1)                                                                          \
    M3_AG_SPECIALIZE(TARGET, f32_2, M3_KV_F32, 2)                                                                          \
    M3_AG_SPECIALIZE(TARGET, f32_3, M3_KV_F32, 3)                                                                          \
    M3_AG_SPECIALIZE(TARGET, f16_1, M3_KV_F16, 1)                                                                          \
    M3_AG_SPECIALIZE(TARGET, f16_2, M3_KV_F16, 2)                                                                          \
    M3_AG_SPECIALIZE(TARGET, f16_3, M3_KV_F16, 3)                                                                          \
    M3_AG_SPECIALIZE(TARGET, i8_1, M3_KV_I8, 1)                                                                            \
    M3_AG_SPECIALIZE(TARGET, i8_2, M3_KV_I8, 2)                                                                            \
    M3_AG_SPECIALIZE(TARGET, i8_3, M3_KV_I8, 3)                                                                            \
    typedef void (*scores_fn)(const float *, const void *, int, int, float, float, float *, int);                          \
    typedef void (*accumulate_fn)(const float *, int, const void *, int, int, float *);                                    \
    static const scores_fn scores_table[3][M3_AG_GROUP_MAX] = {{f32_1_scores, f32_2_scores, f32_3_scores},                 \
                                                               {f16_1_scores, f16_2_scores, f16_3_scores},                 \
                                                               {i8_1_scores, i8_2_scores, i8_3_scores}};                   \
    static const accumulate_fn accumulate_table[3][M3_AG_GROUP_MAX] = {                                                    \
        {f32_1_accumulate, f32_2_accumulate, f32_3_accumulate}, {f16_1_accumulate, f16_2_accumulate, f16_3_accumulate},    \
        {i8_1_accumulate, i8_2_accumulate, i8_3_accumulate}};                                                              \
    void SCORES_NAME(const float *q, int groups, const void *keys, int key_type, int count, int dim, float scale,         \
                     float bias, float *out, int out_stride) {                                                             \
        const int t = key_type == M3_KV_I8 ? 2 : key_type == M3_KV_F16;                                                   \
        for (int g = 0; g < groups; g += M3_AG_GROUP_MAX) {                                                                \
            const int ng = groups - g < M3_AG_GROUP_MAX ? groups - g : M3_AG_GROUP_MAX;                                    \
            scores_table[t][ng - 1](q + (size_t)g * dim, keys, count, dim, scale, bias, out + (size_t)g * out_stride,      \
                                    out_stride);                                                                           \
        }                                                                                                                  \
    }                                                                                                                      \
    void ACCUMULATE_NAME(const float *weights, int weight_stride, int groups, const void *values, int value_type,         \
                         int count, int dim, float *out) {                                                                 \
        const int t = value_type == M3_KV_I8 ? 2 : value_type == M3_KV_F16;                                               \
        for (int g = 0; g < groups; g += M3_AG_GROUP_MAX) {                                                                \
            const int ng = groups - g < M3_AG_GROUP_MAX ? groups - g : M3_AG_GROUP_MAX;                                    \
            accumulate_table[t][ng - 1](weights + (size_t)g * weight_stride, weight_stride, values, count, dim,            \
                                        out + (size_t)g * dim);                                                            \
        }                                                                                                                  \
    }

#endif
