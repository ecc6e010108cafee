# databus: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint contracts services bench bench-ingest bench-streams bench-import bench-progression bench-live bench-feeds chaos soak clean-run

# Install the locked set only when the lock or the project metadata changed.
# The code runs from the checkout (manage.py, celery -A databus), so only the
# dependencies are installed. pip's notes about absent local mirrors are dropped.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	@touch $(STAMP)

services: $(STAMP)
	@$(PY) scripts/ensure_services.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

test: services lint contracts
	@$(PY) scripts/ensure_browser.py
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	@$(PY) scripts/ensure_services.py --create-database
	@$(PY) scripts/demo.py

bench: bench-ingest bench-streams bench-import bench-progression bench-feeds bench-live

bench-ingest: services
	$(PY) -m benchmarks.ingest

# A private Redis of its own; BENCH_STREAMS_ARGS="--entries N" (default 200,000).
bench-streams: services
	$(PY) -m benchmarks.streams $(BENCH_STREAMS_ARGS)

bench-import: services
	$(PY) -m benchmarks.gtfs_import

bench-progression: services
	$(PY) -m benchmarks.progression
	$(PY) -m benchmarks.progression_pipeline

bench-feeds: services
	$(PY) -m benchmarks.feeds

bench-live: services
	$(PY) -m benchmarks.live

# The fault matrix and the 30-minute soak start private PostgreSQL, Redis and Mosquitto
# of their own (docs/reliability.md); options through CHAOS_ARGS / SOAK_ARGS.
chaos: $(STAMP)
	$(PY) -m benchmarks.chaos $(CHAOS_ARGS)

soak: $(STAMP)
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

clean-run:
	rm -rf .run
