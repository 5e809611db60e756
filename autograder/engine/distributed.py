"""Grading on a Dask cluster: `python -m autograder grade ASSIGNMENT --scheduler tcp://HOST:8786`.

The driver (the machine with the course directory) sends each submission to the cluster as bytes, with
its assignment id, student name and the course secret the hidden cases' seed is derived from; workers
share no file system with the course. A worker writes the files to a private temporary folder and grades
them with `grade.grade_submission`, the same engine as the local pool (sandbox, limits, proxies, FORBIDDEN
rules); the result comes back as plain data and the driver saves it per student (so a batch resumes) and
`batch.record_in_gradebook` records it with nbgrader, as for the local pool.

Faults:
- A worker that dies mid-batch loses nothing: the scheduler gives its submissions to other workers.
- A submission whose grading kills a worker twice (MAX_WORKER_DEATHS, set as the scheduler's
  allowed-failures for the batch) is not retried again: every cell gets 0 and its feedback says why.
- A worker whose environment (the convbook code and notebooks, Python, the pinned packages) differs from
  the driver's would give other scores: it is refused, closed with a message saying what differs.

Workers must be started with the same convbook checkout and pins, one thread each (`dask worker ADDRESS
--nthreads 1 --preload autograder.engine.distributed`): each submission already runs in its own sandbox
process, and the checks' state is per process; the preload imports the grader before the first task.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import notebook_cells
from autograder.engine.grade import CellResult, SubmissionResult, grade_submission
from autograder.engine.submission import MAX_NOTEBOOK_BYTES
from autograder.paths import REPO, source_notebook

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

MAX_WORKER_DEATHS = 2              # a submission whose grading killed this many workers gets 0 and a note
FINGERPRINTED = ("autograder", "convbook", "source", "release", "requirements.txt")
CONNECT_SECONDS = 30
_one_at_a_time = threading.Lock()  # a worker with several threads still grades one submission at a time


class EnvironmentMismatch(Exception):
    """Raised on a worker whose environment is not the driver's; args: (worker address, what differs)."""


