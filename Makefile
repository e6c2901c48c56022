# imagewarden — quick start: `make run` (serve the demo inventory) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8080
LINT    = $(wildcard src tests benchmarks)
DB     ?= sqlite:///imagewarden.db

.PHONY: venv run test lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(VENV)/bin/imagewarden db upgrade --db $(DB)
	$(VENV)/bin/imagewarden demo seed --db $(DB) --endpoint http://$(HOST):$(PORT)
	$(VENV)/bin/imagewarden serve --db $(DB) --host $(HOST) --port $(PORT)

lint: venv
	$(VENV)/bin/ruff check $(LINT)
	$(VENV)/bin/ruff format --check $(LINT)

format: venv
	$(VENV)/bin/ruff format $(LINT)
	$(VENV)/bin/ruff check --fix $(LINT)

test: venv
	$(VENV)/bin/ruff check $(LINT)
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
