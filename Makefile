# Two commands: `make run` starts the app, `make test` runs the checks.
# Both set everything up first on a fresh machine (Python 3.11).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup lint typecheck pytest browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/streamlit run app.py --server.headless true --browser.gatherUsageStats false

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check modeling agent evals tests bench app.py

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest -q

# The end-to-end browser test drives Debian's Chromium (no browser download).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing and cannot be installed here; the browser test will be skipped"; \
	  fi; \
	fi

test: lint typecheck browser pytest

bench: setup
	$(BIN)/python bench/modeling_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
