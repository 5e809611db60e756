"""Grading on a real Dask cluster: a `dask scheduler` and `dask worker` processes on 127.0.0.1, each
stopped by its own pid. The cluster gives the scores the local pool gives, loses nothing when a worker is
killed mid-batch, and refuses a worker whose convbook code differs from the driver's.
"""
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import course, mistakes, sample_class
from autograder.engine import distributed
from autograder.engine.batch import ENGINE_DIR, Batch, grade_class, grade_many, students_of
from autograder.engine.sandbox import isolation
from autograder.paths import REPO

pytest.importorskip("distributed")

A = "conv_forward"
SIZE = 6   # the sample students, then two catalogued mistakes: more than one distinct score
pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces", reason="needs root with unshare/setpriv"),
]


def scores_of(results):
    """{student: [(grade_id, score), ...]} of {student: SubmissionResult}."""
    return {s: [(c.grade_id, c.score) for c in r.cells] for s, r in results.items()}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A class of SIZE submissions (the sample students, then catalogued mistakes) graded by the local
    pool: (course root, {student: [(grade_id, score)]}, the gradebook as generate_assignment left it)."""
    root = course.create_course(tmp_path_factory.mktemp("dask-class"), [A])
    course.run_nbgrader(["generate_assignment", A, "--force"], cwd=root)
    gradebook = shutil.copy(root / "gradebook.db", tmp_path_factory.mktemp("dask-gradebook"))
    correct = sample_class.correct_answers(A)
    kinds = [(s, sample_class.student_answers(A, s)) for s in sample_class.STUDENTS]
    kinds += [(m.name, m.apply(correct)) for m in mistakes.mistakes_for(A)]
    for i in range(SIZE):
        name, answers = kinds[i % len(kinds)]
        folder = Path(root, "submitted", f"s{i:02d}-{name}", A)
        folder.mkdir(parents=True)
        nbformat.write(sample_class.submission(A, answers), str(folder / f"{A}.ipynb"))
    results, errors = grade_many(root, {A: students_of(root, A)}, workers=2, progress=False)
    assert not errors[A] and len(results[A]) == SIZE
    return root, scores_of(results[A]), gradebook


def fresh_copy(local, tmp_path):
    """A new course directory with the local class's submissions and course secret, nothing graded; its
    release and gradebook are what `nbgrader generate_assignment` made for the local class (the same
    source notebooks: running it again would make the same)."""
    root = course.create_course(tmp_path / "course", [A])
    shutil.copytree(local[0] / "release", root / "release")
    shutil.copy(local[2], root / "gradebook.db")
    shutil.copytree(local[0] / "submitted", root / "submitted")
    (root / ENGINE_DIR).mkdir(exist_ok=True)   # course init makes it, with a secret of its own
    shutil.copy(local[0] / ENGINE_DIR / "secret", root / ENGINE_DIR / "secret")
    return root


def test_the_cluster_gives_the_local_pools_scores_and_records_them(local, tmp_path):
    root = fresh_copy(local, tmp_path)
    with distributed.local_cluster(workers=2) as (address, _):
        results, errors = grade_class(root, A, scheduler=address, progress=False)
    assert not errors
    assert scores_of(results) == local[1]
    assert len({r.score for r in results.values()}) > 1  # the class is not all one score
    saved = sorted(p.stem for p in (root / ENGINE_DIR / "results" / A).glob("*.json"))
    assert saved == sorted(local[1])
    gradebook = course.cell_scores(root, A)
    for student, cells in local[1].items():
        assert {cell: gradebook[student][cell][0] for cell, _ in cells} == dict(cells), student


def test_a_worker_killed_mid_batch_loses_nothing(local, tmp_path):
    root = fresh_copy(local, tmp_path)
    todo = [(Batch(root, A), s) for s in students_of(root, A)[:4]]   # 2 per worker: mid-batch
    secret = (root / ENGINE_DIR / "secret").read_text().strip()
    from distributed import Client

    seen, held = [], []
    with distributed.local_cluster(workers=2) as (address, workers), Client(address) as client:
        victim = next(addr for addr, pid in client.run(os.getpid).items() if pid == workers[0].pid)
        for _assignment, student, outcome in distributed.grade_on_cluster(address, todo, secret, say=print):
            seen.append((student, outcome))
            if len(seen) == 1:
                held = list(client.processing()[victim])   # what it is grading (or has queued) now
                os.kill(workers[0].pid, signal.SIGKILL)
                workers[0].wait()
        assert workers[1].poll() is None
    assert held, "the killed worker held no submission: nothing was lost and retried"
    assert sorted(s for s, _ in seen) == sorted(s for _, s in todo)  # every submission, once
    assert scores_of(dict(seen)) == {s: local[1][s] for _, s in todo}


def mismatched_checkout(tmp_path):
    """A copy of the grader's code with one changed line, as on a worker left at another commit."""
    copy = tmp_path / "other-commit"
    for name in distributed.FINGERPRINTED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    layers = copy / "convbook" / "layers.py"
    layers.write_text(layers.read_text() + "\n_BLOCK_BYTES = 1 << 20\n")
    return copy


