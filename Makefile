# convbook: every command creates (or reuses) .venv from requirements.txt first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MPLBACKEND := Agg

.PHONY: help venv demo test test-open-holes lint release lab formgrader course test-browser solutions bench bench-grading bench-validate bench-loop-rule grade clean

help:
	@echo "make demo       grade the bundled sample class with nbgrader (autograde, feedback, export)"
	@echo "make test       run the project's test suite"
	@echo "make lint       ruff check . (configured in pyproject.toml; zero warnings)"
	@echo "make release    regenerate release/ from source/ (nbgrader generate_assignment)"
	@echo "make lab        a student's JupyterLab on course COURSE (default demo/, made and released if missing)"
	@echo "make formgrader formgrader on course COURSE (default demo/), for the instructor"
	@echo "make course DIR=path [EXCHANGE=path] [COURSE_ID=id]  a new course directory, every assignment released"
	@echo "make test-open-holes  the red team's attacks not stopped yet (xfail: each passes once its hole is closed)"
	@echo "make test-browser  the browser suite (Playwright, Debian's chromium; installs both if missing)"
	@echo "make solutions  execute the source notebooks to HTML in solutions_html/ (self-learners)"
	@echo "make grade      grade the demo class with the isolated engine (after make demo; ASSIGNMENT=id for one)"
	@echo "make bench      time the fast conv layers against loops, scipy and PyTorch (bench/results.json)"
	@echo "make bench-grading  grading throughput: plain nbgrader, the engine's local pool and a local Dask cluster; projection to 1,000 students"
	@echo "make bench-validate seconds of nbgrader validate per completed release notebook (goals 20 s, cnn_digits 60 s)"
	@echo "make bench-loop-rule  the loop rule's time measure: CPU time per copy of the input, correct vs looped answers"

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

lint: venv
	$(VENV)/bin/ruff check .

release: venv
	$(PY) -m autograder release

COURSE ?= demo
STUDENT ?=
lab: venv
	$(PY) -m autograder lab --course $(COURSE) $(if $(STUDENT),--student $(STUDENT))

formgrader: venv
	$(PY) -m autograder formgrader --course $(COURSE)

course: venv
	@test -n "$(DIR)" || { echo "usage: make course DIR=path [EXCHANGE=path] [COURSE_ID=id]"; exit 2; }
	$(PY) -m autograder course init $(DIR) $(if $(EXCHANGE),--exchange $(EXCHANGE)) $(if $(COURSE_ID),--course-id $(COURSE_ID))
	$(PY) -m autograder course release $(DIR)

# The browser suite: the pinned Playwright into the venv, Debian's chromium where it is missing (Playwright's
# own browser download is not used). Without a Chromium the suite skips, saying so.
$(VENV)/.browser-installed: requirements-browser.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-browser.txt
	touch $@

test-open-holes: venv
	$(PY) -m pytest tests -m open_hole -p no:xdist -p no:cacheprovider

test-browser: venv $(VENV)/.browser-installed
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) \
		|| echo "test-browser: could not install Debian's chromium; the browser tests will skip"
	$(PY) -m pytest tests/browser -m browser -p no:xdist -p no:cacheprovider

solutions: venv
	$(PY) -m autograder solutions

bench: venv
	$(PY) -m bench.conv_layers

bench-grading: venv
	$(PY) -m bench.grading

bench-validate: venv
	$(PY) -m autograder.validation

bench-loop-rule: venv
	$(PY) -m bench.loop_rule

ASSIGNMENT ?=
grade: venv
	@test -d demo || $(MAKE) demo
	for a in $(or $(ASSIGNMENT),$$($(PY) -c 'from autograder.paths import ASSIGNMENTS; print(*ASSIGNMENTS)')); do \
		$(PY) -m autograder grade $$a || exit 1; done

clean:
	rm -rf demo solutions_html .pytest_cache build gradescope
