// SwiGLU (Llama, Qwen): gate <- silu(gate) * up, silu(x) = x / (1 + e^-x). With libm's expf per
// element it was ~5% of a SmolLM2 decode step (1,536 elements a layer, too few to split across
// threads; `memory3 bench --profile`). The vector paths compute it as GGML's vector SiLU does,
// x / (1 + e^-x) with a polynomial e^x (kernels_exp.h; 0 below x = -88, past its clamp). Measured
// against llama.cpp (RealModelAgreementTests, SmolLM2 teacher-forced perplexity, llama.cpp 16.4818):
// expf in Swift 16.4846; this form 16.4622; x * (1 or e^-|x|) / (1 + e^-|x|), as close to the exact
// value per element (< 1e-6 relative, checked element by element in the model), 16.584 and a greedy
// first token flipped where llama.cpp's top-2 gap is >= 0.3. The down projection rounds its input
// to int8 blocks, so a different rounding of every element is a different quantization noise.
#include "kernels_internal.h"
#include "kernels_exp.h"

#include <math.h>

static void swiglu_scalar(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

#if defined(M3_HAVE_X86)
__attribute__((target("avx2,fma"))) static size_t swiglu_avx2(float *gate, const float *up, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), low = _mm256_set1_ps(-88.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, m3_exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        silu = _mm256_andnot_ps(_mm256_cmp_ps(g, low, _CMP_LT_OQ), silu);  // e^-g past the clamp: silu is 0
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    return i;
}

__attribute__((target("avx512f,fma"))) static size_t swiglu_avx512(float *gate, const float *up, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), low = _mm512_set1_ps(-88.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __mmask16 kept = _mm512_cmp_ps_mask(g, low, _CMP_NLT_UQ);  // below -88 silu is 0 (NaN kept)
        const __m512 silu = _mm512_maskz_div_ps(kept, g, _mm512_add_ps(one, m3_exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(silu, _mm512_loadu_ps(up + i)));
    }
    return i;
}
#endif

void m3_swiglu(float *gate, const float *up, size_t n) {
    size_t i = 0;
#if defined(M3_HAVE_X86)
    if (m3_kernels_level() >= M3_LEVEL_AVX512) i = swiglu_avx512(gate, up, n);
    else if (m3_kernels_use_avx2()) i = swiglu_avx2(gate, up, n);
#endif
    swiglu_scalar(gate + i, up + i, n - i);
}
