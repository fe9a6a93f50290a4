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
import os
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["Describe a lighthouse as JSON with keys height, colour and history.",
           "Give the name, age and ship of a fictional sailor as JSON.",
           "List five colours with their hex codes in a JSON object."]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release/memory3"))
    parser.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tempfile.mkdtemp(prefix="memory3-bench-json-")
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({"memory": {"db": None}}, f)
    server = subprocess.Popen([args.bin, "serve", "--config", config, "--model", args.model, "--host", "127.0.0.1",
                               "--port", str(port), "--threads", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

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
        for _ in range(600):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/ready")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
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
