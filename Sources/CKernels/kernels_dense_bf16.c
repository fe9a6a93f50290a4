// The sentence encoder's linear layers in bfloat16, and its GELU: the encoder runs at every memory
// swap (a 64-token chunk through MiniLM's 6 layers), and in float32 its matrix products already ran
// at ~90 GFLOPS on one thread of the AMD EPYC VM (a 64x384 by 384x1536 product in 0.86 ms), most of
// what its AVX-512 FMAs give, so the way to a faster swap is twice the multiply-adds per instruction
// (VDPBF16PS, 0.35 ms for the same product) rather than a better float kernel.
//
// Weights are packed once: for each block of 16 outputs and each pair of inputs (2p, 2p+1), the 16
// outputs' two weights side by side (64 bytes), so one broadcast pair of a token's inputs meets 16
// outputs in one VDPBF16PS and no horizontal sum is needed. Every output is accumulated in the same
// order whatever the tile or batch: for p = 0, 1, ...: acc += x[2p+1] w[2p+1], then acc += x[2p] w[2p]
// (each product exact in float32, each sum rounded to nearest even), as VDPBF16PS specifies; the
// bias is added last. The AVX-512F, AVX2 and scalar paths do the same sums (a product of two
// bfloat16 is exact in float, so a fused multiply-add and a multiply then an add agree), so all
// paths give the same bits for sums that stay normal floats (VDPBF16PS flushes subnormal results
// to zero, the others do not; encoder activations are nowhere near). Conversion to bfloat16 rounds
// to nearest even and flushes subnormals to zero (VDPBF16PS reads them as zero).
#include "kernels_internal.h"

#include <math.h>

static inline uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);  // zero and subnormals: signed zero
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);  // NaN stays a (quiet) NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float f32_of(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

size_t m3_bf16_packed_count(int outputs, int k) {
    return (size_t)((outputs + 15) / 16) * (size_t)((k + 1) / 2) * 32;
}

void m3_bf16_pack_weights(const float *w, int outputs, int k, uint16_t *packed) {
    const int pairs = (k + 1) / 2, blocks = (outputs + 15) / 16;
    for (int b = 0; b < blocks; b++)
        for (int p = 0; p < pairs; p++)
            for (int l = 0; l < 16; l++) {
                const int j = b * 16 + l;
                uint16_t *dst = packed + (((size_t)b * pairs + p) * 16 + l) * 2;
                dst[0] = j < outputs ? bf16_of(w[(size_t)j * k + 2 * p]) : 0;
                dst[1] = j < outputs && 2 * p + 1 < k ? bf16_of(w[(size_t)j * k + 2 * p + 1]) : 0;
            }
}

static void bf16_matmul_scalar(const uint32_t *x, int n, int pairs, const uint16_t *w, int outputs, int b0, int b1,
                               const float *bias, float *out, int out_stride) {
    for (int i = 0; i < n; i++) {
        const uint32_t *xi = x + (size_t)i * pairs;
        for (int b = b0; b < b1; b++) {
            const uint16_t *wb = w + (size_t)b * pairs * 32;
            for (int l = 0; l < 16 && b * 16 + l < outputs; l++) {
                float acc = 0.0f;
                for (int p = 0; p < pairs; p++) {
                    const uint16_t *wp = wb + ((size_t)p * 16 + l) * 2;
                    // Products of two bfloat16 are exact in float: a multiply then an add is the
                    // fused multiply-add's sum (and no libm fmaf call where FMA is not compiled in).
                    acc += f32_of((uint16_t)(xi[p] >> 16)) * f32_of(wp[1]);
                    acc += f32_of((uint16_t)xi[p]) * f32_of(wp[0]);
                }
                out[(size_t)i * out_stride + b * 16 + l] = acc + (bias ? bias[b * 16 + l] : 0.0f);
            }
        }
    }
}

/// GELU's erf: Eigen's rational approximation (odd degree-13 over even degree-8, x clamped to
/// [-4, 4] where erf is +-1 in float), about 1e-7 from erf and no libm call, so 16 run at once.
/// Numerator (odd, by x^13 .. x^1 after the leading x) and denominator (even, x^8 .. x^0)
/// coefficients, evaluated by Horner's rule in this order on every path.
static const float erf_p[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f,
                               -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f};
