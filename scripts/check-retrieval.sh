#!/usr/bin/env bash
# Recall of the three retrievers on the public eval sets (retrieval alone: no model, references as
# text with their all-MiniLM-L6-v2 vectors), and the bars of issue 14 that hold today: hybrid
# recall@1 not below BM25's on either set. Prints the table (docs/retrieval.md has the figures).
# Usage: scripts/check-retrieval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/memory3
[ -x "$bin" ] || swift build -c release
./scripts/fetch-model.sh minilm >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" eval-retrieval ../shared/eval/fictional-public.json ../shared/eval/hard-public.json --json | tee "$out"
tail -n 1 "$out" | python3 -c '
import json, sys
rows = json.loads(sys.stdin.read())
r1 = {(r["set"], r["retriever"]): r["recall_at_1"] for r in rows}
failed = False
for s in sorted({r["set"] for r in rows}):
    hybrid, bm25 = r1[(s, "hybrid")], r1[(s, "bm25")]
    failed |= hybrid < bm25
    print(("ok" if hybrid >= bm25 else "FAILED") + f": {s}: hybrid recall@1 {hybrid:.3f} >= bm25 {bm25:.3f}")
sys.exit(1 if failed else 0)
'
