// The packed-weight kernel with AVX-512 VNNI, for any number of tokens (decode is one).
//
// Weights are packed in panels of 16 rows (layout in CKernels.h): one 512-bit vector holds the
// same 4 columns of all 16 rows. A token's 4 activations of those columns are broadcast, and 8
// vpdpbusd give a block's 16 integer dot products, one per lane (one row each). Scaling is one
// multiply-add per 16 rows (Q4_1's and Q5_1's min term one more), and a token's 16 outputs are
// consecutive, so they are stored as they are: no horizontal sums. The kernel this replaced kept a row's codes in
// element order, so each (row, token, pair of blocks) took its own conversion, scale permute and
// multiply-add and each output a horizontal sum; at 512 tokens this one multiplies 2.55x as fast
// (scripts/prefill-kernel.sh, one thread).
//
// Q5_0 and Q5_1 pack their fifth bits as a plane beside the nibbles (one 64-bit mask per code
// vector), added back with one masked add per vector.
//
// Each output adds its blocks in order (the scalar kernel in kernels_packed.c does the same, so
// the two agree bit for bit), whatever the number of tokens, the row range or the thread: a
// token's outputs do not depend on what it is batched with.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")))

/// Tokens per pass over a panel: their accumulators, a block's 8 code vectors and its two scale
/// vectors stay in the 32 vector registers.
enum { tokens_per_pass = 16 };

/// `count` tokens from `token` against one panel, into y[t * y_stride + lane] for the lanes in
/// `lanes` (a panel's rows outside the caller's range are computed and not stored).
M3_AVX512 __attribute__((always_inline)) static inline void panel_pass(const int bits, const int offset, const uint8_t *panel, int blocks, m3_q8_rows x,
                                                                    int token, const int count, float *y, size_t y_stride,
                                                                    __mmask16 lanes) {
    const size_t code_bytes = m3_packed_code_bytes(bits), block_bytes = m3_panel_block_bytes(bits, offset);
    const __m512i low = _mm512_set1_epi8(0x0f);
    __m512 acc[tokens_per_pass];
    for (int k = 0; k < count; k++) acc[k] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = panel + (size_t)b * block_bytes;
        // In decode (a few tokens) the weights stream by once per step. Asking 4 KB ahead was +30%
        // for the row kernel on the Intel machine; for panels on the AMD one
        // (scripts/prefetch-distance.sh, 2026-12-04) 0 vs 4096 bytes: one thread 4.18-4.89 vs
        // 3.93-4.42 ms a pass, two threads the same (2.57-2.70 ms): kept, as it never lost.
        if (count <= 4) m3_prefetch_lines(block + M3_DECODE_PREFETCH_BYTES, block_bytes);
        __m512i c[8];
        if (bits == 8) {
            for (int k = 0; k < 8; k++) c[k] = _mm512_loadu_si512(block + k * 64);
        } else {
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_loadu_si512(block + k * 64);
                c[k] = _mm512_and_si512(v, low);
                c[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
            }
            if (bits == 5) {
                // The fifth bits: one 64-bit mask per code vector, 16 added where set.
                const __m512i sixteen = _mm512_set1_epi8(16);
                for (int k = 0; k < 8; k++) {
                    uint64_t fifth;
                    memcpy(&fifth, block + 256 + k * 8, 8);
                    c[k] = _mm512_mask_add_epi8(c[k], _cvtu64_mask64(fifth), c[k], sixteen);
                }
            }
        }
        const __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(block + code_bytes)));
        const __m512 m = offset ? _mm512_setzero_ps() : _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(block + code_bytes + 32)));
        for (int k = 0; k < count; k++) {
            const size_t at = (size_t)(token + k) * blocks + b;
            int32_t q[8];
            memcpy(q, x.q + at * 32, 32);
            // Two chains of four, so that one token's sums do not wait on each other.
            __m512i even = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[0], _mm512_set1_epi32(q[0]));
            __m512i odd = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[1], _mm512_set1_epi32(q[1]));
            even = _mm512_dpbusd_epi32(even, c[2], _mm512_set1_epi32(q[2]));
            odd = _mm512_dpbusd_epi32(odd, c[3], _mm512_set1_epi32(q[3]));
            even = _mm512_dpbusd_epi32(even, c[4], _mm512_set1_epi32(q[4]));
            odd = _mm512_dpbusd_epi32(odd, c[5], _mm512_set1_epi32(q[5]));
            even = _mm512_dpbusd_epi32(even, c[6], _mm512_set1_epi32(q[6]));
            odd = _mm512_dpbusd_epi32(odd, c[7], _mm512_set1_epi32(q[7]));
            __m512i sums = _mm512_add_epi32(even, odd);
            // Q4_0, Q5_0, Q8_0: the codes' offset off in integers (exact); Q4_1, Q5_1: their min term.
            if (offset) sums = _mm512_sub_epi32(sums, _mm512_set1_epi32(offset * x.sum[at]));
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(w, _mm512_set1_ps(x.d[at])), acc[k]);
            if (!offset) acc[k] = _mm512_fmadd_ps(m, _mm512_set1_ps(x.s[at]), acc[k]);
        }
    }
    for (int k = 0; k < count; k++) _mm512_mask_storeu_ps(y + (size_t)(token + k) * y_stride, lanes, acc[k]);
}

