"""Where things live in the repository."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "source"
RELEASE = REPO / "release"
DEMO = REPO / "demo"

# nbgrader assignment ids, in teaching order. Each has one notebook named after it.
COURSE_ORDER = ["conv_forward", "conv_backward", "pooling", "fast_layers", "cnn_digits", "conv_variants", "spatial_norm"]
ASSIGNMENTS = [a for a in COURSE_ORDER if (SOURCE / a / f"{a}.ipynb").exists()]


def source_notebook(assignment):
    return SOURCE / assignment / f"{assignment}.ipynb"


def release_notebook(assignment):
    return RELEASE / assignment / f"{assignment}.ipynb"
