.PHONY: model test build release bench reference clean

# Fetch SmolLM2-135M-Instruct (Q4_1) into models/ (idempotent).
model:
	./scripts/fetch-model.sh

build:
	swift build -c release

# The test command: fetch the model if missing, then the whole suite.
test: model
	swift test

clean:
	rm -rf .build
