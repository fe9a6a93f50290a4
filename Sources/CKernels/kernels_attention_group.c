// Attention over key/values shared by a group of query heads (grouped-query attention), with keys
// and values in fp32 or fp16: the scalar kernels, the dispatch (AVX-512, AVX2, scalar; the first two
// agree bit for bit), and the fp16 conversions.
#include "kernels_internal.h"

#include <math.h>

static inline float load_kv(const void *base, size_t index, int type) {
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
