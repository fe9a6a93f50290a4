// The packed-weight kernel with AVX-512 VNNI: per group of 4 blocks, one 64-byte load and three
// bit operations unpack 128 4-bit codes (or two loads give 128 8-bit codes), two vpdpbusd per
// token sum the products, and the block scales d_w * d_x are spread over each block's 8 lanes by
// one permute per two blocks. The m * s terms are a separate 16-wide dot at the end.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")))

/// 32 * n bytes of codes for blocks b..b+n of a packed row, as up to two 512-bit vectors of two
/// blocks each in element order (n = 4, 2 or 1; blocks past n are zero).
M3_AVX512 __attribute__((always_inline)) static inline void load_codes(int bits, const uint8_t *row, int b, int n, __m512i *first, __m512i *second) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    if (bits == 8) {
        const uint8_t *p = row + (size_t)b * 32;
        switch (n) {
        case 4:
            *first = _mm512_loadu_si512(p);
            *second = _mm512_loadu_si512(p + 64);
            break;
        case 2: *first = _mm512_loadu_si512(p); break;
        default: *first = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)p)); break;
        }
        return;
    }
    const uint8_t *p = row + (size_t)b * 16;
    switch (n) {
    case 4: {
        const __m512i v = _mm512_loadu_si512(p);
        *first = _mm512_and_si512(v, low);
        *second = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        break;
    }
    case 2: {
        const __m256i v = _mm256_loadu_si256((const __m256i *)p);
        *first = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), low);
        break;
    }
    default: {
        const __m128i v = _mm_loadu_si128((const __m128i *)p);
        const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
        *first = _mm512_zextsi256_si512(_mm256_and_si256(both, _mm256_set1_epi8(0x0f)));
        break;
    }
    }
}

/// Adds one token's products for blocks b..b+n to `acc`.
M3_AVX512 __attribute__((always_inline)) static inline __m512 add_blocks(__m512 acc, __m512i first, __m512i second, int n,
                                                                      const int8_t *q, const float *d, __m128 wd, int b) {
    const __mmask8 blocks_mask = (__mmask8)((1u << n) - 1);
    const __m128 scales = _mm_mul_ps(wd, _mm_maskz_loadu_ps(blocks_mask, d + b));
    const __m512 spread = _mm512_castps128_ps512(scales);
    const __m512i lanes01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const int8_t *x = q + (size_t)b * 32;
    __m512i xs = n == 1 ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)x)) : _mm512_loadu_si512(x);
    __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), first, xs);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_permutexvar_ps(lanes01, spread), acc);
    if (n == 4) {
        const __m512i lanes23 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
        sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), second, _mm512_loadu_si512(x + 64));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_permutexvar_ps(lanes23, spread), acc);
    }
    return acc;
}

