# SlicerWeb: `make run` serves the demo stack on the embedded (headless) engine; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint system-deps venv bench clean ohif audit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	deploy/install-system-deps

run: venv
	deploy/install-system-deps --run
	deploy/fetch-ohif
	$(BIN)/slicerweb serve --demo --policy policies/default.toml

test: system-deps venv ohif
	$(BIN)/ruff check app tests bench audit
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check app tests bench audit

clean:
	rm -rf $(VENV) data .pytest_cache

# The OHIF viewer served at /browse: npm package @ohif/app (pinned, cached), patched for the prefix.
ohif:
	deploy/fetch-ohif

# Benchmarks (each prints a table): DICOMweb vs Orthanc + DICOMweb plugin on the same generated data;
# Slicer API volume transfer, slice renders/s and system/version req/s against in-run floors.
bench: system-deps venv
	$(BIN)/python bench/dicomweb
	$(BIN)/python bench/slicer_api
	$(BIN)/python bench/proxy_latency

# The evidence (issue 16): attack corpus through the app, nginx and Caddy; parser fuzzing (hypothesis,
# 3,000 examples each); schemathesis on /slicer/openapi.json; 300+300 slow clients per front; faults
# (kill -9, disk full, damaged index, JWKS down); 200 connections for 60 s over TLS; testssl.sh.
# Writes reports/audit.md; exits 1 on any failure outside audit/known_open.py. Takes ~30 minutes.
audit: venv
	$(BIN)/python -m audit
