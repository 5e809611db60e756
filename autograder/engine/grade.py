"""Grade one submission: student code in the sandbox, every check in this (the grader's) process.

The grader walks the *source* notebook in order. Code answer cells become proxies for the functions they
define (`RemoteFunction`), instructor cells run here as written in the source, and test cells run here,
whole (visible and hidden parts), exactly as the source has them: whatever the student did to the test
cells, the numpy they patched or the exception handler they installed lives in the child, not here.
Instructor cells tagged "display" (plots, demonstrations no test depends on) ran in the child with the
student's notebook and are not run again here.
"""
import ast
import contextlib
import hashlib
import hmac
import io
import time
from dataclasses import asdict, dataclass, field

from autograder import notebook_cells
from autograder.checks.core import grading
from autograder.engine.remote import RemoteFunction
from autograder.engine.rules import refusals
from autograder.engine.sandbox import Sandbox
from autograder.engine.submission import code_flags, read_submission, test_cell_flags
from autograder.paths import REPO, release_notebook, source_notebook

MAX_OUTPUT_CHARS = 10_000

# What the child must never see, besides the course directory itself.
HIDDEN_IN_REPO = ("source", "autograder", "tests", "bench", ".git")


@dataclass
class CellResult:
    grade_id: str
    points: float
    passed: bool
    output: str = ""
    error: str = ""        # "ExceptionName: message" when the cell failed

    @property
    def score(self):
        return self.points if self.passed else 0.0


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    cells: list = field(default_factory=list)
    problems: list = field(default_factory=list)   # for the student: why the notebook could not be read fully
    flags: list = field(default_factory=list)      # for the instructor: suspected tampering
    seed: int = 0
    isolation: str = ""
    sandbox_seconds: float = 0.0                   # how long the student's cells ran in the sandbox

    @property
    def score(self):
        return sum(c.score for c in self.cells)

    @property
    def max_score(self):
        return sum(c.points for c in self.cells)

    def to_json(self):
        return {**asdict(self), "score": self.score, "max_score": self.max_score}

    @classmethod
    def from_json(cls, data):
        data = {k: v for k, v in data.items() if k not in ("score", "max_score")}
        return cls(**{**data, "cells": [CellResult(**c) for c in data["cells"]]})


def student_seed(secret, assignment, student):
    """The hidden cases' seed: the same for one student and assignment, unguessable without the secret."""
    digest = hmac.new(secret.encode(), f"{assignment}/{student}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _defined_functions(source):
    try:
        return [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    except SyntaxError:
        return []


def student_code_cells(nb, test_ids):
    """[(index, source)] of the submission's code cells that are not test cells, magics dropped."""
    return [(i, notebook_cells.strip_magics(c.source)) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and notebook_cells.grade_id(c) not in test_ids]


def run_in_grader(source, namespace):
    """Execute trusted (source notebook) code here: (passed, printed output, error text)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(notebook_cells.strip_magics(source), "<test>", "exec"), namespace)
    except Exception as exc:  # a failing check, or the student's error surfacing through a proxy
        message = getattr(exc, "student_message", None)
        error = f"{type(exc).__name__}: {exc}" if message is None else f"Error in your code: {message}"
        return False, out.getvalue()[-MAX_OUTPUT_CHARS:], error
    finally:
        _close_figures()
    return True, out.getvalue()[-MAX_OUTPUT_CHARS:], ""


def _close_figures():
    import matplotlib.pyplot as plt

    plt.close("all")


def grade_submission(assignment, folder, student, secret, course_root, sandbox_mode=None, limits=None):
    """SubmissionResult of the notebook in `folder` (submitted/<student>/<assignment>/)."""
    source = notebook_cells.read(source_notebook(assignment))
    test_cells = [c for c in source.cells if notebook_cells.is_test(c)]
    result = SubmissionResult(student, assignment, seed=student_seed(secret, assignment, student))
    submission = read_submission(folder, assignment)
    result.problems, result.flags = submission.problems, submission.flags
    if submission.nb is None:
        for cell in test_cells:
            result.cells.append(CellResult(notebook_cells.grade_id(cell), notebook_cells.points(cell), False,
                                           error="NotGraded: " + " ".join(submission.problems)))
        return result

    test_ids = {notebook_cells.grade_id(c) for c in test_cells}
    cells = student_code_cells(submission.nb, test_ids)
    result.flags += test_cell_flags(submission.nb, notebook_cells.read(release_notebook(assignment)))
    result.flags += code_flags(cells)
    refused = refusals(assignment, [src for _, src in cells])

    hidden = [course_root] + [REPO / name for name in HIDDEN_IN_REPO]
    sandbox_args = {"hidden": hidden, "mode": sandbox_mode}
    if limits is not None:
        sandbox_args["limits"] = limits
    with Sandbox(**sandbox_args) as sandbox:
        result.isolation = sandbox.mode
        started = time.perf_counter()
        sandbox.run_cells([src for _, src in cells])
        result.sandbox_seconds = time.perf_counter() - started
        # the checks' seed, and the sandbox's time for checks on the notebook's run time; nothing outlives it
        with grading(result.seed, result.sandbox_seconds):
            namespace = {"__name__": "__main__"}
            for cell in source.cells:
                if cell.cell_type != "code":
                    continue
                if notebook_cells.is_answer(cell):
                    for name in _defined_functions(notebook_cells.strip_solution_markers(cell.source)):
                        namespace[name] = RemoteFunction(sandbox, name, refused.get(name))
                elif notebook_cells.is_test(cell):
                    passed, output, error = run_in_grader(cell.source, namespace)
                    result.cells.append(CellResult(notebook_cells.grade_id(cell), notebook_cells.points(cell),
                                                   passed, output, error))
                elif not notebook_cells.is_display(cell):
                    run_in_grader(cell.source, namespace)  # instructor cells: their errors show in the tests
        result.problems += skipped_cell_notes(cells, sandbox.fatal)
    return result


def skipped_cell_notes(cells, fatal):
    """A sentence for each code cell of the student's that ended or hung the sandbox, and was skipped.

    cells: [(notebook index, source)] as run in the sandbox; fatal: {position in cells: reason}.
    """
    notes = []
    for position, reason in sorted(fatal.items()):
        index, source = cells[position]
        first_line = next((line.strip() for line in source.splitlines() if line.strip()), "")
        notes.append(f"Your code cell {index + 1} (\"{first_line[:60]}\") could not finish and was "
                     f"skipped: {reason}.")
    return notes
