# upt_jax: `make run` and `make test` set everything up by themselves (BUILD.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast test-x64 smoke lint bench clean

install: $(STAMP)

# The build backend (setuptools >= 70.1, which builds wheels by itself) goes in
# first, so the editable install below builds offline and needs no fallback.
# -qq: only errors are printed (pip still fails loudly); the test suite builds a
# wheel with the same backend (tests/test_install.py).
PIP := $(PY) -m pip install -qq --disable-pip-version-check
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (requirements.txt, then upt_jax in editable mode) ..."
	@$(PIP) --upgrade pip "setuptools>=70.1" wheel
	@$(PIP) -r requirements.txt
	@$(PIP) --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "done: $(VENV)/bin/upt --help"

run: install
	$(VENV)/bin/upt run

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile tests

test-fast: install
	$(PY) -m pytest -q -m fast -n 2 tests

test-x64: install
	JAX_ENABLE_X64=1 $(PY) -m pytest -q -n 2 --dist loadfile tests

smoke: install
	$(VENV)/bin/upt sweep experiments/configs/smoke.py --out runs/smoke --check

lint: install
	$(PY) -m pip install -q ruff && $(VENV)/bin/ruff check upt_jax experiments tests benchmarks scripts

clean:
	rm -rf $(VENV) runs out .pytest_cache
