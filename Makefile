# Two set-up commands on a fresh machine with only python3: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# The set-up is quiet so that `make demo` / `make test` open with fick's own lines: pip's
# progress and version notices are off, and so is setuptools' "Editable installation" notice
# (a fixed reminder printed on every editable install, nothing to act on); errors still show.
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONWARNINGS="ignore:Editable installation" \
	$(BIN)/pip --quiet

$(BIN)/python:
	@echo "fick: creating $(VENV) and installing fick with its dependencies (first run only;"
	@echo "      several minutes: PyTorch alone is a few GB, and pip prints nothing meanwhile)"
	@$(PY) -m venv $(VENV)
	@$(PIP) install --upgrade pip

# molsets (the MOSES benchmark's data files) pins old libraries: only its files are used, so
# it is installed without its dependencies
$(STAMP): pyproject.toml | $(BIN)/python
	@$(PIP) install -e '.[dev]'
	@$(PIP) install --no-deps 'molsets==0.3.1'
	@touch $(STAMP)
	@echo "fick: installed into $(VENV)"

demo: $(STAMP)
	$(BIN)/fick demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# the core benchmark is the short one; the others sample or train for long: run them
# by hand (their docstrings give the full commands)
bench: $(STAMP)
	$(BIN)/python -m benchmarks.core
	@echo "other benchmarks (python -m benchmarks.<name> --help):"
	@ls benchmarks/*.py | sed -e 's|benchmarks/||' -e 's|\.py$$||' \
		| grep -v -e '^_' -e '^core$$' | sed 's|^|  python -m benchmarks.|'

clean:
	rm -rf $(VENV) mlflow.db mlruns outputs
