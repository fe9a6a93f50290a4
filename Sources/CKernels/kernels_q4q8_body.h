// The Q4_0/Q4_1/Q8_0 dot kernels against 8-bit activation blocks, written once and compiled for
// two instruction sets. The includer defines:
//   M3_TARGET        the function attribute (target features)
//   M3_SUFFIX(name)  the name of each generated function
//   M3_DOT_U8_I8     (a, b) -> __m256: sums of products of unsigned bytes a and signed bytes b,
//                    8 float lanes (AVX2: maddubs + madd; AVX-VNNI: one dpbusd)
// `count` (1-4 tokens) is a constant at every call site after inlining, so the accumulators stay
// in registers; with a runtime count the compiler kept them on the stack (measured: ~30% slower).

M3_TARGET __attribute__((always_inline)) static inline float M3_SUFFIX(half_at)(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

M3_TARGET __attribute__((always_inline)) static inline float M3_SUFFIX(hsum)(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/// 32 nibbles of a Q4 block as bytes: low nibbles (elements 0..15), then high (16..31).
M3_TARGET __attribute__((always_inline)) static inline __m256i M3_SUFFIX(nibbles)(const uint8_t *p) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)p);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

/// The fifth bits of a Q5 block (little-endian 32 bits at p) as 32 bytes: 0xFF where the bit is
/// set, 0 where not (element j's bit is bit j).
M3_TARGET __attribute__((always_inline)) static inline __m256i M3_SUFFIX(fifth_bits)(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
    // Byte k of each 8-byte group keeps bit k (every other bit forced to 1), then all-ones test.
    const __m256i probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1));
}

/// Sum of products of signed bytes, via |a| * (b with a's sign).
M3_TARGET __attribute__((always_inline)) static inline __m256 M3_SUFFIX(dot_i8_i8)(__m256i a, __m256i b) {
    return M3_DOT_U8_I8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

M3_TARGET __attribute__((always_inline)) static inline void M3_SUFFIX(dot_small)(
    int type, const uint8_t *p, const m3_block_q8 *const *xs, const int count, int blocks, float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};  // the Q4_1 min terms (registers once `count` is constant)
    switch (type) {
    case M3_TYPE_Q4_1:
        for (int b = 0; b < blocks; b++, p += 20) {
            const float dw = M3_SUFFIX(half_at)(p), mw = M3_SUFFIX(half_at)(p + 2);
            const __m256i w = M3_SUFFIX(nibbles)(p + 4);
            for (int k = 0; k < count; k++) {
                const m3_block_q8 *x = xs[k] + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x->d), M3_DOT_U8_I8(w, q), acc[k]);
                mins[k] += mw * x->s;
            }
        }
        break;
    case M3_TYPE_Q4_0:
        for (int b = 0; b < blocks; b++, p += 18) {
            const float dw = M3_SUFFIX(half_at)(p);
            const __m256i w = _mm256_sub_epi8(M3_SUFFIX(nibbles)(p + 2), _mm256_set1_epi8(8));
            for (int k = 0; k < count; k++) {
                const m3_block_q8 *x = xs[k] + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x->d), M3_SUFFIX(dot_i8_i8)(w, q), acc[k]);
            }
        }
        break;
    case M3_TYPE_Q8_0:
        for (int b = 0; b < blocks; b++, p += 34) {
            const float dw = M3_SUFFIX(half_at)(p);
            const __m256i w = _mm256_loadu_si256((const __m256i *)(p + 2));
            for (int k = 0; k < count; k++) {
                const m3_block_q8 *x = xs[k] + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x->d), M3_SUFFIX(dot_i8_i8)(w, q), acc[k]);
            }
        }
        break;
    case M3_TYPE_Q5_0:
        for (int b = 0; b < blocks; b++, p += 22) {
            const float dw = M3_SUFFIX(half_at)(p);
            // q - 16 as a signed byte: the nibble, with 0xF0 where the fifth bit is clear.
            const __m256i w = _mm256_or_si256(M3_SUFFIX(nibbles)(p + 6),
                                              _mm256_andnot_si256(M3_SUFFIX(fifth_bits)(p + 2), _mm256_set1_epi8((char)0xF0)));
            for (int k = 0; k < count; k++) {
                const m3_block_q8 *x = xs[k] + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x->d), M3_SUFFIX(dot_i8_i8)(w, q), acc[k]);
            }
        }
        break;
    case M3_TYPE_IQ4_NL: {
        const __m128i table = _mm_loadu_si128((const __m128i *)m3_iq4nl_values);
        const __m256i values = _mm256_set_m128i(table, table);
        for (int b = 0; b < blocks; b++, p += 18) {
            const float dw = M3_SUFFIX(half_at)(p);
            const __m256i w = _mm256_shuffle_epi8(values, M3_SUFFIX(nibbles)(p + 2));
            for (int k = 0; k < count; k++) {
                const m3_block_q8 *x = xs[k] + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x->d), M3_SUFFIX(dot_i8_i8)(w, q), acc[k]);
            }
        }
        break;
    }
    case M3_TYPE_Q5_1:
        for (int b = 0; b < blocks; b++, p += 24) {
            const float dw = M3_SUFFIX(half_at)(p), mw = M3_SUFFIX(half_at)(p + 2);
            const __m256i w = _mm256_or_si256(M3_SUFFIX(nibbles)(p + 8),
                                              _mm256_and_si256(M3_SUFFIX(fifth_bits)(p + 4), _mm256_set1_epi8(0x10)));
            for (int k = 0; k < count; k++) {
                const m3_block_q8 *x = xs[k] + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)x->q);
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x->d), M3_DOT_U8_I8(w, q), acc[k]);
                mins[k] += mw * x->s;
            }
        }
        break;
    default:
        break;
    }
    for (int k = 0; k < count; k++) out[k] = M3_SUFFIX(hsum)(acc[k]) + mins[k];
}

