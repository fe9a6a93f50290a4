#!/usr/bin/env bash
# The multi-token packed kernel (prefill) of two versions of Sources/CKernels, run alternately on
# one thread: scripts/prefill-pass.c built against each.
#   scripts/prefill-kernel.sh [REV=HEAD] [rounds=3]   (REV's kernels vs the working tree's)
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD} rounds=${2:-3} out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/src-base"
git archive "$rev" Sources/CKernels | tar -x -C "$out/src-base"
for side in base work; do
    src=Sources/CKernels
    [ "$side" = base ] && src="$out/src-base/Sources/CKernels"
    cc -O3 -I"$src/include" -I"$src" scripts/prefill-pass.c "$src"/*.c -lm -o "$out/$side"
done
for round in $(seq "$rounds"); do
    for side in base work; do echo "$side ($rev if base): $("$out/$side" 2 512 5)"; done
done