/// All tokens against one panel: passes of 16, then the rest (a constant count keeps the
/// accumulators in registers).
M3_AVX512 __attribute__((always_inline)) static inline void panel_tokens(const int bits, const int offset, const uint8_t *panel, int blocks, m3_q8_rows x,
                                                                      int tokens, float *y, size_t y_stride, __mmask16 lanes) {
    int t = 0;
    for (; t + tokens_per_pass <= tokens; t += tokens_per_pass) panel_pass(bits, offset, panel, blocks, x, t, tokens_per_pass, y, y_stride, lanes);
    switch (tokens - t) {
#define M3_REST(n) case n: panel_pass(bits, offset, panel, blocks, x, t, n, y, y_stride, lanes); break;
        M3_REST(1) M3_REST(2) M3_REST(3) M3_REST(4) M3_REST(5) M3_REST(6) M3_REST(7) M3_REST(8)
        M3_REST(9) M3_REST(10) M3_REST(11) M3_REST(12) M3_REST(13) M3_REST(14) M3_REST(15)
#undef M3_REST
    default: break;
    }
}

M3_AVX512 void m3_matmul_packed_avx512(int type, const void *packed, int blocks, int row_begin, int row_end, m3_q8_rows x, int tokens,
                                       float *y, size_t y_stride) {
    const size_t panel_bytes = (size_t)blocks * m3_packed_block_bytes(type);
    for (int first = row_begin - row_begin % M3_PANEL_ROWS; first < row_end; first += M3_PANEL_ROWS) {
        const int lo = row_begin > first ? row_begin - first : 0;
        const int hi = row_end - first < M3_PANEL_ROWS ? row_end - first : M3_PANEL_ROWS;
        const __mmask16 lanes = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        const uint8_t *panel = (const uint8_t *)packed + (size_t)(first / M3_PANEL_ROWS) * panel_bytes;
        switch (type) {
        case M3_TYPE_Q8_0: panel_tokens(8, 128, panel, blocks, x, tokens, y + first, y_stride, lanes); break;
        case M3_TYPE_Q4_0: panel_tokens(4, 8, panel, blocks, x, tokens, y + first, y_stride, lanes); break;
        case M3_TYPE_Q5_0: panel_tokens(5, 16, panel, blocks, x, tokens, y + first, y_stride, lanes); break;
        case M3_TYPE_Q5_1: panel_tokens(5, 0, panel, blocks, x, tokens, y + first, y_stride, lanes); break;
        default: panel_tokens(4, 0, panel, blocks, x, tokens, y + first, y_stride, lanes); break;
        }
    }
}
#endif
