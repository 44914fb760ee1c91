# Your exercises: `make check` (the first run creates .venv and installs what it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
READY := $(VENV)/.ready
EX ?=
PLOT ?=

.PHONY: help check watch hint reset notebook

help:
	@echo "Students:     make check [EX=<exercise or topic>] [PLOT=1]"
	@echo "              make watch [EX=...] | make hint [EX=...] | make reset EX=<exercise> [YES=1]"
	@echo "              make notebook   (the same exercises as notebooks, in Jupyter)"

$(READY): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23"
	$(BIN)/pip install --quiet -c constraints.txt -e .
	@touch $@

check: $(READY)
	@$(PY) -m learner.check $(if $(EX),--ex $(EX)) $(if $(filter-out 0,$(PLOT)),--plot) \
		|| { status=$$?; [ $$status -eq 1 ] && [ -t 1 ] || exit $$status; }

watch: $(READY)
	@$(PY) -m learner.watch $(if $(EX),--ex $(EX))

hint: $(READY)
	@$(PY) -m learner.hint $(if $(EX),--ex $(EX))

reset: $(READY)
	@$(PY) -m learner.reset $(if $(EX),--ex $(EX)) $(if $(filter-out 0,$(YES)),--yes)

$(VENV)/.notebook: $(READY)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[notebook]"
	@touch $@

notebook: $(VENV)/.notebook
	$(BIN)/jupyter lab notebooks/

