# Two entry points, both self-contained on a machine with Python 3.11+ and make:
#   make demo  - create .venv, install, copy images.yaml.example to images.yaml (if absent), seed the
#                demo catalog, validate, plan, apply, plan again
#   make test  - create .venv, install with the test extras, run the whole test suite
#   make lint  - ruff check . (reconciler, tests, benchmarks, tools)
#   make typecheck - mypy --strict over reconciler/ (configured in pyproject.toml)
#   make mutation - mutation score of the pure core (rules, planner, saved plans); ~8 minutes, not in .ci/run
#   make bench - benchmarks/bench.py: the performance table of issue 13 (100,000 images; not in .ci/run)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_DB := .reconciler/catalog.db

.PHONY: demo test lint typecheck mutation bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,azure]'
	touch $@ $(VENV)/.demo-installed

# The demo also leaves a working images.yaml (a copy of the example, never overwritten; .gitignore'd),
# so that `reconciler plan` with no argument works afterwards.
demo: $(VENV)/.demo-installed
	test -e images.yaml || cp images.yaml.example images.yaml
	$(BIN)/reconciler catalog init --from examples/demo-catalog.json --path $(DEMO_DB) --force
	$(BIN)/reconciler validate images.yaml.example
	$(BIN)/reconciler plan images.yaml.example
	$(BIN)/reconciler apply images.yaml.example --auto-approve
	$(BIN)/reconciler plan images.yaml.example --detailed-exitcode
	$(BIN)/reconciler images list --file images.yaml.example

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

# docs/testing.md says how to read the survivors (tools/mutation_score.py --survivors).
mutation: $(VENV)/.test-installed
	$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/python -m pip install -q -e '.[test,azure,mutation]'
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/python tools/mutation_score.py --min 0.95

# The issue 13 table: every row with the floor measured in the same run, median of 3 (several minutes).
bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) .reconciler
