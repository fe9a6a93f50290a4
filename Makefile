.PHONY: serve run model build test calibrate bench bench-contended bench-memory bench-serve quality client-tests deploy-check reference reference-venv clean help

MODEL ?= models/SmolLM2-135M-Instruct.Q4_1.gguf
EVAL_SET ?= ../shared/eval/fictional-public.json
BIN := .build/release/memory3

help:
	@echo "make serve          fetch the model, build, calibrate once, serve on 127.0.0.1:8080 (knowledge/ ingested on first start)"
	@echo "make test           fetch the model if missing, then swift test"
	@echo "make run            fetch the model, build, and answer PROMPT (chat, no server)"
	@echo "make model          fetch SmolLM2-135M-Instruct (Q4_1 GGUF) into models/"
	@echo "make build          release build: $(BIN)"
	@echo "make calibrate      find the model's retrieval head (written beside the model)"
	@echo "make bench          memory3 vs llama.cpp, side by side (A/B pairs, threads 1 and 2)"
	@echo "make bench-contended  the same with a busy loop on one core"
	@echo "make bench-memory   time to first token (explicit vs text) and decode with memory swaps (vs off)"
	@echo "make bench-serve    1/4/8/16 concurrent streams: memory3 serve vs llama.cpp's server (-np N), memory off and explicit"
	@echo "make quality        the explicit-memory quality bars on the public eval sets"
	@echo "make client-tests   the official openai client, curl and prometheus_client against memory3 serve"
	@echo "make deploy-check   hadolint, kubernetes-validate and systemd-analyze on deploy/"
	@echo "make reference      regenerate Tests/Fixtures/llama-reference.json with llama.cpp"

# One command from a fresh clone to a running server.
serve: model build
	@[ -f $(MODEL).memory3.json ] || [ ! -f $(EVAL_SET) ] || $(BIN) calibrate --model $(MODEL) --set $(EVAL_SET)
	$(BIN) serve --model $(MODEL)

PROMPT ?= What is the capital of France?
run: model build
	$(BIN) generate --chat --prompt "$(PROMPT)" --max-tokens 128

# Fetch SmolLM2-135M-Instruct (Q4_1) into models/ (idempotent, verifies size and sha256).
model:
	./scripts/fetch-model.sh

build:
	swift build -c release

# The test command: fetch the model if missing, then the whole suite.
test: model
	swift test

calibrate: model build
	$(BIN) calibrate --model $(MODEL) --set $(EVAL_SET)

reference-venv:
	./scripts/setup-reference-venv.sh

# Regenerate the llama.cpp reference data the tests compare against.
reference: model reference-venv
	.venv-ref/bin/python scripts/make-reference.py

bench: model build reference-venv
	python3 scripts/bench.py

bench-contended: model build reference-venv
	python3 scripts/bench.py --contended

bench-memory: model build
	@[ -f $(MODEL).memory3.json ] || [ ! -f $(EVAL_SET) ] || $(BIN) calibrate --model $(MODEL) --set $(EVAL_SET)
	$(BIN) bench-memory --model $(MODEL) --set $(EVAL_SET)

bench-serve: model build
	python3 scripts/bench-serve.py

quality: model build
	./scripts/check-memory-quality.sh

client-tests: model
	./scripts/client-tests.sh

deploy-check:
	./scripts/check-deploy.sh

clean:
	rm -rf .build
