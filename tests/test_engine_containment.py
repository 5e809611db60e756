"""Containment (issue 10, items 4-9): what a student's code can see, leave behind, make the grader do or
take down is bounded. Each attack grades a real submission with the real engine (and, for the class-wide
guards, the real `python -m autograder grade`); honest work keeps full marks under the same limits.
"""
import ast
import copy
import json
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from test_engine_attacks import (
    EXERCISE,
    LIMITS,
    A,
    assert_exercise_zero,
    assert_full_marks,
    correct,
    grade,
    with_extra_cell,
    wrong,
)

from autograder import course, notebook_cells, sample_class
from autograder.engine.batch import ENGINE_DIR, grade_class
from autograder.engine.grade import grade_submission
from autograder.engine.sandbox import MAX_ERROR_CHARS, Limits, Sandbox, isolation, view_paths
from autograder.paths import REPO, source_notebook

pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces",
                       reason="needs root with unshare/setpriv (the engine's full isolation)"),
]

MARK = "convbook-containment-" + secrets.token_hex(4)   # names the files and processes the attacks plant


def answer_source():
    """The correct conv_forward_naive, as a file a student would love to find."""
    return "import numpy as np\n" + correct()["conv_forward_naive"] + "\n"


def steal(*places, walk=True):
    """Student code: exec the first planted answer it finds in `places`, else (walk) anywhere under "/"."""
    return f"""\
import os
def planted():
    yield from {[str(p) for p in places]!r}
    for top, dirs, files in os.walk("/") if {walk!r} else ():
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/usr")
                   and d not in ("site-packages", "python3.11")]
        yield from (os.path.join(top, f) for f in files if {MARK!r} in f)
for path in planted():
    try:
        exec(open(path).read())
        print("stolen from", path)
        break
    except OSError:
        pass
"""


# --- 4. the child sees only the allow-list --------------------------------------------------------

def test_the_child_sees_only_the_interpreter_the_venv_and_convbook(tmp_path):
    with Sandbox(limits=LIMITS) as sandbox:
        cells = sandbox.run_cells([
            "import os\nprint(sorted(os.listdir('/')))",
            f"print(sorted(os.listdir({str(REPO)!r})))",
            "import convbook, numpy, scipy.signal, matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('fig.png')",
            "import autograder",
        ])
    tops = {p.parts[1] for p in view_paths(sys.executable)} | {"tmp", "dev", "proc"}
    assert set(ast.literal_eval(cells[0]["stdout"])) <= tops, cells[0]["stdout"]
    assert set(ast.literal_eval(cells[1]["stdout"])) <= {".venv", "convbook"}, cells[1]["stdout"]
    assert cells[2]["ok"], cells[2]          # honest use: libraries, plots, files in the working directory
    assert "No module named 'autograder'" in cells[3]["error"]


def test_nothing_of_the_host_or_checkout_outside_the_allow_list_can_be_read(tmp_path):
    """The answer is planted where the red team found readable folders: another course inside the checkout,
    any folder of the checkout the engine does not know about, /var/tmp, /run/lock, /dev/shm, the host's
    /tmp and a home directory."""
    planted = [tmp_path / "course" / "submitted" / "someone-else" / A / f"{MARK}.py",
               REPO / f".{MARK}" / "gradescope" / f"{MARK}.py",
               Path("/var/tmp", f"{MARK}.py"), Path("/run/lock", f"{MARK}.py"), Path("/dev/shm", f"{MARK}.py"),
               Path("/tmp", f"{MARK}.py"), Path.home() / f"{MARK}.py"]
    try:
        for path in planted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(answer_source())
            path.chmod(0o644)
        cells, _ = grade(tmp_path, with_extra_cell(sample_class.submission(A, wrong()), steal(*planted)))
        assert_exercise_zero(cells)
        cells, _ = grade(tmp_path, with_extra_cell(sample_class.submission(A, correct()), steal(*planted)), "honest")
        assert_full_marks(cells)
    finally:
        for path in planted:
            path.unlink(missing_ok=True)
        shutil.rmtree(REPO / f".{MARK}", ignore_errors=True)


def leave_answer_behind():
    """Student code: leave the correct answer in every writable shared place, for the next student."""
    return f"""\
import os
for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", os.path.expanduser("~")):
    try:
        with open(os.path.join(folder, {MARK + ".py"!r}), "w") as f:
            f.write({answer_source()!r})
        os.chmod(os.path.join(folder, {MARK + ".py"!r}), 0o666)
    except OSError:
        pass
"""


