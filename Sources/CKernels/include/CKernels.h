#ifndef MEMORY3_CKERNELS_H
#define MEMORY3_CKERNELS_H

// Hot quantized dot products of the memory3 engine. Activations are quantized to 8-bit blocks of
// 32 (GGML's Q8_0/Q8_1 numerics: scale = absmax/127 rounded to fp16), weights stay in their GGML
// block layout. Each kernel has a scalar version and an AVX2/FMA/F16C version picked at run time.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One block of 32 activations: q[i] * d approximates x[i]; s = d * sum(q) (for weights with a min).
typedef struct {
    float d;
    float s;
    int8_t q[32];
} m3_block_q8;

/// GGML weight types the kernels multiply (values are GGML's type ids).
enum {
    M3_TYPE_Q4_0 = 2,
    M3_TYPE_Q4_1 = 3,
    M3_TYPE_Q5_0 = 6,
    M3_TYPE_Q5_1 = 7,
    M3_TYPE_Q8_0 = 8,
    M3_TYPE_Q2_K = 10,  // 256-element superblocks: rows must be a multiple of 256 long
    M3_TYPE_Q3_K = 11,
    M3_TYPE_Q4_K = 12,
    M3_TYPE_Q5_K = 13,
    M3_TYPE_Q6_K = 14,
    M3_TYPE_IQ4_NL = 20,  // blocks of 32: 4-bit codes into a fixed table of 16 values
};

/// Kernel families, best last.
enum {
    M3_LEVEL_SCALAR = 0,
    M3_LEVEL_AVX2 = 1,
    M3_LEVEL_VNNI = 2,  // AVX2 plus AVX-VNNI (vpdpbusd) for the 8-bit dots
    M3_LEVEL_AVX512 = 3,  // AVX-512 F/BW/VL + VNNI: the packed-weight kernels run 512 bits wide
};

/// The kernel family in use: the best the CPU has, unless limited.
int m3_kernels_level(void);
/// Uses no family above `level` (tests run every path; benchmarks compare them).
void m3_kernels_limit_level(int level);

/// 1 when the AVX2 kernels are in use, 0 for the scalar ones.
int m3_kernels_use_avx2(void);
/// Forces the scalar kernels (1) or the best available (0); for tests.
void m3_kernels_force_scalar(int on);

/// Quantizes `n` floats (a multiple of 32) into n/32 blocks.
void m3_quantize_q8(const float *x, int n, m3_block_q8 *out);

/// Quantizes `n` floats (a multiple of 256) as GGML's Q8_K, the activations GGML multiplies
/// K-quant weights with: one float scale per 256 (d = max / -127 of the element of largest
/// magnitude, codes round(x / d) to nearest even, at most 127), written as n/32 blocks that all
/// carry their 256's scale.
void m3_quantize_q8_k(const float *x, int n, m3_block_q8 *out);

/// Whether `type` has a kernel here.
int m3_supports_type(int type);

/// y[t * y_stride + r] = dot(weight row r, activation row t) for r in [row_begin, row_end) and
/// t in [0, tokens). Weight rows are `row_bytes` apart; activation rows are `blocks` blocks of 32
/// each (for K-quants a multiple of 8: one 256-element weight superblock spans 8 blocks).
void m3_matmul(int type, const void *weights, size_t row_bytes, int row_begin, int row_end,
               const m3_block_q8 *x, int blocks, int tokens, float *y, size_t y_stride);

/// Dot product of one weight row of `type` with one activation row of `blocks` blocks of 32 (the
/// row holds blocks * 32 elements; for K-quants `blocks` is a multiple of 8).
float m3_vec_dot(int type, const void *row, const m3_block_q8 *x, int blocks);

