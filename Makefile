# Every target bootstraps what it needs from a fresh clone with only python3 and make present.
SHELL := /bin/bash
UV_HOME := $(CURDIR)/.tools
UV := $(UV_HOME)/bin/uv
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

LOWEST_AIRFLOW := 3.1.8
LOWEST_VENV := $(CURDIR)/.venv-airflow-lowest
# The provider's tests that must also pass on the lowest supported Airflow: those that run Airflow's code
# (connections and hooks, operators and dag.test(), sensors, triggers, provider discovery, the operators' import
# graph, the cleared-run look-up where no task state store exists). Left out, as they import no Airflow module
# whose behaviour differs between versions: tests/policy and tests/links (pure modules; the package's policy/ and
# links/urls.py import nothing from Airflow), tests/hooks/test_lookup.py (the look-up over given pages) and
# tests/provider/test_built_wheel.py (the wheel's files and metadata).
LOWEST_TESTS := tests/hooks/test_connection_settings.py tests/hooks/test_hook_emulator.py \
	tests/hooks/test_input_identity.py tests/hooks/test_shared_read.py tests/operators tests/sensors tests/triggers \
	tests/provider/test_discovery.py tests/provider/test_provider_info.py \
	tests/reliability/test_one_job_per_task_instance.py::TestClearedRun

.PHONY: help install test lint typecheck unit e2e chromium services test-lowest demo demo-ui bench emulator clean docs

help:
	@echo "make demo   - run the inline example DAG through Airflow against the local emulator"
	@echo "make test   - lint, type-check and run the whole test suite"
	@echo "make demo-ui [SHAPE=production] - a local Airflow UI with the emulator (production: PostgreSQL, Celery, 2 triggerers)"
	@echo "make bench  - run the benchmarks and rewrite BENCHMARKS.md"
	@echo "make docs   - build the user guide and reference into docs/_build/html (fails on any warning)"

$(UV):
	python3 -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	touch $@

install: $(VENV)/.synced

LINTED := $(wildcard airflow_provider_genai_batch tests example_dags benchmarks scripts)

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

typecheck: install
	$(VENV)/bin/mypy

# The unit layer starts many Python processes (four xdist workers; DAG runs, CLIs and import checks in
# subprocesses), each importing Airflow: their bytecode is cached once, in the venv, also where
# PYTHONDONTWRITEBYTECODE is set (without the cache every process compiles about 2,000 modules from source,
# about 2.5 s of CPU each, and pytest rewrites the package's asserts again in each worker).
TEST_ENV := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(VENV)/pycache
# The three layers' pytest commands, used by their own targets and by `test`.
RUN_UNIT := $(TEST_ENV) $(VENV)/bin/python -m pytest -q -m "not e2e" -n 4
RUN_E2E := $(TEST_ENV) $(VENV)/bin/python -m pytest -q -m e2e --durations=10
RUN_LOWEST := $(TEST_ENV) $(LOWEST_VENV)/bin/python -m pytest -q -m "not e2e"

unit: install
	$(RUN_UNIT)

# The UI browser test drives Debian's chromium (never a downloaded browser); installed once, quietly.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The production shape (scripts/local_airflow.py --executor celery --database postgres) runs Debian's PostgreSQL
# server and redis-server (never downloaded binaries); installed once, quietly.
services:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null)

# One deployment at a time (tests/e2e/conftest.py orders them); the ten slowest steps are listed at the end.
e2e: install chromium services
	$(RUN_E2E)

$(LOWEST_VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) venv --quiet --allow-existing --python 3.11 $(LOWEST_VENV)
	$(UV) export --quiet --frozen --no-hashes --no-emit-project --only-group dev -o $(LOWEST_VENV)/dev-requirements.txt
	VIRTUAL_ENV=$(LOWEST_VENV) $(UV) pip install --quiet -e . "apache-airflow==$(LOWEST_AIRFLOW)" -r $(LOWEST_VENV)/dev-requirements.txt
	touch $@

