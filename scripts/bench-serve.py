#!/usr/bin/env python3
"""Serving throughput and latency: N concurrent streaming clients against `memory3 serve` and
against llama.cpp's own server (`-np N`, continuous batching) on the same GGUF and thread count.

For each N (default 1, 4, 8, 16) and each round (default 3), both servers get the same load, in
alternating order: N clients each send a new ~150-token prompt (new in every round, so no prompt
cache helps) to /v1/completions with stream=true, max_tokens 96, temperature 0, all at once. Per
server and N it reports the medians over rounds of: aggregate generated tokens/s (all tokens /
time from the first request to the last token), TTFT p50/p99 and inter-token latency p50/p99
(gaps between streamed pieces). memory3 runs each round with memory off, then with explicit
memory (a knowledge base ingested from knowledge/ and the retrieval head calibrated, if missing).

Then the cancel test: a client sends a ~2,000-token prompt and leaves after 0.5 s; the next
request's time to first token says how long the abandoned prompt held the server.

    python3 scripts/bench-serve.py [--streams 1,4,8,16] [--rounds 3] [--threads 2] [--json FILE]
`make bench-serve` builds the release binary and runs this. Standard library only; loopback only.
"""
import argparse, datetime, http.client, json, os, platform, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = os.path.join(ROOT, ".build", "release", "memory3")
# llama.cpp's server built for this machine kind; LLAMA_SERVER or --llama-server names another build
# (its README says how to rebuild it when it stops with "illegal instruction" on another CPU).
LLAMA_SERVER = os.environ.get("LLAMA_SERVER", os.path.join(ROOT, "..", "shared", "tools", "llama-cpp-native", "llama-server"))

# Words for synthetic prompts: plain English so both tokenizers see ordinary text.
WORDS = ("the river town market winter harbour ship lantern garden bridge mountain library clock "
         "festival baker painter engineer letter journey morning evening storm forest island tower "
         "station museum village orchard workshop school road valley castle bell window story").split()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def prompt_text(seed, words=136):
    """A new prompt of about 150 tokens (SmolLM2: 1.1 tokens per word here; `memory3 tokenize` counts)."""
    state = seed * 2654435761 % 2**32
    out = [f"Chronicle {seed}:"]
    for _ in range(words):
        state = (state * 1103515245 + 12345) % 2**31
        out.append(WORDS[state % len(WORDS)])
    return " ".join(out) + ". Continue the chronicle:"


