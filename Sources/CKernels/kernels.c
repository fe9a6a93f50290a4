// Runtime dispatch between the scalar, AVX2 and AVX-VNNI kernels, and the row/token loops of a
// matrix product.
#include "kernels_internal.h"

#include <math.h>

static int cpu_level = -1;  // -1: not detected yet
static int level_limit = M3_LEVEL_AVX512;
/// AVX-VNNI (VEX) is not implied by AVX-512 VNNI (Ice Lake has the latter only).
static int cpu_has_avxvnni = 0;

int m3_kernels_level(void) {
    if (cpu_level < 0) {
        int level = M3_LEVEL_SCALAR;
#if defined(M3_HAVE_X86)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
            level = M3_LEVEL_AVX2;
            cpu_has_avxvnni = __builtin_cpu_supports("avxvnni");
            if (cpu_has_avxvnni) level = M3_LEVEL_VNNI;
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
                level = M3_LEVEL_AVX512;
            }
        }
#endif
        cpu_level = level;
    }
    return cpu_level < level_limit ? cpu_level : level_limit;
}

void m3_kernels_limit_level(int level) { level_limit = level; }

int m3_kernels_use_avx2(void) { return m3_kernels_level() >= M3_LEVEL_AVX2; }

void m3_kernels_force_scalar(int on) { level_limit = on ? M3_LEVEL_SCALAR : M3_LEVEL_AVX512; }

#if defined(M3_HAVE_X86)
/// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL: the types of the 32-block kernels.
static inline int is_small_type(int type) {
    return type == M3_TYPE_Q4_0 || type == M3_TYPE_Q4_1 || type == M3_TYPE_Q5_0 || type == M3_TYPE_Q5_1 ||
           type == M3_TYPE_Q8_0 || type == M3_TYPE_IQ4_NL;
}

/// The best vector kernel for one weight row against 1-4 activation rows.
static inline void vec_dot4(int type, const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    if (is_small_type(type) && m3_kernels_level() >= M3_LEVEL_VNNI && cpu_has_avxvnni) {
        m3_vec_dot_small_vnni(type, row, xs, count, blocks, out);
    } else {
        m3_vec_dot4_avx2(type, row, xs, count, blocks, out);
    }
}
#endif

int m3_supports_type(int type) {
    return type == M3_TYPE_Q4_0 || type == M3_TYPE_Q4_1 || type == M3_TYPE_Q5_0 || type == M3_TYPE_Q5_1 || type == M3_TYPE_Q8_0 ||
           type == M3_TYPE_IQ4_NL || type == M3_TYPE_Q2_K || type == M3_TYPE_Q3_K ||
           type == M3_TYPE_Q4_K || type == M3_TYPE_Q5_K || type == M3_TYPE_Q6_K;
}

void m3_quantize_q8(const float *x, int n, m3_block_q8 *out) {
#if defined(M3_HAVE_X86)
    if (m3_kernels_use_avx2()) {
        m3_quantize_q8_avx2(x, n, out);
        return;
    }
#endif
    m3_quantize_q8_scalar(x, n, out);
}


void m3_quantize_q8_k(const float *x, int n, m3_block_q8 *out) {
    for (int s = 0; s < n / 256; s++) {
        const float *v = x + s * 256;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 256; j++) {
            const float a = fabsf(v[j]);
            if (a > amax) {
                amax = a;
                max = v[j];
            }
        }
        const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        const float d = amax != 0.0f ? 1.0f / iscale : 0.0f;
        for (int b = 0; b < 8; b++) {
            m3_block_q8 *block = out + s * 8 + b;
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                int q = m3_nearest_int(iscale * v[b * 32 + j]);
                if (q > 127) q = 127;
                block->q[j] = (int8_t)q;
                sum += q;
            }
            block->d = d;
            block->s = d * (float)sum;
        }
    }
}

float m3_vec_dot(int type, const void *row, const m3_block_q8 *x, int blocks) {
#if defined(M3_HAVE_X86)
    if (m3_kernels_use_avx2()) {
        float out;
        vec_dot4(type, row, &x, 1, blocks, &out);
        return out;
    }
#endif
    return m3_vec_dot_scalar(type, row, x, blocks);
}

void m3_matmul(int type, const void *weights, size_t row_bytes, int row_begin, int row_end,
               const m3_block_q8 *x, int blocks, int tokens, float *y, size_t y_stride) {
    const uint8_t *base = (const uint8_t *)weights;
#if defined(M3_HAVE_X86)
    if (m3_kernels_use_avx2() && tokens == 1 && is_small_type(type)) {
        // Decode: all rows in one call (per-row dispatch was ~5% of Gemma 3's decode, whose
        // 262,144-row output is Q8_0).
        const void *rows = base + (size_t)row_begin * row_bytes;
        if (m3_kernels_level() >= M3_LEVEL_VNNI && cpu_has_avxvnni) {
            m3_vec_dot_small_rows_vnni(type, rows, row_bytes, row_end - row_begin, x, blocks, y + row_begin);
        } else {
            m3_vec_dot_small_rows_avx2(type, rows, row_bytes, row_end - row_begin, x, blocks, y + row_begin);
        }
        return;
    }
    if (m3_kernels_use_avx2()) {
        // Each weight row is unpacked once per block and used for up to 4 tokens. Rows and tokens
        // are walked in tiles of about 16 KB each, so that a tile's weights and activations stay
        // in L1 while they meet (row by row over all tokens, the activations of a 256-token step
        // streamed from L2 for every row). Every output is computed as before, bit for bit.
        const size_t tile_bytes = M3_TILE_BYTES;
        const size_t token_bytes = (size_t)blocks * sizeof(m3_block_q8);
        int token_tile = (int)(tile_bytes / token_bytes) & ~3;
        if (token_tile < 4) token_tile = 4;
        int row_tile = (int)(tile_bytes / row_bytes);
        if (row_tile < 1) row_tile = 1;
        for (int t0 = 0; t0 < tokens; t0 += token_tile) {
            const int t1 = tokens - t0 < token_tile ? tokens : t0 + token_tile;
            for (int r0 = row_begin; r0 < row_end; r0 += row_tile) {
                const int r1 = row_end - r0 < row_tile ? row_end : r0 + row_tile;
                for (int r = r0; r < r1; r++) {
                    const void *row = base + (size_t)r * row_bytes;
                    // Decode of the K-quants: the weights stream past once, ask ahead.
                    if (tokens == 1) m3_prefetch_lines((const char *)row + M3_DECODE_PREFETCH_BYTES, row_bytes);
                    for (int t = t0; t < t1; t += 4) {
                        const int count = t1 - t < 4 ? t1 - t : 4;
                        const m3_block_q8 *xs[4];
                        float out[4];
                        for (int k = 0; k < count; k++) xs[k] = x + (size_t)(t + k) * blocks;
                        vec_dot4(type, row, xs, count, blocks, out);
                        for (int k = 0; k < count; k++) y[(size_t)(t + k) * y_stride + r] = out[k];
                    }
                }
            }
        }
        return;
    }
#endif
    for (int r = row_begin; r < row_end; r++) {
        const void *row = base + (size_t)r * row_bytes;
        for (int t = 0; t < tokens; t++) {
            y[(size_t)t * y_stride + r] = m3_vec_dot_scalar(type, row, x + (size_t)t * blocks, blocks);
        }
    }
}
