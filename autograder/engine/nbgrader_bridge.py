"""nbgrader's side of the engine: a preprocessor that writes the engine's verdicts into the notebook.

`python -m autograder grade` runs `nbgrader autograde` with this preprocessor in place of `Execute`
(see nbgrader_config.py): no kernel starts, the test cells get the outputs the engine computed, and
nbgrader's own SaveAutoGrades puts the scores in the gradebook, so that formgrader, manual grading,
generate_feedback and export work unchanged.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder import notebook_cells

if TYPE_CHECKING:
    from typing import Any

RESULTS_VARIABLE = "CONVBOOK_ENGINE_RESULTS"


SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}")


def results_path(results_dir: Path | str, assignment: str, student: str) -> Path:
    """Where the engine keeps `student`'s result. Ids that are not short and plain (spaces, unicode,
    separators, very long) are stored under a hash of the id ("%<hex>.json", which no plain id can be)."""
    name = student if SAFE_ID.fullmatch(student) else "%" + hashlib.sha256(
        student.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return Path(results_dir) / assignment / f"{name}.json"


class ApplyEngineResults(NbGraderPreprocessor):
    """Give each test cell the output (and error, if it failed) that the engine recorded for it."""

    def preprocess(self, nb: nbformat.NotebookNode, resources: dict[str, Any]) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        info = resources["nbgrader"]
        path = results_path(os.environ[RESULTS_VARIABLE], info["assignment"], info["student"])
        result = json.loads(path.read_text())
        cells = {c["grade_id"]: c for c in result["cells"]}
        for cell in nb.cells:
            verdict = cells.get(notebook_cells.grade_id(cell))
            if verdict is not None and cell.cell_type == "code":
                cell.outputs = outputs_of(verdict)
        if result["problems"]:
            note = "**Grading notes.** " + " ".join(result["problems"])
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))
        return nb, resources


def outputs_of(verdict: dict[str, Any]) -> list[nbformat.NotebookNode]:
    outputs = []
    if verdict["output"]:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=verdict["output"]))
    if not verdict["passed"]:
        ename, _, evalue = verdict["error"].partition(": ")
        outputs.append(nbformat.v4.new_output("error", ename=ename or "Error", evalue=evalue,
                                              traceback=[verdict["error"]]))
    return outputs
