#!/usr/bin/env python3
"""Side-by-side speed of memory3 and llama.cpp on the same model and the same machine.

Runs `memory3 bench` and scripts/bench-llama-cpp.py alternately (A B A B ...) after one warm-up
of each, for each thread count, and prints medians and ratios (ours / llama.cpp).
    python3 scripts/bench.py [--pairs 5] [--threads 1,2] [--prompt-tokens 512] [--gen-tokens 128]
                             [--contended] [--json] [--llama-bench PATH]
--llama-bench (or LLAMA_BENCH=) adds llama.cpp built for this CPU (`llama-bench`, e.g. from
../shared/tools/llama-cpp-native/) to the alternation: the speed anchor a user would compare with;
the default reference is llama-cpp-python from the shared wheel (built for AVX2 only).
--contended runs a busy loop pinned to CPU 0 during the measurements (another process taking a core).
`make bench` builds the release binary and the reference venv, then runs this.
"""
import argparse, json, os, statistics, subprocess, sys, time, platform, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = os.path.join(ROOT, ".build", "release", "memory3")
REF_PY = os.path.join(ROOT, ".venv-ref", "bin", "python")
METRICS = ["prefill_tps", "decode_tps", "peak_rss_mb"]


def run(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_llama_bench(args, threads):
    """One llama-bench repetition of prefill (pp) and decode (tg), in bench.py's metric names."""
    cmd = [args.llama_bench, "-m", args.model, "-p", str(args.prompt_tokens), "-n", str(args.gen_tokens),
           "-t", str(threads), "-r", "1", "-o", "json"]
    rows = json.loads(subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    prefill = next(r["avg_ts"] for r in rows if r["n_prompt"] > 0 and r["n_gen"] == 0)
    decode = next(r["avg_ts"] for r in rows if r["n_gen"] > 0 and r["n_prompt"] == 0)
    return {"prefill_tps": prefill, "decode_tps": decode, "peak_rss_mb": float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--contended", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH"),
                    help="path of llama.cpp's llama-bench built for this CPU (adds a 'llama.cpp native' column)")
    args = ap.parse_args()

    busy = None
    if args.contended:
        busy = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    results = {}
    try:
        for threads in [int(t) for t in args.threads.split(",")]:
            common = ["--model", args.model, "--prompt-tokens", str(args.prompt_tokens),
                      "--gen-tokens", str(args.gen_tokens), "--threads", str(threads)]
            ours_cmd = [OURS, "bench", "--json"] + common
            ref_cmd = [REF_PY, os.path.join(ROOT, "scripts", "bench-llama-cpp.py")] + common
            runners = {"memory3": lambda: run(ours_cmd), "llama.cpp": lambda: run(ref_cmd)}
            if args.llama_bench:
                runners["llama.cpp native"] = lambda: run_llama_bench(args, threads)
            for runner in runners.values():
                runner()  # warm-up: page cache, CPU frequency
            samples = {name: [] for name in runners}
            for _ in range(args.pairs):
                for name, runner in runners.items():
                    samples[name].append(runner())
            results[threads] = {
                name: {m: statistics.median(s[m] for s in runs) for m in METRICS}
                for name, runs in samples.items()
            }
    finally:
        if busy:
            busy.kill()

    if args.json:
        print(json.dumps(results, sort_keys=True))
        return
    print(f"{datetime.date.today()} {platform.machine()} {os.cpu_count()} cores; model {os.path.basename(args.model)}; "
          f"prompt {args.prompt_tokens}, generate {args.gen_tokens}; medians of {args.pairs} A/B pairs"
          + ("; CONTENDED (busy loop on CPU 0)" if args.contended else ""))
    native = bool(args.llama_bench)
    print("| threads | metric | memory3 | llama.cpp (python) | ratio |" + (" llama.cpp native | ratio |" if native else ""))
    print("| --- | --- | --- | --- | --- |" + (" --- | --- |" if native else ""))
    for threads, r in results.items():
        for m in METRICS:
            a, b = r["memory3"][m], r["llama.cpp"][m]
            row = f"| {threads} | {m} | {a:.1f} | {b:.1f} | {a / b:.2f}x |"
            if native:
                c = r["llama.cpp native"][m]
                row += " - | - |" if c != c else f" {c:.1f} | {a / c:.2f}x |"
            print(row)


if __name__ == "__main__":
    main()