/// sum over blocks of m * s (the codes' offsets times the activation sums).
M3_AVX512 __attribute__((always_inline)) static inline float offsets_dot(const uint16_t *ms, const float *s, int blocks) {
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b += 16) {
        const __mmask16 mask = blocks - b >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (blocks - b)) - 1);
        const __m512 m = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, ms + b));
        acc = _mm512_fmadd_ps(m, _mm512_maskz_loadu_ps(mask, s + b), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

M3_AVX512 __attribute__((always_inline)) static inline void packed_dot(const int bits, const uint8_t *row, int blocks, m3_q8_rows x,
                                                                    int token, const int count, float *out) {
    const uint16_t *ds = (const uint16_t *)(const void *)(row + (size_t)blocks * (size_t)bits * 4);
    const uint16_t *ms = ds + blocks;
    const int8_t *q[4];
    const float *d[4];
    __m512 acc[4];
    for (int k = 0; k < count; k++) {
        const size_t at = (size_t)(token + k) * blocks;
        q[k] = x.q + at * 32;
        d[k] = x.d + at;
        acc[k] = _mm512_setzero_ps();
    }
    // Groups of 4 blocks, then one of 2 and one of 1 at the row's end (m3_packed_group).
#define M3_GROUP(n)                                                                                  \
    do {                                                                                             \
        __m512i first, second = _mm512_setzero_si512();                                              \
        load_codes(bits, row, b, n, &first, &second);                                                \
        const __m128 wd = _mm_cvtph_ps(_mm_maskz_loadu_epi16((__mmask8)((1u << (n)) - 1), ds + b)); \
        for (int k = 0; k < count; k++) acc[k] = add_blocks(acc[k], first, second, n, q[k], d[k], wd, b); \
        b += n;                                                                                      \
    } while (0)
    int b = 0;
    while (blocks - b >= 4) M3_GROUP(4);
    if (blocks - b >= 2) M3_GROUP(2);
    if (blocks - b == 1) M3_GROUP(1);
#undef M3_GROUP
    for (int k = 0; k < count; k++) {
        const size_t at = (size_t)(token + k) * blocks;
        out[k] = _mm512_reduce_add_ps(acc[k]) + offsets_dot(ms, x.s + at, blocks);
    }
}

/// Two consecutive rows against one token: two independent streams of weight loads in flight
/// (decode waits on memory, not arithmetic; measured: pairs +7-13% decode, fours no better than pairs).
M3_AVX512 __attribute__((always_inline)) static inline void packed_dot_row_pair(const int bits, const uint8_t *row, size_t row_bytes,
                                                                             int blocks, m3_q8_rows x, int token, float *out) {
    enum { nrows = 2 };
    const size_t code_bytes = (size_t)blocks * (size_t)bits * 4;
    const uint16_t *ds[nrows];
    __m512 acc[nrows];
    for (int i = 0; i < nrows; i++) {
        ds[i] = (const uint16_t *)(const void *)(row + (size_t)i * row_bytes + code_bytes);
        acc[i] = _mm512_setzero_ps();
    }
    const size_t at = (size_t)token * blocks;
    const int8_t *q = x.q + at * 32;
    const float *d = x.d + at;
#define M3_GROUP_ROWS(n)                                                                               \
    do {                                                                                               \
        const __mmask8 m = (__mmask8)((1u << (n)) - 1);                                                \
        for (int i = 0; i < nrows; i++) {                                                              \
            __m512i first, second = _mm512_setzero_si512();                                            \
            const char *ahead = (const char *)(row + (size_t)i * row_bytes + (size_t)b * bits * 4) + M3_DECODE_PREFETCH_BYTES; \
            _mm_prefetch(ahead, _MM_HINT_T0);                                                          \
            if (bits == 8) _mm_prefetch(ahead + 64, _MM_HINT_T0);                                      \
            load_codes(bits, row + (size_t)i * row_bytes, b, n, &first, &second);                      \
            acc[i] = add_blocks(acc[i], first, second, n, q, d, _mm_cvtph_ps(_mm_maskz_loadu_epi16(m, ds[i] + b)), b); \
        }                                                                                              \
        b += n;                                                                                        \
    } while (0)
    int b = 0;
    while (blocks - b >= 4) M3_GROUP_ROWS(4);
    if (blocks - b >= 2) M3_GROUP_ROWS(2);
    if (blocks - b == 1) M3_GROUP_ROWS(1);
#undef M3_GROUP_ROWS
    for (int i = 0; i < nrows; i++) out[i] = _mm512_reduce_add_ps(acc[i]) + offsets_dot(ds[i] + blocks, x.s + at, blocks);
}

M3_AVX512 void m3_packed_dot_row_pair_avx512(int bits, const uint8_t *row, size_t row_bytes, int blocks, m3_q8_rows x, int token, float *out) {
    if (bits == 8) {
        packed_dot_row_pair(8, row, row_bytes, blocks, x, token, out);
    } else {
        packed_dot_row_pair(4, row, row_bytes, blocks, x, token, out);
    }
}

M3_AVX512 void m3_packed_dot_avx512(int bits, const uint8_t *row, int blocks, m3_q8_rows x, int token, int count, float *out) {
    // Constant `bits` and `count` keep the accumulators in registers and the unpacking branch-free
    // (see kernels_q4q8_body.h).
#define M3_COUNTS(bits)                                                      \
    switch (count) {                                                         \
    case 1: packed_dot(bits, row, blocks, x, token, 1, out); break;          \
    case 2: packed_dot(bits, row, blocks, x, token, 2, out); break;          \
    case 3: packed_dot(bits, row, blocks, x, token, 3, out); break;          \
    default: packed_dot(bits, row, blocks, x, token, 4, out); break;         \
    }
    if (bits == 8) {
        M3_COUNTS(8)
    } else {
        M3_COUNTS(4)
    }
#undef M3_COUNTS
}
#endif
