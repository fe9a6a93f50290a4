#!/usr/bin/env python3
"""Generate reference data from llama.cpp for the Swift tokenizer and engine tests.

What it produces
----------------
Tests/Fixtures/llama-reference.json, computed with llama-cpp-python (the
reference implementation) on models/SmolLM2-135M-Instruct.Q4_1.gguf, or with
--model gemma3 Tests/Fixtures/gemma3-reference.json on
models/gemma-3-270m-q4_k_m.gguf (Gemma's control tokens instead of ChatML's,
and BOS before the greedy prompts and the teacher-forced text, as the model
was trained):

  * "tokenize":        ~80 strings (English, whitespace runs, code, numbers,
                       punctuation, accents, CJK, emoji/ZWJ, RTL and other
                       scripts, URLs, markdown, "", " ", "\\n", ChatML control
                       tokens, a long paragraph) tokenized with add_bos=False.
                       Every string appears with special=true; strings that
                       contain control tokens appear again with special=false.
                       "detokenized" is llama's detokenize(ids) with its default
                       special=False (control tokens render as nothing),
                       decoded as UTF-8 with errors="replace".
  * "greedy":          argmax continuations (24 tokens, stopping early only at
                       token 2 <|im_end|> or 0 <|endoftext|>) for several
                       prompts, with the top-1/top-2 logit gap and the top-5
                       (id, logit) pairs at every step.
  * "teacher_forcing": one original ~350-token text evaluated in a single batch
                       with logits_all; top-5 and log p(next token) at every
                       position, plus the perplexity.

Floats are rounded to 4 decimals. Top-5 lists are ordered by logit descending,
ties broken by lower token id.

How to rerun
------------
From the repository root (the model must be present, see scripts/fetch-model.sh):

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install --find-links ../shared/wheels llama-cpp-python==0.3.36 gguf
    .venv-ref/bin/python scripts/make-reference.py [--model gemma3]

The run is deterministic (CPU, fixed n_threads=2, seed=0, greedy decoding only);
rerunning it with the same llama-cpp-python version reproduces the file.
"""

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import llama_cpp

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# Per model: file, fixture, ids that end a greedy run, control-token spellings, whether the
# greedy prompts and the teacher-forced text start with BOS.
MODELS = {
    "smollm2": dict(file="SmolLM2-135M-Instruct.Q4_1.gguf", out="llama-reference.json", stop={0, 2},
                    markers=("<|im_start|>", "<|im_end|>", "<|endoftext|>"), bos=False),
    "gemma3": dict(file="gemma-3-270m-q4_k_m.gguf", out="gemma3-reference.json", stop={1, 106},
                   markers=("<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>"), bos=True),
}
FAMILY = "smollm2"
MODEL_NAME = MODELS[FAMILY]["file"]
MODEL_PATH = os.path.join(ROOT, "models", MODEL_NAME)
OUT_PATH = os.path.join(ROOT, "Tests", "Fixtures", MODELS[FAMILY]["out"])

GREEDY_STEPS = 24
STOP_IDS = MODELS[FAMILY]["stop"]
CONTROL_MARKERS = MODELS[FAMILY]["markers"]

SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(turns, add_generation_prompt=True):
    """SmolLM2's chat template (default system prompt when none is given)."""
    if not turns or turns[0][0] != "system":
        turns = [("system", SYSTEM_PROMPT)] + list(turns)
    s = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
    if add_generation_prompt:
        s += "<|im_start|>assistant\n"
    return s


LONG_PARAGRAPH = (
    "Tokenizers are the quiet gatekeepers of language models. Before a model can "
    "reason about a sentence, the text must be split into pieces drawn from a fixed "
    "vocabulary, and those pieces are mapped to integers. Byte-level BPE, used by "
    "GPT-2 and by SmolLM2, starts from individual bytes and repeatedly merges the "
    "most frequent adjacent pairs, so common words become single tokens while rare "
    "words, numbers, and unusual scripts fall apart into several smaller fragments. "
    "A pre-tokenizer first cuts the text with a regular expression: contractions "
    "like \"don't\" and \"we'll\" are separated, runs of digits are chunked, and "
    "whitespace is attached to the word that follows it. Getting every one of these "
    "rules exactly right is what makes two implementations agree token for token, "
    "which matters because a single differing id changes every logit after it."
)

