"""The Gradescope autograder zip, run against a simulated /autograder layout in a temporary directory."""
import json
import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from autograder import mistakes, notebook_cells, sample_class
from autograder.engine.gradescope import build_zip
from autograder.paths import source_notebook

A = "conv_forward"


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    return build_zip(A, tmp_path_factory.mktemp("zip"))


def test_zip_has_the_files_gradescope_runs(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", f"source/{A}/{A}.ipynb", "requirements.txt"} <= names
        assert zf.getinfo("run_autograder").external_attr >> 16 & 0o111, "run_autograder must be executable"
        zf.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(tmp_path / script)]).returncode == 0


def run_autograder(autograder_zip, root, answers):
    """Lay out /autograder in `root`, submit `answers`, run run_autograder; returns results.json."""
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(root / "source")
    submission = root / "submission"
    submission.mkdir()
    nbformat.write(sample_class.submission(A, answers), str(submission / f"{A}.ipynb"))
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"id": "4242", "name": "Ada"}]}))
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "CONVBOOK_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_results_follow_gradescope_spec(autograder_zip, tmp_path):
    results = run_autograder(autograder_zip, tmp_path, mistakes.by_name(A, "flipped_kernel").apply(
        sample_class.correct_answers(A)))
    source = notebook_cells.read(source_notebook(A))
    test_cells = {notebook_cells.grade_id(c): notebook_cells.points(c) for c in source.cells if notebook_cells.is_test(c)}
    assert [t["name"] for t in results["tests"]] == list(test_cells)
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["max_score"] == test_cells[test["name"]] and 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] == "visible" and "HIDDEN" not in test["output"] and "autograder" not in test["output"]
    assert results["score"] == sum(t["score"] for t in results["tests"])
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["test_conv_forward_visible"]["score"] == 0
    assert "you computed convolution, not cross-correlation" in by_name["test_conv_forward_visible"]["output"]
    assert by_name["test_zero_pad"]["score"] == by_name["test_zero_pad"]["max_score"]


def test_correct_submission_gets_every_point(autograder_zip, tmp_path):
    results = run_autograder(autograder_zip, tmp_path, sample_class.correct_answers(A))
    assert all(t["score"] == t["max_score"] for t in results["tests"]), results
