// Attention over a memory held as int8 codes (MemorySegment.Precision.int8): keys with one scale
// per channel, values with one per token. Why a kernel of its own: with a memory read, decode
// attention runs over ~3x the keys it has without (five memories of ~63 tokens beside the
// context), and `perf` showed the fp16 and int8 float kernels busy with instructions, not
// waiting for memory (a key's 64 dims cost a conversion and three FMAs per pair of keys and
// head, then a reduction). With VNNI a key row is one 64-byte load and one vpdpbusd per head.
//
// Scores (VNNI): per head, the query times the channel scales is rounded to int8 with one scale
// (llama.cpp rounds the query to int8 too before a quantized KV cache's dot, with a scale per 32
// elements; one per head here, so an outlier key channel sets the step: measured on the eval sets
// as no loss, docs/memory-quality.md) and offset to
// unsigned (+128), since vpdpbusd multiplies unsigned by signed bytes; each key's code sum, kept
// with the codes, takes the offset back out exactly. Eight keys' 16-lane sums are reduced
// together. Weighted values: the weights are scaled by the value rows' token scales and the float
// kernel (m3_attention_group_accumulate, M3_KV_I8) does the rest.
#include "kernels_internal.h"

#include <math.h>

/// Query heads per pass of the VNNI kernel (3 x 8 accumulators fit its 32 registers), and value
/// rows whose weights are scaled per call.
#define I8_GROUP_MAX 3
#define I8_WEIGHT_BLOCK 128

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_VNNI512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define M3_INLINE static inline __attribute__((always_inline))

/// The head's query times the channel scales as unsigned codes (int8 + 128) into `out`; returns
/// the codes' scale (0: an all-zero query).
M3_VNNI512 static float quantize_query(const float *q, const float *channel_scales, int dim, uint8_t *out) {
    __m512 amax = _mm512_setzero_ps();
    for (int d = 0; d < dim; d += 16) {
        const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(channel_scales + d));
        amax = _mm512_max_ps(amax, _mm512_abs_ps(x));
    }
    const float m = _mm512_reduce_max_ps(amax);
    if (!(m > 0.0f)) {
        memset(out, 128, (size_t)dim);
        return 0.0f;
    }
    const __m512 inverse = _mm512_set1_ps(127.0f / m);
    const __m128i offset = _mm_set1_epi8((char)0x80);
    for (int d = 0; d < dim; d += 16) {
        const __m512 x = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(channel_scales + d)), inverse);
        const __m128i codes = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(x));  // nearest, even on ties
        _mm_storeu_si128((__m128i *)(out + d), _mm_xor_si128(codes, offset));
    }
    return m / 127.0f;
}

/// The 16-lane sums of 8 keys, each added up: lane k of the result is key k's total.
M3_VNNI512 M3_INLINE __m256i reduce8(const __m512i a[8]) {
    __m512i s[4];
    for (int p = 0; p < 4; p++) {  // [x0+x2, x1+x3, y0+y2, y1+y3] in 128-bit lanes, x = a[2p], y = a[2p + 1]
        const __m512i x = a[2 * p], y = a[2 * p + 1];
        s[p] = _mm512_add_epi32(_mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
    }
    __m512i t[2];
    for (int p = 0; p < 2; p++) {  // lane L: four partial sums of key 4p + L
        const __m512i x = s[2 * p], y = s[2 * p + 1];
        t[p] = _mm512_add_epi32(_mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
    }
    __m512i v = _mm512_add_epi32(_mm512_unpacklo_epi32(t[0], t[1]), _mm512_unpackhi_epi32(t[0], t[1]));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));  // lane L: [key L, key L + 4, key L, key L + 4]
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, v));
}

