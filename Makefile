# convbook: every command creates (or reuses) .venv from requirements.txt first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MPLBACKEND := Agg

.PHONY: help venv demo test release lab solutions bench bench-grading grade clean

help:
	@echo "make demo       grade the bundled sample class with nbgrader (autograde, feedback, export)"
	@echo "make test       run the project's test suite"
	@echo "make release    regenerate release/ from source/ (nbgrader generate_assignment)"
	@echo "make lab        JupyterLab on release/, as a student"
	@echo "make solutions  execute the source notebooks to HTML in solutions_html/ (self-learners)"
	@echo "make grade      grade the demo class with the isolated engine (after make demo; ASSIGNMENT=id for one)"
	@echo "make bench      time the fast conv layers against loops, scipy and PyTorch (bench/results.json)"
	@echo "make bench-grading  grading throughput: plain nbgrader, the engine's local pool and a local Dask cluster; projection to 1,000 students"

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "convbook needs Python >= 3.10"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m autograder demo

test: venv
	$(PY) -m pytest -n 2 --dist loadgroup

release: venv
	$(PY) -m autograder release

lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=release

solutions: venv
	$(PY) -m autograder solutions

bench: venv
	$(PY) -m bench.conv_layers

bench-grading: venv
	$(PY) -m bench.grading

ASSIGNMENT ?=
grade: venv
	@test -d demo || $(MAKE) demo
	for a in $(or $(ASSIGNMENT),$$($(PY) -c 'from autograder.paths import ASSIGNMENTS; print(*ASSIGNMENTS)')); do \
		$(PY) -m autograder grade $$a || exit 1; done

clean:
	rm -rf demo solutions_html .pytest_cache build gradescope
