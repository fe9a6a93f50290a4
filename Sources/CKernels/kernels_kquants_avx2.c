// AVX2/FMA/F16C dot products of K-quant weight rows (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) with up to 4 activation
// rows of 8-bit blocks of 32. Each weight sub-block is unpacked to bytes once and used for every
// activation row; its integer sum is scaled in 16-bit lanes (madd), then by d * the block's scale.
// Even and odd blocks go to separate accumulators (the odd one also takes the min terms), so that
// a single row is not bound by the latency of one chain of FMAs.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX2 __attribute__((target("avx2,fma,f16c")))

M3_AVX2 static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

M3_AVX2 static inline float hsum(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/// acc + dscale * sum over i of w[i] * x.q[i] * scale16 (unsigned bytes w, 16-bit scales per pair).
M3_AVX2 static inline __m256 scaled_dot(__m256i w, const m3_block_q8 *x, __m256i scale16, float dscale, __m256 acc) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
    const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(w, q), scale16);
    return _mm256_fmadd_ps(_mm256_set1_ps(dscale * x->d), _mm256_cvtepi32_ps(sums), acc);
}

/// acc - dmin * m[j] * s[j] in lane j: the min term of a Q4_K/Q5_K superblock's 8 activation blocks.
M3_AVX2 static inline __m256 minus_mins(__m256 dmin_m, const m3_block_q8 *x, __m256 acc) {
    const int stride = (int)(sizeof(m3_block_q8) / sizeof(float));
    const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    const __m256 s = _mm256_i32gather_ps(&x->s, index, 4);
    return _mm256_fnmadd_ps(dmin_m, s, acc);
}

/// dmin * m[j] in lane j.
M3_AVX2 static inline __m256 scaled_mins(float dmin, const uint8_t m[8]) {
    const __m256i m32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)m));
    return _mm256_mul_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(m32));
}

M3_AVX2 void m3_vec_dot4_q4_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    const uint8_t *p = (const uint8_t *)row;
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 odd[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q4_K_BYTES) {
        const float d = half_at(p), dmin = half_at(p + 2);
        uint8_t sc[8], m[8];
        m3_kquant_scales_mins(p + 4, sc, m);
        for (int k = 0; k < 4; k++) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k));
            const __m256i w0 = _mm256_and_si256(bytes, low);
            const __m256i w1 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
            const __m256i s0 = _mm256_set1_epi16(sc[2 * k]), s1 = _mm256_set1_epi16(sc[2 * k + 1]);
            for (int t = 0; t < count; t++) {
                const m3_block_q8 *x = xs[t] + 8 * sb + 2 * k;
                acc[t] = scaled_dot(w0, x, s0, d, acc[t]);
                odd[t] = scaled_dot(w1, x + 1, s1, d, odd[t]);
            }
        }
        const __m256 dmin_m = scaled_mins(dmin, m);
        for (int t = 0; t < count; t++) odd[t] = minus_mins(dmin_m, xs[t] + 8 * sb, odd[t]);
    }
    for (int t = 0; t < count; t++) out[t] = hsum(_mm256_add_ps(acc[t], odd[t]));
}

M3_AVX2 void m3_vec_dot4_q5_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    const uint8_t *p = (const uint8_t *)row;
    const __m256i low = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 odd[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q5_K_BYTES) {
        const float d = half_at(p), dmin = half_at(p + 2);
        uint8_t sc[8], m[8];
        m3_kquant_scales_mins(p + 4, sc, m);
        // Bits 2k and 2k+1 of each qh byte are the fifth bits of sub-blocks 2k and 2k+1; shifting
        // the bytes right by 2 per pair brings them to bits 0 and 1 (16-bit shifts only leak into
        // bits 6-7, which are never read).
        __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        for (int k = 0; k < 4; k++) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(p + 48 + 32 * k));
            const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4);
            const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4);
            qh = _mm256_srli_epi16(qh, 2);
            const __m256i w0 = _mm256_or_si256(_mm256_and_si256(bytes, low), h0);
            const __m256i w1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), low), h1);
            const __m256i s0 = _mm256_set1_epi16(sc[2 * k]), s1 = _mm256_set1_epi16(sc[2 * k + 1]);
            for (int t = 0; t < count; t++) {
                const m3_block_q8 *x = xs[t] + 8 * sb + 2 * k;
                acc[t] = scaled_dot(w0, x, s0, d, acc[t]);
                odd[t] = scaled_dot(w1, x + 1, s1, d, odd[t]);
            }
        }
        const __m256 dmin_m = scaled_mins(dmin, m);
        for (int t = 0; t < count; t++) odd[t] = minus_mins(dmin_m, xs[t] + 8 * sb, odd[t]);
    }
    for (int t = 0; t < count; t++) out[t] = hsum(_mm256_add_ps(acc[t], odd[t]));
}

/// 16-bit lanes: `low` for elements 0..15 of a block (the low 128 bits), `high` for 16..31.
M3_AVX2 static inline __m256i halves16(int low, int high) {
    return _mm256_set_m128i(_mm_set1_epi16((short)high), _mm_set1_epi16((short)low));
}

