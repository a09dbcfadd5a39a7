# Two commands: `make run` (the main job) and `make test` (lint + test suite).
# Each creates or refreshes the local virtual environment .venv by itself.
#
# torch is installed before anything else, so no package that merely requires "torch>=X" can pull a
# multi-GB CUDA build. GPU users keep their own CUDA torch with `make run TORCH_SPEC=system`: the venv
# then sees the interpreter's site-packages (where that torch lives) and pip installs no torch at all.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3.11
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip prints one harmless "Location ... is ignored" line per missing mirror entry on some machines.
PIP := $(PY) -m pip install -q --disable-pip-version-check
QUIET := 2>&1 | { grep -v "is ignored" || true; }

.PHONY: venv run test format

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(if $(filter system,$(TORCH_SPEC)),--system-site-packages) $(VENV)
ifeq ($(TORCH_SPEC),system)
	$(PY) -c "import torch; print('keeping the interpreter torch', torch.__version__)"
else
	$(PIP) "$(TORCH_SPEC)" $(QUIET)
endif
	$(PIP) -r requirements.txt $(QUIET)
	$(PIP) --no-deps --no-build-isolation -e . $(QUIET)
	$(PY) -m pip check
ifeq ($(TORCH_SPEC),torch==2.13.0)
	$(PY) -c "import sys, torch; sys.exit('expected the CPU torch wheel but got a CUDA build; on a GPU machine use TORCH_SPEC=system' if torch.version.cuda else 0)"
endif
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m lra.main_job

test: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	WANDB_MODE=offline HF_HUB_OFFLINE=1 $(PY) -m pytest -q

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .
