"""`python -m autograder grade`: grade a class with the engine, in parallel, then record it with nbgrader.

1. Every submission is graded by `grade.grade_submission` in a pool of worker processes. Each result is
   written atomically to <course>/.convbook/results/<assignment>/<student>.json with a fingerprint of the
   submission, so that a batch killed half way resumes where it stopped (finished students are skipped).
2. Each student's notebook is staged (normalized, or the release notebook if it could not be read) in
   <course>/.convbook/staged/, and `nbgrader autograde` records the engine's verdicts in the gradebook.
   No kernel runs there; manual grades already in the gradebook are kept by nbgrader.
"""
import hashlib
import json
import os
import secrets
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from autograder import course
from autograder.engine.grade import SubmissionResult, grade_submission
from autograder.engine.nbgrader_bridge import RESULTS_VARIABLE, results_path
from autograder.engine.submission import read_submission
from autograder.paths import release_notebook, source_notebook

ENGINE_DIR = ".convbook"
STAGED_VARIABLE = "CONVBOOK_ENGINE_STAGED"


@dataclass
class Batch:
    root: Path
    assignment: str

    @property
    def engine_dir(self):
        return self.root / ENGINE_DIR

    @property
    def results_dir(self):
        return self.engine_dir / "results"

    @property
    def staged_dir(self):
        return self.engine_dir / "staged"

    def submission_folder(self, student):
        return self.root / "submitted" / student / self.assignment


def course_secret(root):
    """The course's secret (created on first use, readable by the instructor only), or $CONVBOOK_SECRET."""
    if os.environ.get("CONVBOOK_SECRET"):
        return os.environ["CONVBOOK_SECRET"]
    path = Path(root) / ENGINE_DIR / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def students_of(root, assignment):
    submitted = Path(root) / "submitted"
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.is_dir() else []


def grader_digest():
    """A hash of the grader's own code (the autograder package): a change to any check regrades everyone."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(folder, assignment):
    """What the result depends on: the submitted files, the source notebook and the grader's code."""
    digest = hashlib.sha256(grader_digest().encode())
    digest.update(source_notebook(assignment).read_bytes())
    for path in sorted(Path(folder).rglob("*")) if Path(folder).is_dir() else []:
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _grade_one(batch, student, secret):
    """Worker: grade one student and save the result atomically. Returns (student, result or error)."""
    folder = batch.submission_folder(student)
    try:
        result = grade_submission(batch.assignment, folder, student, secret, batch.root)
    except Exception as exc:  # an engine fault: report it, save nothing, so the next run retries
        return student, f"{type(exc).__name__}: {exc}"
    save_result(batch, student, result)
    return student, result


def save_result(batch, student, result):
    """Write `result` atomically to the student's results file, with the submission's fingerprint."""
    data = {**result.to_json(), "fingerprint": fingerprint(batch.submission_folder(student), batch.assignment)}
    path = results_path(batch.results_dir, batch.assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def load_result(batch, student):
    """The saved result of `student` if it is still valid for the submission, else None."""
    path = results_path(batch.results_dir, batch.assignment, student)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.pop("fingerprint", None) != fingerprint(batch.submission_folder(student), batch.assignment):
        return None
    return SubmissionResult.from_json(data)


def stage(batch, student):
    """The notebook nbgrader will record: the student's own, normalized, or the release if unreadable."""
    folder = batch.staged_dir / student / batch.assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    submission = read_submission(batch.submission_folder(student), batch.assignment)
    nb = submission.nb if submission.nb is not None else nbformat.read(str(release_notebook(batch.assignment)), 4)
    nbformat.write(nb, str(folder / f"{batch.assignment}.ipynb"))
    timestamp = batch.submission_folder(student) / "timestamp.txt"
    if timestamp.is_file():
        shutil.copy(timestamp, folder / "timestamp.txt")


def grade_class(root, assignment, students=None, workers=None, progress=True, scheduler=None):
    """Grade `students` (default: all who submitted) of `assignment` in course `root`, and record it.
    With `scheduler` (a Dask scheduler's address) the cluster grades instead of a local pool.

    Returns ({student: SubmissionResult}, {student: engine error}).
    """
    root = Path(root).resolve()
    plan = {assignment: list(students or students_of(root, assignment))}
    results, errors = grade_many(root, plan, workers, progress, scheduler)
    record_in_gradebook(root, {assignment: sorted(results[assignment])})
    return results[assignment], errors[assignment]


def grade_many(root, plan, workers=None, progress=True, scheduler=None):
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
    with ProcessPoolExecutor(max_workers=workers, initializer=_one_blas_thread) as pool:
        futures = {pool.submit(_grade_one, batch, student, secret): batch.assignment for batch, student in todo}
        for future in as_completed(futures):
            student, outcome = future.result()
            target = results if isinstance(outcome, SubmissionResult) else errors
            target[futures[future]][student] = outcome
            bar.update()
    bar.close()
    return results, errors


def _one_blas_thread():
    """In each worker: the checks' small matrix products on one BLAS thread, as many workers as cores."""
    threadpool_limits(limits=1, user_api="blas")


def record_in_gradebook(root, plan):
    """Stage the notebooks of `plan` ({assignment: [students]}) and let one `nbgrader autograde` write the
    engine's verdicts to the gradebook."""
    plan = {a: s for a, s in plan.items() if s}
    if not plan:
        return
    root = Path(root).resolve()
    staged = root / ENGINE_DIR / "staged"
    if staged.exists():
        shutil.rmtree(staged)  # nbgrader autograde then sees exactly these submissions
    for assignment, students in plan.items():
        for student in students:
            stage(Batch(root, assignment), student)
    env = {RESULTS_VARIABLE: str(root / ENGINE_DIR / "results"), STAGED_VARIABLE: str(staged.relative_to(root))}
    which = next(iter(plan)) if len(plan) == 1 else "*"
    course.run_nbgrader(["autograde", which, "--force", "--create"], cwd=root, extra_env=env)
