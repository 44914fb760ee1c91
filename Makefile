# attention-kit: every command a student, an instructor or CI types. Each bootstraps .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
READY := $(VENV)/.ready
# make test's pytest workers (pytest-xdist), each running one test file at a time
JOBS ?= 2
EX ?=
PLOT ?=
SUBMISSIONS ?= examples/submissions
OUT ?= out

.PHONY: help check watch hint reset exercises class test test-fast lint format demo autograde bench bench-check clean redteam-table release gradescope nbgrader

help:
	@echo "Students:     make check [EX=<exercise or topic>] [PLOT=1]"
	@echo "              make watch [EX=...] | make hint [EX=...] | make reset EX=<exercise> [YES=1]"
	@echo "Instructors:  make demo | make autograde SUBMISSIONS=<dir> OUT=<dir> [COURSE=course.toml]"
	@echo "              make release | make gradescope [VISIBILITY=after_published]"
	@echo "              make nbgrader   (the nbgrader course in build/nbgrader, assignment released)"
	@echo "Kit:          make test | make test-fast | make exercises | make class | make bench | make lint | make format"

$(READY): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

# A failing exercise (status 1) in a terminal: the report says it all, so make adds no
# "Error 1" line of its own; a script or CI (output not a terminal) still gets the failure.
check: $(READY)
	@$(PY) -m learner.check $(if $(EX),--ex $(EX)) $(if $(filter-out 0,$(PLOT)),--plot) \
		|| { status=$$?; [ $$status -eq 1 ] && [ -t 1 ] || exit $$status; }

watch: $(READY)
	@$(PY) -m learner.watch $(if $(EX),--ex $(EX))

hint: $(READY)
	@$(PY) -m learner.hint $(if $(EX),--ex $(EX))

reset: $(READY)
	@$(PY) -m learner.reset $(if $(EX),--ex $(EX)) $(if $(filter-out 0,$(YES)),--yes)

exercises: $(READY)
	$(PY) -m autograder.stubs

class: $(READY)
	$(PY) -m examples.build_class

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(READY)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(READY)
	$(PY) -m autograder.stubs --check
	$(PY) -m examples.build_class --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	status=0; \
	$(BIN)/pytest -n $(JOBS) --dist loadfile -m "not alone" || status=$$?; \
	$(BIN)/pytest -m alone || status=$$?; \
	exit $$status

# The unit tests alone, in about a minute: no end-to-end batch (tests marked slow).
test-fast: $(READY)
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(JOBS) --dist loadfile -m "not slow"

demo: $(READY)
	$(BIN)/attention-kit autograde --submissions examples/submissions --out build/demo \
		--course examples/course.toml

autograde: $(READY)
	$(BIN)/attention-kit autograde --submissions $(SUBMISSIONS) --out $(OUT) \
		$(if $(SEED),--seed $(SEED)) $(if $(filter-out 0,$(REGRADE)),--regrade) \
		$(if $(BUDGET),--budget $(BUDGET)) $(if $(COURSE),--course $(COURSE))

bench: $(READY)
	$(PY) -m bench $(if $(filter-out 0,$(JSON)),--json)

bench-check: $(READY)
	$(PY) -m bench.check_latency

redteam-table: $(READY)
	$(PY) -m autograder.redteam

release: $(READY)
	$(PY) -m autograder.release

gradescope: $(READY)
	$(PY) -m autograder.gradescope build $(if $(VISIBILITY),--visibility $(VISIBILITY))

nbgrader: $(READY)
	$(PY) -m autograder.notebooks.course --dest build/nbgrader

# Only what the kit regenerates: never OUT (the default out/ holds a class's gradebook) nor
# build/nbgrader (students' submitted notebooks and nbgrader's gradebook.db).
clean:
	rm -rf build/student build/student.zip build/autograder.zip build/plots build/demo
	rm -rf .pytest_cache .ruff_cache
