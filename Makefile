# Quick start: `make demo` runs the bundled example; `make test` runs the whole suite.
# Both set up what they need (system packages when run as root, and a .venv).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Twisted's own documentation examples, real input for the Twisted tests (see ci/twisted-docs.sh)
TWISTED_DOCS_VERSION := 26.10.0
export TAP2PKG_TWISTED_SDIST_DIR := $(CURDIR)/.cache/twisted-$(TWISTED_DOCS_VERSION)
# what pip reads in the tests, which never reach the package index (see ci/wheelhouse.sh)
export TAP2PKG_TEST_WHEELHOUSE := $(CURDIR)/.cache/wheelhouse

.PHONY: demo test test-quick lint typecheck system venv bench clean twisted-docs test-inputs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV) || { bash ci/setup-system.sh && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

twisted-docs: $(STAMP)
	PIP=$(BIN)/pip sh ci/twisted-docs.sh $(CURDIR)/.cache $(TWISTED_DOCS_VERSION)

# everything the tests read that comes from PyPI, fetched before they run
test-inputs: twisted-docs
	PIP=$(BIN)/pip sh ci/wheelhouse.sh $(TAP2PKG_TEST_WHEELHOUSE)

system:
	bash ci/setup-system.sh

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check tap2pkg tests bench examples
	$(BIN)/mypy

typecheck: lint

test: system $(STAMP) test-inputs
	bash ci/start-dockerd.sh
	$(BIN)/tap2pkg images build --offline debian:bookworm rpm-on-debian
	$(BIN)/ruff check tap2pkg tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest -q tests

# everything except the container lifecycle tests
test-quick: $(STAMP) test-inputs
	$(BIN)/pytest -q -m "not container" tests

# side-by-side benchmarks; each rewrites its own section of BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python bench/daemon.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/build_rpm.py
	$(BIN)/python bench/twisted_launcher.py
	bash ci/start-dockerd.sh
	$(BIN)/python bench/verify.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
