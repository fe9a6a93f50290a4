#!/usr/bin/env python3
"""Side-by-side speed of memory3 and llama.cpp on the same model, the same work and the same machine.

Two anchors, run alternately with ours (A B C A B C ...) after one warm-up of each, per thread count:
  - llama.cpp built for this CPU (`llama-bench` from ../shared/tools/llama-cpp-native/, or --llama-bench
    PATH / LLAMA_BENCH=): what a user who builds llama.cpp here gets, the speed anchor;
  - llama-cpp-python from the shared wheel (built for AVX2 only): the correctness reference, kept as a
    second column.
The work, the same for all three:
  prefill_tps        a --prompt-tokens prompt into an empty context
  decode_tps         --gen-tokens tokens generated after that prompt (context N .. N+G), greedy
  decode_empty_tps   --gen-tokens tokens generated from an (almost) empty context
llama-bench's own tg test starts from an empty context; decode after the prompt is its `-d N` (depth),
so it is asked for both. Reported: medians, ours / anchor ratios, and each side's spread (min-max
over the pairs, and max / min).
    python3 scripts/bench.py [--pairs 5] [--threads 1,2] [--prompt-tokens 512] [--gen-tokens 128]
                             [--contended] [--json] [--llama-bench PATH] [--native-flags '-fa 0'] [--no-native] [--no-wheel]
--contended runs a busy loop pinned to CPU 0 during the measurements (another process taking a core).
`make bench` builds the release binary and the reference venv, then runs this.
"""
import argparse, json, os, signal, statistics, subprocess, sys, time, platform, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = os.path.join(ROOT, ".build", "release", "memory3")
REF_PY = os.path.join(ROOT, ".venv-ref", "bin", "python")
NATIVE_DEFAULT = os.path.join(os.path.dirname(ROOT), "shared", "tools", "llama-cpp-native", "llama-bench")
METRICS = ["prefill_tps", "decode_tps", "decode_empty_tps"]
OURS_NAME, NATIVE_NAME, WHEEL_NAME = "memory3", "llama.cpp native", "llama.cpp wheel"


