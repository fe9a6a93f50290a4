#!/usr/bin/env python3
"""Tiny random-weight GGUF models of the architectures that share Llama's block, and llama.cpp's
answers on them, for Tests/Memory3ModelTests/ArchitectureAgreementTests.swift.

For each of
  * qwen2   (Q/K/V biases, half-split RoPE, `qwen2` pre-tokenizer, ChatML specials)
  * qwen3   (QK-norm, head width from key_length, half-split RoPE, `qwen2` pre-tokenizer)
  * llama3  (architecture `llama` with `rope_freqs.weight` frequency factors, `llama-bpe`
             pre-tokenizer, Llama 3 specials and BOS)
it writes Tests/Fixtures/arch/<name>.gguf with the `gguf` package (F32 weights, 2 layers, a
byte-level BPE vocabulary of the 256 byte tokens, a few hundred merges learned from a sample text,
and the architecture's special tokens), then records with llama-cpp-python (the reference
implementation): the logits (all 300-odd of them, rounded to 4 decimals) after each of a fixed
token sequence, and the token ids of a set of strings, in Tests/Fixtures/arch/reference.json.

    scripts/setup-reference-venv.sh
    .venv-ref/bin/python scripts/make-arch-fixtures.py              # models + reference.json
    .venv-ref/bin/python scripts/make-arch-fixtures.py --gguf-only  # models only (what `make test` runs)

The models are not in git (no weights are): `make test` writes them with --gguf-only, which needs
only numpy and gguf, and checks each file's sha256 against the one reference.json recorded when
llama.cpp's answers were computed, so the tests always compare against the bytes llama.cpp read.
Deterministic: fixed seeds, CPU, 1 thread.
"""
import hashlib, json, os, sys
from collections import Counter

import numpy as np
import gguf

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "arch")

SAMPLE = (
    "The river town held its winter market by the harbour. Ships brought lanterns, clocks and "
    "letters; the baker's daughter painted the bridge in 1999 and again in 2024. It's 12345 steps "
    "from the library to the tower, they'll say, and we've counted them twice!\n\n"
    "def walk(n):\n    return n * 2  # twice\n"
)

STRINGS = [
    "Hello world", "The river town held its market.", "It's, they'll, WE'VE, I'M, she'D",
    "1234567 and 89 and 3.14159", "  two spaces\n\nand lines\r\n", "tab\tand\tmore   spaces   ",
    "def walk(n):\n    return n * 2\n", "caf\u00e9 na\u00efve \u00fcber", "\u4f60\u597d\u4e16\u754c", "emoji \U0001F600!",
    "!!!???---", "x" * 40, "",
]

SEQUENCE = [5, 80, 81, 90, 100, 120, 33, 45, 46, 47, 200, 210, 3, 4, 77, 78]


def byte_chars():
    """GPT-2's byte-to-character mapping."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_merges(text, count):
    """A few BPE merges over the sample's words (byte-level characters), most frequent pair first."""
    chars = byte_chars()
    words = Counter(tuple(chars[b] for b in w.encode()) for w in text.replace("\n", " ").split(" ") if w)
    words.update({tuple(chars[b] for b in (" " + w).encode()): 1 for w in text.split() if w})
    merges = []
    for _ in range(count):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        new = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    return merges


def vocabulary(specials):
    chars = byte_chars()
    tokens = [chars[b] for b in range(256)]
    merges = learn_merges(SAMPLE, 60)
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    types = [1] * len(tokens)
    for s in specials:
        tokens.append(s)
        types.append(3)
    return tokens, types, [f"{a} {b}" for a, b in merges]


MODELS = {
    "qwen2": dict(arch="qwen2", pre="qwen2", specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                  bos=None, eos="<|im_end|>", add_bos=False, heads=4, kv=2, head_dim=None, bias=True, qk_norm=False,
                  rope_freqs=False),
    "qwen3": dict(arch="qwen3", pre="qwen2", specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                  bos=None, eos="<|im_end|>", add_bos=False, heads=4, kv=2, head_dim=24, bias=False, qk_norm=True,
                  rope_freqs=False),
    "llama3": dict(arch="llama", pre="llama-bpe", specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                                           "<|end_header_id|>", "<|eot_id|>"],
                   bos="<|begin_of_text|>", eos="<|eot_id|>", add_bos=True, heads=4, kv=1, head_dim=None, bias=False,
                   qk_norm=False, rope_freqs=True),
}


