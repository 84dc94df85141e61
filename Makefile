# The whole set-up on a fresh machine is `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format clean bench bench-full soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: validate the library, then everything in one process (API, worker, beat) on SQLite
run: $(STAMP)
	$(BIN)/carepath validate definitions/
	$(BIN)/carepath up

## test: the whole suite, then lint and types
test: $(STAMP)
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory lint

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## bench: the quick benchmark suite (under 5 minutes); prints a table, rewrites docs/benchmarks.md
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

## bench-full: every benchmark at the sizes its target is stated at
bench-full: $(BENCH_STAMP)
	$(BIN)/python -m bench --full

## soak: a chaos soak on PostgreSQL (workers SIGKILLed, Redis restarted); exit 1 on any loss
## e.g. make soak SOAK_ARGS="--minutes 3 --workers 3 --enrollments 200 --json"
SOAK_ARGS ?= --minutes 10 --workers 3 --enrollments 500
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
