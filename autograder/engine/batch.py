"""`python -m autograder grade`: grade a class with the engine, in parallel, then record it with nbgrader.

1. Every submission is graded by `grade.grade_submission` in a pool of worker processes. Each result is
   written atomically to <course>/.convbook/results/<assignment>/<student>.json with a fingerprint of the
   submission, so that a batch killed half way resumes where it stopped (finished students are skipped).
2. Each student's notebook is staged (normalized, or the release notebook if it could not be read) in
   <course>/.convbook/staged/, and `nbgrader autograde` records the engine's verdicts in the gradebook.
   No kernel runs there; manual grades already in the gradebook are kept by nbgrader.
"""
from __future__ import annotations

import copy
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbgrader.utils import parse_utc
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from autograder import course, notebook_cells
from autograder.engine.grade import CellResult, SubmissionResult, grade_submission
from autograder.engine.nbgrader_bridge import RESULTS_VARIABLE, results_path
from autograder.engine.sandbox import MAX_ERROR_CHARS
from autograder.engine.submission import MAX_NOTEBOOK_BYTES, read_file, read_submission, submitted_files
from autograder.paths import release_notebook, source_notebook

if TYPE_CHECKING:
    from collections.abc import Iterable

ENGINE_DIR = ".convbook"
STAGED_VARIABLE = "CONVBOOK_ENGINE_STAGED"
MAX_RESULT_BYTES = 2 << 20   # one student's results file


@dataclass
class Batch:
    root: Path
    assignment: str

    @property
    def engine_dir(self) -> Path:
        return self.root / ENGINE_DIR

    @property
    def results_dir(self) -> Path:
        return self.engine_dir / "results"

    @property
    def staged_dir(self) -> Path:
        return self.engine_dir / "staged"

    def submission_folder(self, student: str) -> Path:
        return self.root / "submitted" / student / self.assignment


def course_secret(root: Path | str) -> str:
    """The course's secret (created on first use, readable by the instructor only), or $CONVBOOK_SECRET."""
    if os.environ.get("CONVBOOK_SECRET"):
        return os.environ["CONVBOOK_SECRET"]
    path = Path(root) / ENGINE_DIR / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def students_of(root: Path | str, assignment: str) -> list[str]:
    submitted = Path(root) / "submitted"
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.is_dir() else []


def grader_digest() -> str:
    """A hash of the grader's own code (the autograder package): a change to any check regrades everyone."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(folder: Path | str, assignment: str) -> str:
    """What the result depends on: the submitted files, the source notebook and the grader's code.

    Only regular files are read (as `submission.read_file` reads them); other entries count by name.
    """
    digest = hashlib.sha256(grader_digest().encode())
    digest.update(source_notebook(assignment).read_bytes())
    files, refused = submitted_files(folder)
    for relative in sorted(files):
        digest.update(relative.encode("utf-8", "surrogateescape"))
        try:
            digest.update(read_file(folder, relative, MAX_NOTEBOOK_BYTES))
        except (OSError, ValueError):
            digest.update(repr(files[relative].st_size).encode())
    digest.update("\n".join(refused).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _grade_one(batch, student, secret):
    """Worker: grade one student and save the result atomically. Returns (student, result or error)."""
    folder = batch.submission_folder(student)
    try:
        result = grade_submission(batch.assignment, folder, student, secret, batch.root)
    except Exception as exc:  # an engine fault: report it, save nothing, so the next run retries
        return student, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    save_result(batch, student, result)
    return student, result


def save_result(batch: Batch, student: str, result: SubmissionResult) -> None:
    """Write `result` atomically, with the submission's fingerprint; within MAX_RESULT_BYTES (if the
    outputs would make it larger, they are dropped with a note)."""
    data = {**result.to_json(), "fingerprint": fingerprint(batch.submission_folder(student), batch.assignment)}
    text = json.dumps(data, indent=1)
    if len(text) > MAX_RESULT_BYTES:
        for cell in data["cells"]:
            cell["output"], cell["error"] = "", cell["error"][:200]
        data["problems"] = [p[:500] for p in data["problems"][:20]] + [
            "Your results were too long to keep whole: outputs were dropped."]
        data["flags"] = [f[:500] for f in data["flags"][:50]]
        text = json.dumps(data, indent=1)
    path = results_path(batch.results_dir, batch.assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def not_graded(batch: Batch, student: str, why: str) -> SubmissionResult:
    """The result of a student whose grading could not finish (0 for every test cell, with why)."""
    source = notebook_cells.read(source_notebook(batch.assignment))
    result = SubmissionResult(student, batch.assignment, problems=[why])
    result.cells = [CellResult(notebook_cells.grade_id(c), notebook_cells.points(c), False, error=f"NotGraded: {why}")
                    for c in source.cells if notebook_cells.is_test(c)]
    return result


def load_result(batch: Batch, student: str) -> SubmissionResult | None:
    """The saved result of `student` if it is still valid for the submission, else None."""
    path = results_path(batch.results_dir, batch.assignment, student)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.pop("fingerprint", None) != fingerprint(batch.submission_folder(student), batch.assignment):
        return None
    return SubmissionResult.from_json(data)


def stage(batch: Batch, student: str) -> None:
    """The notebook nbgrader will record: the student's own, normalized, or the release if unreadable;
    its nbgrader metadata is the release's (see `with_release_metadata`)."""
    folder = batch.staged_dir / student / batch.assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    submitted = batch.submission_folder(student)
    submission = read_submission(submitted, batch.assignment)
    release = nbformat.read(str(release_notebook(batch.assignment)), 4)
    nb = with_release_metadata(submission.nb, release) if submission.nb is not None else release
    nbformat.write(nb, str(folder / f"{batch.assignment}.ipynb"))
    try:   # only a timestamp nbgrader can read (a malformed one would stop its recording)
        timestamp = read_file(submitted, "timestamp.txt", 1024).decode()
        parse_utc(timestamp)
        (folder / "timestamp.txt").write_text(timestamp)
    except (OSError, ValueError, OverflowError):
        pass
    try:   # the submission's secret names its feedback in the exchange (release_feedback needs it)
        secret = read_file(submitted, "submission_secret.txt", 1024).decode()
        if re.fullmatch(r"[!-~]{1,200}\s*", secret):
            (folder / "submission_secret.txt").write_text(secret)
    except (OSError, ValueError):
        pass


