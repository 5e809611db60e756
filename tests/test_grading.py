"""The whole nbgrader pipeline on a sample class: autograde, generate_feedback, export.

One course directory per assignment, built once per test worker (tests of one assignment share a group).
"""
import csv
import html
import re
from pathlib import Path

import nbformat
import pytest

from autograder import course, mistakes, notebook_cells, sample_class
from autograder.demo import mark_written_answers, written_cells
from autograder.paths import ASSIGNMENTS

# Extra students for the first assignment: robustness of the grading itself.
EXTRA = "conv_forward"
NOISY_PRELUDE = (
    "import sys, warnings\n"
    "warnings.warn('this is only a warning', RuntimeWarning)\n"
    "print('debug output on stderr', file=sys.stderr)\n"
)
_courses = {}


def noisy_submission(assignment):
    """The correct answers, but every code answer writes a warning and a line to stderr when run."""
    answers = sample_class.correct_answers(assignment)
    nb = sample_class.submission(assignment, answers)
    for cell in nb.cells:
        if notebook_cells.is_answer(cell) and cell.cell_type == "code":
            body = cell.source.replace('"""\n', '"""\n    import sys, warnings\n    warnings.warn("noisy", UserWarning)\n'
                                       '    print("stderr from the answer", file=sys.stderr)\n', 1)
            cell.source = NOISY_PRELUDE + body
    return nb


def tampered_submission(assignment):
    """The correct answers, with the first test cell deleted and the second one's code replaced."""
    nb = sample_class.submission(assignment, sample_class.correct_answers(assignment))
    tests = [c for c in nb.cells if notebook_cells.is_test(c)]
    nb.cells.remove(tests[0])
    tests[1].source = "pass  # nothing to see here"
    return nb, notebook_cells.grade_id(tests[0]), notebook_cells.grade_id(tests[1])


def graded_course(assignment, tmp_path_factory):
    if assignment not in _courses:
        root = course.create_course(tmp_path_factory.mktemp(f"class-{assignment}"), [assignment])
        course.run_nbgrader(["generate_assignment", assignment, "--force"], cwd=root)
        sample_class.write_submissions(root, assignment)
        extra = {}
        if assignment == EXTRA:
            for student, nb in (("noisy", noisy_submission(assignment)), ("tampered", tampered_submission(assignment)[0])):
                folder = Path(root, "submitted", student, assignment)
                folder.mkdir(parents=True)
                nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
        course.run_nbgrader(["autograde", assignment, "--force"], cwd=root)
        before_manual = course.cell_scores(root, assignment)
        mark_written_answers(root, assignment)
        course.run_nbgrader(["generate_feedback", assignment, "--force"], cwd=root)
        course.run_nbgrader(["export", "--to", str(root / "grades.csv")], cwd=root)
        _courses[assignment] = (root, before_manual, course.cell_scores(root, assignment), extra)
    return _courses[assignment]


PARAMS = [pytest.param(a, marks=pytest.mark.xdist_group(f"grading-{a}")) for a in ASSIGNMENTS]


def autograded(scores, assignment):
    written = written_cells(assignment)
    return {cell: value for cell, value in scores.items() if cell not in written}


@pytest.mark.parametrize("assignment", PARAMS)
def test_correct_student_gets_full_marks(assignment, tmp_path_factory):
    _, before, after, _ = graded_course(assignment, tmp_path_factory)
    for cell, (score, max_score) in autograded(before["correct"], assignment).items():
        assert score == max_score, f"{cell}: {score}/{max_score}"
    for cell in written_cells(assignment):
        assert before["correct"][cell][0] is None, "a written answer must wait for the instructor"
    assert all(score == max_score for score, max_score in after["correct"].values())


@pytest.mark.parametrize("assignment", PARAMS)
def test_blank_student_gets_zero(assignment, tmp_path_factory):
    _, before, _, _ = graded_course(assignment, tmp_path_factory)
    assert before["blank"] and all(score == 0 for score, _ in before["blank"].values()), before["blank"]


