# databus: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint contracts services bench bench-ingest bench-streams bench-import bench-progression bench-live bench-feeds bench-footprint bench-broker bench-history bench-pipeline chaos soak clean-run bench-tracked bench-segments bench-prediction-log

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
	$(VENV)/bin/ruff format --check .

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

test: services lint contracts
	@$(PY) scripts/ensure_test_tools.py
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	@$(PY) scripts/ensure_services.py --create-database
	@$(PY) scripts/demo.py

bench: bench-ingest bench-streams bench-import bench-progression bench-feeds bench-live bench-footprint bench-broker bench-history bench-pipeline bench-tracked bench-segments

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

# CPU per tracked message below paho, private Redis and scratch database of its own;
# BENCH_TRACKED_ARGS="--vehicles N --batch B --workers K --saturated --profile" (default
# 2,000 vehicles, batches of 20; --workers 3: as one of three workers on a round-robin
# subscription; --saturated: each of them as busy as one worker alone).
bench-tracked: services
	$(PY) -m benchmarks.tracked_path $(BENCH_TRACKED_ARGS)

# The whole pipeline under N tracked vehicles (private PostgreSQL, Redis, Mosquitto; a
# generated network, one run In Progress per vehicle): worker CPU per message, the highest
# sustained rate, publish -> Redis and -> served feed latencies. About 6 minutes at the
# default 2,000 vehicles; BENCH_PIPELINE_ARGS="--vehicles 6000 --workers 1,3".
bench-pipeline: services
	$(PY) -m benchmarks.pipeline $(BENCH_PIPELINE_ARGS)

# Hot-state bytes per vehicle and per run, durable rows per run (private Redis, scratch
# database); BENCH_FOOTPRINT_ARGS="--vehicles 1000 2000 --seconds 60" (the defaults).
bench-footprint: services
	$(PY) -m benchmarks.footprint $(BENCH_FOOTPRINT_ARGS)

# The shipped Mosquitto's QoS 1 ceiling on this machine (private broker, raw-socket clients).
bench-broker: $(STAMP)
	$(PY) -m benchmarks.broker $(BENCH_BROKER_ARGS)

# Position history: partitioned vs single-table insert rate, bytes per row, one day's
# retention (scratch databases); BENCH_HISTORY_ARGS="--rows 200000 --sizes 250000,1000000".
bench-history: services
	$(PY) -m benchmarks.history $(BENCH_HISTORY_ARGS)

# The prediction history: the former full reload of the stop events vs the bounded sample
# table's rebuild, incremental task run and reload (scratch database; about 2 minutes);
# BENCH_SEGMENTS_ARGS="--events 1000000 --touched 6000" (the defaults).
bench-segments: services
	$(PY) -m benchmarks.segment_history $(BENCH_SEGMENTS_ARGS)

# The prediction log: ms per sample (parse, COPY) and rows/s at 2,000 and 6,000 published
# runs, bytes per row, the retention prune (scratch database; about a minute);
# BENCH_PREDICTION_LOG_ARGS="--runs 2000,6000 --stops 20 --rounds 5" (the defaults).
bench-prediction-log: services
	$(PY) -m benchmarks.prediction_log $(BENCH_PREDICTION_LOG_ARGS)

# The fault matrix and the 30-minute soak start private PostgreSQL, Redis and Mosquitto
# of their own (docs/reliability.md); options through CHAOS_ARGS / SOAK_ARGS.
chaos: $(STAMP)
	$(PY) -m benchmarks.chaos $(CHAOS_ARGS)

soak: $(STAMP)
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

clean-run:
	rm -rf .run
