# Training neural networks by experiment: every command of the course.
# `make help` lists them. Each target creates the environment first when needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The book build never shows progress bars; CI and `make test` always re-execute chapters.
BOOK_ENV := NNLAB_PROGRESS=0 PATH=$(CURDIR)/$(BIN):$$PATH

.PHONY: help env book book-force pdf pdf-if-chromium test test-fast test-unit test-book benchmarks lab notebooks release grade grading-scheduler grading-worker collect hand-out return-feedback hub hub-deps publish sandbox-deps browser-deps postgres-deps clean

help:
	@echo "make book        environment, then execute every chapter and build the site into _build/html"
	@echo "make test        everything CI checks: unit tests, benchmark smoke runs, the book with warnings as errors"
	@echo "make test-fast   the unit tests only (about a minute)"
	@echo "make benchmarks  the full benchmarks (minutes), printing JSON lines"
	@echo "make lab         JupyterLab for students: the assignments (Nbgrader menu > Assignment List; Validate in the notebook toolbar) and the chapters"
	@echo "make notebooks   rewrite exercises/source/*/*.ipynb from their scripts in exercises/authoring/"
	@echo "make release     generate exercises/release/ from exercises/source/"
	@echo "make grade       collect from the local exchange, autograde exercises/submitted/ (JOBS=N in parallel), feedback, grades.csv, report/index.html"
	@echo "                 SCHEDULER=tcp://host:8786: on a Dask cluster (make grading-scheduler, make grading-worker), into PostgreSQL"
	@echo "make collect     bring what students submitted through the local exchange into exercises/submitted/"
	@echo "make hand-out    release the assignments to the exchange (NNLAB_EXCHANGE: a JupyterHub class's shared one)"
	@echo "make return-feedback  put the feedback of every graded submission back into the exchange, for its student"
	@echo "make hub         JupyterHub for a class (as root; README, \"Students on JupyterHub\"): hub/jupyterhub_config.py"
	@echo "make pdf         the whole book as one PDF, _build/html/book.pdf (after make book; needs Chromium: make browser-deps)"
	@echo "make publish     put the built site (_build/html) on the gh-pages branch of PUBLISH_REMOTE (default origin) for GitHub Pages"
	@echo "make env         create .venv and install requirements.txt, nnlab and coursegrader (a no-op when up to date)"
	@echo "make clean       remove _build (keeps .venv)"

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys' 2>/dev/null || { \
	  echo "error: '$(PYTHON)' does not run. Install Python 3.11 or newer, or run: make PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
	  echo "error: $$($(PYTHON) --version 2>&1) is too old; the course needs Python >= 3.11 (make PYTHON=python3.12)"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "error: $(PYTHON) has no 'venv'/'ensurepip' module. On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

book: env
	$(BOOK_ENV) $(BIN)/jupyter-book build --keep-going .
	@$(MAKE) --no-print-directory pdf-if-chromium
	@echo "The site is in _build/html/index.html"

# The whole book as one PDF, _build/html/book.pdf (the site links it from its first page):
# the single-page build, from the execution cache (no chapter runs again), printed offline by
# Chromium with the site's own MathJax. No LaTeX, nothing downloaded.
pdf: env
	$(BOOK_ENV) $(BIN)/jupyter-book build --builder singlehtml --keep-going $(PDF_FLAGS) .
	$(BIN)/python book/_ext/print_pdf.py

pdf-if-chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory pdf; \
	else echo "note: Chromium is not installed (make browser-deps): the book's PDF was not made"; fi

# Forced execution: the execution cache does not notice changes to nnlab.
book-force: env
	rm -rf _build/.jupyter_cache
	$(BOOK_ENV) $(BIN)/jupyter-book build --all -W -n --keep-going .
	$(MAKE) --no-print-directory pdf-if-chromium PDF_FLAGS="-W -n"
	NNLAB_CHECK_SITE=1 $(BIN)/python -m pytest -q tests/site

test-unit: env
	$(BIN)/python -m pytest -m "not slow" -q

test-fast: test-unit

test-book: book-force

# --durations: every run says where its time went (the whole suite must stay under 45 minutes)
test: env sandbox-deps browser-deps postgres-deps hub-deps
	$(BIN)/python -m pytest -q --durations=25
	$(MAKE) --no-print-directory test-book
	@echo "make test: all checks passed"

benchmarks: env sandbox-deps postgres-deps
	$(BIN)/python benchmarks/train_mnist1d.py
	$(BIN)/python benchmarks/fit_overhead.py
	$(BIN)/python benchmarks/grade_class.py --students 40 --jobs 2
	$(BIN)/python benchmarks/grade_cluster.py --students 8

# Students work in student/ (never overwritten): the Assignment List (Nbgrader menu) fetches and submits
# through a local exchange, and the chapters (book/*.md) open as notebooks through jupytext.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
# Jupyter refuses to run as root (containers often are) unless told.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
COURSE := $(BIN)/python -m coursegrader --course exercises

lab: env $(LAB_OVERRIDES)
	$(COURSE) lab --workspace student
	@ln -sfn ../book student/book
	cd student && PATH=$(CURDIR)/$(BIN):$$PATH NNLAB_PROGRESS=1 ../$(BIN)/jupyter lab $(LAB_FLAGS)

# lab/overrides.json opens the chapters (MyST markdown) as notebooks; the student-path test uses it too
$(LAB_OVERRIDES): $(STAMP) lab/overrides.json
	@mkdir -p $(dir $@)
	cp lab/overrides.json $@