def write_model(name, m, rng):
    arch = m["arch"]
    tokens, types, merges = vocabulary(m["specials"])
    n_vocab, n_embd, n_layer, n_ff = len(tokens), 64, 2, 96
    head_dim = m["head_dim"] or n_embd // m["heads"]
    path = os.path.join(OUT, f"{name}.gguf")
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(n_layer)
    w.add_context_length(256)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(m["heads"])
    w.add_head_count_kv(m["kv"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(n_vocab)
    if m["head_dim"]:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(m["pre"])
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(tokens.index(m["eos"]))
    if m["bos"]:
        w.add_bos_token_id(tokens.index(m["bos"]))
    w.add_add_bos_token(m["add_bos"])

    def t(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w.add_tensor("token_embd.weight", t((n_vocab, n_embd), 1.0))
    w.add_tensor("output_norm.weight", 1 + t((n_embd,), 0.1))
    w.add_tensor("output.weight", t((n_vocab, n_embd), 0.2))
    if m["rope_freqs"]:
        w.add_tensor("rope_freqs.weight", np.linspace(1, 8, head_dim // 2).astype(np.float32))
    for i in range(n_layer):
        p = f"blk.{i}."
        s = 1 / np.sqrt(n_embd)
        w.add_tensor(p + "attn_norm.weight", 1 + t((n_embd,), 0.1))
        w.add_tensor(p + "attn_q.weight", t((m["heads"] * head_dim, n_embd), s))
        w.add_tensor(p + "attn_k.weight", t((m["kv"] * head_dim, n_embd), s))
        w.add_tensor(p + "attn_v.weight", t((m["kv"] * head_dim, n_embd), s))
        if m["bias"]:
            w.add_tensor(p + "attn_q.bias", t((m["heads"] * head_dim,), 0.3))
            w.add_tensor(p + "attn_k.bias", t((m["kv"] * head_dim,), 0.3))
            w.add_tensor(p + "attn_v.bias", t((m["kv"] * head_dim,), 0.3))
        if m["qk_norm"]:
            w.add_tensor(p + "attn_q_norm.weight", 1 + t((head_dim,), 0.1))
            w.add_tensor(p + "attn_k_norm.weight", 1 + t((head_dim,), 0.1))
        w.add_tensor(p + "attn_output.weight", t((n_embd, m["heads"] * head_dim), 1 / np.sqrt(m["heads"] * head_dim)))
        w.add_tensor(p + "ffn_norm.weight", 1 + t((n_embd,), 0.1))
        w.add_tensor(p + "ffn_gate.weight", t((n_ff, n_embd), s))
        w.add_tensor(p + "ffn_up.weight", t((n_ff, n_embd), s))
        w.add_tensor(p + "ffn_down.weight", t((n_embd, n_ff), 1 / np.sqrt(n_ff)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path, n_vocab


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_models_only():
    """Writes the models and checks them against the digests reference.json was computed on."""
    with open(os.path.join(OUT, "reference.json")) as f:
        recorded = json.load(f)["models"]
    for i, (name, m) in enumerate(MODELS.items()):
        path, _ = write_model(name, m, np.random.default_rng(100 + i))
        got, want = sha256(path), recorded[name].get("sha256")
        if got != want:
            os.remove(path)
            sys.exit(f"error: {os.path.relpath(path, ROOT)} has sha256 {got}, but reference.json was computed on "
                     f"{want} (numpy {np.__version__}, gguf: see scripts/setup-reference-venv.sh for the pinned "
                     f"versions); regenerate both with scripts/make-arch-fixtures.py")
        print(f"fixture ok: {os.path.relpath(path, ROOT)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    if "--gguf-only" in sys.argv[1:]:
        write_models_only()
        return
    import llama_cpp  # only for the reference answers
    doc = {"generator": "scripts/make-arch-fixtures.py", "llama_cpp_python": llama_cpp.__version__,
           "sequence": SEQUENCE, "models": {}}
    for i, (name, m) in enumerate(MODELS.items()):
        path, n_vocab = write_model(name, m, np.random.default_rng(100 + i))
        llm = llama_cpp.Llama(model_path=path, n_ctx=256, n_batch=64, n_threads=1, logits_all=True, verbose=False, seed=0)
        llm.reset()
        llm.eval(SEQUENCE)
        logits = [[round(float(x), 4) for x in llm.scores[j][:n_vocab]] for j in range(len(SEQUENCE))]
        tokenized = [{"text": s, "ids": llm.tokenize(s.encode(), add_bos=False, special=False)} for s in STRINGS]
        doc["models"][name] = {"file": f"{name}.gguf", "sha256": sha256(path), "architecture": m["arch"],
                               "pre": m["pre"], "vocab": n_vocab, "logits": logits, "tokenize": tokenized}
        print(f"{name}: {os.path.getsize(path)} bytes, vocab {n_vocab}, "
              f"argmax after the sequence {int(np.argmax(llm.scores[len(SEQUENCE) - 1][:n_vocab]))}")
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(os.path.join(OUT, 'reference.json'), ROOT)}")


if __name__ == "__main__":
    main()