@pytest.mark.parametrize("assignment", PARAMS)
def test_mistakes_student_fails_exactly_the_mistaken_cells(assignment, tmp_path_factory):
    _, before, _, _ = graded_course(assignment, tmp_path_factory)
    catalogue = mistakes.catalogue(assignment)
    expected = set().union(*(mistakes.by_name(assignment, n).fails for n in catalogue.DEMO_MISTAKES))
    scores = autograded(before["mistakes"], assignment)
    failing = {cell for cell, (score, max_score) in scores.items() if score < max_score}
    assert failing == expected
    assert any(score > 0 for score, _ in scores.values()), "partial credit expected"


@pytest.mark.parametrize("assignment", PARAMS)
def test_crashing_student_still_gets_its_other_cells_graded(assignment, tmp_path_factory):
    _, before, _, _ = graded_course(assignment, tmp_path_factory)
    scores = autograded(before["crashing"], assignment).values()
    assert any(score == 0 for score, _ in scores), "the crash must cost something"
    assert any(score == max_score for score, max_score in scores), "cells after the crash must still be graded"


@pytest.mark.parametrize("assignment", PARAMS)
def test_feedback_never_shows_hidden_tests_and_explains_mistakes(assignment, tmp_path_factory):
    root, _, _, _ = graded_course(assignment, tmp_path_factory)
    pages = {p.parts[-3]: p.read_text() for p in Path(root, "feedback").rglob("*.html")}
    assert set(sample_class.STUDENTS) <= set(pages)
    hidden_lines = set()
    for cell in notebook_cells.read(Path(root, "source", assignment, f"{assignment}.ipynb")).cells:
        for region in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            hidden_lines |= {line.strip() for line in region.splitlines() if line.strip()}
    assert hidden_lines
    for student, page in pages.items():
        assert "HIDDEN TESTS" not in page and "autograder" not in page, student
        for line in hidden_lines:
            assert line not in page, f"feedback of {student} shows hidden line {line!r}"
    for name in mistakes.catalogue(assignment).DEMO_MISTAKES:
        diagnosis = mistakes.by_name(assignment, name).diagnosis
        if diagnosis:
            assert diagnosis in html.unescape(pages["mistakes"]), diagnosis


@pytest.mark.parametrize("assignment", PARAMS)
def test_export_writes_one_row_per_student(assignment, tmp_path_factory):
    root, _, after, _ = graded_course(assignment, tmp_path_factory)
    with open(root / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == assignment}
    assert set(rows) == set(after)
    for student, row in rows.items():
        assert float(row["score"]) == pytest.approx(sum(s or 0 for s, _ in after[student].values()))


@pytest.mark.xdist_group(f"grading-{EXTRA}")
def test_stderr_and_warnings_do_not_zero_a_correct_answer(tmp_path_factory):
    _, before, _, _ = graded_course(EXTRA, tmp_path_factory)
    for cell, (score, max_score) in autograded(before["noisy"], EXTRA).items():
        assert score == max_score, f"{cell}: {score}/{max_score}"


@pytest.mark.xdist_group(f"grading-{EXTRA}")
def test_deleted_and_edited_test_cells_are_restored(tmp_path_factory):
    root, before, _, _ = graded_course(EXTRA, tmp_path_factory)
    _, deleted, edited = tampered_submission(EXTRA)
    scores = before["tampered"]
    assert deleted in scores and edited in scores
    for cell, (score, max_score) in autograded(scores, EXTRA).items():
        assert score == max_score, f"{cell}: {score}/{max_score}"
    graded = nbformat.read(str(Path(root, "autograded", "tampered", EXTRA, f"{EXTRA}.ipynb")), as_version=4)
    sources = {notebook_cells.grade_id(c): c.source for c in graded.cells}
    assert "was missing from the submission" in sources[deleted]
    assert "nothing to see here" not in sources[edited]
