# Two commands matter: `make demo` and `make test`. Both create .venv and install the
# pinned project first, so they work on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export DO_NOT_TRACK := 1

.PHONY: install demo test lint format dev docs bench clean ui browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
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

test: install browser
	$(BIN)/recon prepare
	$(BIN)/recon governance check
	RECON_REQUIRE_BROWSER=1 $(BIN)/python -m pytest

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

bench: install
	$(BIN)/python bench/bench_generate.py --orders 1000000

clean:
	rm -rf target logs .recon test-output
