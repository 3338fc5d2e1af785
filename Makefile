# Two commands on a fresh machine (Python 3.11 on PATH as python3.11 or python3):
#   make quick   set up .venv and run the main job
#   make test    set up .venv (with the dev extras: torch CPU, pytest) and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup quick test bench clean clean-cache

$(BIN)/toydd: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

setup: $(BIN)/toydd

quick: setup
	$(BIN)/toydd reproduce --preset quick --out runs/quick

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_engine.py

clean-cache:
	find src -name '*.nbi' -delete -o -name '*.nbc' -delete

clean: clean-cache
	rm -rf $(VENV)
