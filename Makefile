# Every target bootstraps what it needs from a fresh clone with only python3 and make present.
SHELL := /bin/bash
UV_HOME := $(CURDIR)/.tools
UV := $(UV_HOME)/bin/uv
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install test lint typecheck unit e2e demo demo-ui bench emulator clean

help:
	@echo "make demo   - run the inline example DAG through Airflow against the local emulator"
	@echo "make test   - lint, type-check and run the whole test suite"
	@echo "make bench  - run the benchmarks and rewrite BENCHMARKS.md"

$(UV):
	python3 -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	touch $@

install: $(VENV)/.synced

lint: install
	$(VENV)/bin/ruff check airflow_provider_genai_batch tests example_dags benchmarks
	$(VENV)/bin/ruff format --check airflow_provider_genai_batch tests example_dags benchmarks

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/python -m pytest -m "not e2e" -q

e2e: install
	$(VENV)/bin/python -m pytest -m e2e -q

test: lint typecheck
	$(VENV)/bin/python -m pytest -q

emulator: install
	$(VENV)/bin/genai-batch-emulator --port 8085

clean:
	rm -rf $(VENV) $(UV_HOME)
