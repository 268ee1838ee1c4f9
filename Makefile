# Thin wrapper over CMake presets so the README's commands stay short. Every target builds what it needs.
JOBS ?= $(shell nproc)
BUILD := build/release
PEREGRINE := $(BUILD)/src/cli/peregrine
PYTHON := /usr/bin/python3

.PHONY: all build test tsan serve demo models clean

all: build

build:
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

test: build
	ctest --preset release -j $(JOBS)

# The concurrency tests (scheduler, dynamic batching, HTTP transport, generation service) under
# ThreadSanitizer: a second build of everything they link, so not part of `make test`.
TSAN_TESTS := tests/scheduler/scheduler_test tests/scheduler/batching_test tests/http/http_server_test \
              tests/generation_service_test
# Debian's libprotobuf is not built with TSan and crashes under it while parsing a config.pbtxt with a
# map field (model_warmup inputs), before any code under test runs: tests that load example configs are skipped.
TSAN_SKIP := -*GreedyMatchesPyTorchTokenForToken*
tsan:
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target $(notdir $(TSAN_TESTS))
	set -e; for t in $(TSAN_TESTS); do TSAN_OPTIONS=halt_on_error=1 build/tsan/$$t --gtest_filter=$(TSAN_SKIP); done

# Serves the example model repository (KServe V2 / Triton protocol) on port 8000 until Ctrl-C.
PORT ?= 8000
serve: build
	$(PEREGRINE) serve --model-repository examples/models --http-port $(PORT)

# Runs the committed example models through `peregrine run`, and the text generator end to end.
demo: build
	$(PEREGRINE) run examples/models/voice-verification-small/1/model.onnx --random --dim batch=1 --repeat 20
	$(PEREGRINE) run examples/models/textgen-lstm/1/model.onnx \
	  --input token_ids=examples/textgen-lstm/reference/case1_token_ids.npy \
	  --input h0=examples/textgen-lstm/reference/case1_h0.npy \
	  --input c0=examples/textgen-lstm/reference/case1_c0.npy --repeat 20
	$(PEREGRINE) generate examples/models/textgen-lstm/1/model.onnx --prompt "Movie is great." --max-tokens 20 --repeat 20

# Generates the large models that are not committed (the full voice-verification ResNet).
models:
	examples/build_models.sh

clean:
	rm -rf build
