# Build and test the book. A fresh clone needs only `make book` or `make test`:
# every target depends on the virtual environment, which is created on demand.
# Run `make` (or `make help`) for the list of targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.NOTPARALLEL:  # `make test` stages must run in order

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
NB_TOOL := $(PY) tools/notebooks.py
BOOTSTRAP_PYTHON := $(shell command -v python3.11 || command -v python3)

KERNEL_NAME    := flowapprox
KERNEL_DISPLAY := Python (flowapprox)

NOTEBOOKS  := $(sort $(wildcard chapters/*/*.ipynb))
START_PAGE := $(CURDIR)/_build/html/index.html
# --all: fresh Sphinx environment, so -W also sees warnings of unchanged pages.
BOOK_BUILD := $(VENV)/bin/jupyter-book build . --builder html -W -n --keep-going --all
NBVAL      := $(PY) -m pytest --nbval-lax --nbval-current-env \
              --nbval-sanitize-with tests/nbval-sanitize.cfg -p no:cacheprovider

# One torch/BLAS thread: two threads are 100-250x slower on small ops whenever
# another process keeps a core busy (CONTRIBUTING.md, "Machine facts"). Override from the shell.
export OMP_NUM_THREADS ?= 1
# Set orders and hashes in printed output do not depend on the process.
export PYTHONHASHSEED ?= 0
# No progress bars in executed notebooks or tests (flowapprox.train reads this).
export FLOWAPPROX_PROGRESS ?= 0
# Never pass MPLBACKEND (e.g. Agg) to the kernels: ipykernel then picks the inline
# backend, whereas Agg makes plt.show() silently produce no figure. Plain Python
# (unit tests) picks Agg by itself on a headless machine.
unexport MPLBACKEND

.PHONY: help book html test test-unit test-nbval test-book test-browser figures run lab clean distclean

help:  ## List the targets
	@echo "Targets (a fresh clone needs only 'make book' or 'make test'):"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(BOOTSTRAP_PYTHON)"; $(BOOTSTRAP_PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)"
	@touch $@

book: $(STAMP)  ## Execute all chapter notebooks (default parameters), then build the HTML
	$(NB_TOOL) execute
	$(BOOK_BUILD)
	@echo
	@echo "Book: $(START_PAGE)"
	@$(NB_TOOL) times

html: $(STAMP)  ## Build the HTML from the committed notebooks (no execution), strict
	$(BOOK_BUILD)
	@$(PY) -m pytest -q -m built -p no:cacheprovider tests/test_built_book.py
	@echo
	@echo "Book: $(START_PAGE)"

test: test-unit test-nbval test-book test-browser  ## All checks: unit + hygiene tests, nbval, strict build, browser
	@echo
	@echo "make test: all 4 stages passed"

test-unit: $(STAMP)  ## Stage 1: ruff, mypy, pytest tests/ and the library's doctests (library, hygiene, tools)
	@echo "=== make test, stage 1/4: ruff + mypy + pytest tests lib (unit tests, doctests, hygiene) ==="
	@$(VENV)/bin/ruff check lib tests tools/book_ext.py || { echo "make test: FAILED at stage 1/4 (ruff)"; exit 1; }
	@$(VENV)/bin/mypy || { echo "make test: FAILED at stage 1/4 (mypy)"; exit 1; }
	@$(PY) -m pytest -m "not browser and not built" tests lib || { echo "make test: FAILED at stage 1/4 (pytest tests lib)"; exit 1; }

test-nbval: $(STAMP)  ## Stage 2: re-run the chapter notebooks, compare checked outputs
	@echo "=== make test, stage 2/4: nbval over chapter notebooks ==="
ifeq ($(NOTEBOOKS),)
	@echo "no chapter notebooks (chapters/*/*.ipynb): stage 2 skipped"
else
	@$(NBVAL) $(NOTEBOOKS) || { echo "make test: FAILED at stage 2/4 (nbval)"; exit 1; }
endif

test-book: $(STAMP)  ## Stage 3: strict HTML build (-W -n --keep-going)
	@echo "=== make test, stage 3/4: strict book build ==="
	@$(BOOK_BUILD) || { echo "make test: FAILED at stage 3/4 (jupyter-book build -W -n)"; exit 1; }
	@$(PY) -m pytest -m built -p no:cacheprovider tests/test_built_book.py \
	  || { echo "make test: FAILED at stage 3/4 (built book vs notebooks)"; exit 1; }

test-browser: $(STAMP)  ## Stage 4: headless Chromium over every built page, offline (needs chromium)
	@echo "=== make test, stage 4/4: the built book in headless Chromium ==="
	@if command -v chromium >/dev/null || [ -n "$${CHROMIUM:-}" ]; then \
	  $(PY) -m pytest -m browser -p no:cacheprovider tests/browser \
	    || { echo "make test: FAILED at stage 4/4 (browser)"; exit 1; }; \
	else \
	  echo "SKIPPED stage 4/4: no chromium on this machine (Debian: apt-get install chromium;"; \
	  echo "  .ci/run installs it). Nothing is installed silently."; \
	fi

figures: $(STAMP)  ## Re-run the notebooks and write every figure to _build/figures (PNG, PDF, manifest.json)
	$(NB_TOOL) figures

run: $(STAMP)  ## make run NB=path PARAMS="-p name value": executed copy to _build/runs/ (no PARAMS: re-run NB in place)
	$(if $(NB),,$(error NB is not set; usage: make run NB=chapters/01-x/nb.ipynb PARAMS="-p name value"))
	$(NB_TOOL) execute $(NB) $(PARAMS)

lab: $(STAMP)  ## Start JupyterLab
	$(VENV)/bin/jupyter lab

clean:  ## Remove _build (keeps the virtual environment)
	rm -rf _build

distclean: clean  ## Remove _build and the virtual environment
	rm -rf $(VENV)
