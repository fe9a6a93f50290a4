#!/usr/bin/env python3
"""Kill -9 the server at random points and check that nothing acknowledged is lost.

Five documents (one large enough to take many restarts to encode) are uploaded to `memory3 serve`
on the real model, one or two per run; each run is killed with SIGKILL after a random delay
(while references are being encoded, during a streamed completion, sometimes right after an
upload), 20 times, then the server is started once more and left to finish. At the end:

  * every upload ever answered 202 is `ready` (or `failed` with a reason) - none lost;
  * every document is stored once (listed once, its references numbered 0..n-1 without gaps);
  * SQLite's `PRAGMA integrity_check` says ok and no foreign key is broken.

    scripts/crash-test.py [--bin .build/release/memory3] [--kills 20] [--seed 1]

Exits non-zero on any failure. Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time

from serverkit import BIN, SMOLLM2, json_request as request, start_server, wait_ready


def documents():
    """Five documents: a long one first (about 200 references, many runs to encode), then four short ones."""
    rng = random.Random(7)
    words = ("lighthouse keeper tide harbour ferry lantern storm gull reef compass chart anchor "
             "beacon fog signal rope island pier current sailor").split()
    def prose(paragraphs, seed):
        rng.seed(seed)
        return "\n\n".join(" ".join(rng.choice(words) for _ in range(60)) + "." for _ in range(paragraphs))
    docs = [{"title": "long log", "external_id": "crash-doc-long", "text": "# Keeper's log\n\n" + prose(200, 99)}]
    docs += [{"title": f"note {i}", "external_id": f"crash-doc-{i}", "text": f"Note {i}.\n\n" + prose(3, i)} for i in range(4)]
    return docs


class Server:
    def __init__(self, binary, model, db, work):
        self.process, self.port, self.log = start_server(binary, model, work, {"memory": {"knowledge_dir": None}}, db=db)

    def wait_ready(self):
        wait_ready(self.process, self.port)

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()


def stream_completion(port):
    """Starts a streamed completion and leaves it running (the kill lands during it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    body = json.dumps({"prompt": "The lighthouse keeper wrote", "max_tokens": 200, "stream": True})
    connection.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    return connection


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--model", default=SMOLLM2)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--finish-timeout", type=float, default=600)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="memory3-crash-")
    db, log = os.path.join(work, "kb.sqlite"), os.path.join(work, "server.log")

    started = time.time()
    to_upload = documents()
    acknowledged = {}  # ingestion id -> title
    for run in range(args.kills):
        server = Server(args.bin, args.model, db, work)
        try:
            server.wait_ready()
            # The long document in the first run, a short one every third run after it (queued
            # behind what is left of the long one); a kill may land right after an upload.
            if to_upload and run % 3 == 0:
                doc = to_upload[0]
                status, body = request(server.port, "POST", "/v1/documents", doc)
                if status != 202:
                    raise SystemExit(f"crash-test: upload of {doc['title']} answered {status}: {body}")
                acknowledged[body["id"]] = doc["title"]
                to_upload.pop(0)
            stream = stream_completion(server.port) if rng.random() < 0.4 else None
            delay = rng.uniform(0.0, 4.0)
            time.sleep(delay)
            pending = request(server.port, "GET", "/v1/documents?state=queued,encoding")[1]["data"]
            done = sum(p["references_done"] for p in pending)
            print(f"crash-test: run {run + 1}/{args.kills}: kill -9 after {delay:.1f} s "
                  f"({len(pending)} pending, {done} references encoded{', during a stream' if stream else ''})", flush=True)
        finally:
            server.kill()

    # A last start, left to finish everything.
    server = Server(args.bin, args.model, db, work)
    failures = []
    try:
        server.wait_ready()
        for doc in to_upload:  # only if the kills came before every upload
            status, body = request(server.port, "POST", "/v1/documents", doc)
            acknowledged[body["id"]] = doc["title"]
        deadline = time.time() + args.finish_timeout
        while time.time() < deadline:
            if not request(server.port, "GET", "/v1/documents?state=queued,encoding")[1]["data"]:
                break
            time.sleep(1)
        else:
            failures.append(f"ingestions still pending after {args.finish_timeout} s")
        for ingestion, title in acknowledged.items():
            status, body = request(server.port, "GET", f"/v1/documents/{ingestion}")
            if status != 200:
                failures.append(f"{title}: its ingestion {ingestion} is gone ({status})")
            elif body["status"] == "failed" and body.get("error"):
                print(f"crash-test: {title} failed with a reason: {body['error']}")
            elif body["status"] != "ready":
                failures.append(f"{title}: ingestion {ingestion} ended {body['status']} ({body.get('error')})")
        listed = request(server.port, "GET", "/v1/documents?limit=100")[1]["data"]
        titles = [d["title"] for d in listed]
        for title in sorted(set(acknowledged.values())):
            if titles.count(title) != 1:
                failures.append(f"{title} is stored {titles.count(title)} times")
        references = sum(d["references"] for d in listed)
    finally:
        server.kill()

    connection = sqlite3.connect(db)
    integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        failures.append(f"integrity_check: {integrity}")
    broken = connection.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        failures.append(f"foreign keys: {broken[:5]}")
    for document_id, count, lowest, highest in connection.execute(
            "SELECT document_id, count(*), min(ordinal), max(ordinal) FROM document_references GROUP BY document_id"):
        if lowest != 0 or highest != count - 1:
            failures.append(f"document {document_id}: ordinals {lowest}..{highest} for {count} references")
    staged = connection.execute("SELECT count(*) FROM documents WHERE staged_by IS NOT NULL").fetchone()[0]
    connection.close()

    print(f"crash-test: {args.kills} kills, {len(acknowledged)} uploads acknowledged, {len(listed)} documents "
          f"({references} references) stored, {staged} staged left, integrity {integrity[0]}, "
          f"{time.time() - started:.0f} s")
    if failures:
        for failure in failures:
            print("crash-test: FAIL " + failure, file=sys.stderr)
        print(f"crash-test: server log in {log}", file=sys.stderr)
        sys.exit(1)
    print("crash-test: nothing acknowledged was lost")


if __name__ == "__main__":
    main()
