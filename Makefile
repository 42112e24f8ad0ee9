# botops task runner. `make run` and `make test` each set up everything they need.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test lint check bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "botops needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

## The main job on embedded defaults (SQLite in data/, the built-in WeCom simulator when no
## credentials are configured): validate, sync and tag the groups, preview the week, then run
## the daemon until Ctrl-C.
run: $(STAMP)
	$(BIN)/botops validate
	$(BIN)/botops sync
	$(BIN)/botops groups import examples/groups.yaml
	$(BIN)/botops preview --days 7
	$(BIN)/botops run

## The whole test suite: lint, types, then pytest (with a throwaway PostgreSQL server).
test: $(STAMP) lint
	scripts/with-postgres.sh $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check botops tests bench
	$(BIN)/ruff format --check botops tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
