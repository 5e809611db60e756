"""Sample students for the demo class, generated from the release and the solutions (never hand-edited).

Per assignment:
- `correct`:  every answer filled in with the reference solution (and the written answers),
- `blank`:    the release notebook as handed out,
- `mistakes`: the solution with a few typical mistakes from `autograder.mistakes`,
- `crashing`: the solution, but one answer cell in the middle raises before defining its function.
"""
from pathlib import Path

import nbformat

from autograder import mistakes, notebook_cells
from autograder.paths import release_notebook, source_notebook

STUDENTS = ("correct", "blank", "mistakes", "crashing")

# The crashing student leaves this debugging line at the top of the assignment's CRASH_CELL.
CRASH_LINE = "print(debug_shape)  # leftover from debugging: debug_shape is not defined\n"


def correct_answers(assignment):
    return notebook_cells.answers(notebook_cells.read(source_notebook(assignment)))


def student_answers(assignment, student):
    """{grade_id: source} of the sample student's answers, or None for the blank student."""
    if student == "blank":
        return None
    answers = correct_answers(assignment)
    if student == "mistakes":
        for name in mistakes.catalogue(assignment).DEMO_MISTAKES:
            answers = mistakes.by_name(assignment, name).apply(answers)
    elif student == "crashing":
        cell = mistakes.catalogue(assignment).CRASH_CELL
        answers[cell] = CRASH_LINE + answers[cell]
    return answers


def submission(assignment, answers):
    """The release notebook of `assignment` with `answers` ({grade_id: source} or None) typed in."""
    release = notebook_cells.read(release_notebook(assignment))
    return release if answers is None else notebook_cells.with_answers(release, answers)


def type_answers(assignment_dir, assignment, student):
    """What the sample `student` does with the notebook it fetched into `assignment_dir`: type its answers."""
    path = Path(assignment_dir) / assignment / f"{assignment}.ipynb"
    answers = student_answers(assignment, student)
    if answers is not None:
        nbformat.write(notebook_cells.with_answers(notebook_cells.read(path), answers), str(path))
    return path


def write_submissions(course_root, assignment, students=STUDENTS):
    """Write submitted/<student>/<assignment>/<assignment>.ipynb for each sample student (tests that need no
    exchange; `make demo` has its students fetch and submit through it)."""
    paths = []
    for student in students:
        folder = Path(course_root) / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment}.ipynb"
        nbformat.write(submission(assignment, student_answers(assignment, student)), str(path))
        paths.append(path)
    return paths
