"""The nbgrader preprocessors that close plain nbgrader's gaps."""
import json
import sys

import nbformat
import pytest
from nbgrader.utils import determine_grade

from autograder.nbgrader_plugins import HIDDEN_NOTE, Execute, HideHiddenTests, StderrToStdout


def graded_cell(source, outputs):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "t",
                                 "points": 2, "schema_version": 3}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_stderr_no_longer_zeros_a_cell_but_errors_still_do():
    warned = graded_cell("f()", [{"output_type": "stream", "name": "stderr", "text": "UserWarning: hm\n"}])
    assert determine_grade(warned) == (0, 2), "plain nbgrader zeros it"
    StderrToStdout().preprocess_cell(warned, {}, 0)
    assert determine_grade(warned) == (2, 2) and warned.outputs[0].text.startswith("[stderr]")
    broken = graded_cell("f()", [{"output_type": "error", "ename": "AssertionError", "evalue": "no", "traceback": []}])
    StderrToStdout().preprocess_cell(broken, {}, 0)
    assert determine_grade(broken) == (0, 2)


def test_hidden_tests_are_removed_from_source_and_tracebacks():
    source = "assert f() == 1\n### BEGIN HIDDEN TESTS\nsecret_check(f)\n### END HIDDEN TESTS"
    cell = graded_cell(source, [{"output_type": "error", "ename": "AssertionError", "evalue": "flipped kernel",
                                 "traceback": ["----> 3 secret_check(f)", "AssertionError: flipped kernel"]}])
    HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert "secret_check" not in cell.source and HIDDEN_NOTE in cell.source
    assert cell.outputs[0].traceback == ["AssertionError: flipped kernel"]


# A kernel that exits at once the first `deaths` times it is started (as one whose port was taken does),
# then starts as ipykernel: the count is kept in a file.
DYING_KERNEL = """import os, sys
count_file, deaths, connection_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
started = int(open(count_file).read()) if os.path.exists(count_file) else 0
open(count_file, "w").write(str(started + 1))
if started < deaths:
    sys.exit(1)
from ipykernel.kernelapp import launch_new_instance
sys.argv = ["ipykernel", "-f", connection_file]
launch_new_instance()
"""


def dying_kernel_notebook(tmp_path, monkeypatch, deaths):
    spec = tmp_path / "jupyter" / "kernels" / "dying"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", DYING_KERNEL, str(tmp_path / "starts"), str(deaths), "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "dying", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.v4.new_notebook(cells=[graded_cell("assert 1 + 1 == 2\nprint('ran')", [])])
    nb.metadata["kernelspec"] = {"name": "dying", "display_name": "dying", "language": "python"}
    return nb


def test_autograde_starts_a_kernel_that_died_before_kernel_info_again(tmp_path, monkeypatch):
    nb = dying_kernel_notebook(tmp_path, monkeypatch, deaths=1)
    nb, _ = Execute(startup_timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert (tmp_path / "starts").read_text() == "2"
    assert nb.cells[0].outputs[0].text == "ran\n" and determine_grade(nb.cells[0]) == (2, 2)


def test_a_kernel_that_never_starts_still_fails_after_three_tries(tmp_path, monkeypatch):
    nb = dying_kernel_notebook(tmp_path, monkeypatch, deaths=5)
    with pytest.raises(RuntimeError, match="kernel_info"):
        Execute(startup_timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert (tmp_path / "starts").read_text() == "3"
