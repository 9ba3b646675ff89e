# backtestd — the two commands are `make run` and `make test`; everything else is their parts.
SHELL := /bin/bash
BUILD := build
CMAKE_DIR := $(BUILD)/cmake
CTEST_ARGS ?=

.PHONY: run test build deps configure cpp gateway lint test-cpp test-gateway bench soak fuzz clean

# Installs what is missing, builds, starts backtestd (and the gateway) on the embedded defaults.
run: build
	@bash scripts/run.sh

# Installs what is missing, builds everything and runs every test.
test: build lint test-cpp test-gateway

build: deps cpp gateway

deps:
	@bash scripts/install-deps.sh

configure: $(CMAKE_DIR)/build.ninja

$(CMAKE_DIR)/build.ninja:
	cmake -S . -B $(CMAKE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

cpp: configure
	cmake --build $(CMAKE_DIR)

gateway:
	@if [ -f gateway/build.sh ]; then bash gateway/build.sh; fi

lint:
	cd protos && ../$(BUILD)/tools/npm/node_modules/.bin/buf lint

test-cpp: cpp
	cd $(CMAKE_DIR) && ctest --output-on-failure --timeout 600 $(CTEST_ARGS)

test-gateway: gateway
	@if [ -f gateway/test.sh ]; then bash gateway/test.sh; fi

# The long benchmarks (minutes); docs/benchmarks.md records their figures.
bench: build
	$(BUILD)/bin/engine_bench
	$(BUILD)/bin/engine-peak-memory
	$(BUILD)/bin/trace_query_bench
	$(BUILD)/bin/job_service_bench
	bench/compare_backtrader
	bench/comparison
	bench/load
	bench/backup
	bench/sweep_bench
	bench/sdk_sweep_bench
	$(BUILD)/bin/sweep-share-bench

# Ten minutes of a steady mix against backtestd; fails if its RSS grows (docs/reliability.md).
soak: build
	bench/soak

# Each fuzz target for FUZZ_SECONDS (default ten minutes); new inputs merge into build/fuzz/corpus,
# figures go to build/fuzz/runs.txt (docs/reliability.md).
FUZZ_SECONDS ?= 600
fuzz: deps
	bash tests/fuzz/run.sh --long --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(CMAKE_DIR) $(BUILD)/bin