def wait_ready(port, timeout=600, path="/health"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server on port {port} not ready")


def stream_once(port, body, result):
    """POSTs a streaming completion; records TTFT, the gaps between pieces, tokens and the end."""
    start = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        result["error"] = f"HTTP {resp.status}: {resp.read()[:200]!r}"
        return
    first, last, gaps, pieces, usage = None, None, [], 0, None
    buffer = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if not line.startswith(b"data: "):
                    continue
                data = line[6:]
                if data == b"[DONE]":
                    continue
                obj = json.loads(data)
                if obj.get("usage"):
                    usage = obj["usage"]
                for choice in obj.get("choices", []):
                    if choice.get("text"):
                        now = time.time()
                        if first is None:
                            first = now
                        else:
                            gaps.append(now - last)
                        last = now
                        pieces += 1
    conn.close()
    result.update(start=start, first=first, last=last or time.time(), gaps=gaps, pieces=pieces,
                  tokens=(usage or {}).get("completion_tokens", pieces))


def run_round(port, prompts, max_tokens, extra):
    results = [dict() for _ in prompts]
    threads = []
    for p, r in zip(prompts, results):
        body = {"prompt": p, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}}
        body.update(extra)
        threads.append(threading.Thread(target=stream_once, args=(port, body, r)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(errors[0])
    start = min(r["start"] for r in results)
    end = max(r["last"] for r in results)
    ttft = [r["first"] - r["start"] for r in results if r["first"]]
    gaps = [g for r in results for g in r["gaps"]]
    return {"tps": sum(r["tokens"] for r in results) / (end - start),
            "ttft_p50": pct(ttft, 50), "ttft_p99": pct(ttft, 99),
            "itl_p50": pct(gaps, 50), "itl_p99": pct(gaps, 99), "tokens": sum(r["tokens"] for r in results)}


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def start_ours(args, port, db, slots):
    cmd = [OURS, "serve", "--model", args.model, "--port", str(port), "--threads", str(args.threads), "--db", db]
    env = dict(os.environ, MEMORY3_SLOTS=str(slots))
    log = open(os.path.join(args.workdir, f"memory3-{port}.log"), "w")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)


def start_llama(args, port, slots):
    check = subprocess.run([args.llama_server, "--version"], capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit(f"{args.llama_server} does not run here (exit {check.returncode}: {'illegal instruction' if check.returncode == -4 else check.stderr.strip()[:200]});"
                 " rebuild it as ../shared/tools/llama-cpp-native/README.md says and pass --llama-server PATH")
    cmd = [args.llama_server, "-m", args.model, "--host", "127.0.0.1", "--port", str(port), "-t", str(args.threads),
           "-np", str(slots), "-c", str(slots * 1024)]
    log = open(os.path.join(args.workdir, f"llama-{port}.log"), "w")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def prepare_store(args):
    """A knowledge base of knowledge/ for explicit memory, and the retrieval head if missing."""
    db = os.path.join(args.workdir, "bench-serve.sqlite")
    if not os.path.exists(db):
        subprocess.run([OURS, "ingest", "--model", args.model, "--db", db, "knowledge"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    head = args.model + ".memory3.json"
    eval_set = os.path.join(ROOT, "..", "shared", "eval", "fictional-public.json")
    if not os.path.exists(os.path.join(ROOT, head)) and os.path.exists(eval_set):
        subprocess.run([OURS, "calibrate", "--model", args.model, "--set", eval_set], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    return db


def cancel_test(port, args):
    """Seconds from a 2,000-token prompt's client leaving to the next request's first token."""
    long_prompt = prompt_text(999_999, words=1980)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/completions", body=json.dumps({"prompt": long_prompt, "max_tokens": 16, "temperature": 0}),
                 headers={"Content-Type": "application/json"})
    time.sleep(0.5)
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    left = time.time()
    result = {}
    stream_once(port, {"prompt": prompt_text(777_777, words=20), "max_tokens": 4, "temperature": 0, "stream": True}, result)
    return result["first"] - left if result.get("first") else float("nan")


def prompt_cache_test(port, mode, seed):
    """TTFT of a new ~150-token prompt, then of the same prompt again (served from the prompt cache)."""
    fresh, again = {}, {}
    body = {"prompt": prompt_text(seed), "max_tokens": 4, "temperature": 0, "stream": True, "memory": {"mode": mode}}
    stream_once(port, body, fresh)
    stream_once(port, body, again)
    return fresh["first"] - fresh["start"], again["first"] - again["start"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--streams", default="1,4,8,16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--no-explicit", action="store_true", help="skip the explicit-memory runs")
    ap.add_argument("--no-llama", action="store_true", help="skip llama.cpp's server")
    ap.add_argument("--llama-server", default=LLAMA_SERVER, help="llama.cpp's llama-server binary")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "memory3-bench-serve"))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    streams = [int(s) for s in args.streams.split(",")]
    slots = max(streams)

    db = prepare_store(args) if not args.no_explicit else os.path.join(args.workdir, "empty.sqlite")
    ours_port, llama_port = free_port(), free_port()
    ours = start_ours(args, ours_port, db, slots)
    llama = None if args.no_llama else start_llama(args, llama_port, slots)
    results = {}
    try:
        wait_ready(ours_port, path="/ready")
        if llama:
            wait_ready(llama_port)
        # Warm-up: page cache, CPU frequency, first allocations.
        run_round(ours_port, [prompt_text(1)], 16, {"memory": {"mode": "off"}})
        if llama:
            run_round(llama_port, [prompt_text(2)], 16, {})
        seed = 1000
        for n in streams:
            samples = {"memory3 off": [], "llama.cpp": [], "memory3 explicit": []}
            for r in range(args.rounds):
                order = ["memory3 off", "llama.cpp"] if r % 2 == 0 else ["llama.cpp", "memory3 off"]
                if not llama:
                    order = ["memory3 off"]
                if not args.no_explicit:
                    order.append("memory3 explicit")
                for name in order:
                    seed += 100
                    prompts = [prompt_text(seed + i) for i in range(n)]
                    if name == "llama.cpp":
                        samples[name].append(run_round(llama_port, prompts, args.max_tokens, {}))
                    else:
                        mode = "explicit" if name.endswith("explicit") else "off"
                        samples[name].append(run_round(ours_port, prompts, args.max_tokens, {"memory": {"mode": mode}}))
                print(f"N={n} round {r + 1}: " + ", ".join(f"{k} {v[-1]['tps']:.1f} tok/s" for k, v in samples.items() if v),
                      file=sys.stderr, flush=True)
            results[n] = {name: {m: statistics.median(s[m] for s in runs) for m in runs[0]}
                          for name, runs in samples.items() if runs}
            # Ratios within a round (same minutes of machine time), then their median: the VM's
            # speed drifts between rounds far more than within one.
            off = samples["memory3 off"]
            if samples["llama.cpp"]:
                results[n]["paired_vs_llama"] = statistics.median(a["tps"] / b["tps"] for a, b in zip(off, samples["llama.cpp"]))
            if samples["memory3 explicit"]:
                results[n]["paired_explicit_vs_off"] = statistics.median(a["tps"] / b["tps"] for a, b in zip(samples["memory3 explicit"], off))
            for name, runs in samples.items():
                if runs:
                    results[n][name]["tps_min"] = min(s["tps"] for s in runs)
                    results[n][name]["tps_max"] = max(s["tps"] for s in runs)
        repeats = {}
        for mode in (["off"] if args.no_explicit else ["off", "explicit"]):
            pairs = [prompt_cache_test(ours_port, mode, 500_000 + 10 * i) for i in range(5)]
            repeats[mode] = {"fresh": statistics.median(p[0] for p in pairs), "repeated": statistics.median(p[1] for p in pairs)}
        cancel = {"memory3": statistics.median(cancel_test(ours_port, args) for _ in range(3))}
        if llama:
            cancel["llama.cpp"] = statistics.median(cancel_test(llama_port, args) for _ in range(3))
    finally:
        stop(ours)
        if llama:
            stop(llama)

    print(f"{datetime.date.today()} {platform.machine()} {os.cpu_count()} cores; model {os.path.basename(args.model)}; "
          f"{args.threads} threads; ~150-token prompts, {args.max_tokens} generated, greedy; medians of {args.rounds} rounds; "
          f"memory3 slots {slots}, llama-server -np {slots}")
    print("| streams | server | aggregate tok/s (min-max) | TTFT p50 / p99 s | ITL p50 / p99 ms |")
    print("| --- | --- | --- | --- | --- |")
    for n, by in results.items():
        for name, m in by.items():
            if not isinstance(m, dict):
                continue
            print(f"| {n} | {name} | {m['tps']:.1f} ({m['tps_min']:.1f}-{m['tps_max']:.1f}) | {m['ttft_p50']:.2f} / {m['ttft_p99']:.2f} "
                  f"| {m['itl_p50'] * 1000:.1f} / {m['itl_p99'] * 1000:.1f} |")
    base = results.get(1, {}).get("memory3 off", {}).get("tps")
    for n, by in results.items():
        ours_off = by["memory3 off"]["tps"]
        line = f"N={n}: memory3 {ours_off / base:.2f}x its single stream" if base else f"N={n}:"
        if "llama.cpp" in by:
            line += f", {by['paired_vs_llama']:.2f}x llama.cpp's server (median of per-round ratios)"
            line += f", TTFT p99 {by['memory3 off']['ttft_p99']:.2f} s vs {by['llama.cpp']['ttft_p99']:.2f} s"
        if "memory3 explicit" in by:
            line += f"; explicit memory {by['paired_explicit_vs_off']:.2f}x of off"
        print(line)
    for mode, r in repeats.items():
        print(f"prompt cache, memory {mode}: TTFT of a new ~150-token prompt {r['fresh']:.3f} s, the same prompt again "
              f"{r['repeated']:.3f} s ({r['repeated'] / r['fresh']:.2f}x; medians of 5)")
    print("time from a 2,000-token prompt's client leaving to the next request's first token: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in cancel.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "cancel": cancel, "prompt_cache": repeats}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
