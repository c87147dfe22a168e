# losscli — the two set-up commands are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint format clean bench bench-quick sample-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/losscli mse sample_data/predictions.parquet --format table
	$(BIN)/losscli huber sample_data/predictions.csv --delta 5 --format table
	$(BIN)/losscli eval sample_data/predictions.parquet -m mse -m mae -m rmse -m r2 --group-by segment --format table
	$(BIN)/losscli check sample_data/losscli.toml --format table --no-ci-report

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check losscli tests bench sample_data
	$(BIN)/ruff format --check losscli tests bench sample_data
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format losscli tests bench sample_data
	$(BIN)/ruff check --fix losscli tests bench sample_data

# Byte-compiled first: with PYTHONDONTWRITEBYTECODE set, every run would compile each edited
# module from source again (~10 ms a module), timing the compiler instead of losscli.
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q losscli
	$(BIN)/python bench/run.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/dask_intervals.py
	$(BIN)/python bench/grouped.py

bench-quick: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q losscli
	$(BIN)/python bench/run.py --quick

sample-data: $(STAMP)
	$(BIN)/python sample_data/make_sample_data.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
