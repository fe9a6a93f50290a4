#!/usr/bin/env python3
"""Ingestion throughput with 1, 2, 3 ... replicas sharing one PostgreSQL store.

For each replica count R: a fresh throwaway PostgreSQL (scripts/postgres-temp.sh), R `memory3 serve`
replicas on the real model (threads per replica: --threads, default the machine's cores split
between them), then documents holding --references references in all uploaded round-robin; timed
from the first upload to the last document ready. Prints references per second for each R, and
with --sqlite the same work on one server with an SQLite store beside it.

    scripts/bench-replicas.py [--replicas 1,2,3] [--references 200] [--sqlite] [--json]

The replicas share this machine's cores: on one machine more replicas do not add CPU, so the
figures show the cost of sharing (claims, a shared database) more than the gain a cluster gets
from more machines. Standard library only.
"""
import argparse
import json
import os
import shutil
import signal
import tempfile
import time

from serverkit import BIN, SMOLLM2, json_request, start_postgres, start_server, stop_postgres, wait_ready

PARAGRAPHS_PER_DOCUMENT = 20


def documents(references):
    """Documents of PARAGRAPHS_PER_DOCUMENT paragraphs (one reference each, ~90 tokens)."""
    words = ("tide harbour lantern ferry beacon reef anchor island granary mill kiln loom forge "
             "ledger almanac sextant glacier meadow orchard quarry").split()
    docs = []
    for d in range(max(1, references // PARAGRAPHS_PER_DOCUMENT)):
        paragraphs = []
        for p in range(PARAGRAPHS_PER_DOCUMENT):
            seed = d * 1000 + p
            paragraphs.append(" ".join(words[(seed * 7 + i * 13) % len(words)] for i in range(70)) + f" (entry {d}.{p}).")
        docs.append({"title": f"ledger {d}", "external_id": f"bench-ledger-{d}", "text": "\n\n".join(paragraphs)})
    return docs


def run(binary, count, store, work, threads, references):
    replicas = []
    try:
        for i in range(count):
            folder = os.path.join(work, f"replica-{i}")
            os.makedirs(folder)
            process, port, log = start_server(binary, SMOLLM2, folder, {"memory": {"knowledge_dir": None}}, db=store, threads=threads)
            replicas.append((process, port, log))
            wait_ready(process, port)  # one at a time: the first creates the schema
        docs = documents(references)
        started = time.time()
        ids = []
        for i, doc in enumerate(docs):
            status, body = json_request(replicas[i % count][1], "POST", "/v1/documents", doc)
            if status != 202:
                raise SystemExit(f"upload: {status} {body}")
            ids.append(body["id"])
        deadline = time.time() + 1800
        while time.time() < deadline:
            states = [json_request(replicas[0][1], "GET", f"/v1/documents/{i}")[1] for i in ids]
            if all(s["status"] not in ("queued", "encoding") for s in states):
                break
            time.sleep(0.25)
        else:
            raise SystemExit("the documents were not all ingested within 30 minutes")
        seconds = time.time() - started
        failed = [s for s in states if s["status"] != "ready"]
        if failed:
            raise SystemExit(f"{len(failed)} ingestions did not end ready: {failed[0]}")
        done = sum(s["references_done"] for s in states)
        return done, seconds
    finally:
        for process, _, log in replicas:
            process.send_signal(signal.SIGTERM)
        for process, _, log in replicas:
            try:
                process.wait(timeout=60)
            except Exception:
                process.kill()
            log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--references", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="threads per replica (0: cores / replicas, at least 1)")
    parser.add_argument("--sqlite", action="store_true", help="also one server on an SQLite store")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    results = []
    runs = [("sqlite", 1)] if args.sqlite else []
    runs += [("postgres", int(r)) for r in args.replicas.split(",")]
    print("| store | replicas | threads each | references | seconds | references/s |\n|---|---|---|---|---|---|")
    for kind, count in runs:
        work = tempfile.mkdtemp(prefix="memory3-bench-replicas-")
        os.chmod(work, 0o755)
        threads = args.threads or max(1, cores // count)
        try:
            if kind == "postgres":
                store = start_postgres(os.path.join(work, "pg"))
            else:
                store = os.path.join(work, "store.sqlite")
            done, seconds = run(args.bin, count, store, work, threads, args.references)
        finally:
            if kind == "postgres":
                stop_postgres(os.path.join(work, "pg"))
            shutil.rmtree(work, ignore_errors=True)
        results.append({"store": kind, "replicas": count, "threads": threads, "references": done,
                        "seconds": round(seconds, 2), "references_per_s": round(done / seconds, 2)})
        print(f"| {kind} | {count} | {threads} | {done} | {seconds:.1f} | {done / seconds:.2f} |", flush=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
