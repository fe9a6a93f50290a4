#!/usr/bin/env bash
# The decode kernels' prefetch distance (M3_DECODE_PREFETCH_BYTES, Sources/CKernels/kernels_internal.h),
# measured: scripts/decode-pass.c built against the C kernels with each distance, run alternately.
#   scripts/prefetch-distance.sh [distances...]     (default: 0 2048 4096 8192; 0 = the line being read)
set -euo pipefail
cd "$(dirname "$0")/.."
src=Sources/CKernels out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
distances=("${@:-0 2048 4096 8192}")
read -r -a distances <<< "${distances[*]}"
for d in "${distances[@]}"; do
    cc -O3 -pthread -DM3_DECODE_PREFETCH_BYTES="$d" -I"$src/include" -I"$src" scripts/decode-pass.c "$src"/*.c -lm -o "$out/pass$d"
done
for round in 1 2; do
    for d in "${distances[@]}"; do
        echo "distance $d: $(OUT=1 "$out/pass$d" 30 | tr '\n' ' ')"
    done
done
