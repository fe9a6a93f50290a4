#!/usr/bin/env python3
"""Hostile clients on loopback against `memory3 serve` with API keys set: each check is bounded
and measured, and fails the run when the server gives way.

  1. 100 unauthenticated 32 MB uploads (20 at a time): the server answers 401 from the headers and
     never reads the bodies; its RSS may grow by at most 100 MB.
  2. 5,000 requests with made-up methods: /metrics keeps the same series (labels are a closed set).
  3. 4 scrapers of /metrics in a loop (each every 0.1 s, separate processes; blocks alternated with
     quiet ones): retrieval's median latency is printed (aim: under +20%, measured -5..+4%; failed
     over +50%, this VM's noise at ~1 ms being up to 15%); store counts are kept on write, a scrape reads one row.
  4. 3,000 silent connections from one client: /health still answers 200 every time (the
     per-client cap closes that client's oldest silent connections).

    scripts/attack-test.py [--bin .build/release/memory3]

Standard library only. Exits non-zero on any failure.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import random
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time

from serverkit import BIN, SMOLLM2, rss_mb, start_server, wait_ready

KEY = f"attack-test-{random.randrange(1 << 30)}"


def request(port, method, path, body=None, key=True, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {KEY}"} if key else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def unauthenticated_uploads(port, pid, failures):
    before = rss_mb(pid)
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.05)

    statuses = []
    lock = threading.Lock()
    chunk = b"x" * (1 << 20)

    def upload():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"POST /v1/documents HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: {32 << 20}\r\n\r\n".encode())
        sent = 0
        try:
            for _ in range(32):  # keeps sending until the server closes
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        try:
            data = s.recv(4096)
            status = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0
        except OSError:
            status = 0
        s.close()
        with lock:
            statuses.append((status, sent))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.time()
    for _ in range(5):
        batch = [threading.Thread(target=upload) for _ in range(20)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()
    stop.set()
    sampler.join()
    after = rss_mb(pid)
    answered = sum(1 for status, _ in statuses if status == 401)
    sent = sum(b for _, b in statuses) / (1 << 20)
    growth = peak[0] - before
    print(f"attack-test: 100 unauthenticated 32 MB uploads in {time.time() - started:.1f} s: {answered} answered 401, "
          f"{sent:.0f} MB pushed before the server closed; RSS {before:.0f} -> peak {peak[0]:.0f} -> {after:.0f} MB (+{growth:.0f} MB)")
    if growth > 100:
        failures.append(f"unauthenticated uploads grew RSS by {growth:.0f} MB (limit 100)")
    if answered < 90:
        failures.append(f"only {answered} of 100 unauthenticated uploads were answered 401")


def metrics_series(port):
    status, data = request(port, "GET", "/metrics")
    text = data.decode()
    return len([line for line in text.splitlines() if line and not line.startswith("#")]), len(text)


def made_up_methods(port, failures):
    rng = random.Random(3)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def method():
        return "".join(rng.choice(letters) for _ in range(rng.randint(3, 64)))

    request(port, method(), "/v1/models")  # the "other" series exists from here on
    # A request is counted after its response is written, so the client can ask again before the
    # server has recorded it (CI saw the first scrape's own 19 series arrive late): wait until the
    # "other" and /metrics series are in before taking the baseline.
    deadline = time.time() + 10
    while True:
        text = request(port, "GET", "/metrics")[1].decode()
        if ('method="other"' in text and 'memory3_http_request_duration_seconds_count{route="/metrics"}' in text) \
                or time.time() > deadline:
            break
        time.sleep(0.05)
    series_before, bytes_before = metrics_series(port)
    started = time.time()
    for _ in range(5000):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"{method()} /v1/models HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
    series_after, bytes_after = metrics_series(port)
    print(f"attack-test: 5,000 made-up methods in {time.time() - started:.1f} s: /metrics {series_before} -> {series_after} series, "
          f"{bytes_before} -> {bytes_after} bytes")
    if series_after != series_before:
        failures.append(f"made-up methods changed /metrics from {series_before} to {series_after} series")
    if bytes_after > bytes_before + 200:
        failures.append(f"made-up methods grew /metrics from {bytes_before} to {bytes_after} bytes")


def retrieval_latencies(port, count):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"query": "lighthouse keeper storm lantern", "k": 5})
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("POST", "/v1/retrieve", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"attack-test: /v1/retrieve answered {response.status}")
    connection.close()
    return latencies


def scrape_loop(port, stop, active, count):
    """One scraper (its own process, so that it does not share the measuring client's GIL):
    scrapes every 0.1 s while `active` is set."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        if not active.is_set():
            time.sleep(0.01)
            continue
        connection.request("GET", "/metrics")
        connection.getresponse().read()
        with count.get_lock():
            count.value += 1
        time.sleep(0.1)
    connection.close()


def scrapers(port, failures):
    """Retrieval latency with and without 4 scrapers, in alternating blocks (this VM's speed
    drifts more between seconds than a scrape costs)."""
    stop, active = multiprocessing.Event(), multiprocessing.Event()
    count = multiprocessing.Value("i", 0)
    processes = [multiprocessing.Process(target=scrape_loop, args=(port, stop, active, count)) for _ in range(4)]
    for p in processes:
        p.start()
    quiet, busy = [], []
    for _ in range(8):
        active.clear()
        time.sleep(0.2)
        quiet += retrieval_latencies(port, 50)
        active.set()
        time.sleep(0.2)
        busy += retrieval_latencies(port, 50)
    stop.set()
    for p in processes:
        p.join()
    quiet_p50, busy_p50 = statistics.median(quiet) * 1000, statistics.median(busy) * 1000
    change = busy_p50 / quiet_p50 - 1
    print(f"attack-test: retrieval p50 {quiet_p50:.2f} ms alone, {busy_p50:.2f} ms with 4 scrapers every 0.1 s "
          f"({count.value} scrapes; 8 alternating blocks of 50): {change * 100:+.0f}%")
    # The bar is 20%. Runs here measured -5%, 0%, +4% with 8 alternating blocks of 50
    # (-17% to +16% with 4 blocks of 100): at ~1 ms per request this 2-core VM's own noise moves the
    # median that much, so CI holds 50%; the fault this guards against (a blob scan under the store
    # lock per scrape) made retrieval 200x slower.
    if change > 0.5:
        failures.append(f"4 scrapers slowed retrieval by {change * 100:.0f}% (limit 50% here; the aim is 20%)")


def silent_connections(port, failures):
    held = []
    for _ in range(3000):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError as error:
            failures.append(f"could not open silent connection {len(held) + 1}: {error}")
            break
    answers = []
    for _ in range(10):
        started = time.time()
        try:
            status, _ = request(port, "GET", "/health", key=False, timeout=5)
        except OSError as error:
            status = f"no answer ({error})"
        answers.append((status, time.time() - started))
        time.sleep(0.1)
    alive = 0
    for s in held:
        s.setblocking(False)
        try:
            alive += 1 if s.recv(1) != b"" else 0
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    ok = sum(1 for status, _ in answers if status == 200)
    worst = max(seconds for _, seconds in answers)
    print(f"attack-test: 3,000 silent connections from one client: /health {ok}/10 answered 200 (worst {worst * 1000:.0f} ms); "
          f"{alive} of them still open at the end")
    if ok != 10:
        failures.append(f"/health answered {[status for status, _ in answers]} with 3,000 silent connections")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--model", default=SMOLLM2)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))

    work = tempfile.mkdtemp(prefix="memory3-attack-")
    server, port, log = start_server(args.bin, args.model, work, {"memory": {"knowledge_dir": None}},
                                     db=os.path.join(work, "kb.sqlite"), env=dict(os.environ, MEMORY3_API_KEYS=KEY))
    failures = []
    try:
        wait_ready(server, port)
        # A knowledge base for retrieval: a few documents, encoded.
        rng = random.Random(11)
        words = "lighthouse keeper storm lantern tide harbour ferry gull reef compass chart anchor fog".split()
        ids = []
        for i in range(6):
            text = "\n\n".join(" ".join(rng.choice(words) for _ in range(50)) + "." for _ in range(4))
            status, body = request(port, "POST", "/v1/documents", {"title": f"doc {i}", "text": text})
            ids.append(json.loads(body)["id"])
        while True:
            states = [json.loads(request(port, "GET", f"/v1/documents/{i}")[1])["status"] for i in ids]
            if all(s not in ("queued", "encoding") for s in states):
                break
            time.sleep(0.5)
        unauthenticated_uploads(port, server.pid, failures)
        made_up_methods(port, failures)
        scrapers(port, failures)
        silent_connections(port, failures)
        if server.poll() is not None:
            failures.append(f"the server exited with {server.returncode}")
    finally:
        server.kill()
        server.wait()
    if failures:
        for failure in failures:
            print("attack-test: FAIL " + failure, file=sys.stderr)
        print(f"attack-test: server log in {work}/server.log", file=sys.stderr)
        sys.exit(1)
    print("attack-test: the server held")


if __name__ == "__main__":
    main()
