# databus: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint contracts services bench bench-ingest bench-import bench-progression bench-live clean-run

# Install the locked set only when the lock or the project metadata changed.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

services: $(STAMP)
	@$(PY) scripts/ensure_services.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

test: services lint contracts
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	@$(PY) scripts/ensure_services.py --create-database
	@$(PY) scripts/demo.py

bench: bench-ingest bench-import

bench-ingest: services
	$(PY) -m benchmarks.ingest

bench-import: services
	$(PY) -m benchmarks.gtfs_import

clean-run:
	rm -rf .run