// MARK: Packed weights
//
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 rows rearranged once at load into panels of 16 rows, so that
// one 512-bit register holds the same 4 columns of all 16 rows (kernels_avx512.c): every block
// becomes unsigned codes c with w = d * (c - o) + m (Q4_1, Q5_1: o = 0 and their m; Q4_0: o = 8;
// Q5_0: o = 16; Q8_0: c = q + 128, o = 128; m = 0 for these three). The offset o comes off in
// integers (sum(c * x) - o * sum(x)), so Q4_0, Q5_0 and Q8_0 products are exact integer dot
// products, as llama.cpp computes them.
// A panel is its blocks in order; a block is its codes, then the 16 rows' d (fp16), then for Q4_1
// and Q5_1 their m (fp16). Codes come in 8 vectors of 64 bytes, vector k holding columns 4k..4k+3
// of the block, 4 bytes per row, rows in order. 4-bit codes put vector k (k < 4) in the low
// nibbles and vector k + 4 in the high nibbles of the same 64 bytes; 5-bit codes do the same with
// their low 4 bits, followed by 8 little-endian 64-bit words, word k holding the fifth bit of
// vector k's 64 bytes. Rows past the matrix's last (to a multiple of 16) are zero. Bytes per row
// and block: Q4_0 18, Q4_1 20, Q5_0 22, Q5_1 24, Q8_0 34 (as in GGUF).

/// 8-bit activations as separate arrays, `blocks` per token and tokens back to back: codes
/// (32 per block), scales d, d * sum(codes), and sum(codes) as an integer.
typedef struct {
    int8_t *q;
    float *d;
    float *s;
    int32_t *sum;
} m3_q8_rows;

/// Copies `blocks` activation blocks into the split layout.
void m3_split_q8(const m3_block_q8 *x, int blocks, m3_q8_rows out);

/// Whether rows of `type` are worth packing here: the type has a packed form and the CPU runs the
/// packed kernels (AVX-512 VNNI, within the level limit).
int m3_packs_type(int type);

/// Rows per panel: a range of rows that starts and ends on a multiple of it reads each panel once.
enum { M3_PACKED_PANEL_ROWS = 16 };

/// Bytes of `rows` packed rows of `blocks` blocks (whole panels of 16; 0 for a type without a packed form).
size_t m3_packed_bytes(int type, int rows, int blocks);

/// Packs `rows` GGML rows of `blocks` blocks into `out` (m3_packed_bytes bytes). Returns 0 for
/// a type without a packed form.
int m3_pack_rows(int type, const void *weights, size_t row_bytes, int rows, int blocks, void *out);

/// m3_matmul for packed rows: y[t * y_stride + r] for r in [row_begin, row_end), t in [0, tokens).
/// Runs the AVX-512 kernel when the level allows it, the scalar one otherwise: the same bits,
/// and a token's outputs do not depend on `tokens` or the row range (batches give what one alone gets).
void m3_matmul_packed(int type, const void *packed, int blocks, int row_begin, int row_end,
                      m3_q8_rows x, int tokens, float *y, size_t y_stride);

/// Element types of attention keys and values.
enum {
    M3_KV_F32 = 0,
    M3_KV_F16 = 1,  // IEEE half precision bits
    M3_KV_I8 = 2,   // int8 codes, unscaled (the m3_attention_group_*_i8 entry points apply the scales)
};

/// The kernels m3_attention_group_scores / _accumulate run for head dimension `dim`: an M3_LEVEL_*
/// (AVX-512 and AVX2 give the same bits; scalar rounds otherwise).
int m3_attention_group_level(int dim);

/// Scores of `groups` query heads that share one KV head (grouped-query attention): for g in
/// [0, groups) and j in [0, count), out[g * out_stride + j] = dot(q + g * dim, key j) * scale + bias.
/// Keys are `count` rows of `dim` elements of `key_type`; each is read once for all the heads.
void m3_attention_group_scores(const float *q, int groups, const void *keys, int key_type, int count, int dim,
                               float scale, float bias, float *out, int out_stride);

/// out[g * dim + i] += sum over j of weights[g * weight_stride + j] * value j [i], for g in
/// [0, groups): the weighted sums of value rows (of `value_type`) for heads that share them.
void m3_attention_group_accumulate(const float *weights, int weight_stride, int groups, const void *values,
                                   int value_type, int count, int dim, float *out);

/// out[i] = x[i] rounded to fp16 (nearest even; beyond the fp16 range: infinity), for i in [0, n).
void m3_fp32_to_fp16(const float *x, uint16_t *out, size_t n);

