#!/usr/bin/env python3
"""Fits product-quantization codebooks for a model's memories: k-means over the key and value
vectors the model writes for generated references, per (layer, KV head) row, per side (keys,
values) and per group of --channels adjacent dimensions, 2^--bits centroids each (coupled
quantization, arXiv 2405.03917: bits/channels bits a value, no per-group scale or minimum).

The training references are generated (scripts/make-calibration-set.py --seed 303 --references
300, joined two and three at a time into ~110-token references, so that keys cover the RoPE
positions of a 128-token memory), never the public eval sets. `memory3 scorer-fitness --dump-kv`
writes their dense key/values; this script fits and writes FILE (float32 [rows][2][groups]
[2^bits][channels]) and FILE.json (the shape), which `memory3 scorer-fitness --codebooks FILE`
measures on a development set; `--measure FILE --set DEV` prints the codes' squared error there. A run is reproducible by --seed (torch's k-means on CPU).

    /work/venv-train/bin/python scripts/fit-kv-codebooks.py -m models/gemma-3-270m-q4_k_m.gguf \\
        --channels 4 --bits 8 --out /tmp/gemma-4c8b.bin
"""
import argparse, json, os, struct, subprocess, sys, tempfile, time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def training_set(path, seed, references):
    raw = path + ".raw.json"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/make-calibration-set.py"), "--seed", str(seed),
                    "--references", str(references), "--out", raw], check=True, stdout=subprocess.DEVNULL)
    generated = json.load(open(raw))
    texts = [r["text"] for r in generated["references"]]
    joined, i, k = [], 0, 0
    while i < len(texts):
        n = 2 if k % 2 == 0 else 3
        joined.append({"id": k, "text": " ".join(texts[i:i + n])})
        i, k = i + n, k + 1
    json.dump({**generated, "references": joined, "questions": []}, open(path, "w"))
    return len(joined)


def read_dump(path, keys_as):
    """Keys and values [rows][all tokens][dim]; keys_as "centered": each memory's keys less their
    mean over its tokens, per row and channel; "standardized": also divided by their deviation
    (what a memory would store at fp16 beside its key codes)."""
    data = open(path, "rb").read()
    offset, keys, values = 0, [], []
    while offset < len(data):
        rows, tokens, dim, _ = struct.unpack_from("4i", data, offset)
        offset += 16 + 4 * rows * tokens
        for side in (keys, values):
            side.append(np.frombuffer(data, np.float32, rows * tokens * dim, offset).reshape(rows, tokens, dim))
            offset += 4 * rows * tokens * dim
        if keys_as != "plain":
            keys[-1] = keys[-1] - keys[-1].mean(1, keepdims=True)
        if keys_as == "standardized":
            deviation = np.sqrt((keys[-1] ** 2).mean(1, keepdims=True))
            keys[-1] = keys[-1] / np.where(deviation > 0, deviation, 1)
    return np.concatenate(keys, 1), np.concatenate(values, 1)