TOKENIZE_STRINGS = [
    # Plain English
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Hello world",
    "hello",
    "HELLO WORLD",
    "This is a test of the tokenizer. It should handle many different cases.",
    "Once upon a time, in a land far, far away, there lived a small dragon.",
    # Leading/trailing spaces, whitespace runs
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "   three leading spaces and trailing   ",
    "multiple    spaces     between words",
    "tab\tseparated\tvalues",
    "\t\tdouble tab indent",
    "line one\nline two",
    "paragraph one\n\n\nparagraph two",
    "windows\r\nline\r\nendings",
    " \t \n \r\n  mixed \t\n whitespace  \n",
    "\n\n",
    "    ",
    "word\n    indented",
    # Code
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "import numpy as np\nx = np.arange(10) ** 2  # squares\nprint(f\"{x.sum()=}\")",
    "func greet(_ name: String) -> String {\n    return \"Hello, \\(name)!\"\n}\nlet x: [Int: String] = [:]",
    "{\"name\": \"SmolLM2\", \"params\": 135000000, \"tags\": [\"small\", \"fast\"], \"ok\": true, \"x\": null}",
    "#include <stdio.h>\n\nint main(void) {\n\tfor (int i = 0; i < 10; i++) {\n\t\tprintf(\"%d\\n\", i);\n\t}\n\treturn 0;\n}\n",
    "if (a != b && c >= d || !e) { x += 1; } else { y -= 2; }",
    "<div class=\"container\"><p>Hello</p></div>",
    # Numbers
    "1234567",
    "3.14159",
    "In 1999 and 2024",
    "$1,000,000",
    "Call me at +1 (555) 123-4567 or 555.987.6543.",
    "0 1 12 123 1234 12345 123456 1234567890",
    "-42 +7 1e10 6.022e23 0x1F 0b1010 50% 3/4",
    "2024-01-15T08:30:00Z",
    "Version 3.10.12 released on 12/31/2023",
    # Punctuation and contractions
    "Wait... what?! No way -- really?",
    "\"Quoted\" and 'single quoted' and \u201ccurly\u201d \u2018quotes\u2019",
    "don't can't won't I'll we've they're she'd",
    "IT'S DON'T WE'VE I'LL YOU'RE",
    "It's the dog's bone; the dogs' bones.",
    "!!!???...;;;:::---___***",
    "(parentheses) [brackets] {braces} <angles>",
    "em\u2014dash en\u2013dash ellipsis\u2026 bullet\u2022",
    # Accents
    "Le caf\u00e9 est tr\u00e8s bon, n'est-ce pas? \u00c0 bient\u00f4t!",
    "Stra\u00dfe, \u00c4pfel, \u00d6l und \u00dcbergr\u00f6\u00dfe",
    "\u00bfD\u00f3nde est\u00e1 el ni\u00f1o? \u00a1Ma\u00f1ana!",
    "Ti\u1ebfng Vi\u1ec7t c\u00f3 nhi\u1ec1u d\u1ea5u: \u0111\u01b0\u1eddng ph\u1ed1 H\u00e0 N\u1ed9i",
    "na\u00efve r\u00e9sum\u00e9 fa\u00e7ade co\u00f6perate",
    # CJK
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
    "\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\u3002\u30ab\u30bf\u30ab\u30ca\u3068\u6f22\u5b57\u3002",
    "\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4! \ubc18\uac11\uc2b5\ub2c8\ub2e4.",
    # Emoji
    "I love pizza \U0001F355 and cats \U0001F408!",
    "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family",
    "Flags: \U0001F1EB\U0001F1F7 \U0001F1EF\U0001F1F5 \U0001F1FA\U0001F1F8",
    "Thumbs \U0001F44D\U0001F3FB\U0001F44D\U0001F3FF wave \U0001F44B\U0001F3FD",
    "\u2764\ufe0f\U0001F525\U0001F680\u2728",
    # Other scripts
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    # URLs, emails
    "Visit https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct?x=1&y=2#top",
    "Email me at jane.doe+test@example.com or admin@sub.example.org",
    # Markdown
    "# Title\n\n## Subtitle\n\n- item one\n- item two\n\n**bold** and *italic* and `code`",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')\n```",
    "> quoted text\n1. first\n2. second\n[link](http://a.b/c)",
    # Edge cases
    "",
    " ",
    "\n",
    "a",
    "A",
    "\u00e9",
    "\U0001F600",
    # Control tokens
    "<|im_start|>user\nHello<|im_end|>\n",
    "<|endoftext|>",
    "foo<|im_start|>bar",
    "pre<|im_end|>post and mid<|endoftext|>word",
    "<|im_start|><|im_end|><|endoftext|>",
    chatml([
        ("system", "You are a concise assistant."),
        ("user", "Name a primary color."),
        ("assistant", "Red."),
        ("user", "Another one?"),
    ]),
    chatml([("user", "What is the capital of France?")]),
    "<|im_start|",
    "< |im_start| >",
    # Long paragraph
    LONG_PARAGRAPH,
]

GREEDY_PROMPTS = [
    ("The capital of France is", True),
    ("Once upon a time, there was a", True),
    ("The three primary colors are", True),
    ("Water boils at a temperature of", True),
    ("def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n", True),
    (chatml([("user", "What is the capital of France?")]), True),
]