/// Symmetric int8 codes of a memory's key rows: `tokens` keys of `dim` floats at `x`, one scale per
/// channel over tokens [0, lead) and another over [lead, tokens) (the reference prefix, the
/// attention sink, has keys far larger than the body's). scales: [2][dim] (the first row 0 when
/// lead is 0); codes[t][i] = round(x[t][i] / scale), scale = channel amax / 127 (0: all zero);
/// sums[t] = the sum of key t's codes (what the VNNI scores kernel needs to offset its unsigned query).
void m3_quantize_keys_i8(const float *x, int tokens, int dim, int lead, int8_t *codes, float *scales, int32_t *sums);

/// Scores of `groups` query heads against int8 keys with per-channel scales (codes and sums from
/// m3_quantize_keys_i8): out[g * out_stride + j] = dot(q_g * channel_scales, codes_j) * scale + bias.
/// With AVX-512 VNNI and dim a multiple of 64, each head's scaled query is itself rounded to int8
/// (one scale a head; llama.cpp rounds its query too, a scale per 32) and the dots are integer; otherwise
/// float (m3_attention_group_scores on the codes).
void m3_attention_group_scores_i8(const float *q, int groups, const int8_t *keys, const int32_t *key_sums,
                                  const float *channel_scales, int count, int dim, float scale, float bias, float *out,
                                  int out_stride);

/// out[g] += sum over j of weights[g * weight_stride + j] * token_scales[j] * codes_j, for `groups`
/// heads over `count` int8 value rows (m3_quantize_values_i8): m3_attention_group_accumulate with
/// the weights scaled, the same sums in the same order.
void m3_attention_group_accumulate_i8(const float *weights, int weight_stride, int groups, const int8_t *values,
                                      const float *token_scales, int count, int dim, float *out);

/// Asks for the `bytes` from `p` on (one prefetch per 64-byte line; a prefetch never faults).
void m3_prefetch(const void *p, size_t bytes);

/// BM25 candidate accumulation over one term's postings (MemoryStore's LexicalIndex): for each j,
/// the cell of slots[j] (cells: x, y per slot; every slot must have one) gets x += weight * tf /
/// (tf + y) with tf = counts[j], and a slot whose x was 0 before is appended to `touched` (room for
/// n more needed). Returns the new count of `touched`. Pointers may be NULL when n is 0.
size_t m3_bm25_accumulate(const uint32_t *slots, const uint16_t *counts, size_t n, float weight, float *cells,
                          uint32_t *touched, size_t touched_count);

/// sums[i] = the x of the cell of touched[i], and that x set back to 0, for i in [0, count).
void m3_bm25_collect(float *cells, const uint32_t *touched, size_t count, float *sums);

/// Whether m3_attention_group_scores_i8 takes integer dots (the VNNI kernel) for heads of `dim`
/// (1), or the float kernels (0; their level may be AVX-512 too).
int m3_attention_group_i8_vnni(int dim);

/// Symmetric int8 codes of value rows: one scale per token (its amax / 127) over its `dim` floats.
void m3_quantize_values_i8(const float *x, int tokens, int dim, int8_t *codes, float *scales);

/// out[i] = the fp16 value h[i] as a float, for i in [0, n).
void m3_fp16_to_fp32_row(const uint16_t *h, float *out, size_t n);

/// gate[i] <- silu(gate[i]) * up[i] = gate[i] / (1 + e^-gate[i]) * up[i] for i in [0, n): scalar with
/// libm's expf, the AVX2 / AVX-512 paths with a polynomial e^x, within a few ulp of it. Each element
/// alone: the same bits however the range is split at multiples of 16 (elements past the last
/// multiple of 8 or 16 take the scalar tail).
void m3_swiglu(float *gate, const float *up, size_t n);

/// gate[i] <- gelu(gate[i]) * up[i] for i in [0, n), GELU read from `table`: 65,536 floats, the
/// GELU of every fp16 bit pattern (the input rounded to fp16 to index it); 0 at or below -10 and
/// the identity at or above 10, as GGML's CPU backend computes it.
void m3_geglu_fp16_table(float *gate, const float *up, size_t n, const float *table);