def nearest_centroids(x, centroids):
    """x: [groups, n, channels], centroids [groups, entries, channels] -> (each vector's nearest
    entry [groups, n], the vectors rebuilt from them)."""
    distance = -2 * torch.bmm(x, centroids.transpose(1, 2)) + (centroids * centroids).sum(-1).unsqueeze(1)
    nearest = distance.argmin(-1)
    return nearest, torch.gather(centroids, 1, nearest.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def dump_key_values(args, eval_set, path):
    """`memory3 scorer-fitness --dump-kv`: the dense key/values of eval_set's references."""
    subprocess.run([args.binary, "scorer-fitness", "--set", eval_set, "-m", args.model, "--dump-kv", path],
                   check=True, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kmeans(x, entries, iterations, generator):
    """x: [groups, n, channels] -> centroids [groups, entries, channels] (Lloyd, random start,
    an emptied centroid restarts at a random point)."""
    groups, n, channels = x.shape
    centroids = x[:, torch.randperm(n, generator=generator)[:entries], :].clone()
    for _ in range(iterations):
        nearest, _ = nearest_centroids(x, centroids)
        sums = torch.zeros(groups, entries, channels).scatter_add_(1, nearest.unsqueeze(-1).expand(-1, -1, channels), x)
        counts = torch.zeros(groups, entries).scatter_add_(1, nearest, torch.ones(groups, n))
        centroids = sums / counts.clamp(min=1).unsqueeze(-1)
        empty = counts == 0
        if empty.any():
            picks = torch.randint(0, n, (int(empty.sum()),), generator=generator)
            centroids[empty] = x[empty.nonzero()[:, 0], picks]
    _, rebuilt = nearest_centroids(x, centroids)
    return centroids, float(((rebuilt - x) ** 2).sum() / (x ** 2).sum())


def measure(args):
    """Relative squared error of --measure's codebooks on the key/values of --set's references."""
    shape = json.load(open(args.measure + ".json"))
    rows, dim, channels, bits = shape["rows"], shape["head_dim"], shape["channels"], shape["bits"]
    books = np.fromfile(args.measure, np.float32).reshape(rows, 2, dim // channels, 1 << bits, channels)
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "kv.bin")
        dump_key_values(args, args.set, dump)
        key_form = shape.get("keys", "plain")
        keys, values = read_dump(dump, key_form)
        # Plain keys' error is also told against the part that varies between a memory's tokens.
        centered_keys = read_dump(dump, "centered")[0] if key_form == "plain" else None
    for side, x in enumerate((keys, values)):
        error = energy = varying = 0.0
        for row in range(rows):
            v = torch.from_numpy(x[row].reshape(-1, dim // channels, channels).transpose(1, 0, 2).copy())
            _, rebuilt = nearest_centroids(v, torch.from_numpy(books[row, side]))
            error += float(((rebuilt - v) ** 2).sum())
            energy += float((v ** 2).sum())
            if side == 0 and centered_keys is not None:
                varying += float((centered_keys[row] ** 2).sum())
        line = f"{'keys' if side == 0 else 'values'}: error {error / energy:.4f} of the energy"
        if varying:
            line += f", {error / varying:.4f} of the part that varies between a memory's tokens"
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/memory3"))
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--channels", type=int, default=4, help="adjacent dimensions coded together")
    ap.add_argument("--bits", type=int, default=8, help="bits a code (2^bits centroids a group)")
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--train-seed", type=int, default=303)
    ap.add_argument("--references", type=int, default=300, help="generated references before joining")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keys", choices=["plain", "centered", "standardized"], default="plain",
                    help="code each memory's keys as they are, less their per-channel mean, or also over their "
                         "per-channel deviation (mean and deviation stored beside the codes at fp16)")
    ap.add_argument("--out", help="where the codebooks go (FILE and FILE.json)")
    ap.add_argument("--measure", metavar="FILE", help="instead of fitting: the error of these codebooks on --set's key/values")
    ap.add_argument("--set", help="with --measure: a development set (eval-set JSON)")
    args = ap.parse_args()
    if args.measure:
        return measure(args)
    if not args.out:
        ap.error("--out is required to fit")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        count = training_set(os.path.join(tmp, "train.json"), args.train_seed, args.references)
        dump = os.path.join(tmp, "kv.bin")
        dump_key_values(args, os.path.join(tmp, "train.json"), dump)
        keys, values = read_dump(dump, args.keys)
    rows, n, dim = keys.shape
    if dim % args.channels:
        sys.exit(f"--channels {args.channels} does not divide the head dim {dim}")
    groups, entries = dim // args.channels, 1 << args.bits
    print(f"{count} references, {n} tokens a row, {rows} rows x {dim} dims: {groups} groups of {args.channels}, {entries} centroids",
          flush=True)
    books = np.zeros((rows, 2, groups, entries, args.channels), np.float32)
    errors = [[], []]
    started = time.time()
    for row in range(rows):
        for side, x in enumerate((keys[row], values[row])):
            x = torch.from_numpy(x.reshape(n, groups, args.channels).transpose(1, 0, 2).copy())
            centroids, error = kmeans(x, entries, args.iterations, generator)
            books[row, side] = centroids.numpy()
            errors[side].append(error)
    books.tofile(args.out)
    json.dump({"rows": rows, "head_dim": dim, "channels": args.channels, "bits": args.bits, "keys": args.keys, "train_seed": args.train_seed,
               "references": count, "seed": args.seed, "iterations": args.iterations,
               "key_relative_error": float(np.mean(errors[0])), "value_relative_error": float(np.mean(errors[1]))},
              open(args.out + ".json", "w"), indent=1)
    print(f"fitted in {time.time() - started:.0f} s; relative squared error on the training vectors: keys "
          f"{np.mean(errors[0]):.4f}, values {np.mean(errors[1]):.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
