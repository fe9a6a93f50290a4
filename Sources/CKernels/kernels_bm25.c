// The BM25 candidate pass of the in-memory search index (MemoryStore's LexicalIndex): term at a
// time, each posting adds its part to its reference's cell. Why in C: at 1M references the cells
// are 8 MB, and a term's postings land on them in a scattered order; `perf annotate` of the Swift
// loop put 52% of its samples on the load of a cell and 30% on the load of each touched cell's sum
// in the top-k pass after it, i.e. waiting on memory one posting at a time. Here each load is asked
// for M3_BM25_AHEAD postings earlier. The arithmetic is the Swift loop's, operation for operation
// (no contraction: a product divided then added), so the candidates and their order are the same.
#include "kernels_internal.h"

#pragma STDC FP_CONTRACT OFF

/// Postings ahead whose cells are asked for: a posting costs a few nanoseconds when its cell is
/// at hand, a memory latency (~100 ns) when it is not.
#define M3_BM25_AHEAD 16

size_t m3_bm25_accumulate(const uint32_t *slots, const uint16_t *counts, size_t n, float weight, float *cells,
                          uint32_t *touched, size_t touched_count) {
    for (size_t j = 0; j < n; j++) {
        if (j + M3_BM25_AHEAD < n) __builtin_prefetch(cells + 2 * (size_t)slots[j + M3_BM25_AHEAD], 1, 3);
        const size_t slot = slots[j];
        const float tf = (float)counts[j];
        float *cell = cells + 2 * slot;
        const float x = cell[0];
        if (x == 0.0f) touched[touched_count++] = (uint32_t)slot;
        const float part = weight * tf / (tf + cell[1]);
        cell[0] = x + part;
    }
    return touched_count;
}

void m3_bm25_collect(float *cells, const uint32_t *touched, size_t count, float *sums) {
    for (size_t i = 0; i < count; i++) {
        if (i + M3_BM25_AHEAD < count) __builtin_prefetch(cells + 2 * (size_t)touched[i + M3_BM25_AHEAD], 1, 3);
        float *cell = cells + 2 * (size_t)touched[i];
        sums[i] = cell[0];
        cell[0] = 0.0f;
    }
}
