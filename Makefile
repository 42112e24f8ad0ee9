# botops task runner. `make run` and `make test` each set up everything they need.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test lint check bench clean lock audit

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "botops needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
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

## The whole test suite: lint, types, the dependency audit, then pytest (with a throwaway
## PostgreSQL server).
test: $(STAMP) lint audit
	scripts/with-postgres.sh $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check botops tests bench scripts
	$(BIN)/ruff format --check botops tests bench scripts
	$(BIN)/mypy

## Known vulnerabilities in the pinned dependencies (constraints.txt), from PyPI's advisory
## data; a pin that cannot be checked (PyPI unreachable, per-release data not served and the
## pin not the latest release) fails the target too.
audit: $(STAMP)
	$(BIN)/python scripts/audit.py --constraints constraints.txt

## Re-pin: resolve pyproject.toml afresh in a throwaway venv and write every version to
## constraints.txt (the Dockerfile and `make` install with -c constraints.txt).
lock:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "pin with Python 3.11 (as the image)"'
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install --quiet --upgrade pip; \
	"$$tmp/venv/bin/pip" install --quiet -e '.[test,postgres]'; \
	{ echo '# Exact versions of every runtime and test dependency (Python 3.11, PyPI).'; \
	  echo '# Written by `make lock`; used as pip install -c constraints.txt by make and the Dockerfile.'; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