TEACHER_TEXT = (
    "For most of history, sailors feared the coast more than the open sea. Rocks, "
    "shoals, and sandbars lay hidden beneath the waves, and a ship that came too close "
    "to land at night could be torn apart before anyone on board saw the danger. The "
    "lighthouse was the answer to this problem, and its story stretches back more than "
    "two thousand years.\n\n"
    "The most famous early lighthouse stood on the island of Pharos, near the harbor of "
    "Alexandria in Egypt. Built in the third century before the common era, it was a tall "
    "stone tower with a fire burning at the top. Travelers described it as one of the "
    "wonders of the ancient world, and it guided ships for many centuries until "
    "earthquakes finally brought it down. The Romans later built similar towers along "
    "their own coasts, from Spain to Britain.\n\n"
    "For a long time, the light itself was simply an open fire of wood or coal. These "
    "fires were smoky, hard to maintain, and not very bright. In the eighteenth century, "
    "keepers began to use oil lamps with reflectors made of polished metal, which sent "
    "the light much farther out to sea. The greatest improvement came in the early "
    "nineteenth century, when the French engineer Augustin Fresnel designed a new kind of "
    "lens. His lens used rings of glass prisms to bend and focus the light into a strong "
    "beam that could be seen more than twenty miles away.\n\n"
    "Each lighthouse was also given its own pattern of flashes, so that sailors could tell "
    "one tower from another in the dark. Keepers lived in small houses beside the tower, "
    "climbing the stairs every evening to light the lamp and wind the clockwork that "
    "turned the lens. Today most lighthouses are automatic, powered by electricity and "
    "watched by computers, but many of the old towers still stand as reminders of the "
    "people who kept the coast safe."
)


def r4(x):
    v = round(float(x), 4)
    return 0.0 if v == 0 else v  # avoid "-0.0"


def top5(row):
    """Top-5 (id, logit) pairs: logit descending, ties by lower id."""
    row = np.asarray(row, dtype=np.float32)
    order = np.lexsort((np.arange(row.shape[0]), -row.astype(np.float64)))[:5]
    return [[int(i), r4(row[i])] for i in order]


def tokenize(llm, text, special, bos=False):
    return llm.tokenize(text.encode("utf-8"), add_bos=bos, special=special)


def detok(llm, ids):
    return llm.detokenize(ids).decode("utf-8", errors="replace")


def greedy(llm, prompt, special):
    prompt_ids = tokenize(llm, prompt, special, bos=MODELS[FAMILY]["bos"])
    llm.reset()
    llm.eval(prompt_ids)
    ids, gaps, tops = [], [], []
    for _ in range(GREEDY_STEPS):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        t5 = top5(row)
        tok = int(np.argmax(row))
        assert tok == t5[0][0]
        ids.append(tok)
        gaps.append(r4(float(row[t5[0][0]]) - float(row[t5[1][0]])))
        tops.append(t5)
        if tok in STOP_IDS:
            break
        llm.eval([tok])
    return {
        "prompt": prompt,
        "special": special,
        "prompt_ids": prompt_ids,
        "ids": ids,
        "text": detok(llm, ids),
        "top2_gaps": gaps,
        "top5": tops,
    }


def teacher_forcing(llm, text, sequential=False):
    """Logits of every position: the text in one batch, or (`sequential`) one token per eval,
    which takes llama.cpp's single-token matrix path instead of its batched one (tinyBLAS
    sums in another order: on Gemma 3 the two agree on 96.4% of top-1s)."""
    ids = tokenize(llm, text, False, bos=MODELS[FAMILY]["bos"])
    llm.reset()
    if sequential:
        for t in ids:
            llm.eval([t])
    else:
        llm.eval(ids)
    scores = np.array(llm.scores[: len(ids)], dtype=np.float64)
    tops, lps = [], []
    for i in range(len(ids) - 1):
        row = scores[i]
        m = row.max()
        lse = m + math.log(np.exp(row - m).sum())
        lps.append(float(row[ids[i + 1]] - lse))
        tops.append(top5(llm.scores[i]))
    ppl = math.exp(-sum(lps) / len(lps))
    return {
        "text": text,
        "ids": ids,
        "top5": tops,
        "next_logprob": [r4(x) for x in lps],
        "perplexity": r4(ppl),
    }


def dump(doc):
    """json.dumps with indentation, but every innermost-or-list-of-lists list on one line."""

    def enc(obj, indent):
        pad = "  " * indent
        if isinstance(obj, dict):
            if not obj:
                return "{}"
            items = [
                f"{pad}  {json.dumps(k, ensure_ascii=False)}: {enc(v, indent + 1)}"
                for k, v in obj.items()
            ]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(obj, list):
            if any(isinstance(x, dict) for x in obj):
                items = [f"{pad}  {enc(x, indent + 1)}" for x in obj]
                return "[\n" + ",\n".join(items) + "\n" + pad + "]"
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        return json.dumps(obj, ensure_ascii=False)

    return enc(doc, 0) + "\n"


