# The two README commands: `make demo` and `make test`. Each builds .venv/ from uv.lock first.
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
UV := .tools/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export DAGSTER_DISABLE_TELEMETRY := 1

.PHONY: setup demo test test-unit ui bench lint clean

# Test services (Azurite, BigQuery emulator, ...) add themselves from mk/*.mk: each appends the
# targets it needs to TEST_DEPS.
TEST_DEPS :=
-include mk/*.mk

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced

demo: setup
	$(VENV)/bin/costlake demo

test: setup $(TEST_DEPS)
	$(VENV)/bin/python -m pytest

# Daily work: unit tests, the real samples and the dbt unit tests; no services, no sudo, no browser.
test-unit: setup
	$(VENV)/bin/python -m pytest -m "not integration and not e2e"

# The Dagster UI on the demo (run `make demo` first): http://127.0.0.1:3000
ui: setup
	COSTLAKE_HOME=$(abspath .costlake) COSTLAKE_REGISTRY=$(abspath .costlake)/registry.yaml \
	DAGSTER_HOME=$(abspath .costlake)/dagster $(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup
	$(VENV)/bin/python bench/run_bench.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf .costlake dbt_project/target dbt_project/logs