static const float erf_q[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f,
                               -1.42647390514189e-02f};

static inline float erf_rational(float a) {
    const float x = fminf(fmaxf(a, -4.0f), 4.0f), x2 = x * x;
    float p = fmaf(x2, erf_p[0], erf_p[1]);
    for (int c = 2; c < 7; c++) p = fmaf(x2, p, erf_p[c]);
    p = x * p;
    float q = fmaf(x2, erf_q[0], erf_q[1]);
    for (int c = 2; c < 5; c++) q = fmaf(x2, q, erf_q[c]);
    return p / q;
}

static void gelu_scalar(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = 0.5f * v[i] * (1.0f + erf_rational(v[i] * 0.70710678118654752f));
}

#if defined(M3_HAVE_X86)
#include <immintrin.h>
#define M3_AVX512F __attribute__((target("avx512f,fma")))
#define M3_AVX512BF16 __attribute__((target("avx512f,avx512bf16,fma")))

static int cpu_bf16 = -1;
static int has_avx512bf16(void) {
    if (cpu_bf16 < 0) {
        __builtin_cpu_init();
        cpu_bf16 = __builtin_cpu_supports("avx512bf16") ? 1 : 0;
    }
    return cpu_bf16;
}

/// Stores 16 outputs of one token (bias added), the last block's lanes past `outputs` left alone.
M3_AVX512F static inline void store_block(float *o, __m512 acc, const float *bias, int j, int outputs) {
    const __mmask16 m = outputs - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (outputs - j)) - 1);
    if (bias) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, bias + j));
    _mm512_mask_storeu_ps(o + j, m, acc);
}

/// One dot-pair step on 16 lanes without VDPBF16PS: the same two rounded sums of exact products.
M3_AVX512F static inline __m512 dp_emulated(__m512 acc, __m512i xpair, __m512i wv) {
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    acc = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(xpair, high)), _mm512_castsi512_ps(_mm512_and_si512(wv, high)), acc);
    return _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(xpair, 16)), _mm512_castsi512_ps(_mm512_slli_epi32(wv, 16)), acc);
}

// The tile: 4 tokens x 4 blocks of 16 outputs = 16 accumulators; per input pair 4 weight loads
// and 4 broadcasts feed 16 dot-pair steps. Leftover tokens and blocks take the same loop with
// fewer rows or columns (the compiler unrolls each shape).
#define M3_BF16_TILE(NAME, TARGET, STEP)                                                                              \
    TARGET static inline void NAME##_tile(const uint32_t *x, int rows, int pairs, const uint16_t *w, int b, int cols, \
                                          int outputs, const float *bias, float *out, int out_stride) {               \
        __m512 acc[4][4];                                                                                             \
        for (int t = 0; t < 4; t++)                                                                                   \
            for (int c = 0; c < 4; c++) acc[t][c] = _mm512_setzero_ps();                                              \
        const uint16_t *wb = w + (size_t)b * pairs * 32;                                                              \
        const size_t block = (size_t)pairs * 32;                                                                      \
        for (int p = 0; p < pairs; p++) {                                                                             \
            __m512i wv[4];                                                                                            \
            for (int c = 0; c < cols; c++) wv[c] = _mm512_loadu_si512((const void *)(wb + c * block + (size_t)p * 32)); \
            for (int t = 0; t < rows; t++) {                                                                          \
                const __m512i xp = _mm512_set1_epi32((int)x[(size_t)t * pairs + p]);                                 \
                for (int c = 0; c < cols; c++) acc[t][c] = STEP(acc[t][c], xp, wv[c]);                                \
            }                                                                                                         \
        }                                                                                                             \
        for (int t = 0; t < rows; t++)                                                                                \
            for (int c = 0; c < cols; c++)                                                                            \
                store_block(out + (size_t)t * out_stride, acc[t][c], bias, (b + c) * 16, outputs);                   \
    }                                                                                                                 \
    TARGET static void NAME(const uint32_t *x, int n, int pairs, const uint16_t *w, int outputs, int b0, int b1,     \
                            const float *bias, float *out, int out_stride) {                                         \
        for (int i = 0; i < n; i += 4) {                                                                              \
            const int rows = n - i < 4 ? n - i : 4;                                                                   \
            for (int b = b0; b < b1; b += 4) {                                                                        \
                const int cols = b1 - b < 4 ? b1 - b : 4;                                                             \
                if (rows == 4 && cols == 4)                                                                           \
                    NAME##_tile(x + (size_t)i * pairs, 4, pairs, w, b, 4, outputs, bias, out + (size_t)i * out_stride, out_stride); \
                else                                                                                                  \
                    NAME##_tile(x + (size_t)i * pairs, rows, pairs, w, b, cols, outputs, bias, out + (size_t)i * out_stride, out_stride); \
            }                                                                                                         \
        }                                                                                                             \
    }

