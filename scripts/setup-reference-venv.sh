#!/usr/bin/env bash
# Makes .venv-ref: llama-cpp-python 0.3.36 (the reference implementation) and the gguf package
# (gguf and numpy pinned: the test fixture models they write must keep the bytes llama.cpp read).
# Uses the prebuilt wheel in ../shared/wheels when there is one (seconds); otherwise pip builds
# llama-cpp-python from source (about 25 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
if .venv-ref/bin/python -c "import llama_cpp, gguf, numpy" 2>/dev/null; then
  exit 0
fi
python3 -m venv .venv-ref
links=()
[ -d ../shared/wheels ] && links=(--find-links ../shared/wheels)
.venv-ref/bin/pip install --quiet "${links[@]}" llama-cpp-python==0.3.36 gguf==0.19.0 numpy==2.4.6
