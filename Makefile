# Entry points: `make demo` (set up, then the comparison gallery of the bundled examples), `make ui` (the
# browser app) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# glibc returns big tensors to the OS after every step unless told not to; keeping them is 20-60% faster.
export GLIBC_TUNABLES ?= glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184

# The browser tests drive Debian's Chromium through Playwright, which downloads no browser of its own.
CHROMIUM ?= $(or $(GANPRIOR_CHROMIUM),$(shell command -v chromium 2>/dev/null),/usr/bin/chromium)

.PHONY: setup demo ui browser test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,ui,ray]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/ganprior demo --out demo-gallery --overwrite

ui: setup
	$(VENV)/bin/ganprior ui

browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: the browser tests need Chromium and will be skipped: sudo apt-get install chromium," \
	      "or set GANPRIOR_CHROMIUM=/path/to/chromium"; \
	  fi; \
	fi

test: setup browser
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: setup
	$(PY) -m benchmarks core --out benchmarks/results --overwrite

clean:
	rm -rf $(VENV) demo-gallery
