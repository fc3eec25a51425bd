# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark

.PHONY: demo test test-spark lint slow bench screenshots clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/middlestep demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -q

# the same models on Spark local vs DuckDB (pyspark from requirements-spark.lock; Java 17)
$(SPARK_STAMP): $(STAMP) requirements-spark.lock
	$(BIN)/python -m pip install --quiet -r requirements-spark.lock
	touch $(SPARK_STAMP)

test-spark: $(SPARK_STAMP)
	$(BIN)/python -m pytest -q -m spark

lint: $(STAMP)
	$(BIN)/ruff check middlestep analysis tests benchmarks macros
	$(BIN)/ruff format --check middlestep analysis tests benchmarks macros
	$(BIN)/sqlmesh --paths . format --check
	$(BIN)/sqlmesh --paths . lint
	$(BIN)/lint-imports

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# department scales to measure: `make bench SCALES=1,20,100` adds a 100x department (hours)
SCALES ?= 1,20
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --scales $(SCALES)

# PNGs of a demo and a Chicago roll-out report at 1280 and 390 px for the docs (needs the
# system's Chromium: apt-get install chromium); about 8 minutes
screenshots: $(STAMP)
	$(BIN)/python tests/browser_support.py --out docs/screenshots

clean:
	rm -rf $(VENV) .middlestep .cache