M3_AVX512BF16 static inline __m512 dp_native(__m512 acc, __m512i xpair, __m512i wv) {
    return _mm512_dpbf16_ps(acc, (__m512bh)xpair, (__m512bh)wv);
}

M3_BF16_TILE(bf16_matmul_native, M3_AVX512BF16, dp_native)
M3_BF16_TILE(bf16_matmul_emulated, M3_AVX512F, dp_emulated)

/// bf16_of on 16 floats at once (the same bits).
M3_AVX512F static inline __m256i bf16_of_16(__m512 f) {
    const __m512i u = _mm512_castps_si512(f);
    const __mmask16 tiny = _mm512_cmpeq_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7f800000)), _mm512_setzero_si512());
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)), 16);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
    r = _mm512_mask_mov_epi32(r, tiny, _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x8000)));
    return _mm512_cvtepi32_epi16(r);
}

/// A row of even length: its pairs are its bfloat16 values in order.
M3_AVX512F static void bf16_row_avx512(const float *x, int k, uint16_t *out) {
    int d = 0;
    for (; d + 16 <= k; d += 16) _mm256_storeu_si256((__m256i *)(out + d), bf16_of_16(_mm512_loadu_ps(x + d)));
    for (; d < k; d++) out[d] = bf16_of(x[d]);
}

M3_AVX512F static void gelu_avx512(float *v, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 a = _mm512_loadu_ps(v + i);
        const __m512 x = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(a, _mm512_set1_ps(0.70710678118654752f)), _mm512_set1_ps(-4.0f)),
                                       _mm512_set1_ps(4.0f));
        const __m512 x2 = _mm512_mul_ps(x, x);
        __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(erf_p[0]), _mm512_set1_ps(erf_p[1]));
        for (int c = 2; c < 7; c++) p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(erf_p[c]));
        p = _mm512_mul_ps(x, p);
        __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(erf_q[0]), _mm512_set1_ps(erf_q[1]));
        for (int c = 2; c < 5; c++) q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(erf_q[c]));
        const __m512 erf = _mm512_div_ps(p, q);
        _mm512_storeu_ps(v + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), a), _mm512_add_ps(_mm512_set1_ps(1.0f), erf)));
    }
    gelu_scalar(v + i, n - i);
}

#define M3_AVX2_FMA __attribute__((target("avx2,fma")))

/// The dot-pair step on 8 lanes (AVX2): the same two rounded sums as VDPBF16PS.
M3_AVX2_FMA static inline __m256 dp_avx2(__m256 acc, __m256i xpair, __m256i wv) {
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(xpair, high)), _mm256_castsi256_ps(_mm256_and_si256(wv, high)), acc);
    return _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(xpair, 16)), _mm256_castsi256_ps(_mm256_slli_epi32(wv, 16)), acc);
}

/// 8 outputs of one token (bias added), lanes past `outputs` left alone.
M3_AVX2_FMA static inline void store_half(float *o, __m256 acc, const float *bias, int j, int outputs) {
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    for (int l = 0; l < 8 && j + l < outputs; l++) o[j + l] = lanes[l] + (bias ? bias[j + l] : 0.0f);
}