/// Scores of `ng` (1...3, constant after inlining) heads whose unsigned query codes are `qu`
/// ([ng][dim]) with scales `qs` (the attention scale included).
M3_VNNI512 M3_INLINE void scores_pass_vnni(const uint8_t *qu, const float *qs, const int ng, const int8_t *keys,
                                           const int32_t *key_sums, int count, int dim, float bias, float *out,
                                           int out_stride) {
    const int chunks = dim / 64;
    const __m256 vbias = _mm256_set1_ps(bias);
    int j = 0;
    for (; j + 8 <= count; j += 8) {
        __m512i acc[I8_GROUP_MAX][8];
        for (int g = 0; g < ng; g++)
            for (int k = 0; k < 8; k++) acc[g][k] = _mm512_setzero_si512();
        const int8_t *row = keys + (size_t)j * dim;
        m3_prefetch_lines(row + 2048, 8 * (size_t)dim);
        for (int c = 0; c < chunks; c++) {
            __m512i qv[I8_GROUP_MAX];
            for (int g = 0; g < ng; g++) qv[g] = _mm512_loadu_si512(qu + (size_t)g * dim + 64 * c);
            for (int k = 0; k < 8; k++) {
                const __m512i kv = _mm512_loadu_si512(row + (size_t)k * dim + 64 * c);
                for (int g = 0; g < ng; g++) acc[g][k] = _mm512_dpbusd_epi32(acc[g][k], qv[g], kv);
            }
        }
        // sum((q + 128) k) - 128 sum(k) = sum(q k), exactly.
        const __m256i offsets = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(key_sums + j)), 7);
        for (int g = 0; g < ng; g++) {
            const __m256 dots = _mm256_cvtepi32_ps(_mm256_sub_epi32(reduce8(acc[g]), offsets));
            _mm256_storeu_ps(out + (size_t)g * out_stride + j, _mm256_fmadd_ps(dots, _mm256_set1_ps(qs[g]), vbias));
        }
    }
    for (; j < count; j++) {
        const int8_t *row = keys + (size_t)j * dim;
        for (int g = 0; g < ng; g++) {
            __m512i acc = _mm512_setzero_si512();
            for (int c = 0; c < chunks; c++)
                acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(qu + (size_t)g * dim + 64 * c), _mm512_loadu_si512(row + 64 * c));
            const int32_t dot = _mm512_reduce_add_epi32(acc) - 128 * key_sums[j];
            out[(size_t)g * out_stride + j] = (float)dot * qs[g] + bias;
        }
    }
}

M3_VNNI512 static void scores_vnni(const float *q, int groups, const int8_t *keys, const int32_t *key_sums,
                                   const float *channel_scales, int count, int dim, float scale, float bias, float *out,
                                   int out_stride) {
    uint8_t qu[I8_GROUP_MAX * dim];
    float qs[I8_GROUP_MAX];
    for (int g0 = 0; g0 < groups; g0 += I8_GROUP_MAX) {
        const int ng = groups - g0 < I8_GROUP_MAX ? groups - g0 : I8_GROUP_MAX;
        for (int g = 0; g < ng; g++) qs[g] = quantize_query(q + (size_t)(g0 + g) * dim, channel_scales, dim, qu + (size_t)g * dim) * scale;
        float *o = out + (size_t)g0 * out_stride;
        switch (ng) {
        case 1: scores_pass_vnni(qu, qs, 1, keys, key_sums, count, dim, bias, o, out_stride); break;
        case 2: scores_pass_vnni(qu, qs, 2, keys, key_sums, count, dim, bias, o, out_stride); break;
        default: scores_pass_vnni(qu, qs, 3, keys, key_sums, count, dim, bias, o, out_stride); break;
        }
    }
}
#endif

void m3_prefetch(const void *p, size_t bytes) { m3_prefetch_lines(p, bytes); }

int m3_attention_group_i8_vnni(int dim) {
#if defined(M3_HAVE_X86)
    return m3_kernels_level() >= M3_LEVEL_AVX512 && dim % 64 == 0;
#else
    (void)dim;
    return 0;
#endif
}

void m3_attention_group_scores_i8(const float *q, int groups, const int8_t *keys, const int32_t *key_sums,
                                  const float *channel_scales, int count, int dim, float scale, float bias, float *out,
                                  int out_stride) {
    if (count <= 0 || groups <= 0) return;
#if defined(M3_HAVE_X86)
    if (m3_attention_group_i8_vnni(dim)) {
        scores_vnni(q, groups, keys, key_sums, channel_scales, count, dim, scale, bias, out, out_stride);
        return;
    }
#endif
    float scaled[groups * dim];
    for (int g = 0; g < groups; g++)
        for (int d = 0; d < dim; d++) scaled[(size_t)g * dim + d] = q[(size_t)g * dim + d] * channel_scales[d];
    m3_attention_group_scores(scaled, groups, keys, M3_KV_I8, count, dim, scale, bias, out, out_stride);
}

void m3_attention_group_accumulate_i8(const float *weights, int weight_stride, int groups, const int8_t *values,
                                      const float *token_scales, int count, int dim, float *out) {
    if (count <= 0 || groups <= 0) return;
    float scaled[groups * I8_WEIGHT_BLOCK];
    // Blocks of rows in order: every output element's chain of multiply-adds is unchanged.
    for (int j0 = 0; j0 < count; j0 += I8_WEIGHT_BLOCK) {
        const int n = count - j0 < I8_WEIGHT_BLOCK ? count - j0 : I8_WEIGHT_BLOCK;
        for (int g = 0; g < groups; g++)
            for (int j = 0; j < n; j++) scaled[g * I8_WEIGHT_BLOCK + j] = weights[(size_t)g * weight_stride + j0 + j] * token_scales[j0 + j];
        m3_attention_group_accumulate(scaled, I8_WEIGHT_BLOCK, groups, values + (size_t)j0 * dim, M3_KV_I8, n, dim, out);
    }
}
