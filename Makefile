# Two set-up commands on a fresh machine with only python3: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# molsets (the MOSES benchmark's data files) pins old libraries: only its files are used, so
# it is installed without its dependencies
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps 'molsets==0.3.1'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fick demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m fick.core.bench

clean:
	rm -rf $(VENV) mlflow.db mlruns outputs
