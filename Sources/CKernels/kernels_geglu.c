// GeGLU through a table of GELU over every fp16 value: GGML's CPU backend evaluates GELU from
// such a table (input rounded to fp16, result stored as fp16), so a lookup gives its numbers
// exactly, for a fraction of a tanhf per element.
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX2 __attribute__((target("avx2,fma,f16c")))

M3_AVX2 static size_t geglu_avx2(float *gate, const float *up, size_t n, const float *table) {
    const __m256 low = _mm256_set1_ps(-10.0f), high = _mm256_set1_ps(10.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        const __m256i bits = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
        __m256 gelu = _mm256_i32gather_ps(table, bits, 4);
        // Past +-10 GELU is the identity / zero, taken from x itself (not its fp16 rounding).
        gelu = _mm256_blendv_ps(gelu, x, _mm256_cmp_ps(x, high, _CMP_GE_OQ));
        gelu = _mm256_blendv_ps(gelu, _mm256_setzero_ps(), _mm256_cmp_ps(x, low, _CMP_LE_OQ));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(gelu, _mm256_loadu_ps(up + i)));
    }
    return i;
}
#endif

void m3_geglu_fp16_table(float *gate, const float *up, size_t n, const float *table) {
    size_t i = 0;
#if defined(M3_HAVE_X86)
    if (m3_kernels_use_avx2()) i = geglu_avx2(gate, up, n, table);
#endif
    for (; i < n; i++) {
        const float x = gate[i];
        const float gelu = x <= -10.0f ? 0.0f : x >= 10.0f ? x : table[m3_fp32_to_fp16_scalar(x)];
        gate[i] = gelu * up[i];
    }
}