notebooks: env
	$(BIN)/python exercises/authoring/build.py

release: env
	$(COURSE) release

# Grading runs student code in a bubblewrap sandbox (coursegrader/sandbox.py): install it where we
# can (Debian/Ubuntu as root), else say how. NNLAB_SANDBOX=off grades without isolation.
sandbox-deps:
	@if [ "$${NNLAB_SANDBOX:-on}" != off ] && ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  else \
	    echo "error: grading isolates student code with bubblewrap, which is not installed."; \
	    echo "       Install it (sudo apt-get install bubblewrap, dnf install bubblewrap, ...),"; \
	    echo "       or grade without isolation: make grade NNLAB_SANDBOX=off"; exit 1; \
	  fi; \
	fi

# Debian's PostgreSQL, for the tests of the gradebook on a PostgreSQL server (tests/grader/test_postgres.py
# starts its own server on loopback and stops it; nothing else runs it)
postgres-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } || \
	      echo "note: PostgreSQL could not be installed: the PostgreSQL gradebook tests will be skipped"; \
	  else \
	    echo "note: PostgreSQL is not installed (sudo apt-get install postgresql): its gradebook tests will be skipped"; \
	  fi; \
	fi

# JupyterHub's proxy, configurable-http-proxy, from npm at the version hub/package-lock.json pins
# (Node.js 20 or newer). Without Node.js the JupyterHub tests are skipped with a message.
HUB_PROXY := hub/node_modules/.bin/configurable-http-proxy
hub-deps: $(HUB_PROXY)
$(HUB_PROXY): hub/package.json hub/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && apt-get install -y -qq nodejs npm; } || \
	      echo "note: Node.js could not be installed: the JupyterHub tests will be skipped"; \
	  else \
	    echo "note: Node.js 20+ is not installed (https://nodejs.org): JupyterHub cannot start its proxy, its tests will be skipped"; \
	  fi; \
	fi
	@if command -v node >/dev/null 2>&1 && [ "$$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then \
	  echo "note: Node.js $$(node --version) is too old for the hub's proxy (20 or newer: https://nodejs.org, or NodeSource's packages): the JupyterHub tests will be skipped"; \
	elif command -v npm >/dev/null 2>&1; then \
	  cd hub && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.bin/configurable-http-proxy; \
	fi

# The built site's browser tests (tests/site/test_browser.py) drive Debian's Chromium; without
# it they are skipped with a message.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && apt-get install -y -qq chromium; } || \
	      echo "note: Chromium could not be installed: the site's browser tests will be skipped"; \
	  else \
	    echo "note: Chromium is not installed (sudo apt-get install chromium): the site's browser tests will be skipped"; \
	  fi; \
	fi

# The site on GitHub Pages (or any host serving a branch): _build/html, as `make book` built
# it, becomes the gh-pages branch of PUBLISH_REMOTE, with .nojekyll so that _static/ is served.
# The site's own address (canonical links) is `baseurl` under `html:` in _config.yml.
PUBLISH_REMOTE ?= origin
publish:
	@test -f _build/html/index.html || { echo "error: no site in _build/html: run make book first"; exit 1; }
	$(BIN)/ghp-import --no-jekyll --push --force --remote $(PUBLISH_REMOTE) --branch gh-pages \
	  --message "The course site" _build/html

# JOBS submissions are graded at once (make grade JOBS=2).
JOBS ?= 1

grade: env sandbox-deps
	$(COURSE) grade --jobs $(JOBS) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

# A class graded on several machines (README, "Grading on several machines"): the scheduler on
# one machine, `make grading-worker SCHEDULER=tcp://host:8786 JOBS=N` on each grading machine,
# then `make grade SCHEDULER=tcp://host:8786` on the instructor's, with NNLAB_GRADEBOOK_URL set
# to a PostgreSQL gradebook every machine reaches.
grading-scheduler: env
	$(BIN)/dask scheduler --port 8786
grading-worker: env sandbox-deps
	@test -n "$(SCHEDULER)" || { echo "usage: make grading-worker SCHEDULER=tcp://host:8786 [JOBS=N]"; exit 2; }
	NNLAB_WORKERS_PER_MACHINE=$(JOBS) $(BIN)/dask worker $(SCHEDULER) --nthreads 1 --nworkers $(JOBS)

# What students submitted through the local exchange of `make lab`, into exercises/submitted/
# (`make grade` does it first too); a submission placed there by hand is never replaced.
collect: env
	$(COURSE) collect

# A class on JupyterHub (README, "Students on JupyterHub"): the hub keeps its state in HUB_STATE.
# The course's environment must be readable by every user (NNLAB_HUB_PYTHON names another one).
HUB_STATE ?= /srv/jupyterhub
hub: env hub-deps sandbox-deps
	@test "$$(id -u)" = 0 || { echo "error: JupyterHub starts each user's server as that user: run make hub as root"; exit 1; }
	mkdir -p $(HUB_STATE)
	cd $(HUB_STATE) && $(CURDIR)/$(BIN)/jupyterhub -f $(CURDIR)/hub/jupyterhub_config.py

# The instructor's side of the exchange (make lab's local one, or NNLAB_EXCHANGE)
hand-out: env
	$(COURSE) hand-out
return-feedback: env
	$(COURSE) return-feedback

clean:
	rm -rf _build
