#!/usr/bin/env python3
"""Replicas sharing one store on PostgreSQL: uploads to any replica, encoding by whichever is idle,
a replica killed mid-document, and every replica answering the same.

A throwaway PostgreSQL (scripts/postgres-temp.sh, a loopback port) and N `memory3 serve` replicas
on the real model, all with `--store postgres://...`:

  1. five documents are uploaded round-robin across the replicas (one about 40 references long);
  2. the replica encoding the long one is killed with SIGKILL once it has committed a batch;
  3. another replica takes the long document over (the dead owner's process is gone) and finishes
     it from its last committed batch;
  4. every live replica then lists the same five documents and gives the same /v1/retrieve
     answers within 10 s; the long document's references are numbered 0..n-1 without gaps or
     repeats; no ingestion failed; nothing is stored twice.

    scripts/replicas-test.py [--bin .build/release/memory3] [--replicas 3] [--keep]

Exits non-zero on any failure. Needs PostgreSQL's server programs (Debian: postgresql-15) and psql.
Standard library only.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from serverkit import BIN, SMOLLM2, json_request as request, psql, start_postgres, start_server, stop_postgres, wait_ready

LONG_PARAGRAPHS = 40


def documents():
    rng = random.Random(11)
    words = ("glacier meadow orchard quarry harbour lantern compass ferry beacon reef anchor island "
             "granary mill kiln loom forge ledger almanac sextant").split()

    def prose(paragraphs, seed):
        rng.seed(seed)
        return "\n\n".join(" ".join(rng.choice(words) for _ in range(70)) + "." for _ in range(paragraphs))

    docs = [{"title": "long almanac", "external_id": "replica-long", "text": "# Almanac\n\n" + prose(LONG_PARAGRAPHS, 5)}]
    topics = ["the Kelda lighthouse", "the Orrin ferry timetable", "the Vask bakery's rye", "the Teller quarry strike"]
    for i, topic in enumerate(topics):
        docs.append({"title": f"note {i}", "external_id": f"replica-note-{i}",
                     "text": f"Note {i} is about {topic}.\n\n" + prose(3, 100 + i)})
    return docs


class Replica:
    def __init__(self, index, binary, work, store):
        self.index = index
        self.work = os.path.join(work, f"replica-{index}")
        os.makedirs(self.work)
        config = {"memory": {"knowledge_dir": None, "rescan_s": 1}}
        self.process, self.port, self.log = start_server(binary, SMOLLM2, self.work, config, db=store, threads=1)
        self.alive = True

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.alive = False

    def stop(self):
        if self.alive and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, the database)")
    args = parser.parse_args()
    if args.replicas < 2:
        raise SystemExit("--replicas must be at least 2 (one is killed)")
    for path in (args.bin, SMOLLM2):
        if not os.path.exists(path):
            raise SystemExit(f"missing {path} (swift build -c release; make model)")

    work = tempfile.mkdtemp(prefix="memory3-replicas-")
    os.chmod(work, 0o755)  # the server runs as the postgres user when this runs as root
    pg_dir = os.path.join(work, "pg")
    started = time.time()
    failures = []
    replicas = []
    try:
        url = start_postgres(pg_dir)
        print(f"replicas: PostgreSQL at {url}")
        # The first replica creates the schema; the others start together.
        replicas.append(Replica(0, args.bin, work, url))
        wait_ready(replicas[0].process, replicas[0].port)
        for i in range(1, args.replicas):
            replicas.append(Replica(i, args.bin, work, url))
        for replica in replicas[1:]:
            wait_ready(replica.process, replica.port)
        print(f"replicas: {args.replicas} replicas ready in {time.time() - started:.1f} s "
              f"(ports {', '.join(str(r.port) for r in replicas)})")

        # 1. Uploads, round-robin.
        ingestions = {}
        for i, doc in enumerate(documents()):
            replica = replicas[i % len(replicas)]
            status, body = request(replica.port, "POST", "/v1/documents", doc)
            if status != 202:
                raise SystemExit(f"upload of '{doc['title']}' to replica {replica.index}: {status} {body}")
            ingestions[body["id"]] = doc["title"]
        long_id = next(i for i, title in ingestions.items() if title == "long almanac")
        print(f"replicas: 5 documents uploaded round-robin; the long one is {long_id}")

        # 2. Kill the replica that encodes the long document once a batch is committed.
        by_pid = {r.process.pid: r for r in replicas}
        victim = None
        deadline = time.time() + 300
        while time.time() < deadline and victim is None:
            rows = psql(url, f"SELECT state, references_done, coalesce(references_total, 0), coalesce(owner, '') FROM ingestions WHERE id = '{long_id}'")
            state, done, total, owner = rows[0]
            if state == "ready":
                raise SystemExit("the long document was ready before a replica could be killed; make it longer")
            if state == "encoding" and 0 < int(done) < int(total) and owner:
                pid = int(owner.split(":")[1])
                victim = by_pid.get(pid)
                if victim is None:
                    raise SystemExit(f"the owner {owner} is none of the replicas")
                victim.kill()
                print(f"replicas: killed replica {victim.index} (pid {pid}) with {done} of {total} references of the long document committed")
            time.sleep(0.05)
        if victim is None:
            raise SystemExit("the long document never reached a committed batch")

        # 3. The others finish everything.
        live = [r for r in replicas if r.alive]
        deadline = time.time() + 600
        states = {}
        while time.time() < deadline:
            states = {}
            for ingestion_id in ingestions:
                status, body = request(live[0].port, "GET", f"/v1/documents/{ingestion_id}")
                states[ingestion_id] = body
            if all(s["status"] not in ("queued", "encoding") for s in states.values()):
                break
            time.sleep(0.5)
        finished_at = time.time()
        for ingestion_id, snapshot in states.items():
            if snapshot["status"] != "ready":
                failures.append(f"ingestion {ingestion_id} ({ingestions[ingestion_id]}) ended {snapshot['status']}: {snapshot.get('error')}")
        owner = psql(url, f"SELECT coalesce(owner, '') FROM ingestions WHERE id = '{long_id}'")[0][0]
        if owner and int(owner.split(":")[1]) == victim.process.pid:
            failures.append("the long document is still recorded as the killed replica's")
        else:
            finisher = by_pid.get(int(owner.split(":")[1])) if owner else None
            print(f"replicas: the long document was finished by replica {finisher.index if finisher else '?'}; "
                  f"all ingestions final {finished_at - started:.1f} s after start")

        # 4. Every live replica answers the same, within 10 s.
        queries = ["Kelda lighthouse", "ferry timetable", "rye bread bakery", "quarry strike", "almanac sextant ledger"]
        agreed_after = None
        agree_deadline = time.time() + 10
        while time.time() < agree_deadline:
            views = []
            for replica in live:
                _, listing = request(replica.port, "GET", "/v1/documents?limit=100")
                answers = []
                # bm25 reads the shared database; dense and hybrid also each replica's own
                # in-memory vector index (when the sentence encoder is there).
                for query in queries:
                    for retriever in ("bm25", "hybrid"):
                        status, hits = request(replica.port, "POST", "/v1/retrieve", {"query": query, "k": 5, "retriever": retriever})
                        if status == 200:
                            answers.append((retriever, [(h["reference_id"], round(h["score"], 6)) for h in hits["data"]]))
                        elif retriever == "bm25":
                            raise SystemExit(f"/v1/retrieve on replica {replica.index}: {status} {hits}")
                views.append((sorted((d["id"], d["sha256"]) for d in listing["data"]), answers))
            if all(view == views[0] for view in views):
                agreed_after = time.time() - finished_at
                break
            time.sleep(0.5)
        if agreed_after is None:
            failures.append("the live replicas still disagree 10 s after the last ingestion finished")
        else:
            print(f"replicas: {len(live)} live replicas agree on documents and retrieval ({agreed_after:.2f} s after the last ingestion)")
        listing = views[0][0]
        if len(listing) != 5 or len({sha for _, sha in listing}) != 5:
            failures.append(f"expected 5 distinct documents, the replicas list {len(listing)}: {listing}")
        bm25_answers = [hits for retriever, hits in views[0][1] if retriever == "bm25"]
        for query, hits in zip(queries[:4], bm25_answers[:4]):
            if not hits:
                failures.append(f"'{query}' retrieves nothing")
        compared = sorted({retriever for retriever, _ in views[0][1]})
        print(f"replicas: retrievers compared across replicas: {', '.join(compared)}")
        long_document = states[long_id].get("document_id")
        if long_document:
            _, detail = request(live[-1].port, "GET", f"/v1/documents/{long_document}")
            ordinals = [r["ordinal"] for r in detail["items"]]
            if ordinals != list(range(len(ordinals))) or len(ordinals) < LONG_PARAGRAPHS // 2:
                failures.append(f"the long document's references are not 0..n-1: {ordinals}")
            else:
                print(f"replicas: the long document has {len(ordinals)} references, numbered 0..{len(ordinals) - 1}")
        pending = psql(url, "SELECT count(*) FROM ingestions WHERE state IN ('queued', 'encoding')")[0][0]
        staged = psql(url, "SELECT count(*) FROM documents WHERE staged_by IS NOT NULL")[0][0]
        if pending != "0" or staged != "0":
            failures.append(f"{pending} ingestions still pending, {staged} staged documents left")
    finally:
        for replica in replicas:
            replica.stop()
        stop_postgres(pg_dir)
        if failures or args.keep:
            print(f"replicas: work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        for failure in failures:
            print(f"replicas: FAIL {failure}")
        sys.exit(1)
    print(f"replicas: passed in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
