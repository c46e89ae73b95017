# cx-warehouse: `make run` (set up + demo data + the whole pipeline), `make test`, `make dev`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export CX_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Demo world: two weeks, 10,000 users, ~280k events, the incident inside the window: enough
# traffic per hour for the alert rules' significance guards to see it (5,000 are too few for
# the night hours to judge, so the checkout alert stayed open until the next noon).
DEMO_ARGS ?= --users 10000 --days 14
# The Dagster partitions start at the demo world's first day in `make run` and `make dev` alike
# (so the UI shows the demo's hours, not months of empty ones), unless CX_PARTITIONS_START is set.
DEMO_TRUTH := $(CX_DATA_DIR)/landing/_simulator/truth.json
PARTITIONS_START = $${CX_PARTITIONS_START:-$(shell test -f $(DEMO_TRUTH) && $(PYTHON) -c 'import json, sys; print(json.load(open(sys.argv[1]))["config"]["start"])' $(DEMO_TRUTH))}

.PHONY: setup manifest demo-data run test test-fast test-deps browser chaos soak docs dev dashboard collector lint benchmark clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.8
	# Bytecode compiled at install: uv does not by default, and where PYTHONDONTWRITEBYTECODE is
	# set (as on these CI machines) every process would re-parse dagster, dbt, dlt and GX from
	# source (importing GX: 8.5 s without .pyc, 4.0 s with).
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml .dlt/secrets.toml

# Dagster instance config (the DuckDB writer pool limit lives there).
$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp $< $@

# A random pseudonymisation key for the demo, kept out of git. Production sets PII__HASH_KEY.
.dlt/secrets.toml:
	mkdir -p .dlt && umask 077 && printf '[pii]\nhash_key = "%s"\n' "$$($(PYTHON) -c "import secrets; print(secrets.token_hex(32))")" > $@

# Parsed with the warehouse path and target the runs use: dbt re-parses the whole project (~3 s a
# dbt run) when the profile differs from the one its saved parse was made with.
# A full parse (--no-partial-parse): dbt's partial parsing misses a changed macro that a model
# calls in its config() (its hooks stayed the old ones); the runs then re-use this parse.
manifest: $(STAMP)
	cd dbt_project && CX_DUCKDB_PATH="$$(cd .. && $(BIN)/python -c 'from ingestion.settings import Settings; print(Settings.from_env().duckdb_path)')" \
		../$(BIN)/dbt parse --profiles-dir . --quiet --no-partial-parse

demo-data: $(STAMP)
	$(BIN)/python -m simulator --out $(CX_DATA_DIR)/landing --if-missing $(DEMO_ARGS)

# Every hour of the demo world, as the schedules would have processed it (one backfill run over
# the landed hours, so the alert rules judge each hour and the incident raises its alert).
run: setup manifest demo-data
	CX_PARTITIONS_START=$(PARTITIONS_START) $(BIN)/python -m orchestration.run landed --all
	$(BIN)/python -m orchestration.summary

# What the SDK tests drive besides Python: the real JavaScript SDKs (npm, pinned in
# tests/collector/js/package-lock.json) on the machine's Node, and Debian's Chromium for
# analytics.js. Installed from Debian's packages when missing (root, or sudo), never downloaded
# by a test tool.
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
JS_SDKS := tests/collector/js/node_modules/.installed
$(JS_SDKS): tests/collector/js/package-lock.json
	command -v npm >/dev/null || ($(APT_GET) update -qq && $(APT_GET) install -y -qq nodejs npm)
	cd tests/collector/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

browser:
	command -v chromium >/dev/null || ($(APT_GET) update -qq && $(APT_GET) install -y -qq chromium)

test-deps: $(JS_SDKS) browser

# Two pytest workers (pytest-xdist): the slow tests are independent (each its own temp warehouse,
# Dagster home and dbt target folder), so the 2-core machines run two at once.
TEST_WORKERS ?= 2
test: setup manifest test-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

# The quick tests (< 2 min on 2 cores): unit tests, dbt unit tests, definitions load; no
# simulated world, pipeline, browser or dagster dev (tests/conftest.py marks those slow).
test-fast: setup manifest
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow"

# Fault injection: the pipeline SIGKILLed at random points, re-run, compared with a clean run
# (CX_CHAOS_CYCLES cycles, ~1 minute each on 2 cores; CHAOS_ARGS=--every-step: one kill per step).
chaos: setup manifest
	$(BIN)/python -m tests.orchestration.chaos --cycles $${CX_CHAOS_CYCLES:-5} $(CHAOS_ARGS)

# The published-warehouse soak: 20 pipeline runs under analysts' readers (~20 min on 2 cores).
soak: setup manifest
	CX_PUBLISH_SOAK_RUNS=$${CX_PUBLISH_SOAK_RUNS:-20} $(BIN)/python -m pytest tests/publish -v --timeout 3600

# The dbt docs site (every model and column, lineage, tests) as one file: needs a built warehouse
# (`make run`), read for its catalog while no run is writing.
docs: setup manifest
	cd dbt_project && CX_DUCKDB_PATH=$(CX_DATA_DIR)/warehouse.duckdb ../$(BIN)/dbt docs generate --static --profiles-dir . --quiet
	@echo "dbt docs: $(CURDIR)/dbt_project/target/static_index.html"

dev: setup manifest
	CX_PARTITIONS_START=$(PARTITIONS_START) $(BIN)/dagster dev -m orchestration.definitions

# The CX dashboard on http://127.0.0.1:$CX_DASHBOARD_PORT (8501): Streamlit over the published
# copy only (never the pipeline's file), usage statistics off, nothing fetched from the internet.
CX_DASHBOARD_PORT ?= 8501
dashboard: setup
	$(BIN)/streamlit run dashboard/app.py --server.address 127.0.0.1 \
		--server.port $(CX_DASHBOARD_PORT) --server.headless true \
		--browser.gatherUsageStats false --global.developmentMode false --client.toolbarMode viewer

# The event collector in the foreground (Segment's tracking API on CX_COLLECTOR_HOST:PORT,
# default 127.0.0.1:8088); write keys from CX_COLLECTOR_WRITE_KEYS or .dlt/secrets.toml.
collector: setup
	$(BIN)/python -m ingestion.collector

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

benchmark: setup
	$(BIN)/python benchmarks/ingest.py --events 1000000
	$(BIN)/python benchmarks/microbatch.py --events-per-hour 15000 --history-days 1 30

clean:
	rm -rf $(VENV) data .dagster_home dbt_project/target dbt_project/logs
