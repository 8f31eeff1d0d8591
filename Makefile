# Continuum — the README's two commands are `make run` and `make test`.
BUILD ?= build
JOBS ?= 2
LISTEN ?= 127.0.0.1:8080
DATA ?= ./data
# A hung test fails on its own; a hung suite is stopped rather than left to hold CI.
TEST_TIMEOUT_MS ?= 240000
E2E_TIMEOUT ?= 2400

.PHONY: all setup configure build run test tests unit integration integration-pg chaos soak fuzz-build fuzz-smoke fuzz bench clean

all: build

setup:
	@scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: setup $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/continuum serve --listen $(LISTEN) --data $(DATA)

# The store contract suite (tests/store/contract_test.cpp) runs on PostgreSQL too when
# CONTINUUM_TEST_PG is set, as `make test` does.
unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The e2e suite on SQLite (the default store).
integration: build
	@scripts/setup.sh --with-node
	cd tests/e2e && env -u CONTINUUM_TEST_PG CONTINUUM_BIN=$(abspath $(BUILD))/continuum timeout $(E2E_TIMEOUT) \
	  node --test --test-concurrency=1 --test-timeout=$(TEST_TIMEOUT_MS) --test-reporter=spec

# The e2e suite again with every server on PostgreSQL, and the multi-node tests (cluster.test.mjs,
# which need PostgreSQL). Needs CONTINUUM_TEST_PG: `make test` starts a throwaway cluster for it.
integration-pg: build
	@scripts/setup.sh --with-node
	@test -n "$$CONTINUUM_TEST_PG" || { echo "integration-pg needs CONTINUUM_TEST_PG (make test starts a cluster)"; exit 2; }
	cd tests/e2e && CONTINUUM_BIN=$(abspath $(BUILD))/continuum timeout $(E2E_TIMEOUT) \
	  node --test --test-concurrency=1 --test-timeout=$(TEST_TIMEOUT_MS) --test-reporter=spec

# The chaos suite (tests/chaos): kill -9 under mixed load, a full store, descriptor exhaustion,
# memory under abuse, overload. `make test` runs its short form; `make soak` runs it SOAK_SCALE
# times larger (2,000 concurrent streams, 15 kill cycles) and writes its figures to SOAK_REPORT.
SOAK_SCALE ?= 5
SOAK_REPORT ?= $(BUILD)/soak-report.md

chaos: build
	@scripts/setup.sh --with-node
	cd tests/chaos && env -u CONTINUUM_TEST_PG CONTINUUM_BIN=$(abspath $(BUILD))/continuum timeout $(E2E_TIMEOUT) \
	  node --test --test-concurrency=1 --test-timeout=$(TEST_TIMEOUT_MS) --test-reporter=spec

soak: build
	@scripts/setup.sh --with-node
	@echo "# Soak report ($$(date -u +%Y-%m-%dT%H:%MZ), CHAOS_SCALE=$(SOAK_SCALE), $$(nproc) cores)" > $(SOAK_REPORT)
	cd tests/chaos && CONTINUUM_BIN=$(abspath $(BUILD))/continuum CHAOS_SCALE=$(SOAK_SCALE) CHAOS_REPORT=$(abspath $(SOAK_REPORT)) \
	  node --test --test-concurrency=1 --test-timeout=1800000 --test-reporter=spec
	@echo "report: $(SOAK_REPORT)"

# A throwaway PostgreSQL cluster (scripts/pg.sh, under the build directory) lives for the run.
PG_PORT ?= 54329
test: build
	@scripts/setup.sh --with-node
	scripts/pg.sh run $(abspath $(BUILD))/pg $(PG_PORT) -- $(MAKE) --no-print-directory tests

tests: unit integration integration-pg chaos fuzz-smoke

# libFuzzer targets (fuzz/), built with clang apart from the main build. `make test` runs each
# for FUZZ_SMOKE seconds from the seed corpus; `make fuzz` for FUZZ_SECONDS, keeping what it
# finds in $(FUZZ_BUILD)/corpus.
FUZZ_BUILD ?= build-fuzz
FUZZ_SMOKE ?= 10
FUZZ_SECONDS ?= 300
FUZZ_TARGETS = http_request responses_body jwt policy

$(FUZZ_BUILD)/build.ninja:
	cmake -S fuzz -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++

fuzz-build: setup $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz-smoke: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  work=$$(mktemp -d); \
	  echo "fuzz $$t: $(FUZZ_SMOKE) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SMOKE) -timeout=5 -rss_limit_mb=2048 -print_final_stats=0 \
	    -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- $$work fuzz/corpus/$$t 2>&1 | grep -E '^Done|ERROR|SUMMARY' ; \
	  rm -rf $$work; \
	  ! ls $(FUZZ_BUILD)/crash-$$t-* >/dev/null 2>&1 || { echo "fuzz $$t found a crash"; exit 1; }; \
	done

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048 \
	    -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t; \
	done

# BEFORE=path/to/another/continuum measures that build too, in the same run, as before-values.
bench: build
	$(BUILD)/continuum-bench --out bench/results $(if $(BEFORE),--before $(BEFORE))
	$(BUILD)/continuum-memory-bench --out bench/results --ef-sweep 50 100 400
	$(BUILD)/continuum-identity-bench --out bench/results

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
