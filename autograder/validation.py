"""What a student's Validate button says: release notebooks filled in, run through nbgrader's own Validator.

`python -m autograder.validation` (or `make bench-validate`) fills every release notebook with the correct
answers, validates it as `nbgrader validate` does (a fresh kernel per notebook) and prints how long it took,
against the goals: under 20 s per assignment, under 60 s for cnn_digits.
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import notebook_cells
from autograder.paths import ASSIGNMENTS, release_notebook, source_notebook

TIME_GOALS = {"cnn_digits": 60.0}  # seconds; every other assignment: DEFAULT_TIME_GOAL
DEFAULT_TIME_GOAL = 20.0

# Runs in a child process: nbgrader's Validator, the class behind `nbgrader validate` and the Validate button
# (a notebook whose kernel never started is validated again: autograder.kernels).
_VALIDATE = """
import json, sys
from nbgrader.validator import Validator
from autograder.kernels import with_kernel_restarts
print(json.dumps([with_kernel_restarts(lambda: Validator().validate(path)) for path in sys.argv[1:]]))
"""


def correct_answers(assignment: str) -> dict:
    """{grade_id: source} of the reference answers, without the solution markers."""
    return notebook_cells.answers(notebook_cells.read(source_notebook(assignment)))


def completed_release(assignment: str, answers: dict, until: tuple = ()) -> nbformat.NotebookNode:
    """The release notebook with `answers` typed into its answer cells.

    until: grade_ids; when given, the notebook ends after the last of these cells (the cells after it cannot
    change whether a cell before it fails, so validating the prefix gives the same verdict on those cells).
    """
    nb = notebook_cells.with_answers(notebook_cells.read(release_notebook(assignment)), answers)
    if until:
        last = max(k for k, cell in enumerate(nb.cells) if notebook_cells.grade_id(cell) in until)
        nb.cells = nb.cells[:last + 1]
    return nb


def validate(notebooks: list, folder: Path, workers: int = 2) -> list:
    """Validate each notebook as `nbgrader validate` does; one list of failures per notebook.

    Each entry is a list of (grade_id or None, error text) for the cells that failed, [] when it validates.
    The notebooks are shared among `workers` validator processes that run side by side (one kernel each).
    """
    paths = []
    for k, nb in enumerate(notebooks):
        path = Path(folder) / f"variant_{k}.ipynb"
        nbformat.write(nb, str(path))
        paths.append(str(path))
    shares = [paths[k::workers] for k in range(workers) if paths[k::workers]]
    running = [subprocess.Popen([sys.executable, "-c", _VALIDATE, *share], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for share in shares]
    by_path = {}
    for share, process in zip(shares, running):
        out, err = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise RuntimeError(f"the validator failed:\n{err[-3000:]}")
        by_path.update(zip(share, json.loads(out.strip().splitlines()[-1])))
    failures = []
    for nb, path in zip(notebooks, paths):
        result = by_path[path]
        ids = {cell.source.strip(): notebook_cells.grade_id(cell) for cell in nb.cells}
        if set(result) - {"failed"}:
            raise RuntimeError(f"unexpected validation result: {sorted(result)}")
        failures.append([(ids.get(f["source"]), f["raw_error"]) for f in result.get("failed", [])])
    return failures


def time_validation(assignment: str) -> tuple:
    """(seconds, failures) of one `nbgrader validate` of the release notebook filled with the correct answers."""
    with tempfile.TemporaryDirectory() as folder:
        nb = completed_release(assignment, correct_answers(assignment))
        path = Path(folder) / f"{assignment}.ipynb"
        nbformat.write(nb, str(path))
        start = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "validate", str(path)],
                              capture_output=True, text=True, cwd=folder)
        seconds = time.perf_counter() - start
    return seconds, "Success!" in done.stdout


def main() -> None:
    print("nbgrader validate of each release notebook filled with correct answers (one fresh kernel each):")
    for assignment in ASSIGNMENTS:
        seconds, passed = time_validation(assignment)
        goal = TIME_GOALS.get(assignment, DEFAULT_TIME_GOAL)
        verdict = "ok" if seconds < goal and passed else "TOO SLOW" if passed else "FAILED VALIDATION"
        print(f"  {assignment:14s} {seconds:6.1f} s (goal < {goal:.0f} s): {verdict}")


if __name__ == "__main__":
    main()
