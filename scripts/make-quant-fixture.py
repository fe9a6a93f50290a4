#!/usr/bin/env python3
"""Writes Tests/Fixtures/quant-reference.json: random GGML blocks and their Float32 values as the
`gguf` Python package (an implementation independent of ours) dequantizes them, plus, for the
types we quantize, random floats and the block bytes gguf's reference quantizers make of them.

    {"Q4_K": {"raw_hex": "...", "floats": [...]},
     "Q8_0": {"raw_hex": "...", "floats": [...], "quantize": {"floats": [...], "raw_hex": "..."}}}

Run with the reference venv:  .venv-ref/bin/python scripts/make-quant-fixture.py
"""
import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

SEED = 20250125
OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "quant-reference.json"

# Byte offsets of the fp16 scale fields in each block; every other byte is random.
HALF_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.IQ4_NL: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
BLOCKS = {T.Q2_K: 2, T.Q3_K: 2, T.Q4_K: 2, T.Q5_K: 2, T.Q6_K: 2}  # 512 values each; the rest get 4 blocks (or 128 values)
QUANTIZED = [T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]


def modest_halves(rng, n):
    """Finite fp16 values in [-2, 2], as little-endian bytes."""
    return rng.uniform(-2, 2, n).astype(np.float16).view(np.uint8)


def random_blocks(rng, qtype):
    if qtype == T.F16:
        return modest_halves(rng, 128)
    if qtype == T.BF16:
        # The top halves of float32 values in [-2, 2]: finite bf16 values.
        return (rng.uniform(-2, 2, 128).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    _, block_bytes = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, (BLOCKS.get(qtype, 4), block_bytes), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        blocks[:, offset:offset + 2] = modest_halves(rng, len(blocks)).reshape(-1, 2)
    return blocks.reshape(-1)


def shortest(values):
    """float32 values as the shortest decimals that read back as the same float32."""
    return [float(np.format_float_positional(v, unique=True, trim="-")) for v in values.astype(np.float32)]


def main():
    rng = np.random.default_rng(SEED)
    fixture = {}
    for qtype in [T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.IQ4_NL, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        raw = random_blocks(rng, qtype)
        floats = dequantize(raw, qtype).reshape(-1)
        assert np.all(np.isfinite(floats)), qtype.name
        entry = {"raw_hex": raw.tobytes().hex(), "floats": shortest(floats)}
        if qtype in QUANTIZED:
            # Spread of magnitudes, with ties and a zero block among the blocks.
            x = (rng.standard_normal(128) * rng.choice([0.01, 1, 30], 128)).astype(np.float32)
            x[32:64] = np.round(x[32:64] * 4) / 4
            x[96:128] = 0
            entry["quantize"] = {"floats": shortest(x), "raw_hex": quantize(x, qtype).tobytes().hex()}
        fixture[qtype.name] = entry
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # One type per line: small, and a regenerated file diffs by type.
    lines = [f"{json.dumps(name)}: {json.dumps(entry)}" for name, entry in fixture.items()]
    OUT.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
