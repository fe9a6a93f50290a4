#ifndef MEMORY3_KERNELS_INTERNAL_H
#define MEMORY3_KERNELS_INTERNAL_H

#include "include/CKernels.h"

#include <string.h>

float m3_fp16_to_fp32(uint16_t h);
float m3_round_to_fp16(float x);

void m3_quantize_q8_scalar(const float *x, int n, m3_block_q8 *out);
float m3_vec_dot_scalar(int type, const void *row, const m3_block_q8 *x, int blocks);

/// How far ahead of the weights being read a decode kernel (one token against every row) asks
/// for more, in bytes. The weights stream from L3 or memory once per token, and the hardware
/// prefetcher alone held the kernels at about half of one core's read bandwidth (7-10 GB/s of 14).
/// Measured on the 2-core Xeon with scripts/prefetch-distance.sh (AVX-512 packed kernel, SmolLM2's
/// 98 MB of weights per pass, one thread): 0 (the line being read) 14.1-15.0 ms, 2048 10.0-10.1,
/// 4096 8.1-9.4, 8192 8.0-8.8; an earlier run of the same harness: 4096 5.6-8.0, 8192 7.5-8.8
/// (4 KB never lost; past it, no steady gain). In the engine, tokens
/// interleaved with and without: decode +30-35% (AVX-512), +25% (AVX2 and AVX-VNNI paths), Gemma 3
/// +30%. Prefetching past a matrix's end is harmless (a prefetch never faults).
#ifndef M3_DECODE_PREFETCH_BYTES  // scripts/prefetch-distance.sh builds its harness with others
#define M3_DECODE_PREFETCH_BYTES 4096
#endif

/// Asks for the `bytes` from `p` on, one prefetch per 64-byte line (a prefetch never faults).
static inline void m3_prefetch_lines(const void *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch((const char *)p + o, 0, 3);
}

/// Bytes of activations a tile of tokens holds in the multi-token matrix products, so that a
/// tile stays in L1 while the rows pass over it (m3_matmul's AVX2 path).
#define M3_TILE_BYTES 16384

/// Bytes per 256-element K-quant superblock.
#define M3_Q2_K_BYTES 84
#define M3_Q3_K_BYTES 110
#define M3_Q4_K_BYTES 144
#define M3_Q5_K_BYTES 176
#define M3_Q6_K_BYTES 210