M3_AVX2 void m3_vec_dot4_q2_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    const uint8_t *p = (const uint8_t *)row;
    const __m256i three = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1);
    __m256 acc[2][4] = {{_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()},
                        {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q2_K_BYTES) {
        const float d = half_at(p + 80), dmin = half_at(p + 82);
        for (int n = 0; n < 2; n++) {
            // Bytes 0..15 of the load serve elements 0..15 of each block of this half, 16..31 the rest.
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * n));
            for (int k = 0; k < 4; k++) {
                const int j = 4 * n + k;
                const __m256i w = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * k), three);
                const uint8_t s0 = p[2 * j], s1 = p[2 * j + 1];
                const __m256i scale16 = halves16(s0 & 0x0f, s1 & 0x0f), min16 = halves16(s0 >> 4, s1 >> 4);
                for (int t = 0; t < count; t++) {
                    const m3_block_q8 *x = xs[t] + 8 * sb + j;
                    const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                    const __m256i dots = _mm256_madd_epi16(_mm256_maddubs_epi16(w, q), scale16);
                    const __m256i mins = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, q), min16);
                    const __m256 v = _mm256_fmsub_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(dots),
                                                     _mm256_mul_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mins)));
                    acc[k & 1][t] = _mm256_fmadd_ps(_mm256_set1_ps(x->d), v, acc[k & 1][t]);
                }
            }
        }
    }
    for (int t = 0; t < count; t++) out[t] = hsum(_mm256_add_ps(acc[0][t], acc[1][t]));
}

M3_AVX2 void m3_vec_dot4_q3_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    const uint8_t *p = (const uint8_t *)row;
    const __m256i three = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    __m256 acc[2][4] = {{_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()},
                        {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q3_K_BYTES) {
        const float d = half_at(p + 108);
        int scales[16];
        m3_q3_K_scales(p + 96, scales);
        const __m256i high = _mm256_loadu_si256((const __m256i *)p);
        for (int n = 0; n < 2; n++) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(p + 32 + 32 * n));
            for (int k = 0; k < 4; k++) {
                const int j = 4 * n + k;
                // u = code + 4 * high bit in 0..7; the value is u - 4.
                const __m256i bit = _mm256_set1_epi8((char)(1 << j));
                const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(high, bit), bit);
                const __m256i u = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 2 * k), three), _mm256_and_si256(set, four));
                const __m256i scale16 = halves16(scales[2 * j], scales[2 * j + 1]);
                for (int t = 0; t < count; t++) {
                    const m3_block_q8 *x = xs[t] + 8 * sb + j;
                    const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                    const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(u, q),
                                                           _mm256_slli_epi16(_mm256_maddubs_epi16(ones, q), 2));
                    const __m256i dots = _mm256_madd_epi16(pairs, scale16);
                    acc[k & 1][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * x->d), _mm256_cvtepi32_ps(dots), acc[k & 1][t]);
                }
            }
        }
    }
    for (int t = 0; t < count; t++) out[t] = hsum(_mm256_add_ps(acc[0][t], acc[1][t]));
}

M3_AVX2 void m3_vec_dot4_q6_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    const uint8_t *p = (const uint8_t *)row;
    const __m256i low = _mm256_set1_epi8(0x0f), offset = _mm256_set1_epi8(32);
    // Two accumulators per row (even and odd blocks) halve the chain of dependent FMAs.
    __m256 acc[2][4] = {{_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()},
                        {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
    for (int sb = 0; sb < blocks / 8; sb++, p += M3_Q6_K_BYTES) {
        const float d = half_at(p + 208);
        const int8_t *scales = (const int8_t *)(p + 192);
        for (int n = 0; n < 2; n++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(p + 64 * n));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(p + 64 * n + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * n));
            // The four blocks of this half as values 0..63 (masks keep each 16-bit shift in its byte).
            __m256i w[4];
            w[0] = _mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)), 4));
            w[1] = _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x0c)), 2));
            w[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), _mm256_and_si256(qh, _mm256_set1_epi8(0x30)));
            w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                                   _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8((char)0xc0)), 2));
            for (int k = 0; k < 4; k++) {
                const int j = 4 * n + k;
                // Signed values -32..31 as |w| and sign, so maddubs takes |w| as its unsigned side.
                const __m256i signed_w = _mm256_sub_epi8(w[k], offset);
                const __m256i abs_w = _mm256_sign_epi8(signed_w, signed_w);
                // Elements 0..15 (low 128 bits) take scale 2j, elements 16..31 scale 2j+1.
                const __m256i scale16 = _mm256_set_m128i(_mm_set1_epi16(scales[2 * j + 1]), _mm_set1_epi16(scales[2 * j]));
                for (int t = 0; t < count; t++) {
                    const m3_block_q8 *x = xs[t] + 8 * sb + j;
                    const __m256i q = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x->q), signed_w);
                    const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w, q), scale16);
                    acc[k & 1][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * x->d), _mm256_cvtepi32_ps(sums), acc[k & 1][t]);
                }
            }
        }
    }
    for (int t = 0; t < count; t++) out[t] = hsum(_mm256_add_ps(acc[0][t], acc[1][t]));
}
#endif
