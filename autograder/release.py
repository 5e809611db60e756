"""`release/` is exactly what `nbgrader generate_assignment` makes from `source/`."""
import tempfile

from autograder.course import run_nbgrader
from autograder.paths import ASSIGNMENTS, REPO


def generate_release(course_root=REPO, assignments=ASSIGNMENTS):
    """Run generate_assignment for `assignments` in `course_root` (a throwaway gradebook).

    All of them at once when they are every assignment there is (one nbgrader start instead of several).
    """
    which = ["*"] if list(assignments) == ASSIGNMENTS else list(assignments)
    with tempfile.TemporaryDirectory() as tmp:
        for assignment in which:
            run_nbgrader(["generate_assignment", assignment, "--force", f"--db=sqlite:///{tmp}/gradebook.db"],
                         cwd=course_root)
