PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench bench-pg clean

# The virtualenv is rebuilt whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python main.py serve

# What a reviewer would check by hand: lint, format, types, dependencies. `make test` runs it
# first, so CI does too. mypy keeps its cache in .mypy_cache: a warm run takes seconds.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/deptry .
	$(BIN)/lint-imports --no-cache

test: check
	$(BIN)/python -m pytest

BENCHMARKS := $(filter-out benchmarks/common.py benchmarks/__init__.py,$(wildcard benchmarks/*.py))
# The benchmarks run on SQLite, and on PostgreSQL too when DUNNING_BENCH_DATABASE_URL names a
# database whose role may CREATE DATABASE (each measurement gets a fresh one beside it).
BENCH_PG_DEFAULT := postgresql://dunning:dunning@127.0.0.1:5432/dunning_bench

bench: $(STAMP)
	@for script in $(BENCHMARKS); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

bench-pg: export DUNNING_BENCH_DATABASE_URL ?= $(BENCH_PG_DEFAULT)
bench-pg: bench

clean:
	rm -rf $(VENV) var
