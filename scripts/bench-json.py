#!/usr/bin/env python3
"""The cost of constrained decoding on generation speed: `response_format` json_object and
json_schema against plain text.

Starts `memory3 serve` (release build, SmolLM2) and rotates the same greedy chat requests through
the three formats, ROUNDS times; reports generated tokens per second of wall time (prompt reading
included, identical for all) as medians, and their ratios to plain.

    python3 scripts/bench-json.py [--rounds 5] [--bin .build/release/memory3]
"""
import argparse
import http.client
import json
import statistics
import tempfile
import time

from serverkit import BIN, SMOLLM2, start_server, wait_ready

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "height", "colours", "history"],
          "properties": {"name": {"type": "string"}, "height": {"type": "number"},
                         "colours": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                         "history": {"type": "string"}}}
FORMATS = {"plain": None, "json_object": {"type": "json_object"},
           "json_schema": {"type": "json_schema", "json_schema": {"name": "thing", "schema": SCHEMA, "strict": True}}}
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

    def chat(prompt, format):
        body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 128, "temperature": 0}
        if FORMATS[format]:
            body["response_format"] = FORMATS[format]
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
            chat(prompt, "plain")
        rates = {name: [] for name in FORMATS}
        names = list(FORMATS)
        for round in range(args.rounds):
            for prompt in PROMPTS:
                for name in names[round % 3:] + names[:round % 3]:
                    rates[name].append(chat(prompt, name))
        medians = {name: statistics.median(r) for name, r in rates.items()}
        plain = medians["plain"]
        print(f"bench-json: {len(rates['plain'])} requests each, greedy, 2 threads (medians of wall-time rates, prompt reading included): "
              + ", ".join(f"{name} {m:.1f} tok/s ({m / plain:.2f}x)" for name, m in medians.items()))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
