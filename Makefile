# wastestream — everything a fresh machine needs is installed by these targets.
#   make demo   stack up, seed city simulated, results in InfluxDB, where to look printed
#   make test   unit + integration tests against a real local Kafka and InfluxDB
SHELL := /bin/bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
WS := $(BIN)/wastestream
STAMP := $(VENV)/.installed

.PHONY: help venv install stack-up stack-down stack-status demo test test-unit test-integration lint schemas bench fuzz fuzz-atheris chaos clean

help:
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (Python 3.11 is required)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv install: $(STAMP) ## create .venv and install wastestream with dev tools

stack-up: $(STAMP) ## start the local Kafka + InfluxDB (builds/fetches them on first run)
	$(WS) stack up

stack-down: $(STAMP) ## stop the local Kafka + InfluxDB
	$(WS) stack down

stack-status: $(STAMP)
	$(WS) stack status

demo: $(STAMP) ## stack up, simulate part of a seed-city day, print where results are
	$(WS) stack install
	$(WS) demo

test: $(STAMP) ## all tests (installs what it needs; brings the stack up and down)
	$(WS) stack install
	bash deploy/local/install-browser.sh
	$(BIN)/pytest tests -q

test-unit: $(STAMP) ## fast pure tests, no servers
	$(BIN)/pytest tests/unit -q

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

lint: $(STAMP) ## ruff (lint + format) and mypy (configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schemas: $(STAMP) ## regenerate JSON Schema files under schemas/json/
	$(WS) schemas write

fuzz: $(STAMP) ## fuzz the JT/T 808 gateway path with 10^6 mutated frames
	$(WS) fuzz --cases 1000000

fuzz-atheris: $(STAMP) ## coverage-guided fuzzing with atheris (installs it), 10^6 runs
	$(BIN)/pip install -q atheris==3.0.0
	$(BIN)/python tests/fuzz/atheris_jt808.py -runs=1000000 -max_len=2048

chaos: $(STAMP) ## the rebalance storm for 5 minutes (a worker SIGKILLed every 5-40 s), counts printed
	$(WS) stack install
	WASTESTREAM_CHAOS_SECONDS=300 $(BIN)/pytest tests/faults/test_chaos.py -q -s

bench: $(STAMP) .venv-quix/stamp ## benchmarks, printed as a table with ratios to a same-run baseline
	$(WS) bench --pipeline

# Quix Streams, a peer in the benchmark, in a virtualenv of its own (it pins other pydantic versions)
.venv-quix/stamp:
	$(PY) -m venv .venv-quix
	.venv-quix/bin/pip install -q quixstreams==3.28.1
	touch $@

clean:
	-$(WS) stack down
	rm -rf .wastestream .pytest_cache .hypothesis
