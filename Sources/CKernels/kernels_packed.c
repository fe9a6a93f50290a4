// Packed weights (layout in CKernels.h): packing at load, the split activations, the scalar
// reference, and the row/token loop that picks the AVX-512 kernel or the scalar one.
#include "kernels_internal.h"

#include <math.h>

void m3_split_q8(const m3_block_q8 *x, int blocks, m3_q8_rows out) {
    for (int b = 0; b < blocks; b++) {
        memcpy(out.q + (size_t)b * 32, x[b].q, 32);
        out.d[b] = x[b].d;
        out.s[b] = x[b].s;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) sum += x[b].q[i];
        out.sum[b] = sum;
    }
}

int m3_packs_type(int type) {
    return m3_packed_bits(type) != 0 && m3_kernels_level() >= M3_LEVEL_AVX512;
}

size_t m3_packed_bytes(int type, int rows, int blocks) {
    const int bits = m3_packed_bits(type);
    const size_t panels = ((size_t)rows + M3_PANEL_ROWS - 1) / M3_PANEL_ROWS;
    return bits == 0 ? 0 : panels * (size_t)blocks * m3_packed_block_bytes(type);
}

/// The 32 unsigned codes of block `b` of a GGML row (Q8_0 shifted by 128), its d and m (0 but
/// for Q4_1 and Q5_1; the offsets of the others come off in integers, m3_packed_offset).
static int ggml_block(int type, const uint8_t *row, int b, uint8_t codes[32], uint16_t *d, uint16_t *m) {
    const uint8_t *p;
    *m = 0;
    switch (type) {
    case M3_TYPE_Q4_1:
        p = row + (size_t)b * 20;
        memcpy(m, p + 2, 2);
        for (int j = 0; j < 16; j++) {
            codes[j] = p[4 + j] & 0x0f;
            codes[j + 16] = p[4 + j] >> 4;
        }
        break;
    case M3_TYPE_Q4_0:
        p = row + (size_t)b * 18;
        for (int j = 0; j < 16; j++) {
            codes[j] = p[2 + j] & 0x0f;
            codes[j + 16] = p[2 + j] >> 4;
        }
        break;
    case M3_TYPE_Q5_0:
    case M3_TYPE_Q5_1: {
        // fp16 d, [fp16 m,] the 32 fifth bits, then nibbles: low nibble j, high nibble j + 16.
        const int has_min = type == M3_TYPE_Q5_1;
        p = row + (size_t)b * (has_min ? 24 : 22);
        if (has_min) memcpy(m, p + 2, 2);
        m3_q5_codes(p + (has_min ? 4 : 2), codes);
        break;
    }
    case M3_TYPE_Q8_0:
        p = row + (size_t)b * 34;
        for (int j = 0; j < 32; j++) codes[j] = (uint8_t)((int8_t)p[2 + j] + 128);
        break;
    default:
        return 0;
    }
    memcpy(d, p, 2);
    return 1;
}

int m3_pack_rows(int type, const void *weights, size_t row_bytes, int rows, int blocks, void *out) {
    const int bits = m3_packed_bits(type);
    if (bits == 0) return 0;
    const size_t block_bytes = m3_packed_block_bytes(type), code_bytes = m3_packed_code_bytes(bits);
    const int has_min = m3_packed_offset(type) == 0;
    const size_t panels = ((size_t)rows + M3_PANEL_ROWS - 1) / M3_PANEL_ROWS;
    memset(out, 0, panels * (size_t)blocks * block_bytes);  // rows past the last are zero
    uint8_t codes[32];
    for (int r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)weights + (size_t)r * row_bytes;
        const int lane = r % M3_PANEL_ROWS;
        uint8_t *panel = (uint8_t *)out + (size_t)(r / M3_PANEL_ROWS) * (size_t)blocks * block_bytes;
        for (int b = 0; b < blocks; b++) {
            uint8_t *block = panel + (size_t)b * block_bytes;
            uint16_t d, m;
            if (!ggml_block(type, src, b, codes, &d, &m)) return 0;
            for (int e = 0; e < 32; e++) {
                // Column e is byte j = e % 4 of the row's 4 bytes in code vector k = e / 4.
                const int k = e / 4, j = e % 4;
                if (bits == 8) {
                    block[k * 64 + lane * 4 + j] = codes[e];
                } else {
                    block[(k % 4) * 64 + lane * 4 + j] |= (uint8_t)((codes[e] & 0x0f) << (k < 4 ? 0 : 4));
                    // 5 bits: vector k's fifth bits, one per byte of it, in the 64-bit word k after the nibbles.
                    if (bits == 5 && codes[e] >> 4) block[256 + k * 8 + (lane * 4 + j) / 8] |= (uint8_t)(1u << ((lane * 4 + j) % 8));
                }
            }
            memcpy(block + code_bytes + lane * 2, &d, 2);
            if (has_min) memcpy(block + code_bytes + 32 + lane * 2, &m, 2);
        }
    }
    return 1;
}

