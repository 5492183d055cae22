# Development tasks. `make test` and `make run` install what they need first.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=
# Duration of the load benchmark in seconds: `make bench BENCH_SECONDS=10` for a quick run.
BENCH_SECONDS ?= 60

# Keep the Azure Monitor and OpenTelemetry packages from probing cloud
# metadata endpoints and sending statsbeat telemetry from dev machines and CI.
export OTEL_EXPERIMENTAL_RESOURCE_DETECTORS := otel
export APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL := true
# The exporter also fetches settings from a Microsoft endpoint unless told not to.
export APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED := true

.PHONY: venv node_modules test run lint bench

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check \
		-r requirements-dev.txt -c constraints.txt
	touch $@

node_modules: $(NODE_STAMP)

# npm ci empties node_modules first, so the stamp is written afterwards.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: venv node_modules
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

run: venv node_modules
	$(VENV)/bin/python scripts/run_local.py

# Starts its own Azurite on free ports; docs/benchmarks.md explains the figures.
bench: venv node_modules
	$(VENV)/bin/python -m bench --seconds $(BENCH_SECONDS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
