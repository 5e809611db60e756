"""What `python -m autograder grade` prints: progress, the class table, and what needs the instructor."""
from pathlib import Path

from autograder import course
from autograder.engine.batch import grade_class
from autograder.score_table import format_table


def grade_command(root: str | Path, assignment: str, students: list[str] | None = None,
                  workers: int | None = None, scheduler: str | None = None) -> int:
    results, errors = grade_class(root, assignment, students, workers, scheduler=scheduler)
    scores = course.cell_scores(root, assignment)
    if scores:
        print(format_table(assignment, scores))
    isolation = {r.isolation for r in results.values() if r.isolation}
    if isolation:
        print(f"\nStudent code ran isolated by: {', '.join(sorted(isolation))}")
    for student, result in sorted(results.items()):
        for problem in result.problems:
            print(f"  {student}: {problem}")
    flagged = {s: r.flags for s, r in results.items() if r.flags}
    if flagged:
        print("\nFlagged for a look (suspected tampering; the scores above are not affected by it):")
        for student, flags in sorted(flagged.items()):
            for flag in flags:
                print(f"  {student}: {flag}")
    for student, error in sorted(errors.items()):
        print(f"  {student}: NOT GRADED, the engine failed: {error} (run again to retry)")
    print(f"\n{len(results)} graded, {len(errors)} not graded. Feedback: nbgrader generate_feedback {assignment}")
    return 1 if errors else 0
