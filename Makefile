# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench demo clean

$(STAMP): pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./sandbox
	touch $(STAMP)

install: $(STAMP)

## Start CaseRoom on SQLite (its schema upgraded first); with no credentials it starts the local sandbox too.
run: $(STAMP)
	$(BIN)/caseroom db upgrade
	$(BIN)/caseroom serve

## Lint, type-check and run the whole test suite, one pytest worker per core (PYTEST_WORKERS=0: in-process).
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/ruff check bot handlers integrations sandbox tests benchmarks
	$(BIN)/mypy bot handlers integrations sandbox/caseroom_sandbox
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bot handlers integrations sandbox tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy bot handlers integrations sandbox/caseroom_sandbox

bench: $(STAMP)
	$(BIN)/python -m benchmarks

demo: $(STAMP)
	$(BIN)/caseroom demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache caseroom.db*
