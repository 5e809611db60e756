"""Benchmark: grading throughput, plain `nbgrader autograde` (serial, one kernel per notebook) against the
convbook engine (`python -m autograder grade`, parallel, sandboxed), on the same generated class, in one run.

Run from the repository root:  python -m bench.grading   (or `make bench-grading`)

The class: for each assignment, at least 40 submissions cycling through the sample students (correct,
blank, mistakes, crashing) and every catalogued mistake on its own. Both graders start from a fresh
course directory with the same submissions; wall-clock time includes everything each one does.
Target: the engine at least 1.8x the throughput of plain nbgrader on 2 cores.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import nbformat

from autograder import course, mistakes, sample_class
from autograder.engine.batch import grade_class
from autograder.paths import ASSIGNMENTS, REPO

TARGET_RATIO = 1.8


def class_answers(assignment, size):
    """`size` (name, answers) pairs: the sample students, then each catalogued mistake, cycled."""
    kinds = [(s, sample_class.student_answers(assignment, s)) for s in sample_class.STUDENTS]
    correct = sample_class.correct_answers(assignment)
    kinds += [(m.name, m.apply(correct)) for m in mistakes.mistakes_for(assignment)]
    return [(f"s{i:03d}-{kinds[i % len(kinds)][0]}", kinds[i % len(kinds)][1]) for i in range(size)]


def build_class(root, assignments, size):
    root = course.create_course(root, assignments)
    for assignment in assignments:
        course.run_nbgrader(["generate_assignment", assignment, "--force"], cwd=root)
        for student, answers in class_answers(assignment, size):
            folder = Path(root, "submitted", student, assignment)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(sample_class.submission(assignment, answers), str(folder / f"{assignment}.ipynb"))
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", choices=ASSIGNMENTS, help="only these (default: all)")
    parser.add_argument("--size", type=int, default=40, help="submissions per assignment (default 40)")
    parser.add_argument("--workers", type=int, default=None, help="engine workers (default: cores)")
    args = parser.parse_args(argv)
    assignments = args.assignment or ASSIGNMENTS
    work = REPO / "build" / "bench-grading"
    print(f"{os.cpu_count()} CPUs; {args.size} submissions for each of {', '.join(assignments)}")

    rows = []
    for assignment in assignments:
        plain_root = build_class(work / "plain", [assignment], args.size)
        engine_root = build_class(work / "engine", [assignment], args.size)
        start = time.perf_counter()
        course.run_nbgrader(["autograde", assignment, "--force"], cwd=plain_root)
        plain = time.perf_counter() - start
        start = time.perf_counter()
        results, errors = grade_class(engine_root, assignment, workers=args.workers, progress=False)
        engine = time.perf_counter() - start
        assert len(results) == args.size and not errors, errors
        rows.append((assignment, plain, engine))
        print(f"  {assignment:<14} plain nbgrader {60 * args.size / plain:6.1f}/min   "
              f"engine {60 * args.size / engine:6.1f}/min   ratio {plain / engine:.2f}x")

    total_plain = sum(r[1] for r in rows)
    total_engine = sum(r[2] for r in rows)
    n = args.size * len(rows)
    ratio = total_plain / total_engine
    print(f"\nAll: plain nbgrader {60 * n / total_plain:.1f} submissions/min, engine {60 * n / total_engine:.1f} "
          f"submissions/min: {ratio:.2f}x (target >= {TARGET_RATIO}x): {'MET' if ratio >= TARGET_RATIO else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
