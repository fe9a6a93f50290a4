.PHONY: model test build bench bench-contended reference reference-venv run clean help

help:
	@echo "make run        fetch the model, build, and answer PROMPT (chat)"
	@echo "make model      fetch SmolLM2-135M-Instruct (Q4_1 GGUF) into models/"
	@echo "make build      release build: .build/release/memory3"
	@echo "make test       fetch the model if missing, then swift test"
	@echo "make bench      memory3 vs llama.cpp, side by side (A/B pairs, threads 1 and 2)"
	@echo "make reference  regenerate Tests/Fixtures/llama-reference.json with llama.cpp"

# Fetch SmolLM2-135M-Instruct (Q4_1) into models/ (idempotent, verifies size and sha256).
model:
	./scripts/fetch-model.sh

build:
	swift build -c release

# The test command: fetch the model if missing, then the whole suite.
test: model
	swift test

reference-venv:
	./scripts/setup-reference-venv.sh

# Regenerate the llama.cpp reference data the tests compare against.
reference: model reference-venv
	.venv-ref/bin/python scripts/make-reference.py

bench: model build reference-venv
	python3 scripts/bench.py

bench-contended: model build reference-venv
	python3 scripts/bench.py --contended

clean:
	rm -rf .build

PROMPT ?= What is the capital of France?
# One command from a fresh clone to an answer: fetch the model, build, chat once.
run: model build
	.build/release/memory3 generate --chat --prompt "$(PROMPT)" --max-tokens 128
