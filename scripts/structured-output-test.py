#!/usr/bin/env python3
"""Structured output and tool calls through the clients people use, against a running server:

- the `openai` SDK's `chat.completions.parse` with a Pydantic model;
- LangChain's `with_structured_output` (Pydantic model): a valid object 20 times in a row
  (sampled at temperature 0.8 with 20 seeds, so the 20 answers differ);
- LangChain's `bind_tools` with two tools (`tool_choice="any"`, OpenAI's "required"): the right tool
  and arguments on 3 fixed prompts, and the same call from the streamed deltas;
- 200 random JSON schemas (seed 2026): every answer parses and validates (`jsonschema`), and ends
  by itself ("stop") within max_tokens.

    MEMORY3_URL=http://127.0.0.1:8080 [MEMORY3_KEY=...] python3 scripts/structured-output-test.py [--schemas 200]

Needs openai, langchain-openai and jsonschema (scripts/client-tests.sh installs them and runs this).
Exits non-zero on any failure.
"""
import argparse
import json
import os
import random
import sys
import time
import traceback

import jsonschema
import openai
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

URL = os.environ.get("MEMORY3_URL", "http://127.0.0.1:8080")
KEY = os.environ.get("MEMORY3_KEY", "none")


class Sailor(BaseModel):
    name: str = Field(description="the sailor's full name")
    age: int
    ship: str
    captain: bool


