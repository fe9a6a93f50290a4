// Attention over key/values shared by a group of query heads (grouped-query attention), with keys
// and values in fp32, fp16 or int8 codes: the scalar kernels, the dispatch (AVX-512, AVX2, scalar; the
// first two agree bit for bit), the fp16 conversions and the int8 quantization of memory rows.
#include "kernels_internal.h"

#include <float.h>
#include <math.h>

static inline float load_kv(const void *base, size_t index, int type) {
    if (type == M3_KV_I8) return (float)((const int8_t *)base)[index];
    return type == M3_KV_F16 ? m3_fp16_to_fp32(((const uint16_t *)base)[index]) : ((const float *)base)[index];
}

void m3_attention_group_scores_scalar(const float *q, int groups, const void *keys, int key_type, int count, int dim,
                                      float scale, float bias, float *out, int out_stride) {
    for (int g = 0; g < groups; g++) {
        for (int j = 0; j < count; j++) {
            float s = 0.0f;
            for (int i = 0; i < dim; i++) s += q[(size_t)g * dim + i] * load_kv(keys, (size_t)j * dim + i, key_type);
            out[(size_t)g * out_stride + j] = s * scale + bias;
        }
    }
}

void m3_attention_group_accumulate_scalar(const float *weights, int weight_stride, int groups, const void *values,
                                          int value_type, int count, int dim, float *out) {
    for (int g = 0; g < groups; g++) {
        for (int j = 0; j < count; j++) {
            const float w = weights[(size_t)g * weight_stride + j];
            for (int i = 0; i < dim; i++) out[(size_t)g * dim + i] += w * load_kv(values, (size_t)j * dim + i, value_type);
        }
    }
}

uint16_t m3_fp32_to_fp16_scalar(float x) {
    const uint16_t sign = signbit(x) ? 0x8000 : 0;
    if (isnan(x)) return sign | 0x7e00;
    const float r = fabsf(m3_round_to_fp16(x));  // exactly representable in fp16 (or infinite)
    if (isinf(r)) return sign | 0x7c00;
    if (r == 0.0f) return sign;
    int e;
    const float m = frexpf(r, &e);  // r = m * 2^e, 0.5 <= m < 1
    const int exponent = e - 1 + 15;
    if (exponent <= 0) return sign | (uint16_t)(r * 16777216.0f);  // subnormal: steps of 2^-24
    return sign | (uint16_t)(exponent << 10) | (uint16_t)((m * 2.0f - 1.0f) * 1024.0f);
}

void m3_fp32_to_fp16(const float *x, uint16_t *out, size_t n) {
#if defined(M3_HAVE_X86)
    if (m3_kernels_use_avx2()) {
        m3_fp32_to_fp16_f16c(x, out, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) out[i] = m3_fp32_to_fp16_scalar(x[i]);
}

void m3_fp16_to_fp32_row(const uint16_t *h, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = m3_fp16_to_fp32(h[i]);
}

/// x * inverse as a symmetric int8 code. m3_nearest_int, not nearbyintf: quantizing a swap's five
/// memories took ~9 ms with a libm call per element, ~2.5 ms vectorized. (|x * inverse| <= ~127.5
/// here; a NaN input gives some integer, clamped, rather than an undefined conversion.)
static inline int8_t int8_code(float x, float inverse) {
    const int r = m3_nearest_int(x * inverse);
    return (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
}

/// Per-channel scales of keys [first, end) into scales[0..dim), codes and code sums likewise.
static void quantize_key_group(const float *x, int first, int end, int dim, int8_t *codes, float *scales, int32_t *sums) {
    float inverse[dim];
    for (int i = 0; i < dim; i++) scales[i] = 0.0f;
    for (int t = first; t < end; t++) {
        for (int i = 0; i < dim; i++) {
            const float a = fabsf(x[(size_t)t * dim + i]);
            scales[i] = a > scales[i] ? a : scales[i];
        }
    }
    for (int i = 0; i < dim; i++) {
        scales[i] /= 127.0f;
        if (!(scales[i] >= FLT_MIN)) scales[i] = 0.0f;  // a subnormal scale's inverse is infinite
        inverse[i] = scales[i] > 0.0f ? 1.0f / scales[i] : 0.0f;
    }
    for (int t = first; t < end; t++) {
        int8_t *row = codes + (size_t)t * dim;
        for (int i = 0; i < dim; i++) row[i] = int8_code(x[(size_t)t * dim + i], inverse[i]);
        int32_t sum = 0;
        for (int i = 0; i < dim; i++) sum += row[i];
        sums[t] = sum;
    }
}

void m3_quantize_keys_i8(const float *x, int tokens, int dim, int lead, int8_t *codes, float *scales, int32_t *sums) {
    quantize_key_group(x, 0, lead, dim, codes, scales, sums);
    quantize_key_group(x, lead, tokens, dim, codes, scales + dim, sums);
}

void m3_quantize_values_i8(const float *x, int tokens, int dim, int8_t *codes, float *scales) {
    for (int t = 0; t < tokens; t++) {
        const float *row = x + (size_t)t * dim;
        float amax = 0.0f;
        for (int i = 0; i < dim; i++) {
            const float a = fabsf(row[i]);
            amax = a > amax ? a : amax;
        }
        scales[t] = amax / 127.0f >= FLT_MIN ? amax / 127.0f : 0.0f;  // a subnormal scale's inverse is infinite
        const float inverse = scales[t] > 0.0f ? 1.0f / scales[t] : 0.0f;
        for (int i = 0; i < dim; i++) codes[(size_t)t * dim + i] = int8_code(row[i], inverse);
    }
}

int m3_attention_group_level(int dim) {
#if defined(M3_HAVE_X86)
    if (m3_kernels_level() >= M3_LEVEL_AVX512 && dim % 8 == 0) return M3_LEVEL_AVX512;
    if (m3_kernels_use_avx2() && dim % 8 == 0) return M3_LEVEL_AVX2;
#endif
    return M3_LEVEL_SCALAR;
}

void m3_attention_group_scores(const float *q, int groups, const void *keys, int key_type, int count, int dim,
                               float scale, float bias, float *out, int out_stride) {
    switch (m3_attention_group_level(dim)) {
#if defined(M3_HAVE_X86)
    case M3_LEVEL_AVX512: m3_attention_group_scores_avx512(q, groups, keys, key_type, count, dim, scale, bias, out, out_stride); return;
    case M3_LEVEL_AVX2: m3_attention_group_scores_avx2(q, groups, keys, key_type, count, dim, scale, bias, out, out_stride); return;
#endif
    default: m3_attention_group_scores_scalar(q, groups, keys, key_type, count, dim, scale, bias, out, out_stride);
    }
}

void m3_attention_group_accumulate(const float *weights, int weight_stride, int groups, const void *values,
                                   int value_type, int count, int dim, float *out) {
    switch (m3_attention_group_level(dim)) {
#if defined(M3_HAVE_X86)
    case M3_LEVEL_AVX512: m3_attention_group_accumulate_avx512(weights, weight_stride, groups, values, value_type, count, dim, out); return;
    case M3_LEVEL_AVX2: m3_attention_group_accumulate_avx2(weights, weight_stride, groups, values, value_type, count, dim, out); return;
#endif
    default: m3_attention_group_accumulate_scalar(weights, weight_stride, groups, values, value_type, count, dim, out);
    }
}
