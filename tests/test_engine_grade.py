"""How the engine walks a notebook: display cells are not run again in the grader, and the time the
student's cells took in the sandbox counts towards the notebook's run time."""
import time

import nbformat
import pytest

from autograder import notebook_cells, sample_class
from autograder.checks import cnn_digits as cnn_checks
from autograder.checks import core
from autograder.engine import grade as engine_grade
from autograder.engine.sandbox import isolation
from autograder.paths import source_notebook

A = "conv_forward"

pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces",
                       reason="needs root with unshare/setpriv (the engine's full isolation)"),
]


def test_display_cells_run_in_the_sandbox_only_and_sandbox_time_is_counted(tmp_path, monkeypatch):
    nb = sample_class.submission(A, sample_class.correct_answers(A))
    nb.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)"))
    folder = tmp_path / "course" / "submitted" / "slow" / A
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / f"{A}.ipynb"))
    ran_in_grader = []
    real = engine_grade.run_in_grader
    monkeypatch.setattr(engine_grade, "run_in_grader",
                        lambda source, namespace: ran_in_grader.append(source) or real(source, namespace))

    result = engine_grade.grade_submission(A, folder, "slow", "secret", tmp_path / "course")

    assert result.score == result.max_score
    cells = [c for c in notebook_cells.read(source_notebook(A)).cells if c.cell_type == "code"]
    display = [c.source for c in cells if notebook_cells.is_display(c)]
    others = [c.source for c in cells if not notebook_cells.is_display(c) and not notebook_cells.is_answer(c)]
    assert display and not set(display) & set(ran_in_grader)
    assert set(others) <= set(ran_in_grader)
    assert result.sandbox_seconds >= 1.5
    assert core.notebook_seconds(time.perf_counter()) < 1.0    # the grading context ended with the submission
    with core.grading(result.seed, result.sandbox_seconds):
        assert core.notebook_seconds(time.perf_counter()) >= 1.5   # what check_run_time adds under the engine


def test_run_time_check_counts_the_sandbox():
    start = time.perf_counter()
    cnn_checks.check_run_time(start)
    with core.grading(seed=1, sandbox_seconds=cnn_checks.TIME_LIMIT + 1.0):
        with pytest.raises(AssertionError, match=r"ran in 9\d s; the limit is 90 s"):
            cnn_checks.check_run_time(start)
    cnn_checks.check_run_time(start)   # nothing of the grading context outlives it


def test_run_time_limit_is_the_notebooks():
    cell = next(c for c in notebook_cells.read(source_notebook("cnn_digits")).cells
                if notebook_cells.grade_id(c) == "test_run_time")
    assert f"TIME_LIMIT = {cnn_checks.TIME_LIMIT} " in cell.source
