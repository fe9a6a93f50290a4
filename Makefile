.PHONY: evolve-scorer memory-frontier tools-venv replicas-test bench-replicas retrieval bench-retrieval browser-test serve run model build test fixtures calibrate bench bench-contended bench-memory bench-serve quality client-tests deploy-check crash-test ingest-memory attack-test reference reference-venv clean help

# MODEL: a model name scripts/fetch-model.sh knows (smollm2, gemma3-270m) or a path to any GGUF file.
MODEL ?= smollm2
# The memory profile bench-memory builds its store with; the served default profile:codec.
PROFILE ?= dense
DEFAULT_MEMORY ?= dense:int8
MODEL_FILE_smollm2 := models/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_FILE_gemma3-270m := models/gemma-3-270m-q4_k_m.gguf
MODEL_FILE := $(or $(MODEL_FILE_$(MODEL)),$(MODEL))
# Memories are encoded by one model (and checked against its fingerprint): one knowledge base per model.
DB_smollm2 := data/memory3.sqlite
DB := $(or $(DB_$(MODEL)),data/memory3-$(basename $(notdir $(MODEL_FILE))).sqlite)
EVAL_SET ?= ../shared/eval/fictional-public.json
# Calibrates the retrieval head of a model that has none yet (ships with the repository).
CALIBRATION_SET ?= config/calibration-set.json
BIN := .build/release/memory3

help:
	@echo "make serve          fetch the model, build, calibrate once, serve on 127.0.0.1:8080 (knowledge/ ingested on first start)"
	@echo "make test           fetch the model if missing, then swift test"
	@echo "make run            fetch the model, build, and answer PROMPT (chat, no server)"
	@echo "make model          fetch MODEL (smollm2: SmolLM2-135M-Instruct Q4_1; gemma3-270m: Gemma 3 270M Q4_K_M) and the retrieval encoder into models/"
	@echo "make build          release build: $(BIN)"
	@echo "make calibrate      find the model's retrieval head on config/calibration-set.json (written beside the model)"
	@echo "make bench          memory3 vs llama.cpp built for this CPU and the python wheel, alternating (threads 1 and 2; docs/speed.md)"
	@echo "make bench-contended  the same with a busy loop on one core"
	@echo "make bench-memory   time to first token (explicit vs text) and decode with memory swaps (vs off); PROFILE=compact for another"
	@echo "make evolve-scorer  re-train the evolved token scorer (CMA-ES on a generated training set, ~15 min)"
	@echo "make memory-frontier  EM and size of every profile x codec on both public sets (~35 min, writes docs/memory-frontier.*)"
	@echo "make bench-serve    1/4/8/16 concurrent streams: memory3 serve vs llama.cpp's server (-np N), memory off and explicit"
	@echo "make quality        the explicit-memory quality bars on the public eval sets"
	@echo "make retrieval      recall@1/@5 of bm25, dense and hybrid retrieval on the public eval sets (no model)"
	@echo "make bench-retrieval  retrieval latency p50/p99, build time and disk size at 10k, 100k and 1M synthetic references"
	@echo "make client-tests   the official openai client, curl and prometheus_client against memory3 serve"
	@echo "make deploy-check   hadolint, kubernetes-validate and systemd-analyze on deploy/"
	@echo "make crash-test     kill -9 the server 20 times during ingestion and streams: nothing answered 202 may be lost"
	@echo "make replicas-test  3 replicas on one PostgreSQL store: uploads round-robin, one killed mid-document, all agree"
	@echo "make bench-replicas ingestion throughput with 1, 2, 3 replicas on PostgreSQL and one server on SQLite"
	@echo "make ingest-memory  the server's RSS while it takes a 5 MB document (bar: 300 MB)"
	@echo "make attack-test    unauthenticated 32 MB uploads, made-up methods, 4 scrapers, 3,000 silent connections"
	@echo "make browser-test   the playground (GET /) in headless chromium: upload, chat with explicit memory, the memory panel; docs/playground.png"
	@echo "make reference      regenerate the llama.cpp fixtures (Tests/Fixtures/llama-reference.json, gemma3-reference.json)"

# One command from a fresh clone to a running server.
serve: model build
	@[ -f $(MODEL_FILE).memory3.json ] || $(BIN) calibrate --model $(MODEL_FILE) --set $(CALIBRATION_SET)
	$(BIN) serve --model $(MODEL_FILE) --db $(DB)

PROMPT ?= What is the capital of France?
run: model build
	$(BIN) generate --model $(MODEL_FILE) --chat --prompt "$(PROMPT)" --max-tokens 128

