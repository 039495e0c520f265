# Every target creates .venv first when it is missing. torch==2.13.0 is installed before the
# package so that pip takes the CPU wheel on disk instead of pulling a multi-GB CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SDL_VIDEODRIVER ?= dummy
export SDL_AUDIODRIVER ?= dummy

.PHONY: demo test bench lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@echo "compiling the numba kernels once (cached afterwards)..."
	$(BIN)/python -m rlhf_sandbox.sim.warm_up
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rlhf-sandbox demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	bash bench/peers/setup.sh
	$(BIN)/python bench/env_speed.py
	$(BIN)/python bench/arena_speed.py
	$(BIN)/python bench/wrapper_overhead.py
	$(BIN)/python bench/rlhf_pendulum.py
	$(BIN)/python bench/label_efficiency.py

clean:
	rm -rf $(VENV) .venv-peers