def gemma_chat(turns):
    """Gemma's chat format (what its instruction-tuned template renders)."""
    return "".join(f"<start_of_turn>{'model' if r == 'assistant' else r}\n{c}<end_of_turn>\n" for r, c in turns) + "<start_of_turn>model\n"


def select(family):
    """Points the module at `family`'s model, fixture and strings."""
    global FAMILY, MODEL_NAME, MODEL_PATH, OUT_PATH, STOP_IDS, CONTROL_MARKERS, TOKENIZE_STRINGS, GREEDY_PROMPTS
    FAMILY = family
    m = MODELS[family]
    MODEL_NAME, STOP_IDS, CONTROL_MARKERS = m["file"], m["stop"], m["markers"]
    MODEL_PATH = os.path.join(ROOT, "models", MODEL_NAME)
    OUT_PATH = os.path.join(ROOT, "Tests", "Fixtures", m["out"])
    if family == "gemma3":
        chatml_markers = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
        TOKENIZE_STRINGS = [t for t in TOKENIZE_STRINGS if not any(x in t for x in chatml_markers)] + [
            "<start_of_turn>user\nHello<end_of_turn>\n",
            "<bos>",
            "foo<start_of_turn>bar",
            "pre<end_of_turn>post and mid<eos>word",
            gemma_chat([("user", "Name a primary color."), ("assistant", "Red."), ("user", "Another one?")]),
            "<start_of_turn",
            "\u2581already escaped\u2581spaces",
            "    four spaces and\ttabs\t\tand\n\n\nnewlines",
        ]
        GREEDY_PROMPTS = [(p, sp) for p, sp in GREEDY_PROMPTS if "<|im_start|>" not in p] + [
            (gemma_chat([("user", "What is the capital of France?")]), True)]


def main():
    parser = argparse.ArgumentParser(description="llama.cpp reference data for the tests")
    parser.add_argument("--model", choices=sorted(MODELS), default="smollm2")
    select(parser.parse_args().model)
    with open(MODEL_PATH, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()

    llm = llama_cpp.Llama(
        model_path=MODEL_PATH,
        n_ctx=2048,
        n_batch=512,
        n_threads=2,
        logits_all=True,
        verbose=False,
        seed=0,
    )

    tok_entries = []
    for s in TOKENIZE_STRINGS:
        variants = [True] + ([False] if any(m in s for m in CONTROL_MARKERS) else [])
        for special in variants:
            ids = tokenize(llm, s, special)
            tok_entries.append(
                {"text": s, "special": special, "ids": ids, "detokenized": detok(llm, ids)}
            )

    greedy_entries = [greedy(llm, p, sp) for p, sp in GREEDY_PROMPTS]
    tf = teacher_forcing(llm, TEACHER_TEXT)
    tf_sequential = teacher_forcing(llm, TEACHER_TEXT, sequential=True) if FAMILY == "gemma3" else None

    doc = {
        "generator": "scripts/make-reference.py",
        "llama_cpp_python": llama_cpp.__version__,
        "model": MODEL_NAME,
        "model_sha256": sha,
        "tokenize": tok_entries,
        "greedy": greedy_entries,
        "teacher_forcing": tf,
    }
    if tf_sequential:
        doc["teacher_forcing_sequential"] = tf_sequential
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    text = dump(doc)
    json.loads(text)  # sanity
    with open(OUT_PATH, "w", encoding="utf-8") as f:
        f.write(text)

    n_special_false = sum(1 for e in tok_entries if not e["special"])
    print(f"wrote {os.path.relpath(OUT_PATH, ROOT)} ({len(text.encode('utf-8'))} bytes)")
    print(f"llama-cpp-python {llama_cpp.__version__}, model sha256 {sha}")
    print(
        f"tokenize: {len(tok_entries)} entries "
        f"({len(TOKENIZE_STRINGS)} strings special=true, {n_special_false} special=false)"
    )
    for g in greedy_entries:
        print(f"greedy: {g['prompt']!r} -> {g['text']!r} ({len(g['ids'])} tokens, min gap {min(g['top2_gaps'])})")
    print(f"teacher_forcing: {len(tf['ids'])} tokens, perplexity {tf['perplexity']}")
    if tf_sequential:
        print(f"teacher_forcing_sequential: perplexity {tf_sequential['perplexity']}")
    france = greedy_entries[0]
    assert france["prompt"] == "The capital of France is"
    print(f"France continuation: {france['text']!r}")
    if FAMILY == "smollm2" and not france["text"].startswith(" Paris"):
        print("WARNING: 'The capital of France is' does not continue with ' Paris'", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