@functools.cache
def environment() -> dict[str, Any]:
    """What a score depends on besides the submission: a hash of each fingerprinted part of the checkout,
    Python's version, and the installed version of every package pinned in requirements.txt."""
    parts = {}
    for name in FINGERPRINTED:
        path = REPO / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if path.is_dir() else [path]
        digest = hashlib.sha256()
        for file in files:
            if file.suffix in (".pyc",):
                continue
            digest.update(str(file.relative_to(REPO)).encode())
            digest.update(file.read_bytes())
        parts[name] = digest.hexdigest()[:16]
    packages = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==", line)
        if match:
            try:
                packages[match[1]] = importlib.metadata.version(match[1])
            except importlib.metadata.PackageNotFoundError:
                packages[match[1]] = "missing"
    return {"code": parts, "python": platform.python_version(), "packages": packages}


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Sentences on how environment `theirs` (a worker's) differs from `mine` (the driver's)."""
    notes = [f"{name} differs (another commit or local changes)"
             for name in mine["code"] if mine["code"][name] != theirs["code"].get(name)]
    if mine["python"] != theirs["python"]:
        notes.append(f"Python {theirs['python']} instead of {mine['python']}")
    for package in sorted(set(mine["packages"]) | set(theirs["packages"])):
        here, there = mine["packages"].get(package, "missing"), theirs["packages"].get(package, "missing")
        if here != there:
            notes.append(f"{package} {there} instead of {here}")
    return notes


# --- on the worker ------------------------------------------------------------------------------------

def grade_on_worker(assignment: str, student: str, files: dict[str, bytes | int], expected: dict[str, Any],
                    secret: str) -> dict[str, Any]:
    """Task: grade one submission sent as `files` ({relative path: bytes, or the size of a file too large
    to send}); returns SubmissionResult.to_json(). Refuses to grade in another environment than `expected`."""
    from distributed import get_worker
    from threadpoolctl import threadpool_limits

    different = differences(expected, environment())
    if different:
        raise EnvironmentMismatch(get_worker().address, different)
    with _one_at_a_time, threadpool_limits(limits=1, user_api="blas"), \
            tempfile.TemporaryDirectory(prefix="convbook-grade-") as course:
        folder = Path(course, "submitted", student, assignment)
        for name, content in files.items():
            path = (folder / name).resolve()
            if not path.is_relative_to(folder.resolve()):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as out:
                if isinstance(content, int):
                    out.truncate(content)   # too large to grade: only its size matters, keep it sparse
                else:
                    out.write(content)
        return grade_submission(assignment, folder, student, secret, Path(course)).to_json()


def _worker_environment():
    return environment()


# --- on the driver ------------------------------------------------------------------------------------

def submission_files(folder: Path | str) -> dict[str, bytes | int]:
    """{path relative to the submission folder: bytes} (files over the notebook size limit: their size)."""
    folder = Path(folder)
    files = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            files[str(path.relative_to(folder))] = size if size > MAX_NOTEBOOK_BYTES else path.read_bytes()
    return files


def killed_result(assignment: str, student: str, deaths: int) -> SubmissionResult:
    """The result of a submission whose grading killed `deaths` workers: 0 for every cell, and why."""
    note = (f"Grading your notebook stopped the grading machine {deaths} times (it ran out of memory or "
            "crashed the grader), so it was not tried again: every test cell got 0 points.")
    cells = [CellResult(notebook_cells.grade_id(c), notebook_cells.points(c), False,
                        error="NotGraded: the grading machine stopped while grading this notebook")
             for c in notebook_cells.read(source_notebook(assignment)).cells if notebook_cells.is_test(c)]
    return SubmissionResult(student, assignment, cells=cells, problems=[note])


def _set_allowed_failures(value, dask_scheduler=None):
    previous = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = value
    return previous


def refuse_mismatched(client: Any, expected: dict[str, Any], say: Callable[[str], Any]) -> dict[str, list[str]]:
    """Close every worker whose environment differs from `expected`; returns {address: differences}."""
    refused = {}
    for address, theirs in client.run(_worker_environment, on_error="return").items():
        notes = [f"{type(theirs).__name__}: {theirs}"] if isinstance(theirs, Exception) else \
            differences(expected, theirs)
        if notes:
            refused[address] = notes
    if refused:
        for address, notes in refused.items():
            say(f"Refused worker {address}: its environment differs from this machine's ({'; '.join(notes)}). "
                "The same submission must get the same score everywhere: install this convbook commit and "
                "requirements.txt on it. It was closed.")
        client.retire_workers(list(refused), close_workers=True, remove=True)
    return refused


def grade_on_cluster(scheduler: str, todo: list[tuple[Any, str]], secret: str,
                     say: Callable[[str], Any] | None = None) -> Iterator[tuple[str, str, SubmissionResult | str]]:
    """Grade `todo` ([(batch.Batch, student)]) on the Dask cluster at `scheduler`. Yields (assignment,
    student, SubmissionResult or engine error text) as results arrive; every result is saved first."""
    from distributed import Client, KilledWorker, as_completed
    from tqdm import tqdm

    from autograder.engine.batch import save_result

    if not todo:  # every result was saved by an earlier run
        return
    say = say or tqdm.write
    expected = environment()
    with Client(scheduler, timeout=CONNECT_SECONDS) as client:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        refuse_mismatched(client, expected, say)
        previous = client.run_on_scheduler(_set_allowed_failures, MAX_WORKER_DEATHS - 1)
        try:
            owner, refusals = {}, {}

            def submit(pairs):
                """One message to the scheduler for all of `pairs` ([(batch, student)])."""
                futures = client.map(grade_on_worker, [b.assignment for b, _ in pairs], [s for _, s in pairs],
                                     [submission_files(b.submission_folder(s)) for b, s in pairs],
                                     key=[f"grade-{b.assignment}-{s}-{time.monotonic_ns()}" for b, s in pairs],
                                     expected=expected, secret=secret, pure=False, retries=0)
                owner.update(zip(futures, pairs))
                return futures

            completed = as_completed(submit(todo))
            for future in completed:
                batch, student = owner.pop(future)
                try:
                    outcome = SubmissionResult.from_json(future.result())
                except KilledWorker:
                    outcome = killed_result(batch.assignment, student, MAX_WORKER_DEATHS)
                except EnvironmentMismatch as exc:  # a worker that joined after the check: refuse it, regrade
                    refusals[student] = refusals.get(student, 0) + 1
                    if not refuse_mismatched(client, expected, say):
                        say(f"Worker {exc.args[0]} has another environment: {'; '.join(exc.args[1])}")
                    if refusals[student] <= 3:
                        completed.update(submit([(batch, student)]))
                        continue
                    outcome = f"EnvironmentMismatch: {'; '.join(exc.args[1])}"
                except Exception as exc:  # an engine fault: save nothing, so that the next run retries
                    outcome = f"{type(exc).__name__}: {exc}"
                if isinstance(outcome, SubmissionResult):
                    save_result(batch, student, outcome)
                yield batch.assignment, student, outcome
        finally:
            client.run_on_scheduler(_set_allowed_failures, previous)


# --- a cluster on this machine (tests, make bench-grading, trying it out) ------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dask_command() -> list[str]:
    return [str(Path(sys.executable).with_name("dask"))]


def start_scheduler(workdir: Path | str) -> tuple[subprocess.Popen, str]:
    """A `dask scheduler` process on a free port of 127.0.0.1: (Popen, address)."""
    port = free_port()
    log = open(Path(workdir, "scheduler.log"), "wb")
    proc = subprocess.Popen(dask_command() + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                              "--no-dashboard", "--no-show"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    return proc, f"tcp://127.0.0.1:{port}"


def start_worker(address: str, workdir: Path | str, name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A single-threaded `dask worker` process (no nanny: its pid is the worker) connected to `address`,
    the grader imported before it takes tasks (as the local pool's forked workers have it)."""
    log = open(Path(workdir, f"{name}.log"), "wb")
    return subprocess.Popen(dask_command() + ["worker", address, "--nthreads", "1", "--no-nanny",
                                              "--preload", "autograder.engine.distributed",
                                              "--no-dashboard", "--host", "127.0.0.1", "--name", name,
                                              "--local-directory", str(Path(workdir, name))],
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env)


def wait_for_workers(address: str, count: int, timeout: float = 120) -> None:
    from distributed import Client

    with Client(address, timeout=CONNECT_SECONDS) as client:
        client.wait_for_workers(count, timeout=timeout)


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop one process we started, by its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and `workers` single-threaded workers, each its own process: yields (address, [worker
    Popen]); every process is stopped by its pid at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="convbook-dask-"))
    scheduler, address = start_scheduler(workdir)
    procs = []
    try:
        procs = [start_worker(address, workdir, f"worker-{i}") for i in range(workers)]
        wait_for_workers(address, workers)
        yield address, procs
    finally:
        for proc in procs + [scheduler]:
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
