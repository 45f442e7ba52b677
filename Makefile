# sync_pipeline — the two setup commands are `make demo` and `make test`; each creates .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo test lint dev bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## demo: the main job once against the emulator's demo org (into data/demo.db), with a summary
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/sync-pipeline demo

## test: the whole test suite, two worker processes, one test file each at a time (PostgreSQL tests skip outside CI
## when no server answers)
test: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pytest -q -n 2 --dist loadfile

## lint: ruff, mypy and the import contracts of the layers (CI runs it before the tests)
lint: $(STAMP)
	$(BIN)/ruff check sync_pipeline sync_pipeline_tests
	$(BIN)/mypy
	$(BIN)/lint-imports

## dev: the emulator plus the Dagster UI on http://127.0.0.1:3000 (Ctrl-C stops both)
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/sync-pipeline dev

## bench: the performance figures (emulator at 1,000,000 Leads; pull of 1,000,000 Leads+Contacts into PostgreSQL; push of 100,000 scores and 10,000 Tasks;
## the whole main job three times at 1,000,000 Leads on PostgreSQL and 200,000 on SQLite)
bench: $(STAMP)
	$(BIN)/sync-pipeline bench

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache data/marketing.db data/demo.db data/exports data/events data/bench
