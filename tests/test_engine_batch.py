"""`python -m autograder grade` on a class with broken submissions: everyone is graded, nothing is lost,
nbgrader's gradebook, feedback and export keep working, and a batch killed half way resumes.
"""
import copy
import csv
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import course, mistakes, notebook_cells, sample_class
from autograder.engine.batch import ENGINE_DIR, grade_class
from autograder.engine.sandbox import isolation

A = "conv_forward"
WRITTEN = "proof_commutative"
pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces", reason="needs root with unshare/setpriv"),
]


def write_bad_submissions(root):
    """Students whose files are broken in the ways real submissions are, each with the correct answers."""
    good = sample_class.submission(A, sample_class.correct_answers(A))
    folders = {}

    def folder(student):
        path = Path(root, "submitted", student, A)
        path.mkdir(parents=True)
        folders[student] = path
        return path

    (folder("invalid_json") / f"{A}.ipynb").write_text(nbformat.writes(good)[:-200])
    nbformat.write(good, str(folder("renamed") / "my_conv_forward (1).ipynb"))
    (folder("missing") / "notes.txt").write_text("I forgot to attach it")
    nbformat.write(nbformat.convert(copy.deepcopy(good), 3), str(folder("old_format") / f"{A}.ipynb"), version=3)
    duplicated = copy.deepcopy(good)
    for cell in duplicated.cells:
        cell.id = "same-id"
    (folder("duplicated_ids") / f"{A}.ipynb").write_text(json.dumps(duplicated))
    huge = copy.deepcopy(good)
    huge.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (5 << 20))]
    nbformat.write(huge, str(folder("huge_outputs") / f"{A}.ipynb"))
    (folder("binary_junk") / f"{A}.ipynb").write_bytes(bytes(range(256)) * 64)
    (folder("too_large") / f"{A}.ipynb").write_text(json.dumps({"cells": [], "padding": "x" * (21 << 20)}))
    return folders


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = course.create_course(tmp_path_factory.mktemp("engine-class"), [A])
    course.run_nbgrader(["generate_assignment", A, "--force"], cwd=root)
    sample_class.write_submissions(root, A)
    write_bad_submissions(root)
    results, errors = grade_class(root, A, workers=2, progress=False)
    return root, results, errors


def auto_scores(result):
    return {c.grade_id: c.score for c in result.cells}


def test_every_submission_is_graded(graded):
    root, results, errors = graded
    assert not errors
    full = sum(c.points for c in results["correct"].cells)
    for student in ("correct", "renamed", "old_format", "duplicated_ids", "huge_outputs"):
        assert results[student].score == full, (student, results[student].problems)
    for student in ("blank", "invalid_json", "missing", "binary_junk", "too_large"):
        assert results[student].score == 0, student
    assert 0 < results["mistakes"].score < full and 0 < results["crashing"].score < full


@pytest.mark.parametrize("student, says", [
    ("invalid_json", "not valid JSON"), ("renamed", "graded anyway"), ("missing", "is missing"),
    ("old_format", "old format"), ("binary_junk", "not a text file"), ("too_large", "over the limit"),
])
def test_broken_submissions_say_why(graded, student, says):
    _, results, _ = graded
    assert any(says in problem for problem in results[student].problems), results[student].problems


def test_duplicated_cell_ids_are_flagged_not_punished(graded):
    _, results, _ = graded
    assert any("more than once" in flag for flag in results["duplicated_ids"].flags)


def test_the_engine_agrees_with_plain_nbgrader_on_the_sample_class(graded):
    _, results, _ = graded
    expected = set().union(*(mistakes.by_name(A, n).fails for n in mistakes.catalogue(A).DEMO_MISTAKES))
    failing = {c.grade_id for c in results["mistakes"].cells if not c.passed}
    assert failing == expected


def test_gradebook_feedback_and_export_work_unchanged(graded):
    root, results, _ = graded
    scores = course.cell_scores(root, A)
    assert set(scores) == set(results)
    for student, result in results.items():
        for cell in result.cells:
            assert scores[student][cell.grade_id][0] == cell.score, (student, cell.grade_id)
    course.run_nbgrader(["generate_feedback", A, "--force"], cwd=root)
    course.run_nbgrader(["export", "--to", str(root / "grades.csv")], cwd=root)
    with open(root / "grades.csv") as f:
        assert {row["student_id"] for row in csv.DictReader(f)} == set(results)
    page = html.unescape(Path(root, "feedback", "mistakes", A, f"{A}.html").read_text())
    for name in mistakes.catalogue(A).DEMO_MISTAKES:
        if mistakes.by_name(A, name).diagnosis:
            assert mistakes.by_name(A, name).diagnosis in page
    for cell in notebook_cells.read(Path(root, "source", A, f"{A}.ipynb")).cells:
        for region in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            for line in filter(None, map(str.strip, region.splitlines())):
                assert line not in page, line
    assert "HIDDEN TESTS" not in page and "autograder" not in page
    notes = html.unescape(Path(root, "feedback", "invalid_json", A, f"{A}.html").read_text())
    assert "not valid JSON" in notes


def test_killed_batch_resumes_with_gradebook_and_manual_grades_intact(graded, tmp_path):
    root, results, _ = graded
    points = dict(course.cell_scores(root, A)["correct"])[WRITTEN][1]
    course.set_manual_score(root, A, "correct", WRITTEN, points, "well argued")
    for student in ("mistakes", "crashing"):   # these must be graded again
        Path(root, ENGINE_DIR, "results", A, f"{student}.json").unlink()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", A, "--course", str(root), "--workers", "1"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results_dir = Path(root, ENGINE_DIR, "results", A)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(results_dir.glob("*.json"))) < len(results) - 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)   # half way: one of the two regraded, the other not
    proc.wait()
    assert len(list(results_dir.glob("*.json"))) < len(results)
    again = subprocess.run([sys.executable, "-m", "autograder", "grade", A, "--course", str(root)],
                           env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    after = course.cell_scores(root, A)
    assert after["correct"][WRITTEN][0] == points, "the manual grade was lost"
    for student, result in results.items():
        for cell in result.cells:
            assert after[student][cell.grade_id][0] == cell.score, (student, cell.grade_id)


def test_class_report_counts_the_diagnosed_mistakes(graded, tmp_path):
    from autograder.engine.report import load_results, mistake_counts, write_report

    root, results, _ = graded
    page = write_report(root, A, tmp_path / "report")
    text = page.read_text()
    for png in ("scores.png", "pass_rates.png", "mistakes.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png in text
    assert f"{len(results)} students" in text and "more than once" in text  # the duplicated-ids flag
    phrases = {mistakes.by_name(A, n).diagnosis for n in mistakes.catalogue(A).DEMO_MISTAKES} - {""}
    assert mistake_counts(load_results(root, A), A) == {p: 1 for p in phrases}