# Fetch the model into models/ (idempotent, verifies size and sha256); a path is used as it is.
# The sentence encoder of hybrid retrieval (all-MiniLM-L6-v2) comes with every model.
model:
	@if [ -n "$(MODEL_FILE_$(MODEL))" ]; then ./scripts/fetch-model.sh $(MODEL); else [ -f "$(MODEL)" ] || { echo "no model file $(MODEL)"; exit 1; }; fi
	@./scripts/fetch-model.sh minilm

build:
	swift build -c release

# The test command: fetch the models the tests compare against llama.cpp if missing, then the whole suite.
test: fixtures
	./scripts/fetch-model.sh smollm2
	./scripts/fetch-model.sh gemma3-270m
	./scripts/fetch-model.sh minilm
	swift test

# The tiny architecture models the agreement tests read (not in git: written, then checked
# against the sha256 their llama.cpp reference was computed on).
fixtures: reference-venv
	.venv-ref/bin/python scripts/make-arch-fixtures.py --gguf-only

calibrate: model build
	$(BIN) calibrate --model $(MODEL_FILE) --set $(CALIBRATION_SET)

reference-venv:
	./scripts/setup-reference-venv.sh

# Regenerate the llama.cpp reference data the tests compare against.
reference: reference-venv
	./scripts/fetch-model.sh smollm2
	./scripts/fetch-model.sh gemma3-270m
	.venv-ref/bin/python scripts/make-reference.py
	.venv-ref/bin/python scripts/make-reference.py --model gemma3

bench: model build reference-venv
	python3 scripts/bench.py --model $(MODEL_FILE)

bench-contended: model build reference-venv
	python3 scripts/bench.py --model $(MODEL_FILE) --contended

bench-memory: model build
	@[ -f $(MODEL_FILE).memory3.json ] || $(BIN) calibrate --model $(MODEL_FILE) --set $(CALIBRATION_SET)
	$(BIN) bench-memory --model $(MODEL_FILE) --set $(EVAL_SET) --profile $(PROFILE)

# Python tools for the scorer and the frontier plot (PyPI cma, matplotlib).
tools-venv:
	@.venv-tools/bin/python -c "import cma, matplotlib" 2>/dev/null || (python3 -m venv .venv-tools && .venv-tools/bin/pip install --quiet cma matplotlib)

evolve-scorer: model build tools-venv
	.venv-tools/bin/python scripts/evolve-token-scorer.py

FRONTIER_POINTS ?= dense:int8;dense:int4;dense:int3;dense:int2;custom:tokens=50%,selection=evolved:int3;compact:int3;custom:tokens=40%,selection=h2o:int3;custom:tokens=40%,selection=keyNorm:int3;custom:tokens=40%,selection=attention:int3
memory-frontier: model build tools-venv
	./scripts/fetch-model.sh minilm
	@[ -f $(MODEL_FILE).memory3.json ] || $(BIN) calibrate --model $(MODEL_FILE) --set $(CALIBRATION_SET)
	.venv-tools/bin/python scripts/memory-frontier.py --model $(MODEL_FILE) --sets ../shared/eval/fictional-public.json,../shared/eval/hard-public.json --points "$(FRONTIER_POINTS)" --default "$(DEFAULT_MEMORY)"

bench-serve: model build
	python3 scripts/bench-serve.py

retrieval: build
	./scripts/check-retrieval.sh

bench-retrieval: build
	./scripts/fetch-model.sh minilm
	$(BIN) bench-retrieval --references 10000,100000,1000000

quality: model build
	./scripts/check-memory-quality.sh

client-tests: model
	./scripts/client-tests.sh

deploy-check:
	./scripts/check-deploy.sh

clean:
	rm -rf .build

# kill -9 at random points during ingestion and streamed completions, 20 times; then every upload
# answered 202 must be stored once (or failed with a reason) and the database intact.
crash-test: model build
	python3 scripts/crash-test.py

# Three replicas on one throwaway PostgreSQL; kill -9 the one encoding the long document.
replicas-test: model build
	python3 scripts/replicas-test.py

# Ingestion throughput: 1, 2, 3 replicas on PostgreSQL and one server on SQLite.
bench-replicas: model build
	python3 scripts/bench-replicas.py --sqlite --replicas 1,2,3 --references 200

# Peak RSS through a 5 MB upload, its planning and a minute of encoding (then cancelled).
ingest-memory: model build
	python3 scripts/ingest-memory.py

# Hostile clients on loopback with API keys set; each check bounded and measured.
attack-test: model build
	python3 scripts/attack-test.py

browser-test: model build
	python3 scripts/browser-test.py
