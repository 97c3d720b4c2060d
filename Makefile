# The two commands: `make dev` runs everything locally, `make test` runs the tests.
# Both create .venv and install the project on a fresh machine with only Python.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench bench-automations bench-campaigns bench-campaign-batch bench-transactional bench-waiting-runs chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/nurture dev

test: $(STAMP)
	$(BIN)/python -m pytest

# Every benchmark in turn, the figures to BENCHMARKS.md; `make bench BENCH_ARGS=--quick` for a quick check.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-automations: $(STAMP)
	$(BIN)/python -m bench.automations

bench-campaigns: $(STAMP)
	$(BIN)/python -m bench.campaigns

# One campaign batch's CPU per email (no Temporal server): for comparing two versions of the code.
bench-campaign-batch: $(STAMP)
	$(BIN)/python -m bench.campaign_batch

bench-transactional: $(STAMP)
	$(BIN)/python -m bench.transactional

bench-waiting-runs: $(STAMP)
	$(BIN)/python -m bench.waiting_runs

# The fault suite (issue 7); writes CHAOS.md. On PostgreSQL it restarts the local cluster.
chaos: $(STAMP)
	$(BIN)/python -m chaos

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy nurture api workflows activities workers

clean:
	rm -rf $(VENV) .nurture .pytest_cache
