// One prefill pass over SmolLM2-sized packed weights (LAYERS layers of Q4_1 q/k/v/o/gate/up/down,
// random values) for TOKENS tokens on one thread: the multi-token packed kernel's speed alone,
// without the model's other work or the worker pool. Built and run by scripts/prefill-kernel.sh,
// which compares two versions of Sources/CKernels alternately.
//   prefill-pass [layers=2] [tokens=512] [reps=5]
#include "CKernels.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { int rows, cols; void *packed; } Matrix;

// The packed size is asked of whichever API the kernels being measured have (rows in panels of
// 16 since b4b6b4a, whole rows before), so the harness builds against either.
size_t m3_packed_bytes(int type, int rows, int blocks) __attribute__((weak));
size_t m3_packed_row_bytes(int type, int blocks) __attribute__((weak));
static size_t packed_size(int type, int rows, int blocks) {
    return m3_packed_bytes ? m3_packed_bytes(type, rows, blocks) : m3_packed_row_bytes(type, blocks) * (size_t)rows;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const int layers = argc > 1 ? atoi(argv[1]) : 2, tokens = argc > 2 ? atoi(argv[2]) : 512;
    const int reps = argc > 3 ? atoi(argv[3]) : 5;
    const int type = 3; // Q4_1
    const int shapes[7][2] = {{576, 576}, {192, 576}, {192, 576}, {576, 576}, {1536, 576}, {1536, 576}, {576, 1536}};
    Matrix *ms = malloc(sizeof(Matrix) * 7 * (size_t)layers);
    int count = 0;
    double macs = 0;
    srand(1);
    for (int l = 0; l < layers; l++) {
        for (int s = 0; s < 7; s++) {
            const int rows = shapes[s][0], cols = shapes[s][1], blocks = cols / 32;
            const size_t raw_row = (size_t)blocks * 20;
            uint8_t *w = malloc(raw_row * rows);
            for (size_t i = 0; i < raw_row * rows; i++) w[i] = (uint8_t)rand();
            for (int r = 0; r < rows; r++) {
                for (int b = 0; b < blocks; b++) {
                    const uint16_t d = 0x2000 + (rand() & 0x3ff), m = 0xa000 + (rand() & 0x3ff);
                    memcpy(w + r * raw_row + b * 20, &d, 2);
                    memcpy(w + r * raw_row + b * 20 + 2, &m, 2);
                }
            }
            const size_t bytes = packed_size(type, rows, blocks);
            void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
            if (!m3_pack_rows(type, w, raw_row, rows, blocks, p)) { printf("pack failed\n"); return 1; }
            free(w);
            ms[count++] = (Matrix){rows, cols, p};
            macs += (double)rows * cols * tokens;
        }
    }
    // Activations for every width (576 and 1536 columns), quantized as the model does.
    const int max_blocks = 48;
    float *x = malloc(sizeof(float) * 1536 * (size_t)tokens);
    for (size_t i = 0; i < 1536 * (size_t)tokens; i++) x[i] = (float)(rand() % 2000 - 1000) / 500.0f;
    m3_block_q8 *blocks = malloc(sizeof(m3_block_q8) * max_blocks * (size_t)tokens);
    int8_t *q = malloc(32 * (size_t)max_blocks * tokens);
    float *d = malloc(sizeof(float) * max_blocks * (size_t)tokens), *s = malloc(sizeof(float) * max_blocks * (size_t)tokens);
    int32_t *sums = malloc(sizeof(int32_t) * max_blocks * (size_t)tokens);
    // (Kernels before the integer code sums have a 3-field m3_q8_rows: the fourth is then ignored.)
    m3_q8_rows xr576 = {q, d, s, sums}, xr1536 = {q, d, s, sums};
    float *y = malloc(sizeof(float) * 1536 * (size_t)tokens);
    double checksum = 0, best = 1e9;
    for (int rep = 0; rep < reps; rep++) {
        double spent = 0;
        for (int i = 0; i < count; i++) {
            const int nb = ms[i].cols / 32;
            m3_quantize_q8(x, ms[i].cols * tokens, blocks);
            m3_split_q8(blocks, nb * tokens, nb == 18 ? xr576 : xr1536);
            const double t = now();
            m3_matmul_packed(type, ms[i].packed, nb, 0, ms[i].rows, nb == 18 ? xr576 : xr1536, tokens, y, ms[i].rows);
            spent += now() - t;
            if (rep == 0) for (int k = 0; k < ms[i].rows * tokens; k += 97) checksum += y[k];
        }
        if (spent < best) best = spent;
    }
    printf("%.1f ms per %d-token pass over %d layers, %.1f GMAC/s; checksum %.6g\n", best * 1e3, tokens, layers, macs / best / 1e9, checksum);
    return 0;
}