/// The unsigned code of column e of row `lane` in a packed block (the layout in CKernels.h).
static inline int packed_code(int bits, const uint8_t *block, int lane, int e) {
    const int k = e / 4, i = lane * 4 + e % 4;  // code vector k, byte i of it
    if (bits == 8) return block[k * 64 + i];
    int code = (block[(k % 4) * 64 + i] >> (k < 4 ? 0 : 4)) & 0x0f;
    if (bits == 5) code |= ((block[256 + k * 8 + i / 8] >> (i % 8)) & 1) << 4;
    return code;
}

/// The scalar kernel: the same products and the same order of sums as the AVX-512 one (each
/// row: per block the exact integer dot sum((c - o) * x), then acc = fma(dot, d_w * d_x, acc),
/// then for Q4_1 and Q5_1 acc = fma(m, s, acc)), so the two give the same bits.
static void matmul_packed_scalar(int type, const uint8_t *packed, int blocks, int row_begin, int row_end, m3_q8_rows x, int tokens,
                                 float *y, size_t y_stride) {
    const int bits = m3_packed_bits(type), offset = m3_packed_offset(type);
    const size_t block_bytes = m3_packed_block_bytes(type), code_bytes = m3_packed_code_bytes(bits);
    for (int r = row_begin; r < row_end; r++) {
        const uint8_t *panel = packed + (size_t)(r / M3_PANEL_ROWS) * (size_t)blocks * block_bytes;
        const int lane = r % M3_PANEL_ROWS;
        for (int t = 0; t < tokens; t++) {
            float acc = 0.0f;
            for (int b = 0; b < blocks; b++) {
                const uint8_t *block = panel + (size_t)b * block_bytes;
                const size_t at = (size_t)t * blocks + b;
                int32_t dot = 0;
                for (int e = 0; e < 32; e++) dot += packed_code(bits, block, lane, e) * x.q[at * 32 + e];
                dot -= offset * x.sum[at];
                uint16_t dw;
                memcpy(&dw, block + code_bytes + lane * 2, 2);
                acc = fmaf((float)dot, m3_fp16_to_fp32(dw) * x.d[at], acc);
                if (offset == 0) {  // only the types with a min store m
                    uint16_t mw;
                    memcpy(&mw, block + code_bytes + 32 + lane * 2, 2);
                    acc = fmaf(m3_fp16_to_fp32(mw), x.s[at], acc);
                }
            }
            y[(size_t)t * y_stride + r] = acc;
        }
    }
}

void m3_matmul_packed(int type, const void *packed, int blocks, int row_begin, int row_end,
                      m3_q8_rows x, int tokens, float *y, size_t y_stride) {
    const int bits = m3_packed_bits(type);
    if (bits == 0) return;
#if defined(M3_HAVE_X86)
    if (m3_kernels_level() >= M3_LEVEL_AVX512) {
        m3_matmul_packed_avx512(type, packed, blocks, row_begin, row_end, x, tokens, y, y_stride);
        return;
    }
#endif
    matmul_packed_scalar(type, packed, blocks, row_begin, row_end, x, tokens, y, y_stride);
}
