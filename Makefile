# Two commands matter: `make demo` and `make test`. Both create .venv and install the
# pinned project first, so they work on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export DO_NOT_TRACK := 1

.PHONY: test-soak install demo test test-spark lint format dev docs bench clean ui browser

# The bench extra (Splink) comes too, so `make test` runs tests/python/test_bench_against.py;
# datacompy goes in without its dependencies: its metadata caps pandas below our pin.
DATACOMPY := datacompy==1.1.0

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,bench]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "$(DATACOMPY)"
	$(BIN)/recon prepare
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/recon demo

# The desk's browser tests drive Debian's Chromium through chromedriver (tests/python/test_desk_browser.py).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromedriver >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 || \
		{ $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null || \
		  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null; }; }

# Two pytest workers (pytest-xdist), each taking whole test files, so a module's fixtures
# and its tests' order stay in one process. A run is mostly one process at a time (Python,
# then dbt), so two keep both cores busy: 25 min 33 s of tests took 15 min 43 s
# (docs/benchmarks.md, "CI time"). PYTEST_WORKERS=0 runs them in this process, in order.
# Files go out in collection order, which puts the longest first (tests/python/conftest.py);
# xdist's default reorder (most tests first) left the long two-test files for last.
PYTEST_WORKERS ?= 2
test: install browser
	$(BIN)/recon prepare
	$(BIN)/recon governance check
	RECON_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not soak"

# The long tests (pytest marker soak): runs killed with kill -9 over seeds, each in two
# processes; operators acting under load beside runs; weights learned without labels (a
# 3-minute training home). `make test` (CI, under 30 minutes) no longer has room for them.
test-soak: install
	$(BIN)/recon prepare
	$(BIN)/python -m pytest -m soak

# Every model, seed and test built on Apache Spark (dbt-spark, method: session, local[2]) from
# a generated 200-order fixture, the same fixture built on DuckDB beside it, and every table of
# the two compared row by row: orchestration/lab/spark_fixture.py, engine_compare.py. Fails
# when a table differs. Needs Java 17.
SPARK_STAMP := $(VENV)/.spark-installed-stamp
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,spark]"
	touch $(SPARK_STAMP)

test-spark: $(SPARK_STAMP)
	RECON_SPARK_DIR=$(CURDIR)/.recon/spark-fixture $(BIN)/python -m orchestration.lab.spark_fixture --orders 200

lint: install
	$(BIN)/ruff check orchestration tests bench
	$(BIN)/recon contract --check

format: install
	$(BIN)/ruff format orchestration tests bench

dev: install
	$(BIN)/recon dev

ui: install
	$(BIN)/recon ui

docs: install
	$(BIN)/dbt docs generate --project-dir . --profiles-dir profiles

BENCH_HOME ?= /tmp/recon-bench-1m

bench: install
	$(BIN)/python bench/bench_generate.py --orders 1000000
	$(BIN)/python bench/bench_matching.py --orders 1000000 --home $(BENCH_HOME) --keep --json $(BENCH_HOME)-matching.json
	$(BIN)/python bench/bench_against.py --home $(BENCH_HOME) --json $(BENCH_HOME)-against.json

clean:
	rm -rf target logs .recon test-output
