# Two entry points, each self-contained on a fresh machine:
#   make test   venv + package + test deps, then the whole test suite
#   make demo   venv + package + demo deps, then the end-to-end story on an embedded Proxmox
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow demo lint schemas bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow" tests

# The slow suites (kill trials, soak, image build): CI runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m slow tests

lint: $(STAMP)
	$(BIN)/ruff check controller tests bench
	$(BIN)/ruff format --check controller tests bench
	$(BIN)/mypy controller/proxgit

schemas: $(STAMP)
	$(BIN)/proxgit schema --out schemas
	$(BIN)/proxgit schema --out example-repo/schemas

demo: $(STAMP)
	$(BIN)/proxgit demo

bench: $(STAMP)
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