# The provider layer on the lowest supported Airflow (the locked venv has the latest).
test-lowest: $(LOWEST_VENV)/.synced
	$(RUN_LOWEST) -n 4 $(LOWEST_TESTS)

# The user guide and reference (docs/site/conf.py): every page read afresh (-E), any warning fails the build (-W),
# nitpicky cross-references (-n); internal links and #anchors are checked, external ones are not (offline).
docs: install
	$(TEST_ENV) $(VENV)/bin/python -m sphinx -E -W --keep-going -n -q -b html -c docs/site -d docs/_build/doctrees . docs/_build/html
	@echo "docs/_build/html/index.html"

# Everything but the real-Airflow tests runs on four workers (most tests wait on sockets and Airflow's loops: four
# keep both cores busy). Then three runs side by side: the deployments of tests/e2e, one after the other; those of
# the other packages (the crash matrix, HA triggerers, the production shape: each its own PostgreSQL), one after
# the other; and the provider layer on the lowest Airflow at the lowest CPU priority (nice 19). The deployments
# mostly wait on their loops, so two of them at once and the spare CPU to the lowest layer beat one at a time.
# The two side runs' logs are printed after the tests/e2e summary; any of the three failing fails the target.
E2E_OTHERS_LOG := $(CURDIR)/.test-e2e-others.log
LOWEST_LOG := $(CURDIR)/.test-lowest.log
test: lint typecheck docs $(LOWEST_VENV)/.synced
	$(RUN_UNIT)
	$(MAKE) --no-print-directory chromium services
	@nice -n 19 $(RUN_LOWEST) -n 2 $(LOWEST_TESTS) > $(LOWEST_LOG) 2>&1 & lowest=$$!; \
	$(RUN_E2E) --ignore=tests/e2e > $(E2E_OTHERS_LOG) 2>&1 & others=$$!; \
	$(RUN_E2E) tests/e2e; e2e=$$?; \
	wait $$others; oth=$$?; \
	wait $$lowest; low=$$?; \
	echo "--- the other real deployments (ran beside tests/e2e; $(E2E_OTHERS_LOG)) ---"; \
	cat $(E2E_OTHERS_LOG); \
	echo "--- the provider layer on Airflow $(LOWEST_AIRFLOW) (ran beside them; $(LOWEST_LOG)) ---"; \
	cat $(LOWEST_LOG); \
	test $$e2e -eq 0 && test $$oth -eq 0 && test $$low -eq 0

demo: install
	$(PY) scripts/demo.py

# A full local Airflow (api-server, scheduler, dag-processor, triggerer) with the emulator and the example DAGs.
# SHAPE=production: PostgreSQL, CeleryExecutor on Redis, two triggerers and two Celery workers.
SHAPE ?= local
SHAPE_ARGS_local :=
SHAPE_ARGS_production := --executor celery --database postgres --triggerers 2 --workers 2
demo-ui: install $(if $(filter production,$(SHAPE)),services)
	$(PY) scripts/local_airflow.py up --dags example_dags --port 8080 $(SHAPE_ARGS_$(SHAPE))

BENCH_VENV := $(CURDIR)/.bench-venv

$(BENCH_VENV)/.synced: $(UV) pyproject.toml benchmarks/requirements.txt benchmarks/overrides.txt
	$(UV) venv --quiet --allow-existing --python 3.11 $(BENCH_VENV)
	VIRTUAL_ENV=$(BENCH_VENV) $(UV) pip install --quiet -e . -r benchmarks/requirements.txt --override benchmarks/overrides.txt
	touch $@

# Benchmarks against the anchors, in their own venv; rewrites BENCHMARKS.md. BENCH_ARGS=--quick for a smoke run.
bench: $(BENCH_VENV)/.synced
	$(BENCH_VENV)/bin/python -m benchmarks $(BENCH_ARGS)

emulator: install
	$(VENV)/bin/genai-batch-emulator --port 8085

clean:
	rm -rf $(VENV) $(UV_HOME) $(LOWEST_VENV)
