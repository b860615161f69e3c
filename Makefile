# The README's quick start: `make demo` (a dry run, no credentials, no network) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-postgres lint bench bench-ledger clean

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
	.ci/system-packages
	$(BIN)/ruff check .
	$(BIN)/mypy metpost
	$(BIN)/python -m pytest

# The whole suite again with the ledger on PostgreSQL: every test that uses the fake fleet gets
# a fresh database on a server the tests start in a temporary directory.
test-postgres: $(STAMP)
	.ci/system-packages
	METPOST_TEST_LEDGER=postgres $(BIN)/python -m pytest

# The benchmark compares against apprise, installed in a venv of its own so that the test
# environment never depends on it.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e . \
		-r bench/requirements.txt
	touch $@

bench: $(BENCH_VENV)/.installed
	@# Timed as installed code runs: from bytecode (a machine may forbid writing it on import).
	$(BENCH_VENV)/bin/python -m compileall -q metpost
	$(BENCH_VENV)/bin/python bench/fanout.py
	$(BENCH_VENV)/bin/python bench/scale.py
	$(BENCH_VENV)/bin/python bench/render.py

# Recording and claiming a 10,000-account broadcast, on SQLite and on a PostgreSQL server it
# starts the way the tests do.
bench-ledger: $(STAMP)
	.ci/system-packages
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache *.egg-info
