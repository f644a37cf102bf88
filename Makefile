# Quick start: `make demo` runs the bundled example; `make test` runs the whole suite.
# Both set up what they need (system packages when run as root, and a .venv).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick lint typecheck system venv bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV) || { bash ci/setup-system.sh && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

system:
	bash ci/setup-system.sh

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check tap2pkg tests bench examples
	$(BIN)/mypy

typecheck: lint

test: system $(STAMP)
	bash ci/start-dockerd.sh
	$(BIN)/tap2pkg images build --offline debian:bookworm rpm-on-debian
	$(BIN)/ruff check tap2pkg tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest -q tests

# everything except the container lifecycle tests
test-quick: $(STAMP)
	$(BIN)/pytest -q -m "not container" tests

# side-by-side benchmarks; each rewrites its own section of BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python bench/daemon.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/build_rpm.py
	bash ci/start-dockerd.sh
	$(BIN)/python bench/verify.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
