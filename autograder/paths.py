"""Where things live in the repository."""
from pathlib import Path

from autograder.assignments import COURSE

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "source"
RELEASE = REPO / "release"
DEMO = REPO / "demo"

# nbgrader assignment ids, in teaching order (declared in autograder/assignments.py).
ASSIGNMENTS = [a.id for a in COURSE]


def source_notebook(assignment):
    return SOURCE / assignment / f"{assignment}.ipynb"


def release_notebook(assignment):
    return RELEASE / assignment / f"{assignment}.ipynb"