/// The eight 6-bit scales and mins of a Q4_K/Q5_K superblock, unpacked from its 12 bytes.
static inline void m3_kquant_scales_mins(const uint8_t *q, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (uint8_t)((q[j + 8] & 0x0f) | ((q[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

/// IQ4_NL's 16 values.
static const int8_t m3_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/// The 16 signed 6-bit scales of a Q3_K superblock from their 12 bytes.
static inline void m3_q3_K_scales(const uint8_t *b, int scales[16]) {
    for (int j = 0; j < 16; j++) {
        const int low = j < 8 ? (b[j] & 0x0f) : (b[j - 8] >> 4);
        const int high = (b[8 + j % 4] >> (2 * (j / 4))) & 3;
        scales[j] = (low | high << 4) - 32;
    }
}

/// K-quant rows against `blocks` activation blocks (a multiple of 8: 8 per superblock).
float m3_vec_dot_q2_K_scalar(const void *row, const m3_block_q8 *x, int blocks);
float m3_vec_dot_q3_K_scalar(const void *row, const m3_block_q8 *x, int blocks);
float m3_vec_dot_q4_K_scalar(const void *row, const m3_block_q8 *x, int blocks);
float m3_vec_dot_q5_K_scalar(const void *row, const m3_block_q8 *x, int blocks);
float m3_vec_dot_q6_K_scalar(const void *row, const m3_block_q8 *x, int blocks);

void m3_softmax_scalar(float *v, int n);
void m3_attention_group_scores_scalar(const float *q, int groups, const void *keys, int key_type, int count, int dim,
                                      float scale, float bias, float *out, int out_stride);
void m3_attention_group_accumulate_scalar(const float *weights, int weight_stride, int groups, const void *values,
                                          int value_type, int count, int dim, float *out);
uint16_t m3_fp32_to_fp16_scalar(float x);

/// GGML's nearest_int: round to nearest, ties to even, for |v| < 2^22 (the float sum does the
/// rounding; no libm call, which nearbyintf is at this target's SSE2 baseline, so loops vectorize).
static inline int m3_nearest_int(float v) {
    const float shifted = v + 12582912.0f;
    int bits;
    memcpy(&bits, &shifted, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

/// The 32 unsigned 5-bit codes of a GGML Q5_0/Q5_1 block from its 4 bytes of fifth bits `qh`
/// (followed by the 16 bytes of nibbles): element j's low nibble and bit j, element j + 16's high
/// nibble and bit j + 16.
static inline void m3_q5_codes(const uint8_t *qh, uint8_t codes[32]) {
    const uint8_t *qs = qh + 4;
    uint32_t high;
    memcpy(&high, qh, 4);
    for (int j = 0; j < 16; j++) {
        codes[j] = (uint8_t)((qs[j] & 0x0f) | ((high >> j) & 1) << 4);
        codes[j + 16] = (uint8_t)((qs[j] >> 4) | ((high >> (j + 16)) & 1) << 4);
    }
}

/// Packed rows: bits per code (4, 5 or 8; 0 for a type without a packed form).
static inline int m3_packed_bits(int type) {
    switch (type) {
    case M3_TYPE_Q4_0:
    case M3_TYPE_Q4_1: return 4;
    case M3_TYPE_Q5_0:
    case M3_TYPE_Q5_1: return 5;
    case M3_TYPE_Q8_0: return 8;
    default: return 0;
    }
}

/// Packed rows: the offset o of the unsigned codes (w = d * (c - o) + m; CKernels.h); 0 for the
/// types with a min m (Q4_1, Q5_1), the only ones whose blocks store m.
static inline int m3_packed_offset(int type) {
    return type == M3_TYPE_Q4_0 ? 8 : type == M3_TYPE_Q5_0 ? 16 : type == M3_TYPE_Q8_0 ? 128 : 0;
}

/// Rows per panel of packed weights (the layout is in CKernels.h).
#define M3_PANEL_ROWS M3_PACKED_PANEL_ROWS

/// Bytes of the codes of one block of a panel (16 rows x 32 codes): 4-bit nibbles, 5-bit nibbles
/// then a 64-byte plane of fifth bits, or bytes.
static inline size_t m3_packed_code_bytes(int bits) {
    return bits == 8 ? 512 : bits == 5 ? 320 : 256;
}

/// Bytes of one block of a panel of `bits`-bit codes: its codes, the 16 rows' d (fp16), and their
/// m (fp16) for the types with a min (offset 0).
static inline size_t m3_panel_block_bytes(int bits, int offset) {
    return m3_packed_code_bytes(bits) + 32 + (offset == 0 ? 32 : 0);
}

/// m3_panel_block_bytes of `type`.
static inline size_t m3_packed_block_bytes(int type) {
    return m3_panel_block_bytes(m3_packed_bits(type), m3_packed_offset(type));
}

#if defined(__x86_64__)
#define M3_HAVE_X86 1
/// m3_matmul_packed on AVX-512 VNNI (kernels_avx512.c).
void m3_matmul_packed_avx512(int type, const void *packed, int blocks, int row_begin, int row_end, m3_q8_rows x, int tokens,
                             float *y, size_t y_stride);
void m3_quantize_q8_avx2(const float *x, int n, m3_block_q8 *out);
/// Dots one weight row with up to 4 activation rows (`count`), writing out[0..count).
void m3_vec_dot_small_avx2(int type, const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
void m3_vec_dot_small_vnni(int type, const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
/// Consecutive weight rows of a 32-block type against one activation row: out[r], r in [0, row_count).
void m3_vec_dot_small_rows_avx2(int type, const void *rows, size_t row_bytes, int row_count, const m3_block_q8 *x, int blocks, float *out);
void m3_vec_dot_small_rows_vnni(int type, const void *rows, size_t row_bytes, int row_count, const m3_block_q8 *x, int blocks, float *out);
void m3_vec_dot4_avx2(int type, const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
void m3_vec_dot4_q2_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
void m3_vec_dot4_q3_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
void m3_vec_dot4_q4_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
void m3_vec_dot4_q5_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
void m3_vec_dot4_q6_K_avx2(const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
/// The same results as the AVX2 kernels, bit for bit (kernels_attention_group_avx512.c).
void m3_attention_group_scores_avx512(const float *q, int groups, const void *keys, int key_type, int count, int dim,
                                      float scale, float bias, float *out, int out_stride);
void m3_attention_group_accumulate_avx512(const float *weights, int weight_stride, int groups, const void *values,
                                          int value_type, int count, int dim, float *out);
void m3_attention_group_scores_avx2(const float *q, int groups, const void *keys, int key_type, int count, int dim,
                                    float scale, float bias, float *out, int out_stride);
void m3_attention_group_accumulate_avx2(const float *weights, int weight_stride, int groups, const void *values,
                                        int value_type, int count, int dim, float *out);
void m3_fp32_to_fp16_f16c(const float *x, uint16_t *out, size_t n);
#endif

#endif
