#!/usr/bin/env python3
"""The llama.cpp side of `memory3 bench`: same model, same prompt text, same token counts, same JSON.

Run with the reference venv (scripts/setup-reference-venv.sh makes it):
    .venv-ref/bin/python scripts/bench-llama-cpp.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf \
        --prompt-tokens 512 --gen-tokens 128 --threads 2
Prints {"prefill_tps":..,"decode_tps":..,"load_s":..,"peak_rss_mb":..,"threads":..}.
"""
import argparse, json, resource, statistics, time

# The same text as `memory3 bench` (Sources/memory3/BenchCommand.swift), repeated to length.
BENCH_TEXT = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a can of oil and a "
    "cloth for the lens. Ships passing the rocky headland relied on the beam to find the channel between "
    "the reefs, and the keeper logged the weather, the passing vessels and the hours the lamp burned. "
    "In 1874 the station received a new Fresnel lens, ground in Paris, which threw the light twenty miles "
    "out to sea."
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repetitions", type=int, default=1)
    args = ap.parse_args()

    import llama_cpp
    import numpy as np
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=args.prompt_tokens + args.gen_tokens + 8,
                          n_batch=512, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    load_s = time.perf_counter() - t0

    piece = llm.tokenize(BENCH_TEXT.encode(), add_bos=False, special=False)
    prompt = []
    while len(prompt) < args.prompt_tokens:
        prompt += piece
    prompt = prompt[: args.prompt_tokens]

    prefill, decode = [], []
    for _ in range(args.repetitions):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        for _ in range(args.gen_tokens):
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
            tok = int(logits.argmax())
            llm.eval([tok])
        t2 = time.perf_counter()
        prefill.append(len(prompt) / (t1 - t0))
        decode.append(args.gen_tokens / (t2 - t1))

    print(json.dumps({
        "prefill_tps": statistics.median(prefill),
        "decode_tps": statistics.median(decode),
        "load_s": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": args.threads,
        "prompt_tokens": len(prompt),
        "gen_tokens": args.gen_tokens,
    }, sort_keys=True))


if __name__ == "__main__":
    main()
