# winback: `make demo` and `make test` each work on a fresh clone with only Python installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

.PHONY: install demo run ui test lint bench clean dagster-home manifest

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@# the dbt manifest the code location loads, parsed once here (`winback run` parses again
	@# only when a dbt file is newer than it)
	$(BIN)/python -c "from orchestration.project import ensure_manifest; ensure_manifest()"
	@touch $(STAMP)

install: $(STAMP)

## A new DAGSTER_HOME: its dagster.yaml (no telemetry, one run at a time, the storages of
## orchestration/instance_storage.py); an existing dagster.yaml is left as it is.
dagster-home: install
	@$(BIN)/python -c "import os; from orchestration.dagster_home import ensure_dagster_home; ensure_dagster_home(os.environ['DAGSTER_HOME'])"

manifest: install
	@$(BIN)/python -c "from orchestration.project import ensure_manifest; ensure_manifest()"

## Generate the demo data set, materialize every asset, print a summary. (`winback run` parses
## the dbt project itself when its manifest is missing or stale: no separate step.)
demo: install dagster-home
	$(BIN)/winback generate
	$(BIN)/winback run

## Materialize everything for the current landing folder (no generation).
run: install dagster-home
	$(BIN)/winback run

## The Dagster UI on http://127.0.0.1:3000
ui: install dagster-home manifest
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

## The whole test suite.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## dbt's documentation site (every mart, column and the lineage) for the warehouse at
## WINBACK_WAREHOUSE (default data/warehouse/winback.duckdb), which the catalog is read from.
.PHONY: docs
DOCS_WAREHOUSE = $(abspath $(or $(WINBACK_WAREHOUSE),data/warehouse/winback.duckdb))
docs: install
	@test -f "$(DOCS_WAREHOUSE)" || { echo "make docs: no warehouse at $(DOCS_WAREHOUSE): run make demo first (or set WINBACK_WAREHOUSE)"; exit 1; }
	cd dbt_project && WINBACK_WAREHOUSE="$(DOCS_WAREHOUSE)" $(CURDIR)/$(BIN)/dbt docs generate --static --profiles-dir . --project-dir .
	@echo "Documentation site: $(CURDIR)/dbt_project/target/index.html"
	@echo "  open $(CURDIR)/dbt_project/target/static_index.html directly, or serve it:"
	@echo "  cd dbt_project && ../$(BIN)/dbt docs serve --port 8080   (then http://127.0.0.1:8080)"

## Speed and memory figures (not a test, docs/benchmarks.md): `winback run` on 10 events, the
## demo, the purchases scenario, 1M and 10M events (and the daily run at 1M and 10M, by
## `winback run` and by the sensor), as multiples of the floor; scoring 1M users.
## `make bench SIZES=tiny,200000` runs only those data sets (and no churn scoring).
bench: install
	$(BIN)/python benchmarks/bench.py $(if $(SIZES),--sizes $(SIZES))
	$(if $(SIZES),,$(BIN)/python benchmarks/churn_scoring.py --users 1000000)

## 100M events (benchmarks/fast_events.py, DuckDB memory limit 8GB): time and peak memory.
.PHONY: bench-100m
bench-100m: install
	$(BIN)/python benchmarks/bench.py --sizes 100000000

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs bench_out
