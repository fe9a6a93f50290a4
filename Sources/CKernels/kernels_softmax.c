// Softmax over attention logits: the exp of every score is a large share of attention time at long
// contexts (measured: ~13% of decode with 5 memories), so the AVX2 version computes 8 exps at once.
#include "kernels_internal.h"

#include <math.h>

void m3_softmax_scalar(float *v, int n) {
    if (n <= 0) return;
    float max = v[0];
    for (int i = 1; i < n; i++) max = v[i] > max ? v[i] : max;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        v[i] = expf(v[i] - max);
        sum += v[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) v[i] *= inv;
}

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_AVX2 __attribute__((target("avx2,fma")))

/// e^x for x <= 0 (softmax inputs after subtracting the max): x = k ln2 + r, |r| <= ln2/2,
/// e^r by a degree-6 polynomial (relative error ~2e-7), 2^k through the exponent bits.
M3_AVX2 static inline __m256 exp_nonpositive(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));  // below this e^x is 0 for our purposes
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.3981999507e-3f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

M3_AVX2 void m3_softmax_avx2(float *v, int n) {
    if (n < 8) {
        m3_softmax_scalar(v, n);
        return;
    }
    __m256 vmax = _mm256_loadu_ps(v);
    int i = 8;
    for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(v + i));
    float lanes[8];
    _mm256_storeu_ps(lanes, vmax);
    float max = lanes[0];
    for (int j = 1; j < 8; j++) max = lanes[j] > max ? lanes[j] : max;
    for (; i < n; i++) max = v[i] > max ? v[i] : max;

    const __m256 m = _mm256_set1_ps(max);
    __m256 vsum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(v + i), m));
        _mm256_storeu_ps(v + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    _mm256_storeu_ps(lanes, vsum);
    float sum = lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
    for (; i < n; i++) {
        v[i] = expf(v[i] - max);
        sum += v[i];
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, _mm256_mul_ps(_mm256_loadu_ps(v + i), inv));
    for (; i < n; i++) v[i] *= 1.0f / sum;
}
#endif

void m3_softmax(float *v, int n) {
#if defined(M3_HAVE_X86)
    if (m3_kernels_use_avx2()) {
        m3_softmax_avx2(v, n);
        return;
    }
#endif
    m3_softmax_scalar(v, n);
}
