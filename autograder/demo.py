"""`make demo`: grade the bundled sample class with the real nbgrader, end to end."""
import csv
import os
import random
import textwrap
import time
from pathlib import Path

from autograder import course, notebook_cells, sample_class
from autograder.checks.core import SEED_VARIABLE
from autograder.engine.batch import grade_many, record_in_gradebook
from autograder.paths import ASSIGNMENTS, DEMO, source_notebook
from autograder.release import generate_release
from autograder.score_table import format_table, shorten


def written_cells(assignment):
    """{grade_id: points} of the manually graded (written) answers."""
    nb = notebook_cells.read(source_notebook(assignment))
    return {notebook_cells.grade_id(c): notebook_cells.points(c)
            for c in nb.cells if notebook_cells.is_answer(c) and c.cell_type == "markdown"}


def mark_written_answers(root, assignment):
    """Stand in for the instructor in formgrader: full marks for every written answer still pending."""
    for student, cells in course.cell_scores(root, assignment).items():
        for cell, points in written_cells(assignment).items():
            if cells.get(cell, (0, 0))[0] is None:
                course.set_manual_score(root, assignment, student, cell, points, "Clear and complete (demo mark).")


def run_demo(root=DEMO, assignments=ASSIGNMENTS, plain=False):
    """Release, build the sample class, grade it, give feedback, export; print the table.

    plain: grade with plain `nbgrader autograde` (one kernel per notebook, in the student's kernel)
    instead of the engine (parallel and sandboxed; nbgrader still records the grades).
    """
    start = time.time()
    if plain:
        os.environ.setdefault(SEED_VARIABLE, str(random.randrange(2**31)))
        print(f"Hidden-test seed for this run: {os.environ[SEED_VARIABLE]} (set {SEED_VARIABLE} to repeat it)")
    print("1. regenerating release/ from source/ with nbgrader generate_assignment")
    generate_release()
    root = course.create_course(root, assignments)
    print(f"2. sample class in {root}: students {', '.join(sample_class.STUDENTS)}")
    course.run_nbgrader(["generate_assignment", "*", "--force"], cwd=root)  # every assignment of the course
    for assignment in assignments:
        sample_class.write_submissions(root, assignment)
    flags = []
    if plain:
        for assignment in assignments:
            print(f"3. nbgrader autograde {assignment}")
            course.run_nbgrader(["autograde", assignment, "--force"], cwd=root)
    else:
        print("3. grading every notebook with the engine (sandboxed, in parallel); nbgrader autograde records it")
        plan = {a: list(sample_class.STUDENTS) for a in assignments}
        results, errors = grade_many(root, plan, progress=False)
        if any(errors.values()):
            raise RuntimeError(f"the engine could not grade: {errors}")
        record_in_gradebook(root, {a: sorted(r) for a, r in results.items()})
        flags = [f"{s} ({a}): {f}" for a, rs in results.items() for s, r in sorted(rs.items()) for f in r.flags]
    for assignment in assignments:
        mark_written_answers(root, assignment)
    print("4. nbgrader generate_feedback")
    course.run_nbgrader(["generate_feedback", "*", "--force"], cwd=root)
    grades = root / "grades.csv"
    course.run_nbgrader(["export", "--to", str(grades)], cwd=root)
    print()
    for assignment in assignments:
        print(format_table(assignment, course.cell_scores(root, assignment)))
        print()
    print(f"Grades (nbgrader export): {grades}")
    with open(grades) as f:
        for row in csv.DictReader(f):
            print(f"  {row['student_id']:>10} {row['assignment']:<14} {float(row['score']):g}/{float(row['max_score']):g}")
    if not plain:
        print("What the feedback tells the 'mistakes' student, for each failed cell:")
        for assignment in assignments:
            for cell in results[assignment]["mistakes"].cells:
                if not cell.passed:
                    print(textwrap.fill(shorten(cell.error, 420), 110, initial_indent=f"  {assignment}/{cell.grade_id}: ",
                                        subsequent_indent="      "))
    if flags:
        print("Flagged for the instructor:", *flags, sep="\n  ")
    print("Feedback HTML:")
    for path in sorted(Path(root, "feedback").rglob("*.html")):
        print(f"  {path}")
    print(f"Done in {time.time() - start:.0f} s.")
    return root