def run_json(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_prompt_then_empty(cmd, args):
    """A `memory3 bench`-style command twice: after a prompt, and from a one-token prompt."""
    after = run_json(cmd + ["--prompt-tokens", str(args.prompt_tokens)])
    empty = run_json(cmd + ["--prompt-tokens", "1"])
    return {"prefill_tps": after["prefill_tps"], "decode_tps": after["decode_tps"],
            "decode_empty_tps": empty["decode_tps"]}


def llama_bench_json(cmd, path):
    """One llama-bench run's JSON; a binary built for another CPU (SIGILL) stops bench.py with how to rebuild it."""
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode == -signal.SIGILL:
        sys.exit(f"bench.py: {path} stops with 'illegal instruction': it was built for another CPU. Build llama.cpp "
                 "for this one with scripts/build-llama-native.sh (~15 min; it prints the path) and pass --llama-bench PATH "
                 "(make bench LLAMA_BENCH=PATH), or pass --no-native")
    if done.returncode != 0:
        sys.exit(f"bench.py: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def run_llama_bench(args, threads):
    """llama-bench, one repetition each: pp N and tg G from an empty context, then tg G at depth N."""
    base = [args.llama_bench, "-m", args.model, "-t", str(threads), "-r", "1", "-o", "json"] + args.native_flags.split()
    first = llama_bench_json(base + ["-p", str(args.prompt_tokens), "-n", str(args.gen_tokens), "-d", "0"], args.llama_bench)
    deep = llama_bench_json(base + ["-p", "0", "-n", str(args.gen_tokens), "-d", str(args.prompt_tokens)], args.llama_bench)
    return {"prefill_tps": next(r["avg_ts"] for r in first if r["n_prompt"] > 0 and r["n_gen"] == 0),
            "decode_empty_tps": next(r["avg_ts"] for r in first if r["n_gen"] > 0 and r["n_prompt"] == 0),
            "decode_tps": next(r["avg_ts"] for r in deep if r["n_gen"] > 0)}


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "spread": max(values) / min(values), "samples": values}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--contended", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH") or NATIVE_DEFAULT,
                    help="llama.cpp's llama-bench built for this CPU (default: %(default)s)")
    ap.add_argument("--native-flags", default="",
                    help="extra llama-bench flags, e.g. '-fa 0' (its default flash attention is auto: on for CPU)")
    ap.add_argument("--no-native", action="store_true", help="leave out llama.cpp built for this CPU")
    ap.add_argument("--no-wheel", action="store_true", help="leave out the llama-cpp-python wheel")
    args = ap.parse_args()
    if args.no_native:
        args.llama_bench = None
    elif not os.access(args.llama_bench, os.X_OK):
        sys.exit(f"bench.py: no llama-bench at {args.llama_bench} (the native anchor; see ../shared/tools/"
                 "llama-cpp-native/README.md to build it, or pass --no-native)")

    busy = None
    if args.contended:
        busy = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    results = {}
    try:
        for threads in [int(t) for t in args.threads.split(",")]:
            common = ["--model", args.model, "--gen-tokens", str(args.gen_tokens), "--threads", str(threads)]
            ours_cmd = [OURS, "bench", "--json"] + common
            wheel_cmd = [REF_PY, os.path.join(ROOT, "scripts", "bench-llama-cpp.py")] + common
            runners = {OURS_NAME: lambda: run_prompt_then_empty(ours_cmd, args)}
            if args.llama_bench:
                runners[NATIVE_NAME] = lambda: run_llama_bench(args, threads)
            if not args.no_wheel:
                runners[WHEEL_NAME] = lambda: run_prompt_then_empty(wheel_cmd, args)
            for runner in runners.values():
                runner()  # warm-up: page cache, CPU frequency
            samples = {name: [] for name in runners}
            for _ in range(args.pairs):
                for name, runner in runners.items():
                    samples[name].append(runner())
            results[threads] = {name: {m: summary([s[m] for s in runs]) for m in METRICS}
                                for name, runs in samples.items()}
    finally:
        if busy:
            busy.kill()

    if args.json:
        print(json.dumps(results, sort_keys=True))
        return
    print(f"{datetime.date.today()} {platform.machine()} {os.cpu_count()} cores; model {os.path.basename(args.model)}; "
          f"prompt {args.prompt_tokens}, generate {args.gen_tokens}; medians (min-max) of {args.pairs} alternating runs"
          + (f"; llama-bench {args.native_flags}" if args.native_flags and args.llama_bench else "")
          + ("; CONTENDED (busy loop on CPU 0)" if args.contended else ""))
    anchors = [name for name in (NATIVE_NAME, WHEEL_NAME) if name in next(iter(results.values()))]
    print("| threads | tok/s | memory3 | " + " | ".join(f"{a} | ratio" for a in anchors) + " | spread (max/min) memory3 / "
          + " / ".join(anchors) + " |")
    print("| --- | --- | --- | " + " | ".join("--- | ---" for _ in anchors) + " | --- |")
    for threads, r in results.items():
        for m in METRICS:
            ours = r[OURS_NAME][m]
            cells = [f"{ours['median']:.1f} ({ours['min']:.0f}-{ours['max']:.0f})"]
            for a in anchors:
                x = r[a][m]
                cells.append(f"{x['median']:.1f} ({x['min']:.0f}-{x['max']:.0f}) | {ours['median'] / x['median']:.2f}x")
            spreads = " / ".join(f"{r[name][m]['spread']:.2f}" for name in [OURS_NAME] + anchors)
            print(f"| {threads} | {m} | " + " | ".join(cells) + f" | {spreads} |")


if __name__ == "__main__":
    main()
