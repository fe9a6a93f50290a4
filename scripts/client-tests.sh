#!/usr/bin/env bash
# Real clients against `memory3 serve` on the real model: curl uploads a document and gets it
# back; the official `openai` Python package gets a completion, a chat completion, a streamed chat
# completion with usage, a chat completion with explicit memory (and the errors it should raise);
# structured output and tool calls through openai's `parse` and LangChain (scripts/structured-output-test.py);
# greedy logprobs against llama.cpp and /tokenize against `memory3 tokenize` (scripts/agreement-test.py);
# prometheus_client's text parser reads /metrics; then HTTPS (the test certificate of
# Tests/Fixtures/tls): curl and the openai client verify it and get answers. The server runs on a free
# loopback port with its own temporary knowledge base, and gets SIGTERM at the end (it must exit 0).
#
#   scripts/client-tests.sh            # builds memory3 (debug; the engine is optimized anyway)
#   MEMORY3_BIN=path/to/memory3 scripts/client-tests.sh
#
# Installs the clients into .venv-clients (git-ignored). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${MEMORY3_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
VENV=${MEMORY3_CLIENT_VENV:-.venv-clients}
if [ ! -f "$MODEL" ]; then
    echo "client-tests: $MODEL is missing; run \`make model\`" >&2
    exit 1
fi

if [ -z "${MEMORY3_BIN:-}" ]; then
    echo "client-tests: building memory3" >&2
    swift build --product memory3 >&2
    MEMORY3_BIN="$(swift build --show-bin-path)/memory3"
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c "import openai, prometheus_client, langchain_openai, jsonschema" 2>/dev/null ||
    "$VENV/bin/pip" install --quiet --disable-pip-version-check openai prometheus_client langchain-openai jsonschema

WORK=$(mktemp -d)
PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KEY="client-test-$RANDOM$RANDOM"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

MEMORY3_API_KEYS="$KEY" "$MEMORY3_BIN" serve --host 127.0.0.1 --port "$PORT" \
    --model "$MODEL" --db "$WORK/knowledge.sqlite" 2>"$WORK/server.log" &
SERVER_PID=$!

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.log" >&2; echo "client-tests: the server exited" >&2; exit 1; fi
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null || { cat "$WORK/server.log" >&2; echo "client-tests: never ready" >&2; exit 1; }

status=0
AUTH="Authorization: Bearer $KEY"
BASE="http://127.0.0.1:$PORT"

# curl uploads a document (multipart) and gets it back once it is encoded.
upload=$(curl -sS -H "$AUTH" -F "file=@knowledge/explicit-memory.md" "$BASE/v1/documents")
status_url=$(printf '%s' "$upload" | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["status_url"])' 2>/dev/null || true)
document_id=""
if [ -n "$status_url" ]; then
    for _ in $(seq 1 240); do
        state=$(curl -sS -H "$AUTH" "$BASE$status_url")
        case "$state" in
            *'"status":"ready"'*|*'"status":"skipped"'*)
                document_id=$(printf '%s' "$state" | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["document_id"])'); break ;;
            *'"status":"failed"'*|*'"status":"cancelled"'*) echo "$state"; break ;;
        esac
        sleep 0.5
    done
fi
if [ -n "$document_id" ] && curl -fsS -H "$AUTH" "$BASE/v1/documents/$document_id" | grep -q '"title":"explicit-memory.md"'; then
    echo "ok    curl uploads knowledge/explicit-memory.md (202, encoded, stored as document $document_id) and gets it back"
else
    echo "FAIL  curl document upload: $upload"; status=1
fi

MEMORY3_URL="http://127.0.0.1:$PORT" MEMORY3_KEY="$KEY" "$VENV/bin/python" - <<'PY' || status=$?
import os, sys, traceback, urllib.request
import openai
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

url, key = os.environ["MEMORY3_URL"], os.environ["MEMORY3_KEY"]
client = OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120)
passed, failed = 0, 0

def check(name):
    def run(test):
        global passed, failed
        try:
            test()
            passed += 1
            print(f"ok    {name}")
        except Exception:
            failed += 1
            print(f"FAIL  {name}")
            traceback.print_exc()
    return run

model = client.models.list().data[0].id

@check("models.list names the served model")
def _():
    assert model.startswith("SmolLM2"), model
    assert client.models.retrieve(model).id == model

