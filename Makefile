# Two commands on a fresh machine (python >= 3.11 and make): `make demo`, `make test`.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export CAMPAIGN_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CAMPAIGN_DATA_DIR)/dagster_home
export VIRTUAL_ENV := $(VENV)
DEMO_CUSTOMERS ?= 200000
UI_PORT ?= 3000

.PHONY: venv demo test soak lint ui bench clean dagster-home

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

dagster-home:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# Every asset group ends materialized: the demo's activity feed reports sources/user_activity,
# the campaigns run, their client events are written (sources.client_events, for the outcomes),
# then the streaks' daily batch and a file of manual experiment moves; the demo SMS campaign is
# sent into outbox/sms (as of the sending window's next opening at night).
demo: venv dagster-home
	$(BIN)/campaigns demo-data --customers $(DEMO_CUSTOMERS)
	$(BIN)/python -m campaign_pipelines.demo.report_activity
	$(BIN)/campaigns db init
	$(BIN)/campaigns reference refresh
	$(BIN)/campaigns run-pending
	$(BIN)/python -m campaign_pipelines.demo.client_events
	$(BIN)/campaigns streaks run
	$(BIN)/campaigns streaks assign campaign_pipelines/demo/experiment_moves.csv
	$(BIN)/campaigns sequences status critical@example.com
	$(BIN)/campaigns sms run --campaign demo-sms --now "$$($(BIN)/python -m campaign_pipelines.demo.sms)"

lint: venv
	$(BIN)/ruff check campaign_pipelines campaign_pipelines_tests bench
	$(BIN)/mypy

# The many-processes test (campaign_pipelines_tests/topology/test_many_processes.py) soaks for
# 6 s inside `make test` (a create or two, a posted request or two: the suite stays short);
# `make soak` runs it alone for two minutes (.ci/run does both).
# `dg check defs` (one core for about 3.5 s) runs beside pytest instead of before it, sharing
# the cores with the workers; its output is shown when it fails, and either failing fails
# `make test`.
test: lint dagster-home
	@mkdir -p $(CAMPAIGN_DATA_DIR)
	$(BIN)/dg check defs > $(CAMPAIGN_DATA_DIR)/dg-check.log 2>&1 & check=$$!; \
	CAMPAIGN_SOAK_SECONDS=$${CAMPAIGN_SOAK_SECONDS:-6} $(BIN)/pytest -q; tests=$$?; \
	if wait $$check; then echo "dg check defs: passed"; \
	else cat $(CAMPAIGN_DATA_DIR)/dg-check.log; echo "dg check defs: FAILED"; exit 1; fi; \
	exit $$tests

soak: venv
	CAMPAIGN_SOAK_SECONDS=$${CAMPAIGN_SOAK_SECONDS:-120} $(BIN)/pytest -q -s -n 0 \
		campaign_pipelines_tests/topology/test_many_processes.py

# From DAGSTER_HOME, where its dagster.yaml is the instance's: started from the repository
# root, `dg dev` would warn that the root's dagster.yaml (the source `make` copies) is unused.
ui: venv dagster-home
	cd $(DAGSTER_HOME) && $(BIN)/dg dev -w $(CURDIR)/workspace.yaml -p $(UI_PORT)

bench: venv
	$(BIN)/python bench/bench_audience.py
	$(BIN)/python bench/bench_deploy.py
	$(BIN)/python bench/bench_streaks.py
	$(BIN)/python bench/bench_runs.py
	$(BIN)/python bench/bench_send.py
	$(BIN)/python bench/bench_ingress.py
	$(BIN)/python bench/bench_metrics.py
	$(BIN)/python bench/bench_sms.py

clean:
	rm -rf $(CAMPAIGN_DATA_DIR) .pytest_cache .ruff_cache
