// AVX2/FMA/F16C kernels, compiled for those features function by function so the target itself
// builds for any x86-64 and the dispatcher picks them only on CPUs that have them.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>
#include <math.h>

#define M3_AVX2 __attribute__((target("avx2,fma,f16c")))

/// Sum of products of unsigned bytes `a` and signed bytes `b`, as 8 float lanes.
M3_AVX2 static inline __m256 dot_u8_i8(__m256i a, __m256i b) {
    const __m256i pairs = _mm256_maddubs_epi16(a, b);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

M3_AVX2 void m3_quantize_q8_avx2(const float *x, int n, m3_block_q8 *out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < n / 32; b++) {
        const float *v = x + b * 32;
        __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
        __m256 v2 = _mm256_loadu_ps(v + 16), v3 = _mm256_loadu_ps(v + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
#define rounding (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), rounding));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), rounding));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), rounding));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), rounding));
        __m256i total = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        // Pack 32-bit -> 16-bit -> 8-bit; packs work per 128-bit lane, so fix the order after.
        __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
#undef rounding
        _mm256_storeu_si256((__m256i *)out[b].q, p);
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
        t = _mm_hadd_epi32(t, t);
        t = _mm_hadd_epi32(t, t);
        const float d16 = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        out[b].d = d16;
        out[b].s = d16 * (float)_mm_cvtsi128_si32(t);
    }
}

#define M3_TARGET M3_AVX2
#define M3_SUFFIX(name) name##_avx2
#define M3_DOT_U8_I8 dot_u8_i8
#include "kernels_q4q8_body.h"
#undef M3_TARGET
#undef M3_SUFFIX
#undef M3_DOT_U8_I8

M3_AVX2 void m3_vec_dot4_avx2(int type, const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    switch (type) {
    case M3_TYPE_Q2_K: m3_vec_dot4_q2_K_avx2(row, xs, count, blocks, out); return;
    case M3_TYPE_Q3_K: m3_vec_dot4_q3_K_avx2(row, xs, count, blocks, out); return;
    case M3_TYPE_Q4_K: m3_vec_dot4_q4_K_avx2(row, xs, count, blocks, out); return;
    case M3_TYPE_Q5_K: m3_vec_dot4_q5_K_avx2(row, xs, count, blocks, out); return;
    case M3_TYPE_Q6_K: m3_vec_dot4_q6_K_avx2(row, xs, count, blocks, out); return;
    default: m3_vec_dot_small_avx2(type, row, xs, count, blocks, out); return;
    }
}
#endif
