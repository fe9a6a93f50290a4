#!/usr/bin/env python3
"""The cost of `response_format: json_object` (constrained decoding) on generation speed.

Starts `memory3 serve` (release build, SmolLM2) and alternates the same greedy chat requests with
and without the constraint, ROUNDS times; reports generated tokens per second of wall time
(prompt reading included, identical for both) as medians, and their ratio.

    python3 scripts/bench-json.py [--rounds 5] [--bin .build/release/memory3]
"""
import argparse
import http.client
import json
import statistics
import tempfile
import time

from serverkit import BIN, SMOLLM2, start_server, wait_ready

PROMPTS = ["Describe a lighthouse as JSON with keys height, colour and history.",
           "Give the name, age and ship of a fictional sailor as JSON.",
           "List five colours with their hex codes in a JSON object."]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=BIN)
    parser.add_argument("--model", default=SMOLLM2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server, port, log = start_server(args.bin, args.model, tempfile.mkdtemp(prefix="memory3-bench-json-"), {"memory": {"db": None}})

    def chat(prompt, constrained):
        body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 128, "temperature": 0}
        if constrained:
            body["response_format"] = {"type": "json_object"}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.perf_counter()
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        answer = json.loads(connection.getresponse().read())
        seconds = time.perf_counter() - started
        connection.close()
        return answer["usage"]["completion_tokens"] / seconds

    try:
        wait_ready(server, port)
        for prompt in PROMPTS:  # warm up
            chat(prompt, False)
        plain, constrained = [], []
        for round in range(args.rounds):
            for prompt in PROMPTS:
                order = [False, True] if round % 2 == 0 else [True, False]
                for c in order:
                    (constrained if c else plain).append(chat(prompt, c))
        p, c = statistics.median(plain), statistics.median(constrained)
        print(f"bench-json: {len(plain)} requests each, greedy, 2 threads: plain {p:.1f} tok/s, json_object {c:.1f} tok/s "
              f"({c / p:.2f}x; medians of wall-time rates, prompt reading included)")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