def test_a_worker_with_other_code_is_refused(local, tmp_path, capsys):
    root = fresh_copy(local, tmp_path)
    other = mismatched_checkout(tmp_path)
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    scheduler, address = distributed.start_scheduler(workdir)
    good = distributed.start_worker(address, workdir, "good")
    bad = distributed.start_worker(address, workdir, "bad", env={**os.environ, "PYTHONPATH": str(other)})
    try:
        distributed.wait_for_workers(address, 2)
        students = students_of(root, A)[:2]
        results, errors = grade_class(root, A, students, scheduler=address, progress=False)
        printed = capsys.readouterr().out
        assert bad.wait(timeout=60) is not None  # the refused worker was closed
    finally:
        for proc in (bad, good, scheduler):
            distributed.stop(proc)
    assert "Refused worker tcp://127.0.0.1:" in printed and "convbook differs" in printed, printed
    assert not errors and scores_of(results) == {s: local[1][s] for s in students}
    assert all(json.loads((root / ENGINE_DIR / "results" / A / f"{s}.json").read_text())["cells"] for s in students)


def test_a_submission_that_kills_two_workers_gets_zero_with_a_note(local, tmp_path):
    """Whatever stops the machine grading one submission (here: its worker is killed whenever it grades
    it), the second death ends the retries: every cell 0, a note for the student, the batch finishes."""
    from distributed import Client

    root = fresh_copy(local, tmp_path)
    student = students_of(root, A)[0]
    secret = (root / ENGINE_DIR / "secret").read_text().strip()
    with distributed.local_cluster(workers=2) as (address, workers):
        pids = {}
        with Client(address) as client:
            for addr, pid in client.run(os.getpid).items():
                pids[addr] = pid
        killed = []

        def kill_whoever_grades_it():
            with Client(address) as client:
                while len(killed) < 2:
                    for addr, keys in client.processing().items():
                        if any(student in str(k) for k in keys) and addr not in killed:
                            time.sleep(1)  # in the middle of grading it
                            os.kill(pids[addr], signal.SIGKILL)
                            killed.append(addr)
                    time.sleep(0.1)

        killer = threading.Thread(target=kill_whoever_grades_it, daemon=True)
        killer.start()
        outcomes = list(distributed.grade_on_cluster(address, [(Batch(root, A), student)], secret, say=print))
        killer.join(timeout=30)
    assert len(killed) == 2 and all(w.poll() is not None for w in workers)
    [(assignment, who, result)] = outcomes
    assert who == student and result.score == 0 and result.cells
    assert all(c.error.startswith("NotGraded") for c in result.cells)
    assert "stopped the grading machine 2 times" in " ".join(result.problems)
    saved = json.loads((root / ENGINE_DIR / "results" / A / f"{student}.json").read_text())
    assert saved["score"] == 0 and saved["problems"] == result.problems
