"""Where things live in the repository."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "source"
RELEASE = REPO / "release"
DEMO = REPO / "demo"

# nbgrader assignment ids, in teaching order. Each has one notebook named after it.
ASSIGNMENTS = ["conv_forward"]


def source_notebook(assignment):
    return SOURCE / assignment / f"{assignment}.ipynb"


def release_notebook(assignment):
    return RELEASE / assignment / f"{assignment}.ipynb"
