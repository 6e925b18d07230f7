# CardTrail's front door. `make demo` runs the service with demo data; `make test` runs
# the whole suite. Both install what they need first (virtualenv, npm packages, Chromium and
# the CJK fonts).
PY      := .venv/bin/python
PIP     := .venv/bin/pip
PYTEST  := .venv/bin/pytest
CHROMIUM ?= /usr/bin/chromium

.PHONY: install catalogues demo test test-fast lint bench compile gas-report clean system-deps fuzz load verifier

install: .venv/.installed node_modules/.installed catalogues

# The message catalogues are compiled here, never tracked (*.mo is gitignored): the app
# refuses to start without them rather than show English silently (docs/portal.md).
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard portal/translations/*/LC_MESSAGES/*.po))
catalogues: $(CATALOGUES)

portal/translations/%.mo: portal/translations/%.po .venv/.installed
	.venv/bin/pybabel compile --statistics -i $< -o $@

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# `npm ci` installs exactly the lock file and never rewrites it, so installing leaves the
# clone as it was. The lock lists anvil's binary package for every platform (npm installs
# only this machine's): `npm ci` refuses a lock without them, and `npm install` would add
# them. tests/test_package_lock.py holds the lock to that.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Browser tests drive Debian's Chromium; Playwright never downloads a browser of its own.
# fonts-noto-cjk gives Chromium the Chinese glyphs the pages and their screenshots need.
system-deps:
	@missing=""; \
	[ -x $(CHROMIUM) ] || missing=" chromium"; \
	dpkg-query -W -f='$${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed" || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Missing for the browser tests:$$missing. Run: sudo apt-get install -y$$missing"; fi; \
	fi

demo: install
	.venv/bin/cardtrail up --demo

test: install system-deps lint
	$(PYTEST)

# The code checks itself: lint and formatting (ruff), strict typing (mypy) and the
# layer contracts (import-linter, see pyproject.toml). `make test` runs these first.
lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

# Unit tests only: no real nodes, no browser, no PostgreSQL.
test-fast: install
	$(PYTEST) -m "not node and not browser and not postgres"

# scripts/ is a package of operational scripts, run from the root as modules.
compile: install
	$(PY) -m scripts.compile_contracts

# The independent verifier: one HTML file, pinned issuers from verifier/issuers.json,
# the same bytes on every build (docs/verifier.md); prints its SHA-256.
verifier: install
	$(PY) -m scripts.build_verifier

gas-report: install
	$(PY) -m scripts.gas_report

# bench/ side by side with its peers; writes docs/benchmarks.md and bench/results.json.
# merkletools (a peer) pins pysha3, which no longer builds: installed without it, SHA-256
# works. Pass BENCH_ARGS=--quick for a small run that checks everything still works.
BENCH_ARGS ?=
bench: install
	$(PIP) install --quiet --no-deps 'merkletools==1.0.3'
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf .venv node_modules .pytest_cache .hypothesis

# Longer hardening runs (the suite runs both briefly): on SQLite, then on a fresh schema of
# the PostgreSQL server at HARDENING_POSTGRES (set it empty to skip PostgreSQL).
HARDENING_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
FUZZ_EXAMPLES ?= 50
LOAD_SECONDS ?= 60
LOAD_CLIENTS ?= 16
fuzz: install
	$(PY) -m scripts.fuzz_api --examples $(FUZZ_EXAMPLES)
	$(if $(HARDENING_POSTGRES),$(PY) -m scripts.fuzz_api --examples $(FUZZ_EXAMPLES) --postgres $(HARDENING_POSTGRES))

load: install
	$(PY) -m scripts.load --seconds $(LOAD_SECONDS) --clients $(LOAD_CLIENTS)
	$(if $(HARDENING_POSTGRES),$(PY) -m scripts.load --seconds $(LOAD_SECONDS) --clients $(LOAD_CLIENTS) --postgres $(HARDENING_POSTGRES))
