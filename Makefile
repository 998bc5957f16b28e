# Two entry points, each self-contained on a fresh machine:
#   make test   venv + package + test deps, then the whole test suite
#   make demo   venv + package + demo deps, then the end-to-end story on an embedded Proxmox
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow test-netbox demo lint schemas bench bench-netbox venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow and not netbox" tests

# The slow suites (kill trials, soak, image build): CI runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "slow and not netbox" tests

# The NetBox tests against a real NetBox that scripts/netbox-test-server starts (the first
# start on a machine migrates its database: minutes; later ones restore a dump: seconds)
# and stops afterwards. Set PROXGIT_NETBOX_REQUIRED=1 to fail, not skip, without NetBox.
test-netbox: $(STAMP)
	@status=0; env_file=$$(scripts/netbox-test-server start) || env_file=""; \
	PROXGIT_NETBOX_ENV="$$env_file" $(BIN)/python -m pytest -q -p no:xdist -m netbox tests/netbox \
	  || status=$$?; \
	scripts/netbox-test-server stop; exit $$status

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

# 1,000 guests reflected into a real NetBox (docs/performance.md).
bench-netbox: $(STAMP)
	@status=0; env_file=$$(scripts/netbox-test-server start) || exit 1; \
	PROXGIT_NETBOX_ENV="$$env_file" $(BIN)/python bench/netbox.py || status=$$?; \
	scripts/netbox-test-server stop; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
