"""Benchmark: grading throughput, plain `nbgrader autograde` (serial, one kernel per notebook) against the
convbook engine (`python -m autograder grade`, parallel, sandboxed), on the same generated class, in one run.

Run from the repository root:  python -m bench.grading   (or `make bench-grading`)

The class: for each assignment, at least 40 submissions cycling through the sample students (correct,
blank, mistakes, crashing) and every catalogued mistake on its own. Both graders start from a fresh
course directory with the same submissions; wall-clock time includes everything each one does.
Target: the engine at least 1.8x the throughput of plain nbgrader on 2 cores.

The Dask path: a `dask scheduler` and 2 single-threaded `dask worker` processes on this machine grade the
same class (`--scheduler`), side by side with the local pool of 2 workers. Target: Dask within 15% of the
local pool's throughput. Grading and recording (one nbgrader call) are timed apart; throughputs count both.

Projection (README, "Grading at scale"): with t = the mean time one worker takes per submission (measured
here per assignment, from the local pool: wall time x workers / submissions) and o = the scheduler's
overhead per task (measured: 500 no-op tasks carrying a submission's bytes, submitted at once), n
submissions on W workers take  T(W) = n * t / W + n * o.  The scheduler handles tasks one at a time, so
n * o does not shrink with W. Printed for 1,000 students x 5 assignments on 1, 8, 32, 128
workers, with the overhead's share n * o / T(W); target: under 5% at 128 workers.
"""
import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import nbformat

from autograder import course, mistakes, sample_class
from autograder.engine import distributed
from autograder.engine.batch import grade_many, record_in_gradebook, students_of
from autograder.paths import ASSIGNMENTS, REPO

TARGET_RATIO = 1.8
TARGET_DASK_LOSS = 0.15          # Dask's throughput at most 15% under the local pool's
TARGET_OVERHEAD_SHARE = 0.05     # at 128 workers
PROJECTED_STUDENTS, PROJECTED_WORKERS = 1000, (1, 8, 32, 128)


def class_answers(assignment, size):
    """`size` (name, answers) pairs: the sample students, then each catalogued mistake, cycled."""
    kinds = [(s, sample_class.student_answers(assignment, s)) for s in sample_class.STUDENTS]
    correct = sample_class.correct_answers(assignment)
    kinds += [(m.name, m.apply(correct)) for m in mistakes.mistakes_for(assignment)]
    return [(f"s{i:03d}-{kinds[i % len(kinds)][0]}", kinds[i % len(kinds)][1]) for i in range(size)]


def build_class(root, assignments, size):
    root = course.create_course(root, assignments)
    for assignment in assignments:
        course.run_nbgrader(["generate_assignment", assignment, "--force"], cwd=root)
        for student, answers in class_answers(assignment, size):
            folder = Path(root, "submitted", student, assignment)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(sample_class.submission(assignment, answers), str(folder / f"{assignment}.ipynb"))
    return root


def engine_run(root, assignment, workers=None, scheduler=None):
    """(grading seconds, recording seconds) of the engine on every submission of `assignment` in `root`."""
    plan = {assignment: students_of(root, assignment)}
    start = time.perf_counter()
    results, errors = grade_many(root, plan, workers, progress=False, scheduler=scheduler)
    graded = time.perf_counter() - start
    assert len(results[assignment]) == len(plan[assignment]) and not errors[assignment], errors
    start = time.perf_counter()
    record_in_gradebook(root, {assignment: sorted(results[assignment])})
    return graded, time.perf_counter() - start


def _noop(payload):
    return len(payload)


def scheduler_overhead(address, payload, tasks=500):
    """Seconds per task of `tasks` no-op tasks, each carrying `payload`, submitted at once (as the
    batch submits its submissions): what the scheduler, the wire and a worker add to every submission when the cluster is busy."""
    from distributed import Client, wait

    with Client(address) as client:
        wait(client.map(_noop, [payload] * 20, pure=False))  # warm-up
        start = time.perf_counter()
        wait(client.map(_noop, [payload] * tasks, pure=False))
        return (time.perf_counter() - start) / tasks


