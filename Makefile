# upt_jax: `make run` and `make test` set everything up by themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast test-x64 smoke lint bench clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . || \
	  $(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: install
	$(VENV)/bin/upt run

test: install
	$(PY) -m pytest -q -n 2 --dist loadfile tests

test-fast: install
	$(PY) -m pytest -q -m fast -n 2 tests

test-x64: install
	JAX_ENABLE_X64=1 $(PY) -m pytest -q -n 2 --dist loadfile tests

smoke: install
	$(VENV)/bin/upt sweep experiments/configs/smoke.py --out runs/smoke

lint: install
	$(PY) -m pip install -q ruff && $(VENV)/bin/ruff check upt_jax experiments tests benchmarks scripts

clean:
	rm -rf $(VENV) runs out .pytest_cache