/// One weight row (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 or IQ4_NL) against 1-4 activation rows.
M3_TARGET void M3_SUFFIX(m3_vec_dot_small)(int type, const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out) {
    const uint8_t *p = (const uint8_t *)row;
    switch (count) {
    case 1: M3_SUFFIX(dot_small)(type, p, xs, 1, blocks, out); break;
    case 2: M3_SUFFIX(dot_small)(type, p, xs, 2, blocks, out); break;
    case 3: M3_SUFFIX(dot_small)(type, p, xs, 3, blocks, out); break;
    default: M3_SUFFIX(dot_small)(type, p, xs, 4, blocks, out); break;
    }
}

/// Consecutive weight rows (`row_bytes` apart) against one activation row, the decode case:
/// out[r] for r in [0, row_count). The type is switched on once for all rows, so each row runs
/// the kernel specialised for it; every out[r] equals the one-row kernel's, bit for bit.
M3_TARGET void M3_SUFFIX(m3_vec_dot_small_rows)(int type, const void *rows, size_t row_bytes, int row_count,
                                                const m3_block_q8 *x, int blocks, float *out) {
    const uint8_t *p = (const uint8_t *)rows;
    const m3_block_q8 *xs[1] = {x};
    // Each row's lines a few KB ahead are asked for before its dot (M3_DECODE_PREFETCH_BYTES).
#define M3_ROWS(T) \
    for (int r = 0; r < row_count; r++) { \
        m3_prefetch_lines(p + (size_t)r * row_bytes + M3_DECODE_PREFETCH_BYTES, row_bytes); \
        M3_SUFFIX(dot_small)(T, p + (size_t)r * row_bytes, xs, 1, blocks, out + r); \
    } \
    break
    switch (type) {
    case M3_TYPE_Q4_0: M3_ROWS(M3_TYPE_Q4_0);
    case M3_TYPE_Q4_1: M3_ROWS(M3_TYPE_Q4_1);
    case M3_TYPE_Q5_0: M3_ROWS(M3_TYPE_Q5_0);
    case M3_TYPE_Q5_1: M3_ROWS(M3_TYPE_Q5_1);
    case M3_TYPE_Q8_0: M3_ROWS(M3_TYPE_Q8_0);
    case M3_TYPE_IQ4_NL: M3_ROWS(M3_TYPE_IQ4_NL);
    default: M3_ROWS(type);
    }
#undef M3_ROWS
}
