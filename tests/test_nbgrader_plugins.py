"""The two nbgrader preprocessors that close plain nbgrader's gaps."""
import nbformat
from nbgrader.utils import determine_grade

from autograder.nbgrader_plugins import HIDDEN_NOTE, HideHiddenTests, StderrToStdout


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
