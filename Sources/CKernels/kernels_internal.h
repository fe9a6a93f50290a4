#ifndef MEMORY3_KERNELS_INTERNAL_H
#define MEMORY3_KERNELS_INTERNAL_H

#include "include/CKernels.h"

#include <string.h>

float m3_fp16_to_fp32(uint16_t h);
float m3_round_to_fp16(float x);

void m3_quantize_q8_scalar(const float *x, int n, m3_block_q8 *out);
float m3_vec_dot_scalar(int type, const void *row, const m3_block_q8 *x, int blocks);

void m3_attention_scores_scalar(const float *q, const float *keys, int count, int dim, float scale, float bias, float *out);
void m3_attention_accumulate_scalar(const float *weights, const float *values, int count, int dim, float *out);

#if defined(__x86_64__)
#define M3_HAVE_X86 1
void m3_quantize_q8_avx2(const float *x, int n, m3_block_q8 *out);
/// Dots one weight row with up to 4 activation rows (`count`), writing out[0..count).
void m3_vec_dot4_avx2(int type, const void *row, const m3_block_q8 *const *xs, int count, int blocks, float *out);
void m3_attention_scores_avx2(const float *q, const float *keys, int count, int dim, float scale, float bias, float *out);
void m3_attention_accumulate_avx2(const float *weights, const float *values, int count, int dim, float *out);
#endif

#endif
