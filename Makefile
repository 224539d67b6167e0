# The two commands of a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick servers lint typecheck parity pytest bench bench-rules bench-k8s bench-goals bench-e2e bench-api bench-memory bench-cli venv lock \
	db-start db-stop clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: venv
	$(BIN)/korrel8 demo

# The whole suite against real servers, installed first (tools/setup-test-servers.sh:
# cached, seconds when warm, about 15 minutes cold).
test: servers lint typecheck pytest

# The edit-test loop: Neo4j only; tests that need kube-apiserver, Prometheus or Chromium are
# deselected (marker `servers`, set in tests/conftest.py).
test-quick: lint typecheck
	$(BIN)/python -m pytest -ra -m "not servers" $(PYTEST_ARGS)

servers:
	bash tools/setup-test-servers.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

# README's table of korrel8r's rules and korrel8's counterparts (docs/korrel8r-parity.yaml).
parity: venv
	$(BIN)/python -m korrel8.rules.parity --write README.md

pytest: venv
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

# Benchmarks print their baselines measured in the same run; never part of `make test`.
bench: venv
	$(BIN)/python -m bench.store_upsert

bench-rules: venv
	$(BIN)/python -m bench.rules_apply

# Listing throughput and peak RSS, then the watch through a burst of changes (--pods N).
bench-k8s: venv
	$(BIN)/python -m bench.k8s_ingest $(BENCH_ARGS)

bench-goals: venv
	$(BIN)/python -m bench.goal_latency

# Cold start to first answer: snapshot ingest, rules, the demo's goal search (--pods N).
bench-e2e: venv
	$(BIN)/python -m bench.e2e $(BENCH_ARGS)

bench-api: venv
	$(BIN)/python -m bench.api_latency

# Peak memory of `ingest snapshot`: compression bombs against a 10,000-pod snapshot.
bench-memory: venv
	$(BIN)/python -m bench.ingest_memory

bench-cli: venv
	$(BIN)/python -m bench.cli_start

db-start: venv
	$(BIN)/korrel8 db start

db-stop: venv
	$(BIN)/korrel8 db stop

# Re-pin every package CI installs after changing pyproject.toml.
lock: venv
	(echo "# Exact versions of every package CI installs (pip install -c constraints.txt). Regenerate: make lock"; \
	 $(BIN)/python -m pip freeze --exclude-editable) > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
