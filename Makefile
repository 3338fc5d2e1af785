# Two commands on a fresh machine (Python 3.11 on PATH as python3.11 or python3):
#   make quick   set up .venv and run the main job
#   make test    set up .venv (with the dev extras: torch CPU, pytest) and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup quick test bench clean

$(BIN)/toydd: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/toydd

quick: setup
	$(BIN)/toydd train --dataset-size 5 --n-hidden 2 --out runs/quick-t5 --overwrite

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) runs src/toydd/__pycache__
