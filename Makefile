# Two commands: `make run` starts the app, `make test` runs the checks.
# Both set everything up first on a fresh machine (Python 3.11).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup lint typecheck pytest system browser bench clean

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
	$(BIN)/ruff format --check modeling agent evals tests bench app.py $(wildcard ui)

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest -q --durations=15

# Two Debian packages some tests use: chromium (the end-to-end browser test,
# driven through Playwright without a browser download) and bubblewrap (the
# sandbox of the code route). Run as root with apt, a missing one is installed;
# otherwise the tests that need it skip and say why.
SYSTEM_PACKAGES := chromium:/usr/bin/chromium bubblewrap:/usr/bin/bwrap

system:
	@missing=""; \
	for pair in $(SYSTEM_PACKAGES); do \
	  [ -x "$${pair#*:}" ] || missing="$$missing $${pair%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages for the tests:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing and not installable here:$$missing (the tests that need them will skip)"; \
	  fi; \
	fi

browser: system

test: lint typecheck system pytest

bench: setup
	$(BIN)/python bench/modeling_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