def projection(seconds_per_submission, overhead):
    """{workers: (minutes, overhead share)} for PROJECTED_STUDENTS x the measured assignments (scaled to 5)."""
    per_student = sum(seconds_per_submission.values()) * 5 / len(seconds_per_submission)
    n = PROJECTED_STUDENTS * 5
    rows = {}
    for workers in PROJECTED_WORKERS:
        compute = PROJECTED_STUDENTS * per_student / workers
        rows[workers] = ((compute + n * overhead) / 60, n * overhead / (compute + n * overhead))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", choices=ASSIGNMENTS, help="only these (default: all)")
    parser.add_argument("--size", type=int, default=40, help="submissions per assignment (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="local pool workers and Dask workers (default 2)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask path and the projection")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a stopped run still stops its cluster
    assignments = args.assignment or ASSIGNMENTS
    work = REPO / "build" / "bench-grading"
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.size} submissions for each of "
          f"{', '.join(assignments)}; local pool and Dask: {args.workers} workers")

    with contextlib.ExitStack() as stack:
        address = None
        if not args.no_dask:
            address, _ = stack.enter_context(distributed.local_cluster(args.workers))
            print(f"Dask: scheduler {address}, {args.workers} single-threaded workers (separate processes)")
        rows = []
        for assignment in assignments:
            roots = {kind: build_class(work / kind, [assignment], args.size)
                     for kind in ("plain", "engine") + (() if args.no_dask else ("dask",))}
            start = time.perf_counter()
            course.run_nbgrader(["autograde", assignment, "--force"], cwd=roots["plain"])
            row = {"assignment": assignment, "plain": time.perf_counter() - start}
            row["engine"] = engine_run(roots["engine"], assignment, args.workers)
            if address:
                row["dask"] = engine_run(roots["dask"], assignment, scheduler=address)
            rows.append(row)
            line = (f"  {assignment:<14} plain nbgrader {60 * args.size / row['plain']:6.1f}/min   "
                    f"engine {60 * args.size / sum(row['engine']):6.1f}/min")
            if address:
                line += f"   dask {60 * args.size / sum(row['dask']):6.1f}/min"
            print(line + f"   (grading only: engine {60 * args.size / row['engine'][0]:.1f}/min"
                  + (f", dask {60 * args.size / row['dask'][0]:.1f}/min)" if address else ")"))
        overhead = None
        if address:
            sample = next(Path(work / "dask").rglob("*.ipynb"))
            overhead = scheduler_overhead(address, sample.read_bytes())

    n = args.size * len(rows)
    total = {kind: sum(sum(r[kind]) if isinstance(r[kind], tuple) else r[kind] for r in rows)
             for kind in rows[0] if kind != "assignment"}
    ratio = total["plain"] / total["engine"]
    print(f"\nAll: plain nbgrader {60 * n / total['plain']:.1f} submissions/min, engine {60 * n / total['engine']:.1f} "
          f"submissions/min: {ratio:.2f}x (target >= {TARGET_RATIO}x): {'MET' if ratio >= TARGET_RATIO else 'NOT MET'}")
    if overhead is None:
        return 0
    relative = total["engine"] / total["dask"]
    print(f"Dask, {args.workers} workers: {60 * n / total['dask']:.1f} submissions/min = {relative:.2f}x the local "
          f"pool's throughput (target >= {1 - TARGET_DASK_LOSS:.2f}x): "
          f"{'MET' if relative >= 1 - TARGET_DASK_LOSS else 'NOT MET'}")

    per_submission = {r["assignment"]: r["engine"][0] * args.workers / args.size for r in rows}
    print("\nProjection: T(W) = n * t / W + n * o, n = 1,000 students x 5 assignments")
    print("  t, seconds per submission on one worker: "
          + ", ".join(f"{a} {t:.2f}" for a, t in per_submission.items())
          + (" (assignments not measured count as the mean of those measured)" if len(rows) < 5 else ""))
    print(f"  o, scheduler overhead per task (500 no-op tasks with a submission's bytes): {1e3 * overhead:.1f} ms")
    shares = projection(per_submission, overhead)
    for workers, (minutes, share) in shares.items():
        print(f"  {workers:>4} workers: {minutes:8.1f} min   overhead {100 * share:4.1f}%")
    share = shares[PROJECTED_WORKERS[-1]][1]
    print(f"  overhead at {PROJECTED_WORKERS[-1]} workers {100 * share:.1f}% (target < {100 * TARGET_OVERHEAD_SHARE:.0f}%): "
          f"{'MET' if share < TARGET_OVERHEAD_SHARE else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
