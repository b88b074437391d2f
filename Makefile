# SlicerWeb: `make run` starts the demo stack (nginx or PROXY=caddy, TLS, local OIDC issuer, app with demo data on
# the embedded headless engine); `make serve` the bare loopback server (port 2016); `make test` runs the suite.
PYTHON ?= python3
PROXY ?= nginx
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run serve test lint system-deps venv bench clean ohif audit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	deploy/install-system-deps

# The product as a clinician meets it: OHIF over HTTPS behind $(PROXY), sign-in at the local issuer.
# Prints the viewer URL, the CA file, the demo user and password, and a token for curl; Ctrl-C stops it all.
# System packages first: on a fresh Debian machine `make venv` itself needs python3-venv.
run:
	deploy/install-system-deps --run $(PROXY)
	$(MAKE) venv
	deploy/fetch-ohif
	deploy/run-stack --proxy $(PROXY) --demo

# Slicer's own mode: the bare app on http://127.0.0.1:2016/ (loopback only, no TLS, no sign-in).
serve:
	deploy/install-system-deps --run
	$(MAKE) venv
	deploy/fetch-ohif
	$(BIN)/slicerweb serve --demo --policy policies/default.toml

# mypy --strict on app/slicerweb ([tool.mypy] in pyproject.toml) runs before the tests: a type error fails fast.
test: system-deps venv ohif
	$(BIN)/ruff check app tests bench audit
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check app tests bench audit
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache

# The OHIF viewer served at /browse: npm package @ohif/app (pinned, cached), patched for the prefix.
ohif:
	deploy/fetch-ohif

# Benchmarks (each prints a table): DICOMweb vs Orthanc + DICOMweb plugin on the same generated data;
# Slicer API volume transfer, slice renders/s and system/version req/s against in-run floors;
# latency inside a stand-in Slicer whose main loop holds the GIL, per threading design;
# OHIF's time to first image through nginx, SlicerWeb vs Orthanc.
bench: system-deps venv ohif
	$(BIN)/python bench/dicomweb
	$(BIN)/python bench/ohif
	$(BIN)/python bench/slicer_api
	$(BIN)/python bench/slicer_mainloop
	$(BIN)/python bench/proxy_latency
	$(BIN)/python bench/stow_parse

# The evidence (issue 16): attack corpus through the app, nginx and Caddy; parser fuzzing (hypothesis,
# 3,000 examples each); schemathesis on /slicer/openapi.json; 300+300 slow clients per front; faults
# (kill -9, disk full, damaged index, JWKS down); 200 connections for 60 s over TLS; testssl.sh.
# Writes reports/audit.md; exits 1 on any failure outside audit/known_open.py. Takes ~30 minutes.
audit: venv
	$(BIN)/python -m audit