/// For each of `count` vectors of `dim` floats at x: x[i] *= before[i], then the unnormalised
/// Walsh-Hadamard transform of every block of n (a power of two dividing dim), then x[i] *=
/// after[i] (before and after may be NULL). Scalar and AVX2 agree to float rounding (the stages
/// run in another order).
void m3_hadamard_rows(float *x, size_t count, int dim, int n, const float *before, const float *after);

/// v <- softmax(v) over n values (in place).
void m3_softmax(float *v, int n);

/// out[i * out_stride + j] = bias[j] + sum_k x[i * k + kk] * w[j * k + kk], for tokens i in [0, n) and
/// weight rows j in [j0, j1) (a linear layer with row-major float weights; bias may be NULL). The
/// result of a token does not depend on n.
void m3_f32_matmul_nt(const float *x, int n, int k, const float *w, int j0, int j1, const float *bias, float *out, int out_stride);

/// The sentence encoder's bfloat16 linear layers (kernels_dense_bf16.c). Rows of k floats become
/// rows of (k + 1) / 2 bfloat16 pairs (even input in the low half), rounded to nearest even with
/// subnormals flushed to zero.
void m3_f32_to_bf16_pairs(const float *x, int rows, int k, uint32_t *out);

/// Elements (uint16) of a [outputs, k] float weight matrix packed for m3_bf16_matmul: blocks of 16
/// outputs, each holding, pair by pair of inputs, the 16 outputs' two bfloat16 weights.
size_t m3_bf16_packed_count(int outputs, int k);
void m3_bf16_pack_weights(const float *w, int outputs, int k, uint16_t *packed);

/// out[i * out_stride + j] = bias[j] + sum over input pairs p of x[i][2p+1] w[j][2p+1] + x[i][2p] w[j][2p]
/// (accumulated in that order, each product exact, each sum rounded), for tokens i in [0, n) and
/// outputs j in blocks [b0, b1) of 16 (j < outputs). `x`: n rows of `pairs` pairs; bias may be NULL.
/// The same bits on every path and for any n or block range.
void m3_bf16_matmul(const uint32_t *x, int n, int pairs, const uint16_t *w, int outputs, int b0, int b1,
                    const float *bias, float *out, int out_stride);

/// Which m3_bf16_matmul path runs: 3 AVX-512 BF16 (VDPBF16PS), 2 AVX-512F, 1 AVX2 (the same sums by
/// fused multiply-adds), 0 scalar. `m3_bf16_matmul_limit_path` caps it (tests compare the paths; 3:
/// none). The same bits on every path while the sums stay normal floats (VDPBF16PS flushes
/// subnormal results to zero).
int m3_bf16_matmul_path(void);
void m3_bf16_matmul_limit_path(int path);

/// v[i] <- gelu(v[i]) = v[i] / 2 * (1 + erf(v[i] / sqrt 2)), erf by a rational approximation (about
/// 1e-7 from erf): within 4e-7 relative for v >= 0, and 1.2e-6 absolute below, where 1 + erf
/// cancels (relative errors of tens of ulp near v = -2, where GELU is -0.05); the same bits on
/// every path (AVX-512, AVX2, scalar).
void m3_gelu_erf(float *v, size_t n);

/// out[r] = sum_d query[d] * rows[r * dim + d], for r in [0, count).
void m3_i8_dot_rows(const int8_t *query, const int8_t *rows, int count, int dim, int32_t *out);

/// out[r] = the number of differing bits between query and rows[r] (`words` 64-bit words each).
void m3_hamming_rows(const uint64_t *query, const uint64_t *rows, int count, int words, uint16_t *out);

/// counts[v] += how many of values[0 ..< n] are v, for values below `bins` (each must be).
void m3_u16_histogram(const uint16_t *values, size_t n, uint32_t *counts, int bins);

/// The indices i in [0, n) with values[i] <= cutoff, ascending, into `out`; returns how many.
/// `out` needs room for exactly that many (the caller counts them with m3_u16_histogram): nothing
/// past them is written.
size_t m3_u16_indices_at_most(const uint16_t *values, size_t n, uint16_t cutoff, uint32_t *out);

/// A spin-wait hint to the CPU (x86 `pause`), for the worker pool's short waits.
static inline void m3_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#endif
}

#ifdef __cplusplus
}
#endif

#endif
