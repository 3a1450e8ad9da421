# Collective Impact Monitor: `make run` to see it work, `make test` to prove it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export CIM_HOME ?= $(CURDIR)/data
export CIM_CITY ?= $(CURDIR)/cities/demo
export DAGSTER_HOME := $(CIM_HOME)/dagster
# Offline by design: no tool phones home.
export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export GX_ANALYTICS_ENABLED := False
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false
export DO_NOT_TRACK := 1

DAGSTER_PORT ?= 3000
APP_PORT ?= 8501
DOCS_PORT ?= 8502

UV = $(shell command -v uv 2>/dev/null || echo "$$HOME/.local/bin/uv")
BIN := $(CURDIR)/.venv/bin


.PHONY: help setup run serve pipeline demo dev test lint prepare format ledger check-config docs health snapshots rollback withdraw reprocess archive-encrypt archive-purge impact report bench bench-impact clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup:  ## install uv if missing, then the locked environment
	@command -v uv >/dev/null 2>&1 || test -x "$$HOME/.local/bin/uv" || python3 -m pip install --user --quiet uv
	@$(UV) sync --locked --quiet
	@$(BIN)/cim init >/dev/null

run: setup  ## set up, generate the demo city if nothing landed yet, run the pipeline, build the dbt docs, serve
	@$(BIN)/cim check-config
	@$(BIN)/cim-demo
	@$(BIN)/cim pipeline || echo "The pipeline did not finish (see above): the dashboard serves the last published snapshot."
	@$(BIN)/cim docs || echo "The dbt docs were not built (see above); make docs tries again."
	@$(BIN)/cim serve --dagster-port $(DAGSTER_PORT) --app-port $(APP_PORT) --docs-port $(DOCS_PORT)

serve: setup  ## dashboard (:8501), Dagster UI (:3000), dbt docs and Data Docs (:8502) on 127.0.0.1; Ctrl-C stops all
	@$(BIN)/cim serve --dagster-port $(DAGSTER_PORT) --app-port $(APP_PORT) --docs-port $(DOCS_PORT)

pipeline: setup  ## the pipeline once (what changed since the served snapshot), serving nothing
	@$(BIN)/cim pipeline

demo: setup  ## generate the demo city into the landing folder (INCIDENTS=n to scale)
	@$(BIN)/cim-demo $(if $(INCIDENTS),--incidents $(INCIDENTS)) $(if $(FORCE),--force)

dev: setup  ## Dagster webserver + daemon on 127.0.0.1:3000 (sensors and schedules run)
	@$(BIN)/dagster dev -h 127.0.0.1 -p 3000  # code location: [tool.dagster] in pyproject.toml

ledger: setup  ## every received file per feed and status
	@$(BIN)/cim ledger

check-config: setup  ## validate the city folder (CIM_CITY)
	@$(BIN)/cim check-config

test: setup  ## run the test suite
	@$(BIN)/pytest $(PYTEST_ARGS)

lint: setup  ## ruff and sqlfluff (the city's generated dbt models included)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/cim prepare >/dev/null
	@$(BIN)/sqlfluff lint dbt_project

prepare: setup  ## write the city's dbt models (CIM_CITY) and parse the dbt project
	@$(BIN)/cim prepare

format: setup  ## apply ruff's formatting and fixes
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

health: setup  ## feed health for the backbone: late, missing and rejected deliveries first
	@$(BIN)/cim health

snapshots: setup  ## published snapshots (* = served)
	@$(BIN)/cim publish list

rollback: setup  ## serve the snapshot before the current one (TO=<id> for another)
	@$(BIN)/cim publish rollback $(if $(TO),--to $(TO))

withdraw: setup  ## take back a loaded delivery, restoring the one before (FILE=name|sha256|load_id)
	@$(BIN)/cim withdraw "$(FILE)" $(if $(REASON),--reason "$(REASON)")

reprocess: setup  ## load the deliveries in force again from the archive, then the pipeline (FEED=, PERIOD=)
	@$(BIN)/cim reprocess $(if $(FEED),--feed "$(FEED)") $(if $(PERIOD),--period "$(PERIOD)")

archive-encrypt: setup  ## encrypt the plain archived originals of personal feeds (DRY_RUN=1 lists only)
	@$(BIN)/cim archive encrypt $(if $(DRY_RUN),--dry-run)

archive-purge: setup  ## delete archived originals and refused files past their retention (DRY_RUN=1 lists only)
	@$(BIN)/cim archive purge $(if $(DRY_RUN),--dry-run)

impact: setup  ## impact estimate on a CSV panel (PANEL=file.csv) or an action (ACTION=.. INDICATOR=..)
	@$(BIN)/cim impact $(PANEL) $(if $(ACTION),--action $(ACTION)) $(if $(INDICATOR),--indicator $(INDICATOR)) $(IMPACT_ARGS)

# LANG is also the shell's locale (C.UTF-8...): only a report language is passed on
report: setup  ## council report from the published snapshot (GOAL=<id> or AREA=<code>; LANG=en|nl|fr|de, FORMAT=pdf|html, OUTPUT=, PERIOD=)
	@$(BIN)/cim report $(if $(GOAL),--goal "$(GOAL)") $(if $(AREA),--area "$(AREA)") $(if $(filter en nl fr de,$(LANG)),--lang $(LANG)) $(if $(FORMAT),--format $(FORMAT)) $(if $(OUTPUT),--output "$(OUTPUT)") $(if $(PERIOD),--period "$(PERIOD)")

bench: setup  ## benchmarks vs bare DuckDB (SCALES="1000000 3000000 10000000"; default 1000000)
	@$(BIN)/python -m benchmarks.run --scales $(or $(SCALES),1000000) $(BENCH_ARGS)

bench-impact: setup  ## impact estimate beside pyfixest (AREAS="5000 20000" x 72 months)
	@$(BIN)/python -m benchmarks.impact_scale --areas $(or $(AREAS),5000 20000) $(BENCH_ARGS)

docs: setup  ## dbt docs (catalog of every model and column) into $(CIM_HOME)/docs/dbt, served by make serve
	@$(BIN)/cim docs
	@echo "They need a web server (opened as a file the page stays empty): make serve, then http://127.0.0.1:$(DOCS_PORT)/dbt/ (also linked from the dashboard's Data health page). One file that opens without a server: $(CIM_HOME)/docs/dbt/static_index.html"

clean:  ## delete runtime data under CIM_HOME (keeps the code and config)
	rm -rf "$(CIM_HOME)"
