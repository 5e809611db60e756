"""Shared helpers for the test suite: run notebooks in a real kernel and grade them as nbgrader does."""
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import determine_grade

from autograder import notebook_cells
from autograder.paths import ASSIGNMENTS, source_notebook
from autograder.solution_pages import execute_notebook

# Kernels and nbgrader must find this interpreter's tools first.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def fresh_kernel_context(monkeypatch):
    """Each test is a fresh kernel: the checks it calls outside a `grading` block get a context of their own
    (what one test's checks learn, e.g. that a helper loops, would otherwise excuse a loop in another's)."""
    from autograder.checks import core

    monkeypatch.setattr(core, "_process_context", [])


def run_source_with_answers(assignment, answers, tmp_path, display=True):
    """Execute the source notebook (hidden tests included) with `answers` typed into the answer cells.

    display=False leaves out the cells tagged "display" (plots, demonstration runs): no test cell reads
    what they set (test_notebooks.py::test_no_test_depends_on_a_display_cell), so the scores are the same.
    """
    nb = notebook_cells.with_answers(notebook_cells.read(source_notebook(assignment)), answers)
    if not display:
        nb.cells = [cell for cell in nb.cells if not notebook_cells.is_display(cell)]
    path = Path(tmp_path) / f"{assignment}.ipynb"
    nbformat.write(nb, str(path))
    return execute_notebook(path, allow_errors=True)


def test_cell_scores(nb):
    """{grade_id: (score, max_score)} of the autograded test cells, by nbgrader's own rule."""
    return {notebook_cells.grade_id(c): determine_grade(c)
            for c in nb.cells if notebook_cells.is_test(c)}


def error_text(nb, cell_id):
    """All error messages shown in the cell `cell_id` of an executed notebook."""
    for cell in nb.cells:
        if notebook_cells.grade_id(cell) == cell_id:
            return "\n".join(f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error")
    return ""


test_cell_scores.__test__ = False  # a helper, not a test


@pytest.fixture(params=ASSIGNMENTS)
def assignment(request):
    return request.param


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep each `xdist_group` on one worker (`make test` runs `--dist loadgroup`).

    pytest-xdist 3.8 names a test's group by appending "@group" to `item._nodeid`, which pytest 9 no longer
    reads (a node's id lives in `item._id`), so every group was split across the workers and the shared
    module fixtures (a graded course, the hidden checks over 100 seeds) were built once per worker. Same
    rule, on the attribute pytest 9 reads."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        if groups and not item.nodeid.endswith("@" + "_".join(groups)):
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")
