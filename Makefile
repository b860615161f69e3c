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
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/fanout.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
