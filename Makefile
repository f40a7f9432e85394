# Set-up and entry points. Both `make demo` and `make test` create .venv on first use:
# torch is installed first with its CPU pin (a bare `torch` would pull a multi-GB CUDA build),
# then cimgen itself in editable mode.
PYTHON ?= python3
TORCH_PIN ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cimgen-installed

.PHONY: demo test setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/cimgen demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs/demo
