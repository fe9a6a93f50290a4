// Scalar kernels: the portable fallback and the reference the AVX2 kernels are tested against.
#include "kernels_internal.h"

#include <math.h>

float m3_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalize
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400) == 0) {
                mantissa <<= 1;
                exponent--;
            }
            mantissa &= 0x3ff;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float m3_round_to_fp16(float x) {
    // Round to nearest even at fp16 precision, overflowing to infinity as F16C's conversion does.
    if (x == 0.0f || !isfinite(x)) return x;
    int e;
    frexpf(x, &e);  // x = m * 2^e, 0.5 <= |m| < 1
    if (e < -13) {  // fp16 subnormal range: fixed step 2^-24
        return nearbyintf(x * 16777216.0f) / 16777216.0f;
    }
    float step = ldexpf(1.0f, e - 11);  // 11 significant bits
    const float r = nearbyintf(x / step) * step;
    return fabsf(r) > 65504.0f ? copysignf(INFINITY, x) : r;  // past fp16's largest finite value
}

void m3_quantize_q8_scalar(const float *x, int n, m3_block_q8 *out) {
    for (int b = 0; b < n / 32; b++) {
        const float *v = x + b * 32;
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            int q = (int)nearbyintf(v[i] * id);  // ties to even, like the vector path
            out[b].q[i] = (int8_t)q;
            sum += q;
        }
        out[b].d = m3_round_to_fp16(d);
        out[b].s = out[b].d * (float)sum;
    }
}

static inline float load_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return m3_fp16_to_fp32(h);
}

float m3_vec_dot_scalar(int type, const void *row, const m3_block_q8 *x, int blocks) {
    const uint8_t *p = (const uint8_t *)row;
    float sum = 0.0f;
    switch (type) {
    case M3_TYPE_Q4_1:
        for (int b = 0; b < blocks; b++, p += 20) {
            int acc = 0;
            for (int j = 0; j < 16; j++) {
                acc += (p[4 + j] & 0x0f) * x[b].q[j] + (p[4 + j] >> 4) * x[b].q[j + 16];
            }
            sum += load_half(p) * x[b].d * (float)acc + load_half(p + 2) * x[b].s;
        }
        break;
    case M3_TYPE_Q4_0:
        for (int b = 0; b < blocks; b++, p += 18) {
            int acc = 0;
            for (int j = 0; j < 16; j++) {
                acc += ((p[2 + j] & 0x0f) - 8) * x[b].q[j] + ((p[2 + j] >> 4) - 8) * x[b].q[j + 16];
            }
            sum += load_half(p) * x[b].d * (float)acc;
        }
        break;
    case M3_TYPE_Q8_0:
        for (int b = 0; b < blocks; b++, p += 34) {
            int acc = 0;
            for (int j = 0; j < 32; j++) acc += (int8_t)p[2 + j] * x[b].q[j];
            sum += load_half(p) * x[b].d * (float)acc;
        }
        break;
    case M3_TYPE_Q5_0:
    case M3_TYPE_Q5_1: {
        // Q5_0: fp16 d, qh, nibbles; codes q - 16. Q5_1: fp16 d, fp16 m, qh, nibbles; codes q, plus m.
        const int has_min = type == M3_TYPE_Q5_1;
        const int bytes = has_min ? 24 : 22, offset = has_min ? 0 : 16;
        uint8_t codes[32];
        for (int b = 0; b < blocks; b++, p += bytes) {
            m3_q5_codes(p + (has_min ? 4 : 2), codes);
            int acc = 0;
            for (int j = 0; j < 16; j++) acc += (codes[j] - offset) * x[b].q[j] + (codes[j + 16] - offset) * x[b].q[j + 16];
            sum += load_half(p) * x[b].d * (float)acc + (has_min ? load_half(p + 2) * x[b].s : 0.0f);
        }
        break;
    }
    case M3_TYPE_IQ4_NL:
        for (int b = 0; b < blocks; b++, p += 18) {
            int acc = 0;
            for (int j = 0; j < 16; j++) {
                acc += m3_iq4nl_values[p[2 + j] & 0x0f] * x[b].q[j] + m3_iq4nl_values[p[2 + j] >> 4] * x[b].q[j + 16];
            }
            sum += load_half(p) * x[b].d * (float)acc;
        }
        break;
    case M3_TYPE_Q2_K:
        return m3_vec_dot_q2_K_scalar(row, x, blocks);
    case M3_TYPE_Q3_K:
        return m3_vec_dot_q3_K_scalar(row, x, blocks);
    case M3_TYPE_Q4_K:
        return m3_vec_dot_q4_K_scalar(row, x, blocks);
    case M3_TYPE_Q5_K:
        return m3_vec_dot_q5_K_scalar(row, x, blocks);
    case M3_TYPE_Q6_K:
        return m3_vec_dot_q6_K_scalar(row, x, blocks);
    default:
        break;
    }
    return sum;
}
