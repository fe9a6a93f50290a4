// Scalar dot products of K-quant weight rows (Q4_K, Q5_K, Q6_K) with 8-bit activation blocks of 32:
// the portable fallback and the reference for the AVX2 versions. A 256-element superblock spans 8
// activation blocks; each block's integer sum is scaled by the block's own activation scale.
#include "kernels_internal.h"

static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return m3_fp16_to_fp32(h);
}

/// Sum of activation codes q[from ..< from + 16].
static inline int code_sum16(const m3_block_q8 *x, int from) {
    int s = 0;
    for (int l = from; l < from + 16; l++) s += x->q[l];
    return s;
}

/// Q2_K: block j of a superblock (elements 32j..) is, in half n = j/4 with shift 2(j%4), bytes
/// qs[32n..32n+16) then qs[32n+16..32n+32); each 16 elements have a 4-bit scale and a 4-bit min.
float m3_vec_dot_q2_K_scalar(const void *row, const m3_block_q8 *x, int blocks) {
    const uint8_t *p = (const uint8_t *)row;
    float sum = 0.0f;
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q2_K_BYTES, x += 8) {
        const float d = half_at(p + 80), dmin = half_at(p + 82);
        for (int j = 0; j < 8; j++) {
            const uint8_t *qs = p + 16 + 32 * (j / 4);
            const int shift = 2 * (j % 4);
            int acc = 0, mins = 0;
            for (int part = 0; part < 2; part++) {
                const uint8_t sc = p[2 * j + part];
                int dot = 0;
                for (int l = 0; l < 16; l++) dot += ((qs[16 * part + l] >> shift) & 3) * x[j].q[16 * part + l];
                acc += (sc & 0x0f) * dot;
                mins += (sc >> 4) * code_sum16(&x[j], 16 * part);
            }
            sum += x[j].d * (d * (float)acc - dmin * (float)mins);
        }
    }
    return sum;
}

/// Q3_K: the Q2_K layout with a high bit per element (bit j of hmask[l]); a code is
/// ((qs >> shift) & 3) - 4, plus 4 when its high bit is set; signed 6-bit scales per 16.
float m3_vec_dot_q3_K_scalar(const void *row, const m3_block_q8 *x, int blocks) {
    const uint8_t *p = (const uint8_t *)row;
    float sum = 0.0f;
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q3_K_BYTES, x += 8) {
        const float d = half_at(p + 108);
        int scales[16];
        m3_q3_K_scales(p + 96, scales);
        for (int j = 0; j < 8; j++) {
            const uint8_t *qs = p + 32 + 32 * (j / 4);
            const int shift = 2 * (j % 4);
            int acc = 0;
            for (int part = 0; part < 2; part++) {
                int dot = 0;
                for (int l = 16 * part; l < 16 * part + 16; l++) {
                    const int code = ((qs[l] >> shift) & 3) - ((p[l] >> j) & 1 ? 0 : 4);
                    dot += code * x[j].q[l];
                }
                acc += scales[2 * j + part] * dot;
            }
            sum += d * x[j].d * (float)acc;
        }
    }
    return sum;
}

float m3_vec_dot_q4_K_scalar(const void *row, const m3_block_q8 *x, int blocks) {
    const uint8_t *p = (const uint8_t *)row;
    float sum = 0.0f;
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q4_K_BYTES, x += 8) {
        const float d = half_at(p), dmin = half_at(p + 2);
        uint8_t sc[8], m[8];
        m3_kquant_scales_mins(p + 4, sc, m);
        for (int j = 0; j < 8; j++) {
            // Sub-blocks 2k and 2k+1 share 32 bytes: low nibbles, then high nibbles.
            const uint8_t *qs = p + 16 + (j / 2) * 32;
            const int shift = (j & 1) * 4;
            int acc = 0;
            for (int l = 0; l < 32; l++) acc += ((qs[l] >> shift) & 0x0f) * x[j].q[l];
            sum += d * (float)sc[j] * x[j].d * (float)acc - dmin * (float)m[j] * x[j].s;
        }
    }
    return sum;
}

float m3_vec_dot_q5_K_scalar(const void *row, const m3_block_q8 *x, int blocks) {
    const uint8_t *p = (const uint8_t *)row;
    float sum = 0.0f;
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q5_K_BYTES, x += 8) {
        const float d = half_at(p), dmin = half_at(p + 2);
        uint8_t sc[8], m[8];
        m3_kquant_scales_mins(p + 4, sc, m);
        const uint8_t *qh = p + 16;  // bit j of qh[l]: the fifth bit of element l of sub-block j
        for (int j = 0; j < 8; j++) {
            const uint8_t *qs = p + 48 + (j / 2) * 32;
            const int shift = (j & 1) * 4;
            int acc = 0;
            for (int l = 0; l < 32; l++) {
                const int w = ((qs[l] >> shift) & 0x0f) | (((qh[l] >> j) & 1) << 4);
                acc += w * x[j].q[l];
            }
            sum += d * (float)sc[j] * x[j].d * (float)acc - dmin * (float)m[j] * x[j].s;
        }
    }
    return sum;
}

float m3_vec_dot_q6_K_scalar(const void *row, const m3_block_q8 *x, int blocks) {
    const uint8_t *p = (const uint8_t *)row;
    float sum = 0.0f;
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q6_K_BYTES, x += 8) {
        const float d = half_at(p + 208);
        const int8_t *scales = (const int8_t *)(p + 192);  // one per 16 elements
        for (int j = 0; j < 8; j++) {
            // Half n = j/4 of the superblock; within it, block k takes the low (k < 2) or high
            // nibbles of ql[0..32) (k even) or ql[32..64) (k odd), and bits 2k, 2k+1 of qh.
            const int n = j / 4, k = j % 4;
            const uint8_t *ql = p + 64 * n + (k & 1) * 32;
            const uint8_t *qh = p + 128 + 32 * n;
            const int shift = (k >> 1) * 4, hshift = 2 * k;
            int isum = 0;
            for (int half = 0; half < 2; half++) {  // 16 elements per scale
                int acc = 0;
                for (int l = 16 * half; l < 16 * half + 16; l++) {
                    const int w = (((ql[l] >> shift) & 0x0f) | (((qh[l] >> hshift) & 3) << 4)) - 32;
                    acc += w * x[j].q[l];
                }
                isum += scales[2 * j + half] * acc;
            }
            sum += d * x[j].d * (float)isum;
        }
    }
    return sum;
}
