// Dense float and small-integer vector kernels for the sentence encoder and the embedding index:
// a float matrix product against row-major weights (BERT's linear layers), int8 dot products of
// one query against many stored rows (the exact scan) and Hamming distances over sign bits (the
// binary prefilter). Scalar reference + AVX-512 path, picked at run time like the other kernels.
//
// Every output is computed with the same order of operations whatever the batch it is part of:
// one 16-lane accumulator per (token, weight row) and the same horizontal sum, so an embedding does
// not depend on how many texts were encoded together.
#include "kernels_internal.h"

#include <math.h>

#if defined(M3_HAVE_X86)
#include <immintrin.h>
#define M3_AVX512_DENSE __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,fma")))
static int has_vpopcnt = -1;
static int dense_avx512(void) {
    if (has_vpopcnt < 0) {
        __builtin_cpu_init();
        has_vpopcnt = __builtin_cpu_supports("avx512vpopcntdq") ? 1 : 0;
    }
    return m3_kernels_level() >= M3_LEVEL_AVX512;
}
#endif

static void matmul_nt_scalar(const float *x, int n, int k, const float *w, int j0, int j1, const float *bias, float *out, int out_stride) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * k;
        for (int j = j0; j < j1; j++) {
            const float *wj = w + (size_t)j * k;
            float lanes[16] = {0};
            int kk = 0;
            for (; kk + 16 <= k; kk += 16)
                for (int l = 0; l < 16; l++) lanes[l] = fmaf(xi[kk + l], wj[kk + l], lanes[l]);
            for (int l = 0; kk + l < k; l++) lanes[l] = fmaf(xi[kk + l], wj[kk + l], lanes[l]);
            float sum = 0;
            for (int l = 0; l < 16; l++) sum += lanes[l];
            out[(size_t)i * out_stride + j] = sum + (bias ? bias[j] : 0.0f);
        }
    }
}

static void hamming_rows_scalar(const uint64_t *query, const uint64_t *rows, int count, int words, uint16_t *out) {
    for (int r = 0; r < count; r++) {
        const uint64_t *row = rows + (size_t)r * words;
        int bits = 0;
        for (int w = 0; w < words; w++) bits += __builtin_popcountll(query[w] ^ row[w]);
        out[r] = (uint16_t)bits;
    }
}

#if defined(M3_HAVE_X86)
M3_AVX512_DENSE static inline __m512 load_part(const float *p, int kk, int k) {
    const int left = k - kk;
    return left >= 16 ? _mm512_loadu_ps(p + kk) : _mm512_maskz_loadu_ps((__mmask16)((1u << left) - 1), p + kk);
}

M3_AVX512_DENSE static void matmul_nt_avx512(const float *x, int n, int k, const float *w, int j0, int j1, const float *bias, float *out, int out_stride) {
    int i = 0;
    // Four tokens against four weight rows per pass: 8 loads feed 16 multiply-adds (one row at a
    // time, 5 loads fed 4 and the loads bound the kernel). Each output still has its own
    // accumulator over k in order and the same horizontal sum: the same bits as one row at a time.
    for (; i + 4 <= n; i += 4) {
        const float *x0 = x + (size_t)i * k, *x1 = x0 + k, *x2 = x1 + k, *x3 = x2 + k;
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            const float *w0 = w + (size_t)j * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
            __m512 a[4][4];
            for (int t = 0; t < 4; t++)
                for (int r = 0; r < 4; r++) a[t][r] = _mm512_setzero_ps();
            for (int kk = 0; kk < k; kk += 16) {
                const __m512 wv[4] = {load_part(w0, kk, k), load_part(w1, kk, k), load_part(w2, kk, k), load_part(w3, kk, k)};
                const __m512 xv[4] = {load_part(x0, kk, k), load_part(x1, kk, k), load_part(x2, kk, k), load_part(x3, kk, k)};
                for (int t = 0; t < 4; t++)
                    for (int r = 0; r < 4; r++) a[t][r] = _mm512_fmadd_ps(xv[t], wv[r], a[t][r]);
            }
            for (int t = 0; t < 4; t++)
                for (int r = 0; r < 4; r++)
                    out[(size_t)(i + t) * out_stride + j + r] = _mm512_reduce_add_ps(a[t][r]) + (bias ? bias[j + r] : 0.0f);
        }
        for (; j < j1; j++) {
            const float *wj = w + (size_t)j * k;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int kk = 0; kk < k; kk += 16) {
                const __m512 wv = load_part(wj, kk, k);
                a0 = _mm512_fmadd_ps(load_part(x0, kk, k), wv, a0);
                a1 = _mm512_fmadd_ps(load_part(x1, kk, k), wv, a1);
                a2 = _mm512_fmadd_ps(load_part(x2, kk, k), wv, a2);
                a3 = _mm512_fmadd_ps(load_part(x3, kk, k), wv, a3);
            }
            const float b = bias ? bias[j] : 0.0f;
            out[(size_t)i * out_stride + j] = _mm512_reduce_add_ps(a0) + b;
            out[(size_t)(i + 1) * out_stride + j] = _mm512_reduce_add_ps(a1) + b;
            out[(size_t)(i + 2) * out_stride + j] = _mm512_reduce_add_ps(a2) + b;
            out[(size_t)(i + 3) * out_stride + j] = _mm512_reduce_add_ps(a3) + b;
        }
    }
    for (; i < n; i++) {
        const float *xi = x + (size_t)i * k;
        for (int j = j0; j < j1; j++) {
            const float *wj = w + (size_t)j * k;
            __m512 a = _mm512_setzero_ps();
            for (int kk = 0; kk < k; kk += 16) a = _mm512_fmadd_ps(load_part(xi, kk, k), load_part(wj, kk, k), a);
            out[(size_t)i * out_stride + j] = _mm512_reduce_add_ps(a) + (bias ? bias[j] : 0.0f);
        }
    }
}