def random_schema(rng, depth=0, nullable=True):
    """A schema of the kinds constrained decoding takes: objects (some properties optional),
    arrays with bounds, enums, consts, bounded strings, numbers, booleans, nulls, nullable unions
    (whose alternatives begin differently, as the decoder needs)."""
    kinds = ["string", "integer", "number", "boolean", "enum"] + (["nullable"] if nullable else [])
    if depth < 3:
        kinds += ["object", "object", "array"]
    kind = rng.choice(kinds)
    if kind == "string":
        schema = {"type": "string"}
        if rng.random() < 0.5:
            schema["maxLength"] = rng.randint(1, 24)
        if rng.random() < 0.3:
            schema["minLength"] = rng.randint(0, min(3, schema.get("maxLength", 3)))
        return schema
    if kind in ("integer", "number", "boolean"):
        return {"type": kind}
    if kind == "enum":
        words = ["red", "green", "blue", "north", "south", "small", "large", "yes", "no", "maybe"]
        values = rng.sample(words, rng.randint(2, 4))
        if nullable and rng.random() < 0.3:
            values.append(rng.choice([None, True, 7]))
        return {"enum": values} if rng.random() < 0.8 else {"const": values[0]}
    if kind == "nullable":
        return {"anyOf": [random_schema(rng, depth + 1, nullable=False), {"type": "null"}]} if depth < 3 else {"type": ["string", "null"]}
    if kind == "array":
        low = rng.randint(0, 2)
        return {"type": "array", "items": random_schema(rng, depth + 1), "minItems": low, "maxItems": low + rng.randint(0, 3)}
    names = rng.sample(["id", "name", "title", "count", "price", "tags", "owner", "colour", "size", "notes", "active", "parts"], rng.randint(1, 4))
    properties = {n: random_schema(rng, depth + 1) for n in names}
    required = [n for n in names if rng.random() < 0.7]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schemas", type=int, default=200)
    args = parser.parse_args()
    client = openai.OpenAI(base_url=URL + "/v1", api_key=KEY, max_retries=0, timeout=300)
    model = client.models.list().data[0].id
    failures = 0

    def check(name, test):
        nonlocal failures
        started = time.monotonic()
        try:
            detail = test()
            print(f"ok    {name} ({time.monotonic() - started:.0f} s){': ' + detail if detail else ''}")
        except Exception:
            failures += 1
            print(f"FAIL  {name}")
            traceback.print_exc()

    def openai_parse():
        parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
        r = parse(model=model, temperature=0, max_tokens=96, response_format=Sailor,
                  messages=[{"role": "user", "content": "Invent a sailor: name, age, ship, and whether they are the captain."}])
        sailor = r.choices[0].message.parsed
        assert isinstance(sailor, Sailor), r
        return sailor.model_dump_json()

    check("openai SDK chat.completions.parse(response_format=Pydantic model) returns the model", openai_parse)

    def langchain_structured():
        chat = ChatOpenAI(base_url=URL + "/v1", api_key=KEY, model=model, max_tokens=96, temperature=0.8, max_retries=0)
        structured = chat.with_structured_output(Sailor)
        seen = set()
        for seed in range(20):
            sailor = structured.bind(seed=seed).invoke([HumanMessage("Invent a sailor: name, age, ship, and whether they are the captain.")])
            assert isinstance(sailor, Sailor), sailor
            seen.add(sailor.model_dump_json())
        return f"{len(seen)} different sailors"

    check("LangChain with_structured_output(Pydantic model): a valid object 20 times in a row", langchain_structured)

    def langchain_tools():
        def get_weather(city: str) -> str:
            """Get the current weather in a city."""
            return "sunny"

        def add_numbers(a: float, b: float) -> float:
            """Add two numbers."""
            return a + b

        chat = ChatOpenAI(base_url=URL + "/v1", api_key=KEY, model=model, max_tokens=64, temperature=0, max_retries=0)
        bound = chat.bind_tools([get_weather, add_numbers], tool_choice="any")
        cases = [("What is the weather in Paris?", "get_weather", {"city": "Paris"}),
                 ("Add 17 and 25.", "add_numbers", {"a": 17, "b": 25}),
                 ("Is it raining in Tokyo right now?", "get_weather", {"city": "Tokyo"})]
        for prompt, name, arguments in cases:
            message = bound.invoke([HumanMessage(prompt)])
            assert len(message.tool_calls) == 1, message
            call = message.tool_calls[0]
            assert call["name"] == name and call["args"] == arguments, (prompt, call)
        # Streamed, the deltas add up to the same call.
        streamed = None
        for chunk in bound.stream([HumanMessage(cases[0][0])]):
            streamed = chunk if streamed is None else streamed + chunk
        assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [(cases[0][1], cases[0][2])], streamed.tool_calls
        return ", ".join(f"{name}({json.dumps(arguments)})" for _, name, arguments in cases) + "; streamed too"

    check("LangChain bind_tools with two tools: the right call on 3 fixed prompts", langchain_tools)

    def random_schemas():
        rng = random.Random(2026)
        tokens, seconds, lengths = 0, 0.0, []
        for i in range(args.schemas):
            schema = random_schema(rng)
            if rng.random() < 0.1:
                # A reference to a definition, as Pydantic writes nested models.
                schema = {"$defs": {"item": schema}, "type": "object", "properties": {"item": {"$ref": "#/$defs/item"}}, "required": ["item"]}
            started = time.monotonic()
            r = client.chat.completions.create(
                model=model, max_tokens=256, temperature=0.8, seed=i,
                messages=[{"role": "user", "content": "Write a JSON value for this schema: " + json.dumps(schema)}],
                response_format={"type": "json_schema", "json_schema": {"name": f"schema_{i}", "schema": schema, "strict": True}},
                extra_body={"memory": {"mode": "off"}})
            seconds += time.monotonic() - started
            tokens += r.usage.completion_tokens
            text = r.choices[0].message.content
            try:
                value = json.loads(text)
                jsonschema.validate(value, schema)
            except Exception as error:
                raise AssertionError(f"schema {i}: {json.dumps(schema)}\nanswer: {text!r}\n{error}")
            assert r.choices[0].finish_reason == "stop", (i, r.choices[0].finish_reason, text)
            lengths.append(r.usage.completion_tokens)
        lengths.sort()
        return (f"{args.schemas} answers parse and validate; {tokens} tokens in {seconds:.0f} s ({tokens / seconds:.1f} tok/s "
                f"with prompt reading); answer tokens median {lengths[len(lengths) // 2]}, max {lengths[-1]}")

    check(f"{args.schemas} random JSON schemas (seed 2026): every answer parses, validates and ends by itself", random_schemas)

    print(f"structured-output-test: {'all passed' if failures == 0 else f'{failures} failed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
