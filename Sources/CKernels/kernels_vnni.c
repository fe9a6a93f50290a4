// The Q4_0/Q4_1/Q8_0 kernels again, for CPUs with AVX-VNNI: one vpdpbusd replaces the
// maddubs + madd pair of the AVX2 version (fewer instructions per block, no 16-bit saturation).
#include "kernels_internal.h"

#if defined(M3_HAVE_X86)
#include <immintrin.h>

#define M3_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))

M3_VNNI __attribute__((always_inline)) static inline __m256 dot_u8_i8_vnni(__m256i a, __m256i b) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), a, b));
}

#define M3_TARGET M3_VNNI
#define M3_SUFFIX(name) name##_vnni
#define M3_DOT_U8_I8 dot_u8_i8_vnni
#include "kernels_q4q8_body.h"
#undef M3_TARGET
#undef M3_SUFFIX
#undef M3_DOT_U8_I8
#endif
