#!/usr/bin/env python3
"""Measures the size/quality frontier of explicit memory: for every profile x codec given, runs
`memory3 eval --modes explicit --k 5` (retrieval and head rerank as served) on each eval set and
records exact match, answer log-prob and the stored memory size (blob bytes per 128 reference
tokens, header and zlib included). Writes a JSON of the points and, with matplotlib, a PNG plot.

    .venv-tools/bin/python scripts/memory-frontier.py --sets ../shared/eval/fictional-public.json \\
        --points "dense:int8;dense:int4;custom:tokens=35%,selection=evolved:int4" --out docs/memory-frontier
A point is PROFILE:CODEC (the codec after the last colon). --default marks the served default;
--append adds the points to an existing OUT.json instead of starting a new one.
"""
import argparse, json, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(binary, model, threads, eval_set, profile, codec, limit):
    command = [binary, "eval", "--set", eval_set, "--modes", "explicit", "--k", "5", "--profile", profile,
               "--codec", codec, "-m", model, "--threads", str(threads), "--json"]
    if limit:
        command += ["--limit", str(limit)]
    started = time.time()
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{run.stderr[-2000:]}")
    size = re.search(r"memory size: ([0-9.]+) MB per 128", run.stderr)
    scores = json.loads(run.stdout.strip().splitlines()[-1])["explicit"]
    return {"set": os.path.basename(eval_set), "profile": profile, "codec": codec,
            "mb_per_128_tokens": float(size.group(1)) if size else None,
            "exact_match": scores["exact_match"], "answer_logprob": scores["answer_logprob"],
            "recall_at_5": scores["recall_at_k"], "questions": scores["questions"],
            "seconds": round(time.time() - started, 1)}


def plot(points, default, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (.venv-tools/bin/pip install matplotlib)")
        return
    sets = sorted({p["set"] for p in points})
    figure, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets), 5), squeeze=False)
    for axis, name in zip(axes[0], sets):
        for p in (p for p in points if p["set"] == name):
            label = f"{p['profile'].replace('custom:', '')} {p['codec']}"
            is_default = (p["profile"], p["codec"]) == default
            axis.scatter(p["mb_per_128_tokens"], 100 * p["exact_match"], s=90 if is_default else 30,
                         marker="*" if is_default else "o", color="crimson" if is_default else "steelblue", zorder=3)
            axis.annotate(label + (" (default)" if is_default else ""), (p["mb_per_128_tokens"], 100 * p["exact_match"]),
                          fontsize=7, xytext=(4, 3), textcoords="offset points")
        axis.axvline(0.35, color="gray", linestyle="--", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_xlabel("stored MB per 128 reference tokens")
        axis.set_ylabel("explicit exact match, k = 5 (%)")
        axis.set_title(name)
        axis.grid(True, linewidth=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/memory3"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--sets", help="comma-separated eval sets")
    ap.add_argument("--points", help="semicolon-separated PROFILE:CODEC points")
    ap.add_argument("--replot", action="store_true", help="only redraw OUT.png from OUT.json (with --default)")
    ap.add_argument("--default", help="the served default, PROFILE:CODEC")
    ap.add_argument("--limit", type=int, help="only the first N questions of each set")
    ap.add_argument("--append", action="store_true",
                    help="add the points to OUT.json (replacing any of the same set, profile and codec) and replot")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/memory-frontier"), help="path without extension")
    args = ap.parse_args()
    split = lambda point: tuple(point.strip().rsplit(":", 1))
    if args.replot:
        with open(args.out + ".json") as f:
            saved = json.load(f)
        default = split(args.default) if args.default else tuple(saved["default"] or ()) or None
        saved["default"] = list(default) if default else None
        with open(args.out + ".json", "w") as f:
            json.dump(saved, f, indent=1)
            f.write("\n")
        plot(saved["points"], default, args.out + ".png")
        return
    if not args.sets or not args.points:
        ap.error("--sets and --points are required (or --replot)")
    points = []
    for eval_set in args.sets.split(","):
        for point in args.points.split(";"):
            profile, codec = split(point)
            p = measure(args.binary, args.model, args.threads, eval_set, profile, codec, args.limit)
            points.append(p)
            print(f"{p['set']} {profile} {codec}: {p['mb_per_128_tokens']:.3f} MB, EM {100 * p['exact_match']:.1f}%, "
                  f"log-prob {p['answer_logprob']:.2f} ({p['seconds']} s)", flush=True)
    default = split(args.default) if args.default else None
    if args.append and os.path.exists(args.out + ".json"):
        with open(args.out + ".json") as f:
            saved = json.load(f)
        key = lambda p: (p["set"], p["profile"], p["codec"])
        new = {key(p) for p in points}
        points = [p for p in saved["points"] if key(p) not in new] + points
        default = default or (tuple(saved["default"]) if saved["default"] else None)
    with open(args.out + ".json", "w") as f:
        json.dump({"default": list(default) if default else None, "points": points}, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}.json")
    plot(points, default, args.out + ".png")


if __name__ == "__main__":
    main()
