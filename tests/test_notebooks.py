"""Source notebooks run clean, release notebooks leak nothing, and release/ is what nbgrader makes."""
import ast
import filecmp
import json
import re
import shutil

import nbformat
import pytest

from autograder import notebook_cells
from autograder.paths import ASSIGNMENTS, RELEASE, REPO, SOURCE, release_notebook, source_notebook
from autograder.release import generate_release
from autograder.solutions import load_solution
from conftest import error_text, run_source_with_answers, test_cell_scores

STORED = sorted(SOURCE.rglob("*.ipynb")) + sorted(RELEASE.rglob("*.ipynb"))


def test_every_assignment_is_released():
    assert ASSIGNMENTS, "no assignment found under source/"
    for assignment in ASSIGNMENTS:
        assert release_notebook(assignment).exists(), f"release/{assignment} missing: run make release"


def test_source_notebook_runs_top_to_bottom_with_every_test_passing(assignment, tmp_path):
    answers = notebook_cells.answers(notebook_cells.read(source_notebook(assignment)))
    nb = run_source_with_answers(assignment, answers, tmp_path)
    errors = [c.source[:80] for c in nb.cells if c.cell_type == "code"
              and any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"cells raised: {errors}"
    scores = test_cell_scores(nb)
    assert scores and all(score == max_score for score, max_score in scores.values()), scores


@pytest.mark.parametrize("path", STORED, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_are_stored_clean_with_valid_nbgrader_metadata(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    ids = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path}: outputs not cleared"
        meta = notebook_cells.nbgrader_meta(cell)
        if meta:
            assert meta.get("schema_version") == 3
            assert meta.get("grade_id"), "nbgrader cell without grade_id"
            ids.append(meta["grade_id"])
            if meta.get("grade"):
                assert meta.get("points", 0) > 0, f"{meta['grade_id']}: graded cell without points"
    assert len(ids) == len(set(ids)), f"{path}: duplicated grade_ids"


def test_release_has_no_solutions_hidden_tests_or_autograder(assignment):
    text = release_notebook(assignment).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "autograder"):
        assert marker not in text, f"release/{assignment} contains {marker!r}"
    source = notebook_cells.read(source_notebook(assignment))
    release_cells = "\n".join(c.source for c in notebook_cells.read(release_notebook(assignment)).cells)
    for cell in source.cells:
        for region in re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", cell.source, re.S):
            for line in region.splitlines():
                if len(line.strip()) > 25:
                    assert line.strip() not in release_cells, f"release/{assignment} shows hidden line {line!r}"


def test_release_is_exactly_what_generate_assignment_makes(tmp_path):
    shutil.copytree(SOURCE, tmp_path / "source")
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(REPO / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(tmp_path)!r}\n")
    generate_release(course_root=tmp_path)
    comparison = filecmp.dircmp(tmp_path / "release", RELEASE)
    assert sorted(p.relative_to(tmp_path / "release") for p in (tmp_path / "release").rglob("*")) == \
        sorted(p.relative_to(RELEASE) for p in RELEASE.rglob("*")), "release/ has other files: run make release"
    for fresh in (tmp_path / "release").rglob("*.ipynb"):
        committed = RELEASE / fresh.relative_to(tmp_path / "release")
        assert json.loads(fresh.read_text()) == json.loads(committed.read_text()), \
            f"{committed} differs from a fresh generate_assignment: run make release"
        assert fresh.read_bytes() == committed.read_bytes()
    assert not comparison.left_only and not comparison.right_only


def test_solution_module_defines_every_answer_function(assignment):
    module = load_solution(assignment)
    source = notebook_cells.read(source_notebook(assignment))
    for cell in source.cells:
        if notebook_cells.is_answer(cell) and cell.cell_type == "code":
            for name in re.findall(r"^def (\w+)\(", cell.source, re.M):
                assert callable(getattr(module, name, None)), f"{name} missing from the solution module"


def test_blank_release_fails_every_test_cell(assignment, tmp_path):
    """The release as handed out scores 0 on every autograded cell (so no test passes by accident)."""
    release = notebook_cells.read(release_notebook(assignment))
    stubs = {notebook_cells.grade_id(c): c.source for c in release.cells if notebook_cells.is_answer(c)}
    nb = run_source_with_answers(assignment, stubs, tmp_path)
    scores = test_cell_scores(nb)
    passing = [cell for cell, (score, _) in scores.items() if score > 0]
    assert not passing, f"these test cells pass on the blank notebook: {passing}"
    assert error_text(nb, next(iter(scores)))


def _bound_and_free_names(source):
    """(names a cell binds, names it reads without binding them first itself), from its syntax tree."""
    tree = ast.parse(notebook_cells.strip_magics(notebook_cells.strip_solution_markers(source)))
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return bound, read - bound


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_test_depends_on_a_display_cell(assignment):
    """The engine does not re-run "display" cells in the grader: every name that a test cell, or an
    instructor cell the grader does run, reads must come from a cell that is not a display cell."""
    cells = [c for c in notebook_cells.read(source_notebook(assignment)).cells if c.cell_type == "code"]
    names = [_bound_and_free_names(c.source) for c in cells]
    assert any(notebook_cells.is_display(c) for c in cells)
    for k, cell in enumerate(cells):
        assert not (notebook_cells.is_display(cell) and (notebook_cells.is_test(cell) or notebook_cells.is_answer(cell)))
        if notebook_cells.is_display(cell) or notebook_cells.is_answer(cell):
            continue
        for name in sorted(names[k][1]):
            provider = next((j for j in range(k - 1, -1, -1) if name in names[j][0]), None)
            assert provider is None or not notebook_cells.is_display(cells[provider]), (
                f"cell {k} reads {name!r}, last set by the display cell {provider}")


def test_strip_magics_drops_magic_and_shell_lines_only():
    source = "%matplotlib inline\n  !pip install x\nx = 1  # 100% sure\n%%time\ny = '!'"
    assert notebook_cells.strip_magics(source) == "x = 1  # 100% sure\ny = '!'"


def test_a_kernel_that_never_started_is_started_again_and_nothing_else_is_retried():
    from autograder.kernels import KERNEL_NEVER_STARTED, with_kernel_restarts

    starts = []

    def run(fail_times, error=KERNEL_NEVER_STARTED):
        starts.append(1)
        if len(starts) <= fail_times:
            raise RuntimeError(error)
        return "ran"

    assert with_kernel_restarts(lambda: run(2)) == "ran" and len(starts) == 3
    starts.clear()
    with pytest.raises(RuntimeError, match="kernel_info"):
        with_kernel_restarts(lambda: run(3))
    starts.clear()
    with pytest.raises(RuntimeError, match="the student's error"):   # an error of the notebook: once
        with_kernel_restarts(lambda: run(1, "the student's error"))
    assert len(starts) == 1