/// AVX2 machines (no AVX-512): 4 tokens x one block of 16 outputs (two 8-lane halves) per tile.
M3_AVX2_FMA static void bf16_matmul_avx2(const uint32_t *x, int n, int pairs, const uint16_t *w, int outputs, int b0, int b1,
                                         const float *bias, float *out, int out_stride) {
    for (int i = 0; i < n; i += 4) {
        const int rows = n - i < 4 ? n - i : 4;
        for (int b = b0; b < b1; b++) {
            const uint16_t *wb = w + (size_t)b * pairs * 32;
            __m256 acc[4][2];
            for (int t = 0; t < 4; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
            for (int p = 0; p < pairs; p++) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wb + (size_t)p * 32));
                const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wb + (size_t)p * 32 + 16));
                for (int t = 0; t < rows; t++) {
                    const __m256i xp = _mm256_set1_epi32((int)x[(size_t)(i + t) * pairs + p]);
                    acc[t][0] = dp_avx2(acc[t][0], xp, w0);
                    acc[t][1] = dp_avx2(acc[t][1], xp, w1);
                }
            }
            for (int t = 0; t < rows; t++) {
                float *o = out + (size_t)(i + t) * out_stride;
                store_half(o, acc[t][0], bias, b * 16, outputs);
                store_half(o, acc[t][1], bias, b * 16 + 8, outputs);
            }
        }
    }
}

M3_AVX2_FMA static void gelu_avx2(float *v, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_loadu_ps(v + i);
        const __m256 x = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(a, _mm256_set1_ps(0.70710678118654752f)), _mm256_set1_ps(-4.0f)),
                                       _mm256_set1_ps(4.0f));
        const __m256 x2 = _mm256_mul_ps(x, x);
        __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(erf_p[0]), _mm256_set1_ps(erf_p[1]));
        for (int c = 2; c < 7; c++) p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(erf_p[c]));
        p = _mm256_mul_ps(x, p);
        __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(erf_q[0]), _mm256_set1_ps(erf_q[1]));
        for (int c = 2; c < 5; c++) q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(erf_q[c]));
        const __m256 erf = _mm256_div_ps(p, q);
        _mm256_storeu_ps(v + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), a), _mm256_add_ps(_mm256_set1_ps(1.0f), erf)));
    }
    gelu_scalar(v + i, n - i);
}
#endif

static int path_limit = 3;

void m3_bf16_matmul_limit_path(int path) { path_limit = path; }

void m3_f32_to_bf16_pairs(const float *x, int rows, int k, uint32_t *out) {
    const int pairs = (k + 1) / 2;
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * k;
        uint32_t *oi = out + (size_t)i * pairs;
#if defined(M3_HAVE_X86)
        if (k % 2 == 0 && m3_kernels_level() >= M3_LEVEL_AVX512) {
            bf16_row_avx512(xi, k, (uint16_t *)oi);
            continue;
        }
#endif
        for (int p = 0; p < pairs; p++) {
            const uint16_t even = bf16_of(xi[2 * p]);
            const uint16_t odd = 2 * p + 1 < k ? bf16_of(xi[2 * p + 1]) : 0;
            oi[p] = (uint32_t)even | ((uint32_t)odd << 16);
        }
    }
}

int m3_bf16_matmul_path(void) {
    int path = 0;
#if defined(M3_HAVE_X86)
    if (m3_kernels_level() >= M3_LEVEL_AVX512) path = has_avx512bf16() ? 3 : 2;
    else if (m3_kernels_use_avx2()) path = 1;
#endif
    return path < path_limit ? path : path_limit;
}

void m3_bf16_matmul(const uint32_t *x, int n, int pairs, const uint16_t *w, int outputs, int b0, int b1,
                    const float *bias, float *out, int out_stride) {
#if defined(M3_HAVE_X86)
    switch (m3_bf16_matmul_path()) {
    case 3: bf16_matmul_native(x, n, pairs, w, outputs, b0, b1, bias, out, out_stride); return;
    case 2: bf16_matmul_emulated(x, n, pairs, w, outputs, b0, b1, bias, out, out_stride); return;
    case 1: bf16_matmul_avx2(x, n, pairs, w, outputs, b0, b1, bias, out, out_stride); return;
    default: break;
    }
#endif
    bf16_matmul_scalar(x, n, pairs, w, outputs, b0, b1, bias, out, out_stride);
}

void m3_gelu_erf(float *v, size_t n) {
#if defined(M3_HAVE_X86)
    if (m3_kernels_level() >= M3_LEVEL_AVX512) {
        gelu_avx512(v, n);
        return;
    }
    if (m3_kernels_use_avx2()) {
        gelu_avx2(v, n);
        return;
    }
#endif
    gelu_scalar(v, n);
}
