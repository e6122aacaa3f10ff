# Two commands on a fresh machine with only Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Dagster reads dagster.yaml from $DAGSTER_HOME only, and it must be absolute.
export DAGSTER_HOME := $(CURDIR)
export CSHEALTH_DAGSTER_STORAGE := $(CURDIR)/.dagster

.PHONY: demo test lint dev bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cshealth demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

dev: $(STAMP)
	$(BIN)/cshealth demo --no-run
	$(BIN)/dagster dev -m pipelines.definitions

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/scoring.py

clean:
	rm -rf .dagster data .pytest_cache .ruff_cache
