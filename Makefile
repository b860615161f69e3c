# The README's quick start: `make demo` (a dry run, no credentials, no network) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/metpost send --borough Hackney --template rumour-control \
		--var rumour="a stabbing at Mare Street" \
		--var truth="officers were called to a fight; one man has minor injuries" \
		--dry-run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy metpost
	$(BIN)/python -m pytest

# The benchmark compares against apprise, installed in a venv of its own so that the test
# environment never depends on it.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e . \
		-r bench/requirements.txt
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/fanout.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache *.egg-info
