#!/usr/bin/env python3
"""Evolves the token scorer of sparse memories (`selection=evolved`) with CMA-ES, NAMM's recipe in
small: a linear scorer over standardised per-token features (attention received while the model
read the reference, key and value norms, surprise, position; see Sources/Memory3Memory/
TokenFeatures.swift), shared by every layer and KV head, trained to maximise the gold answer's
log-probability when each (layer, head) keeps only its best tokens.

The training set is generated here (scripts/make-calibration-set.py with --train-seed: invented
facts, never the public eval sets). Fitness comes from `memory3 scorer-fitness`, a long-running
process that read the references once. A run is reproducible by --seed and --train-seed (same
binary and --threads: the fitness is a float sum whose order follows the thread split).

Writes config/token-scorer.json (weights, settings, the CMA-ES curve, the hand-written rules'
scores) and Sources/Memory3Memory/EvolvedTokenScorer.swift (the weights the `evolved` rule uses).

    python3 -m venv .venv-tools && .venv-tools/bin/pip install cma
    .venv-tools/bin/python scripts/evolve-token-scorer.py [--tokens 35%] [--generations 16]
"""
import argparse, json, os, subprocess, sys, tempfile, time

FEATURES = ["meanAttention", "recentAttention", "peakAttention", "keyNorm", "valueNorm", "surprise", "position"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/memory3"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tokens", default="35%", help="token budget per (layer, KV head) the scorer is trained at")
    ap.add_argument("--references", type=int, default=40)
    ap.add_argument("--train-seed", type=int, default=101, help="seed of the generated training set")
    ap.add_argument("--seed", type=int, default=1, help="CMA-ES seed")
    ap.add_argument("--generations", type=int, default=16)
    ap.add_argument("--popsize", type=int, default=10)
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--json-out", default=os.path.join(ROOT, "config/token-scorer.json"))
    ap.add_argument("--swift-out", default=os.path.join(ROOT, "Sources/Memory3Memory/EvolvedTokenScorer.swift"))
    args = ap.parse_args()
    try:
        import cma
    except ImportError:
        sys.exit("needs the PyPI package cma: python3 -m venv .venv-tools && .venv-tools/bin/pip install cma")

    started = time.time()
    train = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/make-calibration-set.py"), "--seed", str(args.train_seed),
                    "--references", str(args.references), "--out", train], check=True, stdout=subprocess.DEVNULL)
    fitness = subprocess.Popen([args.binary, "scorer-fitness", "--set", train, "--tokens", args.tokens, "-m", args.model,
                                "--threads", str(args.threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def score(line):
        fitness.stdin.write(line + "\n")
        fitness.stdin.flush()
        reply = fitness.stdout.readline()
        if not reply:
            sys.exit("scorer-fitness exited")
        return json.loads(reply)["answer_logprob"]

    baselines = {name: score(name) for name in ["h2o", "keyNorm"]}
    single = {}
    for i, name in enumerate(FEATURES):
        for sign in (1, -1):
            w = [0.0] * len(FEATURES)
            w[i] = float(sign)
            single[("+" if sign > 0 else "-") + name] = score(json.dumps(w))
    best_single = max(single, key=single.get)
    print(f"hand-written rules at {args.tokens}: h2o {baselines['h2o']:.3f}, keyNorm {baselines['keyNorm']:.3f}; "
          f"best single feature {best_single} {single[best_single]:.3f}", flush=True)

    es = cma.CMAEvolutionStrategy([0.0] * len(FEATURES), args.sigma,
                                  {"seed": args.seed, "popsize": args.popsize, "maxiter": args.generations, "verbose": -9})
    curve, best = [], (None, -float("inf"))
    while not es.stop():
        candidates = es.ask()
        values = [score(json.dumps([round(float(x), 5) for x in c])) for c in candidates]
        es.tell(candidates, [-v for v in values])
        for c, v in zip(candidates, values):
            if v > best[1]:
                best = ([round(float(x), 5) for x in c], v)
        ordered = sorted(values, reverse=True)
        curve.append({"generation": len(curve) + 1, "best": ordered[0], "median": ordered[len(ordered) // 2],
                      "best_so_far": best[1], "sigma": float(es.sigma), "seconds": round(time.time() - started, 1)})
        print(f"generation {len(curve)}: best {ordered[0]:.3f}, median {ordered[len(ordered) // 2]:.3f}, "
              f"best so far {best[1]:.3f}, sigma {es.sigma:.3f}, {time.time() - started:.0f} s", flush=True)
    mean = [round(float(x), 5) for x in es.result.xfavorite]
    mean_score = score(json.dumps(mean))
    weights, value = (mean, mean_score) if mean_score >= best[1] else best
    fitness.stdin.close()
    fitness.wait()
    os.unlink(train)

    report = {
        "features": FEATURES, "weights": weights, "answer_logprob": value,
        "settings": {"tokens": args.tokens, "references": args.references, "train_seed": args.train_seed,
                     "seed": args.seed, "generations": args.generations, "popsize": args.popsize, "sigma": args.sigma,
                     "model": os.path.basename(args.model), "threads": args.threads},
        "hand_written": baselines, "single_feature": single, "curve": curve,
        "seconds": round(time.time() - started, 1),
    }
    with open(args.json_out, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    numbers = ", ".join(f"{w:g}" for w in weights)
    with open(args.swift_out, "w") as f:
        f.write(f"""/// The weights of the evolved token scorer (`MemoryProfile.TokenSelection.evolved`), one per
/// `TokenFeatures.Feature` in order ({", ".join(FEATURES)}).
/// Written by scripts/evolve-token-scorer.py (CMA-ES, seed {args.seed}, on a training set generated
/// with seed {args.train_seed}, at tokens={args.tokens}); config/token-scorer.json has its curve.
enum EvolvedTokenScorer {{
    static let weights: [Float] = [{numbers}]
}}
""")
    print(f"weights {weights}: answer log-prob {value:.3f} (h2o {baselines['h2o']:.3f}, keyNorm {baselines['keyNorm']:.3f}, "
          f"{best_single} {single[best_single]:.3f}); {report['seconds']:.0f} s; wrote {args.json_out} and {args.swift_out}")


if __name__ == "__main__":
    main()
