# SafeTwin — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit services bench clean help

help:
	@echo "make run   - set up and start SafeTwin with simulated devices and the dashboard (embedded defaults)"
	@echo "make test  - set up, install the test services (Mosquitto, InfluxDB, PostgreSQL, Chromium) and run lint, types and tests"
	@echo "make bench - run the ingest benchmark"

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@PYTHON=$(PYTHON) bash scripts/bootstrap.sh $(VENV)
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/safetwin run --simulate

services:
	@bash scripts/install-test-services.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: $(STAMP) services lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
