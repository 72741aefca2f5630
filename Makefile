# The platform's commands. Everything installs itself: `make demo` on a fresh clone is enough.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo .uv-bootstrap/bin/uv)
PYTEST_ARGS ?=
# `make test` runs on two pytest-xdist workers: the end-to-end tests (mostly waiting on a platform) beside the rest;
# TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= 2
# `make install GPU=1`: the CUDA build of XGBoost instead of the CPU-only one (training.device: auto|gpu uses it).
XGBOOST := $(if $(GPU),gpu,cpu)

.PHONY: install demo up up-celery down status logs test lint screenshots bench bench-validation bench-alerts bench-features bench-feature-store bench-serving bench-scale bench-scale-growth bench-drift bench-dashboard bench-platform-health bench-snapshot-storage bench-mlflow-auth chaos chaos-celery clean

install: $(VENV)/.installed-$(XGBOOST)

# uv installs the exact versions of uv.lock; plain pip cannot resolve Airflow without its constraint files.
$(VENV)/.installed-$(XGBOOST): pyproject.toml uv.lock
	@if [ ! -x "$(UV)" ]; then echo "uv not found: installing it with pip into .uv-bootstrap/"; \
		python3 -m venv .uv-bootstrap && .uv-bootstrap/bin/pip install --quiet uv; fi
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --python 3.11 --compile-bytecode --extra $(XGBOOST)
	@rm -f $(VENV)/.installed-*; touch $@

demo: install
	$(BIN)/ml-platform demo

up: install
	$(BIN)/ml-platform up

# CeleryExecutor on a real PostgreSQL (metadata, MLflow, DLQ) and Redis (broker): this machine's by default.
up-celery: install
	ML_PLATFORM_EXECUTOR=celery \
	ML_PLATFORM_DATABASE_URL=$${ML_PLATFORM_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432} \
	ML_PLATFORM_REDIS_URL=$${ML_PLATFORM_REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/ml-platform up

down:
	@if [ -x $(BIN)/ml-platform ]; then $(BIN)/ml-platform down; else echo "platform was not running"; fi

status: install
	$(BIN)/ml-platform status

logs: install
	$(BIN)/ml-platform logs

test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# The dashboard's screenshots in docs/images/ (shown in the README), taken by its browser tests
screenshots: install
	ML_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/integration/test_dashboard.py -k "browser or lineage" $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/pipeline_overhead.py

bench-validation: install
	$(BIN)/python benchmarks/validation.py

bench-alerts: install
	$(BIN)/python benchmarks/alert_latency.py

bench-features: install
	$(BIN)/python benchmarks/features.py

bench-feature-store: install
	$(BIN)/python -m benchmarks.feature_store --separate-env

bench-serving: install
	$(BIN)/python benchmarks/serving.py

bench-scale: install
	$(BIN)/python benchmarks/scale.py

bench-scale-growth: install
	$(BIN)/python benchmarks/scale_growth.py

# Evidently is measured only from a venv of its own: make bench-drift EVIDENTLY_PYTHON=/tmp/evidently-venv/bin/python
bench-drift: install
	$(BIN)/python benchmarks/drift.py $(if $(EVIDENTLY_PYTHON),--evidently-python $(EVIDENTLY_PYTHON))

# Page render times of the dashboard (20 models x 30 days of history) against Airflow's own REST answers
bench-dashboard: install
	$(BIN)/python benchmarks/dashboard.py

# monitoring_ml_pipelines at 20 models: run duration, and its REST reads vs one call per DAG
bench-platform-health: install
	$(BIN)/python benchmarks/platform_health.py

# Bytes a training run's snapshot costs (demo size, 1 M rows/day x 20 models) against a manifest and a raw copy
bench-snapshot-storage: install
	$(BIN)/python benchmarks/snapshot_storage.py

bench-mlflow-auth: install
	$(BIN)/python benchmarks/mlflow_auth.py

# Fault injection (issue #20): MLflow, PostgreSQL, the scheduler and a model server killed, bad data landed, 200 runs
# failing at random; prints the goals' table, writes benchmarks/results/chaos.json (docs/RELIABILITY.md)
chaos: install
	$(BIN)/python -m benchmarks.chaos

# The same suite on CeleryExecutor with this machine's PostgreSQL and Redis: a Celery worker killed mid-run instead
# of PostgreSQL (a shared server); writes benchmarks/results/chaos_celery.json
chaos-celery: install
	$(BIN)/python -m benchmarks.chaos --executor celery

clean: down
	rm -rf .platform