def with_release_metadata(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` with the nbgrader metadata of the release on its cells, so that nbgrader can always record it.

    A cell keeps nbgrader metadata only if its grade_id is one of the release's (first occurrence, same
    cell type), and then gets the release's own (points included); every release cell the notebook lost
    is put back after the one before it. Forged, duplicated or malformed grade cells so count for nothing
    (the engine grades from the source notebook and flags them for the instructor).
    """
    graded = {notebook_cells.grade_id(c): c for c in release.cells if "nbgrader" in c.metadata}
    kept = set()
    for cell in nb.cells:
        gid = notebook_cells.grade_id(cell)
        cell.metadata.pop("nbgrader", None)
        if gid in graded and gid not in kept and cell.cell_type == graded[gid].cell_type:
            cell.metadata["nbgrader"] = copy.deepcopy(graded[gid].metadata["nbgrader"])
            kept.add(gid)
    position = -1
    ids = {cell.id for cell in nb.cells}
    for gid, cell in graded.items():
        if gid in kept:
            position = next(i for i, c in enumerate(nb.cells) if notebook_cells.grade_id(c) == gid)
            continue
        restored = copy.deepcopy(cell)
        if restored.get("id") in ids:
            restored["id"] = uuid.uuid4().hex[:12]
        position += 1
        nb.cells.insert(position, restored)
    return nb


def grade_class(root: Path | str, assignment: str, students: Iterable[str] | None = None, workers: int | None = None,
                progress: bool = True, scheduler: str | None = None) -> tuple[dict[str, SubmissionResult], dict[str, str]]:
    """Grade `students` (default: all who submitted) of `assignment` in course `root`, and record it.
    With `scheduler` (a Dask scheduler's address) the cluster grades instead of a local pool.

    Returns ({student: SubmissionResult}, {student: engine error}).
    """
    root = Path(root).resolve()
    plan = {assignment: list(students or students_of(root, assignment))}
    results, errors = grade_many(root, plan, workers, progress, scheduler)
    unrecorded = record_in_gradebook(root, {assignment: sorted(results[assignment])})
    for student, why in unrecorded.get(assignment, {}).items():
        results[assignment][student].flags.append(f"graded, but nbgrader could not record it in the gradebook "
                                                  f"({why})")
    return results[assignment], errors[assignment]


def grade_many(root: Path | str, plan: dict[str, list[str]], workers: int | None = None, progress: bool = True,
               scheduler: str | None = None) -> tuple[dict[str, dict[str, SubmissionResult]], dict[str, dict[str, str]]]:
    """Grade every (assignment, student) of `plan` ({assignment: [students]}) in one pool of workers,
    or on the Dask cluster whose scheduler is at `scheduler` (autograder.engine.distributed).

    Students whose saved result still fits their submission are not graded again.
    Returns ({assignment: {student: SubmissionResult}}, {assignment: {student: engine error}}).
    """
    root = Path(root).resolve()
    secret = course_secret(root)
    results = {a: {} for a in plan}
    errors = {a: {} for a in plan}
    todo = []
    for assignment, students in plan.items():
        batch = Batch(root, assignment)
        for student in students:
            saved = load_result(batch, student)
            if saved is not None:
                results[assignment][student] = saved
            else:
                todo.append((batch, student))
    total = sum(len(s) for s in plan.values())
    bar = tqdm(total=total, initial=total - len(todo), desc=f"grading {', '.join(plan)}", unit="notebook",
               disable=not progress)
    if scheduler is not None:
        from autograder.engine.distributed import grade_on_cluster

        for assignment, student, outcome in grade_on_cluster(scheduler, todo, secret):
            (results if isinstance(outcome, SubmissionResult) else errors)[assignment][student] = outcome
            bar.update()
        bar.close()
        return results, errors
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    suspects = _run_pool(todo, secret, workers, results, errors, bar)
    for batch, student in suspects:  # a worker died under them: each alone now, to find who did it
        if _run_pool([(batch, student)], secret, 1, results, errors, bar):
            result = not_graded(batch, student, WORKER_DIED)
            save_result(batch, student, result)
            results[batch.assignment][student] = result
            bar.update()
    bar.close()
    return results, errors


WORKER_DIED = ("Grading your notebook ended the grader's own process (out of memory, or killed); it is "
               "scored 0. Ask your instructor to look at it.")


def _run_pool(todo, secret, workers, results, errors, bar):
    """Grade `todo` ([(batch, student)]) in a pool of `workers` processes, into `results` and `errors`.

    A worker that dies breaks the pool: the students it left unfinished are returned (to grade again).
    """
    broken = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_one_blas_thread) as pool:
        futures = {pool.submit(_grade_one, batch, student, secret): (batch, student) for batch, student in todo}
        for future in as_completed(futures):
            batch, student = futures[future]
            try:
                _, outcome = future.result()
            except BrokenProcessPool:
                broken.append((batch, student))
                continue
            target = results if isinstance(outcome, SubmissionResult) else errors
            target[batch.assignment][student] = outcome
            bar.update()
    return broken


def _one_blas_thread():
    """In each worker: the checks' small matrix products on one BLAS thread, as many workers as cores."""
    threadpool_limits(limits=1, user_api="blas")


def record_in_gradebook(root: Path | str, plan: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Stage the notebooks of `plan` ({assignment: [students]}) and let one `nbgrader autograde` write the
    engine's verdicts to the gradebook. If nbgrader fails on that, each student is recorded on their own.

    Returns {assignment: {student: why nbgrader could not record them}} (empty when all went in).
    """
    plan = {a: s for a, s in plan.items() if s}
    if not plan:
        return {}
    root = Path(root).resolve()
    staged = root / ENGINE_DIR / "staged"
    if staged.exists():
        shutil.rmtree(staged)  # nbgrader autograde then sees exactly these submissions
    for assignment, students in plan.items():
        for student in students:
            stage(Batch(root, assignment), student)
    env = {RESULTS_VARIABLE: str(root / ENGINE_DIR / "results"), STAGED_VARIABLE: str(staged.relative_to(root))}
    which = next(iter(plan)) if len(plan) == 1 else "*"
    try:
        course.run_nbgrader(["autograde", which, "--force", "--create"], cwd=root, extra_env=env)
        return {}
    except RuntimeError:
        pass
    failed = {}
    for assignment, students in plan.items():
        for student in students:
            try:
                course.run_nbgrader(["autograde", assignment, f"--student={glob.escape(student)}", "--force",
                                     "--create"], cwd=root, extra_env=env)
            except RuntimeError as exc:
                failed.setdefault(assignment, {})[student] = str(exc).strip().splitlines()[-1][:300]
    return failed