@pytest.mark.parametrize("mode", ["namespaces", "uid"])
def test_what_one_student_leaves_behind_is_gone_for_the_next(mode, tmp_path):
    places = [Path(folder, f"{MARK}.py") for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")]
    first = with_extra_cell(sample_class.submission(A, correct()), leave_answer_behind())
    folder = tmp_path / "course" / "submitted"
    for student, nb in (("first", first),
                        ("second", with_extra_cell(sample_class.submission(A, wrong()), steal(*places, walk=False)))):
        (folder / student / A).mkdir(parents=True)
        nbformat.write(nb, str(folder / student / A / f"{A}.ipynb"))
        result = grade_submission(A, folder / student / A, student, "secret", tmp_path / "course",
                                  sandbox_mode=mode, limits=LIMITS)
        cells = {c.grade_id: c for c in result.cells}
        if student == "first":
            assert_full_marks(cells)
            assert not [p for p in places if p.exists()], "files of the first student are still on the host"
    assert_exercise_zero(cells)


def test_the_scratch_directory_is_bounded():
    fill = """\
written = 0
try:
    for i in range(1000):
        with open(f"/tmp/fill{i}", "wb") as f:
            f.write(bytes(1 << 20))
        written += 1
except OSError as exc:
    print(written, type(exc).__name__)
"""
    with Sandbox(limits=Limits(request_seconds=20, scratch_bytes=16 << 20)) as sandbox:
        cell, = sandbox.run_cells([fill])
    megabytes, error = cell["stdout"].split()
    assert int(megabytes) <= 16 and error == "OSError", cell


# --- 5. a submission is data --------------------------------------------------------------------

def plant(folder, how, target):
    """Put a non-file at folder/A.ipynb: a link to `target`, a hard link to it, a FIFO or a device."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{A}.ipynb"
    if how == "symlink":
        path.symlink_to(target)
    elif how == "hardlink":
        os.link(target, path)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "device":
        os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))   # /dev/zero
    return path


@pytest.mark.parametrize("how, says", [("symlink", "is a link"), ("hardlink", "hard link"),
                                       ("fifo", "device, pipe or socket"), ("device", "device, pipe or socket")])
def test_a_notebook_that_is_not_a_plain_file_is_refused(how, says, tmp_path):
    course_source = tmp_path / "course" / "source" / A / f"{A}.ipynb"   # the solutions, as in a course
    course_source.parent.mkdir(parents=True)
    shutil.copy(source_notebook(A), course_source)
    folder = tmp_path / "course" / "submitted" / "linker" / A
    plant(folder, how, course_source)
    started = time.monotonic()
    result = grade_submission(A, folder, "linker", "secret", tmp_path / "course", limits=LIMITS)
    assert result.score == 0
    assert any(f"{A}.ipynb was not read" in p and says in p for p in result.problems), result.problems
    assert time.monotonic() - started < 30   # a FIFO is never waited on


def test_a_linked_submission_folder_is_not_followed(tmp_path):
    course_source = tmp_path / "course" / "source" / A
    course_source.mkdir(parents=True)
    shutil.copy(source_notebook(A), course_source / f"{A}.ipynb")
    folder = tmp_path / "course" / "submitted" / "linker" / A
    folder.parent.mkdir(parents=True)
    folder.symlink_to(course_source)
    result = grade_submission(A, folder, "linker", "secret", tmp_path / "course", limits=LIMITS)
    assert result.score == 0 and any("not a folder" in p for p in result.problems), result.problems


# --- 6. the grader's own work per student is bounded -----------------------------------------------

def replace_body(answers, body):
    """`answers` whose conv_forward_naive starts with `body` (indented lines), then does its job."""
    answers = dict(answers)
    answers["conv_forward_naive"] = answers["conv_forward_naive"].replace(
        '    stride, pad = conv_param["stride"], conv_param["pad"]\n',
        "".join("    " + line + "\n" for line in body.splitlines()) +
        '    stride, pad = conv_param["stride"], conv_param["pad"]\n', 1)
    return answers


def test_a_huge_reply_is_refused_and_the_grader_stays_small(tmp_path):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answers = correct()
    answers["conv_forward_naive"] = ("def conv_forward_naive(x, w, b, conv_param):\n"
                                     "    return np.zeros(12 << 20), (x, w, b, conv_param)\n")   # 96 MiB
    cells, _ = grade(tmp_path, sample_class.submission(A, answers))
    assert_exercise_zero(cells)
    assert "protocol" in cells[EXERCISE[0]].error
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before   # KiB
    assert grown < 200 << 10, f"the grader grew by {grown >> 10} MiB"
    others = {gid: c for gid, c in cells.items() if gid not in EXERCISE + ("test_image_filters",)}
    assert_full_marks(others)


@pytest.mark.parametrize("size", [3 << 20, 150 << 20])
def test_a_huge_error_message_is_cut(size, tmp_path):
    answers = replace_body(correct(), f"raise ValueError('x' * {size})")
    cells, result = grade(tmp_path, sample_class.submission(A, answers))
    assert_exercise_zero(cells)
    assert all(len(c.error) < MAX_ERROR_CHARS + 200 for c in cells.values())
    assert len(json.dumps(result.to_json())) < 1 << 20


FORGED = {   # raw messages a student's code writes to the grader on the reply pipe
    "huge-size": "struct.pack('>Q', 1 << 62)",
    "not-an-object": "frame(b'[1, 2, 3]')",
    "deep": "frame(b'{\"blob_bytes\": [], \"x\": ' + b'[' * 100000 + b']' * 100000 + b'}')",
    "bad-cells": "frame(b'{\"blob_bytes\": [], \"cells\": \"all passed\"}')",
    "bad-array": "frame(b'{\"blob_bytes\": [], \"ok\": true, \"result\": {\"__array__\": 7}}')",
}
FORGE = """\
import os, struct, sys
def frame(data):
    return struct.pack(">Q", len(data)) + data
os.write(sys.modules["__main__"].CHANNEL["reply"], {message})
"""


@pytest.mark.parametrize("name", FORGED)
def test_forged_replies_cost_only_the_forger(name, tmp_path):
    forge = FORGE.format(message=FORGED[name])
    cells, result = grade(tmp_path, with_extra_cell(sample_class.submission(A, correct()), forge))
    assert_full_marks(cells)   # the forging cell is skipped, nothing else is hurt
    assert any("was skipped" in p for p in result.problems), result.problems
    answers = replace_body(correct(), forge)
    cells, _ = grade(tmp_path, sample_class.submission(A, answers), "forger")
    assert_exercise_zero(cells)


def test_callbacks_into_the_grader_are_bounded_in_size_and_time():
    from autograder.references.conv import conv_forward_reference

    student = """\
import numpy as np
def big(reference):
    x = np.zeros((200, 3, 64, 64))                       # 19 MiB of arrays
    return reference(x, np.zeros((4, 3, 3, 3)), np.zeros(4), {"stride": 1, "pad": 0})
def slow(reference):
    x = np.zeros((100, 3, 32, 32))                       # 2.3 MiB, but long loops in the grader
    return reference(x, np.zeros((500, 3, 3, 3)), np.zeros(500), {"stride": 1, "pad": 0})
def fair(reference):
    return reference(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.zeros(1), {"stride": 1, "pad": 0})
"""
    with Sandbox(limits=Limits(request_seconds=30, callback_seconds=1.0)) as sandbox:
        assert sandbox.run_cells([student])[0]["ok"]
        big = sandbox.call("big", [conv_forward_reference])
        started = time.monotonic()
        slow = sandbox.call("slow", [conv_forward_reference])
        slow_seconds = time.monotonic() - started
        fair = sandbox.call("fair", [conv_forward_reference])
    assert not big["ok"] and "the limit is" in big["error"]
    assert not slow["ok"] and "ran for more than" in slow["error"] and slow_seconds < 5
    assert fair["ok"] and fair["result"].item() == 9.0


def test_a_submission_stops_at_its_wall_clock_budget(tmp_path):
    answers = replace_body(correct(), "import time\ntime.sleep(3)")   # each call just under the limit
    started = time.monotonic()
    cells, result = grade(tmp_path, sample_class.submission(A, answers),
                          limits=Limits(request_seconds=4, submission_seconds=10))
    assert time.monotonic() - started < 35
    assert_exercise_zero(cells)
    assert any("Grading stopped" in p and "10 s" in p for p in result.problems), result.problems


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A course where `nbgrader generate_assignment` ran once, for `new_course` to copy from."""
    root = course.create_course(tmp_path_factory.mktemp("generated"), [A])
    course.run_nbgrader(["generate_assignment", A, "--force"], cwd=root)
    return root


def new_course(generated, root):
    """A fresh course at `root` with the release and gradebook `nbgrader generate_assignment` made in
    `generated` (from the same source notebooks: running it again would make the same)."""
    root = course.create_course(root, [A])
    shutil.copytree(generated / "release", root / "release")
    shutil.copy(generated / "gradebook.db", root / "gradebook.db")
    return root


def _children(pid):
    """Pids of the processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_a_worker_that_dies_is_replaced_and_everyone_is_recorded(generated, tmp_path):
    root = new_course(generated, tmp_path / "course")
    sample_class.write_submissions(root, A, ["correct", "blank"])
    killed = []

    def kill_a_busy_worker():   # as the kernel's OOM killer would
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for worker in _children(os.getpid()):
                if _children(worker):         # it is running a sandbox: grading someone
                    os.kill(worker, signal.SIGKILL)
                    killed.append(worker)
                    break
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    results, errors = grade_class(root, A, workers=1, progress=False)
    killer.join()
    assert killed, "no worker was seen grading"
    assert not errors and set(results) == {"correct", "blank"}
    assert results["correct"].score == results["correct"].max_score > 0
    assert set(course.cell_scores(root, A)) == {"correct", "blank"}


# --- 7. every student ends graded and recorded, and `grade` finishes -------------------------------

def odd_class(root):
    """Students whose files, metadata or ids are odd; all but the link makers with the correct answers.

    Returns {student: full marks expected}."""
    good = sample_class.submission(A, sample_class.correct_answers(A))
    students = {}

    def write(student, nb, full=True):
        folder = Path(root, "submitted", student, A)
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{A}.ipynb"))
        students[student] = full

    for student in ("with space", "ünïcødé", "x" * 200, "--dash", "semi;colon"):
        write(student, good)
    bad_metadata = nbformat.from_dict(json.loads(nbformat.writes(good)))
    bad_metadata.cells[0].metadata = {"nbgrader": {"grade_id": ["a", "list"], "points": "lots", "grade": "yes"}}
    bad_metadata.cells[1].metadata["nbgrader"] = "not a dict"
    bad_metadata.cells[2].metadata["tags"] = {"not": "a list"}
    write("bad_metadata", bad_metadata)
    forged = nbformat.from_dict(json.loads(nbformat.writes(good)))
    for cell in forged.cells:
        if notebook_cells.is_test(cell):
            cell.metadata["nbgrader"]["points"] = 1000
    bonus = nbformat.v4.new_code_cell("print('bonus')")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "points": 100, "solution": False,
                                  "locked": False, "schema_version": 3}
    forged.cells.append(bonus)
    write("forged_points", forged)
    no_tests = nbformat.from_dict(json.loads(nbformat.writes(wrong_submission())))
    no_tests.cells = [c for c in no_tests.cells if not notebook_cells.is_test(c)]
    write("no_tests", no_tests, full=False)
    write("forged_reply", with_extra_cell(copy.deepcopy(good), FORGE.format(message=FORGED["bad-cells"])))
    write("bad_timestamp", good)
    Path(root, "submitted", "bad_timestamp", A, "timestamp.txt").write_bytes(b"the day before the deadline\xff")
    source_copy = Path(root, "source", A, f"{A}.ipynb")
    plant(Path(root, "submitted", "symlink", A), "symlink", source_copy)
    plant(Path(root, "submitted", "fifo", A), "fifo", source_copy)
    students.update(symlink=False, fifo=False)
    return students


def wrong_submission():
    return sample_class.submission(A, wrong())


def run_grade(root, *extra, env=None):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    return subprocess.run([sys.executable, "-m", "autograder", "grade", A, "--course", str(root), *extra],
                          env=env, capture_output=True, text=True, timeout=900, check=False)


def test_every_odd_student_is_graded_recorded_and_the_command_finishes(generated, tmp_path):
    root = new_course(generated, tmp_path / "course")
    students = odd_class(root)
    done = run_grade(root, "--workers", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{len(students)} graded, 0 not graded" in done.stdout, done.stdout[-3000:]
    scores = course.cell_scores(root, A)
    assert set(scores) == set(students)
    full = sum(notebook_cells.points(c) for c in notebook_cells.read(source_notebook(A)).cells
               if notebook_cells.is_test(c))
    auto = {s: sum(score or 0 for score, _ in cells.values()) for s, cells in scores.items()}
    for student, full_marks in students.items():
        assert (auto[student] == full) if full_marks else (auto[student] < full), (student, auto[student], full)
    assert auto["symlink"] == auto["fifo"] == 0
    assert "bonus" not in scores["forged_points"]
    assert "bad_metadata: cell 0: malformed nbgrader metadata" in done.stdout          # a flag
    assert "symlink: " in done.stdout and "is a link" in done.stdout                      # a problem
    results = Path(root, ENGINE_DIR, "results", A)
    assert len(list(results.glob("*.json"))) == len(students)
    assert max(p.stat().st_size for p in results.glob("*.json")) < 1 << 20


# --- 8. nothing a student started outlives their submission ----------------------------------------

COMM = "cbk-" + secrets.token_hex(4)   # the process name the detached attacker gives itself

DETACH = f"""\
import ctypes, os, signal, time
watched = os.getpid()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:   # detached: its own session, its parent gone; it waits for the sandbox to end
        try:
            ctypes.CDLL(None).prctl(15, {COMM.encode()!r}, 0, 0, 0)   # PR_SET_NAME
            while os.path.exists(f"/proc/{{watched}}"):
                time.sleep(0.05)
            while True:   # then kills every process of its uid: the next student's, if they share it
                try:
                    os.kill(-1, signal.SIGKILL)
                except OSError:
                    pass
                time.sleep(0.05)
        finally:
            os._exit(0)
    os._exit(0)
time.sleep(0.3)
"""


def marked_processes():
    """Pids of the live attackers (zombies, killed and not yet reaped by init, do not count)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if f"Name:\t{COMM}\n" in status and "State:\tZ" not in status:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("mode", ["uid", "namespaces"])
def test_a_detached_grandchild_dies_with_its_submission(mode, generated, tmp_path):
    """The grandchild kills every process of its uid once its sandbox is gone: the next student graded by
    the same worker would score 0 if they shared the uid, or if it survived."""
    root = new_course(generated, tmp_path / "course")
    for student, nb in (("a_detacher", with_extra_cell(sample_class.submission(A, correct()), DETACH)),
                        ("b_next", sample_class.submission(A, correct()))):
        Path(root, "submitted", student, A).mkdir(parents=True)
        nbformat.write(nb, str(Path(root, "submitted", student, A, f"{A}.ipynb")))
    done = run_grade(root, "--workers", "1", env={"CONVBOOK_SANDBOX_MODE": mode})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"isolated by: {mode}" in done.stdout
    leftover = marked_processes()
    for pid in leftover:
        os.kill(pid, signal.SIGKILL)
    assert not leftover, "a process the student started outlived the submission"
    scores = course.cell_scores(root, A)
    assert scores["b_next"] == scores["a_detacher"]
    assert all(score == points for score, points in scores["b_next"].values() if points and score is not None)


# --- 9. the run-time check counts real time ------------------------------------------------------

def test_a_notebook_with_a_cell_cut_by_the_timeout_is_not_credited_as_fast(tmp_path):
    """The blank notebook (quick: its functions raise) with and without a cell that runs far past the
    cell timeout. The hidden run-time check credits the quick one ("ran in N s (limit 90 s)."); the cut
    one ran for longer than anybody knows, and is not credited (the visible part fails for both)."""
    limits = Limits(request_seconds=8)   # over 3x the longest honest cell here (~2.5 s on a loaded machine)
    slow = with_extra_cell(sample_class.submission("cnn_digits", None), "import time\ntime.sleep(3600)", after="train")
    for student, nb in (("fast", sample_class.submission("cnn_digits", None)), ("slow", slow)):
        folder = tmp_path / "course" / "submitted" / student / "cnn_digits"
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / "cnn_digits.ipynb"))
        result = grade_submission("cnn_digits", folder, student, "secret", tmp_path / "course", limits=limits)
        run_time = next(c for c in result.cells if c.grade_id == "test_run_time")
        if student == "fast":
            assert "(limit 90 s)." in run_time.output, (run_time, result.problems)   # credited as fast
    assert result.sandbox_seconds >= limits.request_seconds     # the cut cell counts its full wall time...
    assert not run_time.passed and "(limit 90 s)." not in run_time.output, run_time   # ...and is not fast
    assert any("did not run whole" in p for p in result.problems), result.problems
