"""Grade one submission: student code in the sandbox, every check in this (the grader's) process.

The grader walks the *source* notebook in order. Code answer cells become proxies for the functions they
define (`RemoteFunction`), instructor cells run here as written in the source, and test cells run here,
whole (visible and hidden parts), exactly as the source has them: whatever the student did to the test
cells, the numpy they patched or the exception handler they installed lives in the child, not here.
Instructor cells tagged "display" (plots, demonstrations no test depends on) ran in the child with the
student's notebook and are not run again here.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import hmac
import io
import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from autograder import notebook_cells
from autograder.checks.core import grading
from autograder.engine.remote import RemoteFunction
from autograder.engine.rules import ban_message, bans
from autograder.engine.sandbox import MAX_ERROR_CHARS, Sandbox, capped
from autograder.engine.submission import code_flags, read_submission, test_cell_flags
from autograder.paths import REPO, release_notebook, source_notebook

if TYPE_CHECKING:
    from collections.abc import Container, Iterable
    from pathlib import Path
    from typing import Any

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
    def score(self) -> float:
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
    def score(self) -> float:
        return sum(c.score for c in self.cells)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.cells)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "score": self.score, "max_score": self.max_score}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmissionResult:
        data = {k: v for k, v in data.items() if k not in ("score", "max_score")}
        return cls(**{**data, "cells": [CellResult(**c) for c in data["cells"]]})


def student_seed(secret: str, assignment: str, student: str, code: str = "") -> int:
    """The hidden cases' seed, unguessable without the course secret: it depends on the student, the
    assignment and `code` (submission_digest of the submitted code), so any change of the code draws new
    cases (a table of outputs learned from one submission is worth nothing on the next)."""
    digest = hmac.new(secret.encode(), f"{assignment}/{student}/{code}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def submission_digest(sources: Iterable[str]) -> str:
    """A hash of the submitted code cells (magics dropped), in order."""
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()


def withhold_seed(text: str, seed: int) -> str:
    """`text` without the seed: feedback shows the student no seed (the results file keeps it)."""
    if not text:
        return text
    text = re.sub(rf"\bseed {seed}\b", "seed withheld", text)
    return re.sub(rf"\b{seed}\b", "withheld", text) if seed >= 10**5 else text


def _defined_functions(source):
    try:
        return [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    except SyntaxError:
        return []


def student_code_cells(nb: Any, test_ids: Container[str]) -> list[tuple[int, str]]:
    """[(index, source)] of the submission's code cells that are not test cells, magics dropped."""
    return [(i, notebook_cells.strip_magics(c.source)) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and notebook_cells.grade_id(c) not in test_ids]


def run_in_grader(source: str, namespace: dict[str, Any]) -> tuple[bool, str, str]:
    """Execute trusted (source notebook) code here: (passed, printed output, error text)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(notebook_cells.strip_magics(source), "<test>", "exec"), namespace)
    except Exception as exc:  # a failing check, or the student's error surfacing through a proxy
        message = getattr(exc, "student_message", None)
        error = f"{type(exc).__name__}: {exc}" if message is None else f"Error in your code: {message}"
        return False, out.getvalue()[-MAX_OUTPUT_CHARS:], capped(error, MAX_ERROR_CHARS)
    finally:
        _close_figures()
    return True, out.getvalue()[-MAX_OUTPUT_CHARS:], ""


def _close_figures():
    import matplotlib.pyplot as plt

    plt.close("all")


def grade_submission(assignment: str, folder: Path | str, student: str, secret: str, course_root: Path | str,
                     sandbox_mode: str | None = None, limits: Any = None) -> SubmissionResult:
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
    sources = [src for _, src in cells]
    result.seed = student_seed(secret, assignment, student, submission_digest(sources))
    under_ban = bans(assignment)

    hidden = [course_root] + [REPO / name for name in HIDDEN_IN_REPO]
    sandbox_args = {"hidden": hidden, "mode": sandbox_mode}
    if limits is not None:
        sandbox_args["limits"] = limits
    with Sandbox(**sandbox_args) as sandbox, contextlib.ExitStack() as stack:
        result.isolation = sandbox.mode
        started = time.perf_counter()
        sandbox.run_cells(sources)
        result.sandbox_seconds = time.perf_counter() - started   # real time, cut cells' time included
        # the clean rooms: each function under a ban runs where exactly its banned libraries do not
        # exist (one clean room per distinct set of bans, started when first needed), on the same budget;
        # the cells that ended the sandbox are skipped there (not run, and timed out, a second time)
        clean_rooms = {}
        for modules in sorted({modules for modules, _ in under_ban.values()}):
            clean_rooms[modules] = stack.enter_context(Sandbox(**sandbox_args, banned=modules,
                                                               deadline=sandbox.budget_deadline))
            clean_rooms[modules].run_cells(sources, lazily=True, skip=sandbox.fatal)
        # for checks on the notebook's run time: a notebook whose cells were cut did not run whole, and
        # however long it would have run is unknown, so it is never credited as fast
        seconds = result.sandbox_seconds if not sandbox.fatal else float("inf")
        with grading(result.seed, seconds):   # the checks' seed and run time; nothing outlives the block
            namespace = {"__name__": "__main__"}
            for cell in source.cells:
                if cell.cell_type != "code":
                    continue
                if notebook_cells.is_answer(cell):
                    for name in _defined_functions(notebook_cells.strip_solution_markers(cell.source)):
                        if name in under_ban:
                            clean = clean_rooms[under_ban[name][0]]
                            namespace[name] = RemoteFunction(clean, name, explain=_ban_explainer(name, *under_ban[name],
                                                                                                 clean))
                        else:
                            namespace[name] = RemoteFunction(sandbox, name)
                elif notebook_cells.is_test(cell):
                    passed, output, error = run_in_grader(cell.source, namespace)
                    result.cells.append(CellResult(notebook_cells.grade_id(cell), notebook_cells.points(cell), passed,
                                                   withhold_seed(output, result.seed), withhold_seed(error, result.seed)))
                elif not notebook_cells.is_display(cell):
                    run_in_grader(cell.source, namespace)  # instructor cells: their errors show in the tests
        result.problems += skipped_cell_notes(cells, sandbox.fatal)
        if sandbox.fatal:
            result.problems.append("As some of your code cells were stopped, the notebook did not run whole: "
                                   "its run time counts as over any time limit.")
        if any(box.out_of_time for box in (sandbox, *clean_rooms.values())):
            result.problems.append(f"Grading stopped: {sandbox.budget_message()}.")
        result.flags += guard_flags(sandbox, *clean_rooms.values())
    return result


def _ban_explainer(name, modules, reason, clean):
    """explain(reply) for RemoteFunction: the message of a failed call of `name`, which is under a ban."""
    def explain(reply):
        bindings = {k: v for r in clean.cell_results if r for k, v in r.get("banned", {}).items()}
        return ban_message(name, modules, reason, reply.get("error", ""), reply.get("banned", []), bindings)
    return explain


def guard_flags(*sandboxes: Sandbox | None) -> list[str]:
    """For the instructor: what the sandboxes' guard refused or saw (tampering with the line counter)."""
    notes = []
    for sandbox in filter(None, sandboxes):
        notes += [note for r in sandbox.cell_results if r for note in r.get("refused", ())]
        notes += sandbox.interference
    return [f"The grader's guard: {note}" for note in dict.fromkeys(notes)]


def skipped_cell_notes(cells: list[tuple[int, str]], fatal: dict[int, str]) -> list[str]:
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