M3_AVX512_DENSE static void i8_dot_rows_avx512(const int8_t *query, const int8_t *rows, int count, int dim, int32_t *out) {
    for (int r = 0; r < count; r++) {
        const int8_t *row = rows + (size_t)r * dim;
        __m512i acc = _mm512_setzero_si512();
        int d = 0;
        for (; d + 32 <= dim; d += 32) {
            const __m512i q = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(query + d)));
            const __m512i v = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(row + d)));
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(q, v));
        }
        int32_t sum = _mm512_reduce_add_epi32(acc);
        for (; d < dim; d++) sum += (int32_t)query[d] * row[d];
        out[r] = sum;
    }
}

M3_AVX512_DENSE static void hamming_rows_avx512(const uint64_t *query, const uint64_t *rows, int count, int words, uint16_t *out) {
    if (words == 6 && has_vpopcnt) {
        // 384-bit codes (MiniLM's width): one masked 512-bit load per row.
        const __m512i q = _mm512_maskz_loadu_epi64(0x3f, query);
        for (int r = 0; r < count; r++) {
            const __m512i v = _mm512_maskz_loadu_epi64(0x3f, rows + (size_t)r * 6);
            out[r] = (uint16_t)_mm512_reduce_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(q, v)));
        }
        return;
    }
    hamming_rows_scalar(query, rows, count, words, out);
}
#endif

void m3_f32_matmul_nt(const float *x, int n, int k, const float *w, int j0, int j1, const float *bias, float *out, int out_stride) {
#if defined(M3_HAVE_X86)
    if (dense_avx512()) {
        matmul_nt_avx512(x, n, k, w, j0, j1, bias, out, out_stride);
        return;
    }
#endif
    matmul_nt_scalar(x, n, k, w, j0, j1, bias, out, out_stride);
}

void m3_i8_dot_rows(const int8_t *query, const int8_t *rows, int count, int dim, int32_t *out) {
#if defined(M3_HAVE_X86)
    if (dense_avx512()) {
        i8_dot_rows_avx512(query, rows, count, dim, out);
        return;
    }
#endif
    for (int r = 0; r < count; r++) {
        const int8_t *row = rows + (size_t)r * dim;
        int32_t sum = 0;
        for (int d = 0; d < dim; d++) sum += (int32_t)query[d] * row[d];
        out[r] = sum;
    }
}

void m3_hamming_rows(const uint64_t *query, const uint64_t *rows, int count, int words, uint16_t *out) {
#if defined(M3_HAVE_X86)
    if (dense_avx512()) {
        hamming_rows_avx512(query, rows, count, words, out);
        return;
    }
#endif
    hamming_rows_scalar(query, rows, count, words, out);
}

/// Bins the partial counts of m3_u16_histogram hold on the stack (4 x 4 KB); wider histograms
/// (codes of more than 1,023 bits) are counted straight into `counts`.
#define M3_HISTOGRAM_PARTIAL_BINS 1024

void m3_u16_histogram(const uint16_t *values, size_t n, uint32_t *counts, int bins) {
    if (bins > M3_HISTOGRAM_PARTIAL_BINS) {
        for (size_t i = 0; i < n; i++) counts[values[i]]++;
        return;
    }
    // Four partial counts, so that values that repeat (most distances are near half the bits) do
    // not wait on each other's increments.
    uint32_t partial[4][M3_HISTOGRAM_PARTIAL_BINS];
    memset(partial, 0, sizeof(partial));
    uint32_t *p0 = partial[0], *p1 = partial[1], *p2 = partial[2], *p3 = partial[3];
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        p0[values[i]]++;
        p1[values[i + 1]]++;
        p2[values[i + 2]]++;
        p3[values[i + 3]]++;
    }
    for (; i < n; i++) p0[values[i]]++;
    for (int b = 0; b < bins; b++) counts[b] += p0[b] + p1[b] + p2[b] + p3[b];
}

#if defined(M3_HAVE_X86)
__attribute__((target("avx512f,avx512bw,avx512vl"))) static size_t indices_at_most_avx512(const uint16_t *values, size_t n, uint16_t cutoff, uint32_t *out) {
    const __m512i limit = _mm512_set1_epi32(cutoff), step = _mm512_set1_epi32(16);
    __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t kept = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(values + i)));
        const __mmask16 at_most = _mm512_cmple_epu32_mask(v, limit);
        // Few qualify (the prefilter keeps ~0.1-1% of rows): only blocks with one are compressed,
        // and in a register. A compressing store to memory (`vpcompressd m32`, microcoded on AMD
        // Zen 4) in every block made a 1M-vector search ~1 ms slower here (3.6 vs 2.5-2.6 ms p50,
        // bench-retrieval, the histogram counted in the scan in both).
        if (at_most) {
            uint32_t lanes[16];
            _mm512_storeu_si512(lanes, _mm512_maskz_compress_epi32(at_most, index));
            const int found = __builtin_popcount((unsigned)at_most);
            memcpy(out + kept, lanes, (size_t)found * sizeof(uint32_t));
            kept += (size_t)found;
        }
        index = _mm512_add_epi32(index, step);
    }
    for (; i < n; i++) {
        if (values[i] <= cutoff) out[kept++] = (uint32_t)i;
    }
    return kept;
}
#endif

size_t m3_u16_indices_at_most(const uint16_t *values, size_t n, uint16_t cutoff, uint32_t *out) {
#if defined(M3_HAVE_X86)
    if (dense_avx512()) return indices_at_most_avx512(values, n, cutoff, out);
#endif
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (values[i] <= cutoff) out[kept++] = (uint32_t)i;
    }
    return kept;
}
