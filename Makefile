# Continuum — the README's two commands are `make run` and `make test`.
BUILD ?= build
JOBS ?= 2
LISTEN ?= 127.0.0.1:8080
DATA ?= ./data

.PHONY: all setup configure build run test unit integration bench clean

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

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

integration: build
	@scripts/setup.sh --with-node
	cd tests/e2e && CONTINUUM_BIN=$(abspath $(BUILD))/continuum node --test --test-concurrency=1 --test-reporter=spec

test: unit integration

# BEFORE=path/to/another/continuum measures that build too, in the same run, as before-values.
bench: build
	$(BUILD)/continuum-bench --out bench/results $(if $(BEFORE),--before $(BEFORE))
	$(BUILD)/continuum-memory-bench --out bench/results --ef-sweep 50 100 400
	$(BUILD)/continuum-identity-bench --out bench/results

clean:
	rm -rf $(BUILD)