@check("completions.create: greedy completion with usage")
def _():
    r = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0)
    assert r.object == "text_completion", r
    assert "Paris" in r.choices[0].text, r.choices[0].text
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 8 and r.usage.total_tokens == 13, r.usage

answer = {}

@check("chat.completions.create: an answer with usage")
def _():
    r = client.chat.completions.create(model=model, max_tokens=24, temperature=0,
                                       messages=[{"role": "user", "content": "Name a primary colour."}])
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content.strip(), r
    assert r.usage.completion_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    answer["text"], answer["usage"] = r.choices[0].message.content, r.usage

@check("chat.completions.create(stream=True): deltas, usage in the last event, same text as unstreamed")
def _():
    stream = client.chat.completions.create(model=model, max_tokens=24, temperature=0, stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "Name a primary colour."}])
    pieces, usage, finish, events = [], None, None, 0
    for chunk in stream:
        events += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert events >= 3, events
    assert usage is not None, "no usage in the stream"
    assert finish in ("stop", "length"), finish
    assert "".join(pieces) == answer["text"], ("".join(pieces), answer["text"])
    assert usage.completion_tokens == answer["usage"].completion_tokens, (usage, answer["usage"])

@check("errors: bad key -> AuthenticationError, bad value -> BadRequestError, unknown model -> NotFoundError")
def _():
    try:
        OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError:
        pass
    try:
        client.chat.completions.create(model=model, max_tokens=-1, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("max_tokens=-1 was accepted")
    except openai.BadRequestError as e:
        assert "max_tokens" in str(e), e
    try:
        client.completions.create(model="gpt-4", prompt="x", max_tokens=1)
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError:
        pass

@check("chat with memory {mode: explicit} reports the references each chunk used")
def _():
    r = client.chat.completions.create(model=model, max_tokens=16, temperature=0,
                                       messages=[{"role": "user", "content": "How often are memories swapped while generating?"}],
                                       extra_body={"memory": {"mode": "explicit", "k": 3}})
    memory = (r.model_extra or {}).get("memory") or getattr(r, "memory", None)
    assert memory and memory["mode"] == "explicit", memory
    assert memory["chunks"] and memory["chunks"][0]["references"], memory
    hits = client.post("/retrieve", body={"query": "memories swapped every 64 tokens", "k": 2}, cast_to=object)
    assert hits["data"] and hits["data"][0]["text"], hits

@check("chat logprobs: greedy tokens are their own top alternative; completions logprobs in the legacy shape")
def _():
    r = client.chat.completions.create(model=model, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3,
                                       messages=[{"role": "user", "content": "Name a primary colour."}])
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens, (len(content), r.usage)
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3, entry
        assert entry.token == entry.top_logprobs[0].token and abs(entry.logprob - entry.top_logprobs[0].logprob) < 1e-5, entry
    assert "".join(e.token for e in content) == r.choices[0].message.content
    t = client.completions.create(model=model, prompt="The capital of France is", max_tokens=4, temperature=0, logprobs=2)
    assert len(t.choices[0].logprobs.token_logprobs) == 4 and len(t.choices[0].logprobs.top_logprobs[0]) <= 2, t.choices[0].logprobs

@check("embeddings.create (the SDK asks for base64): 3 unit vectors of 576 floats; cosines printed")
def _():
    r = client.embeddings.create(model=model, input=["The tide rises twice a day.", "Tides come in twice daily.", "Compilers parse source code."])
    vectors = [d.embedding for d in r.data]
    assert len(vectors) == 3 and len(vectors[0]) == 576, [len(v) for v in vectors]
    for v in vectors:
        assert abs(sum(x * x for x in v) - 1) < 1e-3
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    print(f"      cosine(tide, tides) {dot(vectors[0], vectors[1]):.3f}, cosine(tide, compilers) {dot(vectors[0], vectors[2]):.3f}")
    assert r.usage.prompt_tokens > 0

@check("prometheus_client parses /metrics")
def _():
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ["memory3_http_requests", "memory3_http_request_duration_seconds", "memory3_time_to_first_token_seconds",
                 "memory3_prompt_tokens", "memory3_generated_tokens", "memory3_decode_tokens_per_second",
                 "memory3_queue_depth", "memory3_active_streams", "memory3_memory_cache_hits", "memory3_documents"]:
        assert name in families, (name, sorted(families))
    ok = [s for s in families["memory3_http_requests"].samples
          if s.labels.get("route") == "/v1/chat/completions" and s.labels.get("status") == "200"]
    assert ok and ok[0].value >= 2, ok
    assert families["memory3_http_request_duration_seconds"].type == "histogram"
    generated = [s for s in families["memory3_generated_tokens"].samples if s.name.endswith("_total")]
    assert generated and generated[0].value >= 8 + 24, generated

print(f"client-tests: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

# Structured output and tool calls: openai's parse, LangChain, 200 random schemas.
MEMORY3_URL="$BASE" MEMORY3_KEY="$KEY" "$VENV/bin/python" scripts/structured-output-test.py || status=1
# Greedy logprobs against llama.cpp, /tokenize against `memory3 tokenize` (under .venv-ref: llama_cpp).
if [ -x .venv-ref/bin/python ]; then
    MEMORY3_URL="$BASE" MEMORY3_KEY="$KEY" MEMORY3_BIN="$MEMORY3_BIN" .venv-ref/bin/python scripts/agreement-test.py --model "$MODEL" || status=1
else
    echo "FAIL  agreement test: .venv-ref is missing (make fixtures sets it up)"; status=1
fi

if curl -fsS -H "$AUTH" "$BASE/v1/documents" | grep -q '"title":"explicit-memory.md"'; then
    echo "ok    curl GET /v1/documents lists the uploaded document"
else
    echo "FAIL  curl GET /v1/documents"; status=1
fi

kill -TERM "$SERVER_PID"
server_status=0
wait "$SERVER_PID" || server_status=$?
SERVER_PID=""
if [ "$server_status" -ne 0 ]; then
    echo "FAIL  the server exited $server_status after SIGTERM (expected 0)"; status=1
else
    echo "ok    SIGTERM: the server exited 0"
fi
# HTTPS: a second server with the test certificate; clients check it against that certificate.
CERT=Tests/Fixtures/tls/localhost-cert.pem
TLS_PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$MEMORY3_BIN" serve --host 127.0.0.1 --port "$TLS_PORT" --model "$MODEL" --db "" \
    --tls-cert "$CERT" --tls-key Tests/Fixtures/tls/localhost-key.pem 2>"$WORK/tls-server.log" &
SERVER_PID=$!
for _ in $(seq 1 120); do
    if curl -fsS --cacert "$CERT" "https://localhost:$TLS_PORT/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.5
done
if curl -fsS --cacert "$CERT" "https://localhost:$TLS_PORT/ready" | grep -q '"ready"'; then
    echo "ok    HTTPS: curl verifies the certificate and gets /ready"
else
    echo "FAIL  HTTPS: curl https://localhost:$TLS_PORT/ready"; status=1
fi
if curl -sS "http://127.0.0.1:$TLS_PORT/health" | grep -q 'https://'; then
    echo "ok    HTTPS: plain http:// to the HTTPS port gets a 400 that says to use https://"
else
    echo "FAIL  HTTPS: plain http:// to the HTTPS port"; status=1
fi
MEMORY3_URL="https://localhost:$TLS_PORT" MEMORY3_CERT="$CERT" "$VENV/bin/python" - <<'PY' || status=1
import os, openai
client = openai.OpenAI(base_url=os.environ["MEMORY3_URL"] + "/v1", api_key="none", max_retries=0,
                       http_client=openai.DefaultHttpxClient(verify=os.environ["MEMORY3_CERT"], timeout=120))
chunks = client.chat.completions.create(model=client.models.list().data[0].id, max_tokens=8, stream=True,
                                        stream_options={"include_usage": True},
                                        messages=[{"role": "user", "content": "Say hello."}])
text, usage = "", None
for chunk in chunks:
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    usage = chunk.usage or usage
assert text and usage and usage.completion_tokens > 0, (text, usage)
print("ok    HTTPS: the openai client streams a chat completion (%d tokens)" % usage.completion_tokens)
PY
kill -TERM "$SERVER_PID"
tls_status=0
wait "$SERVER_PID" || tls_status=$?
SERVER_PID=""
[ "$tls_status" -eq 0 ] || { echo "FAIL  the HTTPS server exited $tls_status after SIGTERM"; status=1; cat "$WORK/tls-server.log" >&2; }

if [ "$status" -ne 0 ]; then
    echo "--- server log ---" >&2
    tail -n 40 "$WORK/server.log" >&2
fi
exit "$status"
