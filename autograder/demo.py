"""`make demo`: grade the bundled sample class with the real nbgrader, end to end."""
import csv
import os
import random
import time
from pathlib import Path

from autograder import course, notebook_cells, sample_class
from autograder.checks.core import SEED_VARIABLE
from autograder.paths import ASSIGNMENTS, DEMO, source_notebook
from autograder.release import generate_release


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


def format_table(assignment, scores):
    cells = list(next(iter(scores.values())).keys()) if scores else []
    width = max(len(c) for c in cells + ["student"])
    header = f"{'':{width}}" + "".join(f"{s:>10}" for s in sample_order(scores))
    lines = [f"== {assignment} ==", header]
    for cell in cells:
        row = f"{cell:{width}}"
        for student in sample_order(scores):
            score, max_score = scores[student][cell]
            row += f"{'manual' if score is None else f'{score:g}/{max_score:g}':>10}"
        lines.append(row)
    totals = f"{'TOTAL':{width}}"
    for student in sample_order(scores):
        got = sum(s or 0 for s, _ in scores[student].values())
        total = sum(m for _, m in scores[student].values())
        totals += f"{f'{got:g}/{total:g}':>10}"
    lines.append(totals)
    return "\n".join(lines)


def sample_order(scores):
    known = [s for s in sample_class.STUDENTS if s in scores]
    return known + sorted(set(scores) - set(known))


def run_demo(root=DEMO, assignments=ASSIGNMENTS):
    start = time.time()
    os.environ.setdefault(SEED_VARIABLE, str(random.randrange(2**31)))
    print(f"Hidden-test seed for this run: {os.environ[SEED_VARIABLE]} (set {SEED_VARIABLE} to repeat it)")
    print("1. regenerating release/ from source/ with nbgrader generate_assignment")
    generate_release()
    root = course.create_course(root, assignments)
    print(f"2. sample class in {root}: students {', '.join(sample_class.STUDENTS)}")
    for assignment in assignments:
        course.run_nbgrader(["generate_assignment", assignment, "--force"], cwd=root)
        sample_class.write_submissions(root, assignment)
    for assignment in assignments:
        print(f"3. nbgrader autograde {assignment}")
        course.run_nbgrader(["autograde", assignment, "--force"], cwd=root)
        mark_written_answers(root, assignment)
        print(f"4. nbgrader generate_feedback {assignment}")
        course.run_nbgrader(["generate_feedback", assignment, "--force"], cwd=root)
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
    print("Feedback HTML:")
    for path in sorted(Path(root, "feedback").rglob("*.html")):
        print(f"  {path}")
    print(f"Done in {time.time() - start:.0f} s.")
    return root
