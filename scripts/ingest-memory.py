#!/usr/bin/env python3
"""The server's resident memory while it takes in a large document.

Starts `memory3 serve` on the real model, uploads a 5 MB text document (about 9,000 references:
~13 GB of memories, so the per-document limit is raised for the run), and samples the server's
RSS (/proc/PID/status VmRSS) every 0.1 s through the upload, the planning (the whole text cut into
references) and `--encode-seconds` of encoding with batched commits, then cancels the ingestion
(DELETE) and checks that its committed references are gone. Prints baseline, peak and growth;
exits 1 when the peak is over `--limit-mb`.

    scripts/ingest-memory.py [--bin .build/release/memory3] [--megabytes 5] [--encode-seconds 60]

Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time

from serverkit import BIN, SMOLLM2, rss_mb, start_server, wait_ready


def request(port, method, path, body=None, headers=None, timeout=60):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, (json.loads(data) if data else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--model", default=SMOLLM2)
    parser.add_argument("--megabytes", type=float, default=5)
    parser.add_argument("--encode-seconds", type=float, default=60)
    parser.add_argument("--limit-mb", type=float, default=300)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="memory3-ingest-memory-")
    server, port, log = start_server(args.bin, args.model, work,
                                     {"memory": {"knowledge_dir": None, "max_document_memory_mb": 1 << 20}},
                                     db=os.path.join(work, "kb.sqlite"))
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                samples.append((time.time(), rss_mb(server.pid)))
            except OSError:
                return
            time.sleep(0.1)

    try:
        wait_ready(server, port)
        baseline = rss_mb(server.pid)

        rng = random.Random(5)
        words = ("the keeper logged weather ships tides lamps fog storms gulls reefs charts anchors beacons "
                 "signals ropes islands piers currents sailors harbours lanterns compasses").split()
        paragraphs, size = [], 0
        while size < args.megabytes * 1_000_000:
            paragraph = " ".join(rng.choice(words) for _ in range(rng.randint(30, 90))) + "."
            paragraphs.append(paragraph)
            size += len(paragraph) + 2
        text = "\n\n".join(paragraphs).encode()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.time()
        status, body = request(port, "POST", "/v1/documents?title=big.txt", body=text,
                               headers={"Content-Type": "text/plain", "Content-Length": str(len(text))})
        if status != 202:
            raise SystemExit(f"ingest-memory: the upload answered {status}: {body}")
        accepted = time.time() - started
        ingestion = body["id"]
        encode_until = None
        while True:
            _, snapshot = request(port, "GET", f"/v1/documents/{ingestion}")
            if snapshot["status"] == "encoding" and snapshot["references_done"] > 0 and encode_until is None:
                planned = time.time() - started
                encode_until = time.time() + args.encode_seconds
            if snapshot["status"] not in ("queued", "encoding"):
                raise SystemExit(f"ingest-memory: the ingestion ended {snapshot['status']}: {snapshot.get('error')}")
            if encode_until and time.time() >= encode_until:
                break
            time.sleep(0.5)
        stop.set()
        sampler.join()
        peak = max(r for _, r in samples)
        status, cancelled = request(port, "DELETE", f"/v1/documents/{ingestion}")
        time.sleep(1)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        connection.close()
        left = [line for line in metrics.splitlines() if line.startswith("memory3_references ")]
        print(f"ingest-memory: {len(text) / 1e6:.1f} MB text, accepted (202) in {accepted:.2f} s, planned "
              f"{snapshot['references_total']} references in {planned - accepted:.1f} s, encoded {snapshot['references_done']} "
              f"in {args.encode_seconds:.0f} s ({snapshot['references_done'] / args.encode_seconds:.1f}/s)")
        print(f"ingest-memory: RSS baseline {baseline:.0f} MB, peak {peak:.0f} MB (+{peak - baseline:.0f} MB) "
              f"over {len(samples)} samples; limit {args.limit_mb:.0f} MB")
        if status != 200 or cancelled["status"] != "cancelled":
            raise SystemExit(f"ingest-memory: cancel answered {status}: {cancelled}")
        if left != ["memory3_references 0"]:
            raise SystemExit(f"ingest-memory: after the cancel the store still holds references: {left}")
        print("ingest-memory: cancelled; its committed references were removed")
        if peak > args.limit_mb:
            print(f"ingest-memory: FAIL peak RSS {peak:.0f} MB over {args.limit_mb:.0f} MB", file=sys.stderr)
            sys.exit(1)
    finally:
        stop.set()
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
