#!/usr/bin/env python3
"""Bounded load test of `memory3 serve`: N concurrent clients stream chat completions for a fixed
time against a server on loopback. Reports completed streams, 429s (expected once the queue is
full; clients honour Retry-After), any other error, time to first token, throughput, and the
server's resident memory at the start and the end. Exits non-zero on any error other than 429.

    scripts/load-test.py --bin .build/release/memory3 --clients 32 --duration 60
    scripts/load-test.py --url http://127.0.0.1:8080 --clients 8 --duration 10   # a running server

Standard library only. Sends traffic to 127.0.0.1 only.
"""
import argparse, http.client, json, os, signal, socket, statistics, subprocess, sys, threading, time, urllib.request

import serverkit


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_mb(pid):
    """The server's RSS without the store's mapped pages (serverkit.rss_mb), or None once it is gone."""
    try:
        return serverkit.rss_mb(pid)
    except OSError:
        return None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.completed = 0
        self.rejected = 0
        self.errors = []
        self.first_token = []
        self.tokens = 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k == "error":
                    self.errors.append(v)
                elif k == "ttft":
                    self.first_token.append(v)
                else:
                    setattr(self, k, getattr(self, k) + v)


def client_loop(host, port, deadline, max_tokens, stats, index):
    body = json.dumps({"messages": [{"role": "user", "content": f"Tell me fact number {index} about the sea."}],
                       "max_tokens": max_tokens, "temperature": 0.7, "stream": True,
                       "stream_options": {"include_usage": True}})
    while time.time() < deadline:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            start = time.time()
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            if r.status == 429:
                r.read()
                stats.add(rejected=1)
                time.sleep(min(float(r.getheader("Retry-After", "1")), max(0.0, deadline - time.time())))
                continue
            if r.status != 200:
                stats.add(error=f"status {r.status}: {r.read()[:200]!r}")
                continue
            first, done, usage = None, False, None
            buffer = b""
            while True:
                piece = r.read1(65536) if hasattr(r, "read1") else r.read(1024)
                if not piece:
                    break
                buffer += piece
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    data = event.decode().removeprefix("data: ")
                    if data == "[DONE]":
                        done = True
                        continue
                    chunk = json.loads(data)
                    if "error" in chunk:
                        stats.add(error=f"stream error: {chunk['error']}")
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    if first is None and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                        first = time.time() - start
            if not done:
                stats.add(error="stream ended without [DONE]")
                continue
            stats.add(completed=1, tokens=(usage or {}).get("completion_tokens", 0))
            if first is not None:
                stats.add(ttft=first)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            stats.add(error=f"{type(e).__name__}: {e}")
        finally:
            conn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", help="memory3 executable to start (else --url)")
    p.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8080")
    p.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--max-tokens", type=int, default=32)
    args = p.parse_args()
    if not (0 < args.duration <= 600 and 0 < args.clients <= 256):
        sys.exit("duration must be in (0, 600] s and clients in 1..256")

    server = None
    if args.bin:
        port = free_port()
        server = subprocess.Popen([args.bin, "serve", "--host", "127.0.0.1", "--port", str(port), "--model", args.model, "--db", "",
                                   "--config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "memory3.json")],
                                  stderr=subprocess.DEVNULL)
        host = "127.0.0.1"
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"http://{host}:{port}/ready", timeout=1).status == 200:
                    break
            except Exception:  # noqa: BLE001
                time.sleep(0.25)
    elif args.url:
        host, port = args.url.removeprefix("http://").rstrip("/").split(":")
        port = int(port)
        if host not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("this load test only targets loopback")
    else:
        sys.exit("give --bin or --url")

    stats = Stats()
    rss_start = rss_mb(server.pid) if server else None
    started = time.time()
    deadline = started + args.duration
    threads = [threading.Thread(target=client_loop, args=(host, port, deadline, args.max_tokens, stats, i)) for i in range(args.clients)]
    for t in threads:
        t.start()
    rss_peak = rss_start
    samples = []
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        if server:
            rss = rss_mb(server.pid)
            rss_peak = max(rss_peak or 0, rss or 0)
            if int(time.time() - started) % 20 == 0 and rss is not None:
                samples.append(f"{time.time() - started:.0f}s:{rss:.0f}MB")
    elapsed = time.time() - started
    rss_end = rss_mb(server.pid) if server else None
    if server:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        if code != 0:
            stats.errors.append(f"server exited {code} after SIGTERM")

    ttft = sorted(stats.first_token)
    print(f"clients {args.clients}, {elapsed:.0f} s, max_tokens {args.max_tokens}")
    print(f"completed streams {stats.completed}, 429s {stats.rejected}, other errors {len(stats.errors)}")
    print(f"generated tokens {stats.tokens} ({stats.tokens / elapsed:.1f} tokens/s overall)")
    if ttft:
        print(f"time to first token: median {statistics.median(ttft):.2f} s, p95 {ttft[int(0.95 * (len(ttft) - 1))]:.2f} s")
    if rss_start is not None:
        print(f"server RSS: start {rss_start:.0f} MB, peak {rss_peak:.0f} MB, end {rss_end:.0f} MB; over time {' '.join(samples)}")
    for e in stats.errors[:10]:
        print("error:", e)
    passed = 1 if not stats.errors and stats.completed > 0 else 0
    print(f"load-test: {passed} passed, {1 - passed} failed")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
