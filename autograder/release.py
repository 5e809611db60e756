"""`release/` is exactly what `nbgrader generate_assignment` makes from `source/`."""
import tempfile

from autograder.course import run_nbgrader
from autograder.paths import ASSIGNMENTS, REPO


def generate_release(course_root=REPO, assignments=ASSIGNMENTS):
    """Run generate_assignment for each assignment in `course_root` (a throwaway gradebook)."""
    with tempfile.TemporaryDirectory() as tmp:
        for assignment in assignments:
            run_nbgrader(["generate_assignment", assignment, "--force", f"--db=sqlite:///{tmp}/gradebook.db"],
                         cwd=course_root)
