# sdp-eval: two commands do all the set-up on a fresh machine with Python 3.11 and make.
#   make report   creates .venv if absent, installs the suite, runs the main job (HTML reports, and PDFs when
#                 /usr/bin/chromium is there)
#   make test     same set-up, then the whole test suite (unit, property, notebooks under nbval, browser)
#   make lab      same set-up, then JupyterLab on the notebooks
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?=
# `make test` runs the suite in this many pytest-xdist workers, one test file at a time each (0: in-process)
TEST_WORKERS ?= 2
# `make report` prints every report to PDF too when Debian's chromium is installed (`make report PDF=` to skip)
PDF    ?= $(if $(wildcard /usr/bin/chromium),--pdf,)
# Python caches compiled bytecode (__pycache__/, git-ignored) as it does by default, even where the
# environment turns that off: otherwise every kernel, worker and test process compiles sdp_lib again
# (about 0.4 s each) and pytest rewrites every test file again in each worker.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: report test notebooks lab validate synth bench bench-equity clean-outputs setup

setup: $(STAMP)

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sdp-eval)" >/dev/null
	@touch $(STAMP)

# Every programme: the ones in folders under params/ first, then the default one (params/ itself), whose
# index page links to the others'.
report: $(STAMP)
	@set -e; for p in $$($(BIN)/sdp-eval programmes); do \
	  echo "== programme $$p"; $(BIN)/sdp-eval run --programme $$p $(if $(JOBS),--jobs $(JOBS),) $(PDF); \
	  $(BIN)/sdp-eval deck --programme $$p; done
	@$(if $(wildcard /usr/bin/chromium),,echo "PDFs not made: /usr/bin/chromium not found (apt-get install -y chromium); HTML reports only.")
	$(BIN)/sdp-eval run $(if $(JOBS),--jobs $(JOBS),) $(PDF)
	$(BIN)/sdp-eval deck

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest tests notebooks --ignore=tests/data --nbval --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider \
	  -n $(TEST_WORKERS) --dist loadfile

# Re-execute the three notebooks with their default parameters and store the outputs that nbval checks.
notebooks: $(STAMP)
	$(BIN)/sdp-eval refresh-notebooks

# JupyterLab on the notebooks with the suite's kernel ("Python 3 (sdp-eval)"); LAB_ARGS adds options,
# e.g. make lab LAB_ARGS="--no-browser --port 8890"
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

validate: $(STAMP)
	$(BIN)/sdp-eval validate

synth: $(STAMP)
	$(BIN)/sdp-eval synth --seed 20240731 --out data/synthetic

# Warm run, cold run (--cold), import floor and the hand-written papermill + nbconvert loop, for 16, 64 and
# 160 partners with 2 workers: wall time, seconds per partner, peak memory of all processes (docs/performance.md).
bench: $(STAMP)
	$(BIN)/python bench/batch.py --sizes 16,64,160 --jobs 2 --markdown

# The equity and trend tables on a 2-million-row whole-system breakdown, loaded through the validator.
bench-equity: $(STAMP)
	$(BIN)/python bench/inequality.py --csv

clean-outputs:
	find outputs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
