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

# Chapter notebooks; the explorers (chapters/*/explore.ipynb, committed without outputs, opened
# by `make lab`) are neither executed nor compared.
NOTEBOOKS  := $(sort $(filter-out %/explore.ipynb,$(wildcard chapters/*/*.ipynb)))
# JupyterLab settings shipped with the environment (no news pop-up, no extension manager).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# Extra flags for `make lab`, e.g. LAB_ARGS="--ip=0.0.0.0 --no-browser" in a container.
LAB_ARGS ?=
LAB_START := start-here.ipynb
# Jupyter refuses to run as root unless told; containers often run as root.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
SERVE_PORT ?= 8000
# The browser stage runs where a Chromium is found (CHROMIUM overrides the search).
CHROMIUM_BIN := $(or $(CHROMIUM),$(shell command -v chromium || command -v chromium-browser))
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

.PHONY: help book html serve test test-unit test-nbval test-book test-browser figures bench run sweep format-notebooks lab clean distclean pdf test-pdf test-pdf-stage

help:  ## List the targets
	@echo "Targets (a fresh clone needs only 'make book' or 'make test'):"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(BOOTSTRAP_PYTHON)"; $(BOOTSTRAP_PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)"
	@touch $@

book: $(STAMP)  ## Execute all chapter notebooks (default parameters), then build the HTML
	$(NB_TOOL) execute --report _build/execution-report.json
	$(BOOK_BUILD)
	@echo
	@echo "Book: $(START_PAGE)"
	@$(NB_TOOL) times

html: $(STAMP)  ## Build the HTML from the committed notebooks (no execution), strict
	$(BOOK_BUILD)
	@$(PY) -m pytest -q -m built -p no:cacheprovider tests/test_built_book.py tests/test_project_files.py
	@echo
	@echo "Book: $(START_PAGE)"
	@echo "Serve it (downloads and search need http://): make serve"

serve:  ## Serve the built book on http://127.0.0.1:8000/ (SERVE_PORT=...), for downloads and search
	@test -f _build/html/index.html || { echo "no built book in _build/html: run make html (or make book) first"; exit 1; }
	@echo "Serving the book at http://127.0.0.1:$(SERVE_PORT)/ (Ctrl-C stops)"
	$(BOOTSTRAP_PYTHON) -m http.server --bind 127.0.0.1 --directory _build/html $(SERVE_PORT)

HAVE_TEX := $(shell command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v pdftotext >/dev/null && echo yes)

test: test-unit test-nbval test-book test-browser test-pdf-stage  ## All checks: unit + hygiene tests, nbval, strict build, browser, PDF
	@echo
	@skipped="$(if $(CHROMIUM_BIN),,4 (browser: apt-get install chromium, or CHROMIUM=/path; then make test-browser) )$(if $(HAVE_TEX),,5 (PDF: the TeX packages in README, PDF; then make test-pdf))"; \
	n=$$(( 5 - $(if $(CHROMIUM_BIN),0,1) - $(if $(HAVE_TEX),0,1) )); \
	if [ -z "$$skipped" ]; then echo "make test: 5 passed (all 5 stages)"; \
	else echo "make test: $$n passed, $$(( 5 - n )) skipped: stage $$skipped"; fi

test-unit: $(STAMP)  ## Stage 1: ruff, mypy, pytest tests/ and the library's doctests (library, hygiene, tools)
	@echo "=== make test, stage 1/5: ruff + mypy + pytest tests lib (unit tests, doctests, hygiene) ==="
	@$(VENV)/bin/ruff check lib tests tools benchmarks || { echo "make test: FAILED at stage 1/5 (ruff)"; exit 1; }
	@$(VENV)/bin/mypy || { echo "make test: FAILED at stage 1/5 (mypy)"; exit 1; }
	@$(PY) -m pytest -m "not browser and not built" tests lib || { echo "make test: FAILED at stage 1/5 (pytest tests lib)"; exit 1; }

test-nbval: $(STAMP)  ## Stage 2: re-run the chapter notebooks, compare checked outputs
	@echo "=== make test, stage 2/5: nbval over chapter notebooks ==="
ifeq ($(NOTEBOOKS),)
	@echo "no chapter notebooks (chapters/*/*.ipynb): stage 2 skipped"
else
	@$(NBVAL) $(NOTEBOOKS) || { echo "make test: FAILED at stage 2/5 (nbval)"; exit 1; }
endif

test-book: $(STAMP)  ## Stage 3: strict HTML build (-W -n --keep-going)
	@echo "=== make test, stage 3/5: strict book build ==="
	@$(BOOK_BUILD) || { echo "make test: FAILED at stage 3/5 (jupyter-book build -W -n)"; exit 1; }
	@$(PY) -m pytest -m built -p no:cacheprovider tests/test_built_book.py tests/test_project_files.py \
	  || { echo "make test: FAILED at stage 3/5 (built book vs notebooks)"; exit 1; }

test-browser: $(STAMP) $(LAB_SETTINGS)  ## Stage 4: headless Chromium over the built book and the notebooks in JupyterLab
	@echo "=== make test, stage 4/5: the built book and JupyterLab in headless Chromium ==="
	@if [ -n "$(CHROMIUM_BIN)" ]; then \
	  CHROMIUM="$(CHROMIUM_BIN)" $(PY) -m pytest -m browser -p no:cacheprovider tests/browser \
	    || { echo "make test: FAILED at stage 4/5 (browser)"; exit 1; }; \
	else \
	  echo "SKIPPED stage 4/5: no chromium on this machine (Debian: apt-get install chromium;"; \
	  echo "  .ci/run installs it; or set CHROMIUM=/path/to/chromium). Nothing is installed silently."; \
	fi

# The PDF: Sphinx's LaTeX builder, then XeLaTeX through latexmk (Debian packages: README, "PDF").
PDF_TEX_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra \
                    texlive-fonts-recommended fonts-freefont-otf lmodern latexmk
PDF := _build/pdf/book.pdf

pdf: $(STAMP)  ## The book as a PDF, _build/pdf/book.pdf (from the committed notebooks; needs TeX, see README)
	@command -v xelatex >/dev/null && command -v latexmk >/dev/null || { \
	  echo "make pdf needs xelatex and latexmk; on Debian/Ubuntu:"; \
	  echo "  apt-get install --no-install-recommends $(PDF_TEX_PACKAGES)"; exit 1; }
	$(VENV)/bin/jupyter-book build . --builder latex --keep-going
	cd _build/latex && rm -f book.pdf && latexmk -pdfxe -interaction=nonstopmode -halt-on-error book.tex >/dev/null \
	  || { grep -n -A8 '^!' book.log | head -n 40; echo "make pdf: LaTeX failed, see _build/latex/book.log"; exit 1; }
	@mkdir -p $(dir $(PDF))
	@cp _build/latex/book.pdf $(PDF)
	@echo
	@echo "PDF: $(PDF)"

test-pdf: pdf  ## Build the PDF, then check it: no LaTeX errors, every chapter, figures, claims, bibliography
	@$(PY) -m pytest -m built -p no:cacheprovider tests/test_pdf.py || { echo "make test: FAILED at stage 5/5 (PDF)"; exit 1; }

test-pdf-stage: $(STAMP)
	@echo "=== make test, stage 5/5: the PDF (XeLaTeX) and its contents ==="
ifeq ($(HAVE_TEX),yes)
	@$(MAKE) --no-print-directory test-pdf
else
	@echo "SKIPPED stage 5/5: no xelatex/latexmk/pdftotext on this machine (README, PDF, lists the"
	@echo "  Debian packages; .ci/run installs them). Nothing is installed silently."
endif

figures: $(STAMP)  ## Re-run the notebooks; every figure to _build/figures as <label>.png (200 dpi) and .pdf, with manifest.json
	$(NB_TOOL) figures

bench: $(STAMP)  ## Benchmarks as side-by-side ratios -> _build/bench.json (RECORD=1: also benchmarks/results.md)
	$(PY) benchmarks/bench.py $(if $(RECORD),--record)

run: $(STAMP)  ## make run NB=path PARAMS="-p name value": executed copy in a new _build/runs/<time>-<chapter>--<stem>/
	$(if $(NB),,$(error NB is not set; usage: make run NB=chapters/01-x/nb.ipynb PARAMS="-p name value"))
	$(NB_TOOL) execute $(NB) $(PARAMS)

sweep: $(STAMP)  ## make sweep NB=path GRID=sweeps/x.yaml [WORKERS=n] [SCHEDULER=local|address] [SUMMARY=dir]
	$(if $(NB),,$(error NB is not set; usage: make sweep NB=chapters/01-x/nb.ipynb GRID=sweeps/x.yaml))
	$(if $(GRID),,$(error GRID is not set; usage: make sweep NB=chapters/01-x/nb.ipynb GRID=sweeps/x.yaml))
	$(PY) tools/sweep.py $(NB) $(GRID) $(if $(WORKERS),--workers $(WORKERS)) \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(SUMMARY),--summary-dir $(SUMMARY))

format-notebooks: $(STAMP)  ## ruff format notebook code cells to 88 columns (NB=path: one notebook); lists lines to wrap by hand
	$(PY) tools/format_notebooks.py $(NB)

$(LAB_SETTINGS): tools/lab/overrides.json $(STAMP)
	@mkdir -p $(dir $@)
	@cp $< $@

lab: $(STAMP) $(LAB_SETTINGS)  ## Start JupyterLab on start-here.ipynb; prints the URL with its token (LAB_ARGS=...)
	@port=$$($(PY) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	token=$$($(PY) -c 'import secrets; print(secrets.token_hex(24))'); \
	echo; \
	echo "JupyterLab: http://127.0.0.1:$$port/lab/tree/$(LAB_START)?token=$$token"; \
	echo "  kernel: $(KERNEL_DISPLAY) (the notebooks select it); Ctrl-C twice stops the server"; \
	echo; \
	exec $(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$$port --IdentityProvider.token=$$token \
	  $(LAB_ROOT_FLAG) $(LAB_ARGS) $(LAB_START)

clean:  ## Remove _build (keeps the virtual environment)
	rm -rf _build

distclean: clean  ## Remove _build and the virtual environment
	rm -rf $(VENV)
