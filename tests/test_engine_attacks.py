"""The grading engine cannot be fooled: each attack, beside a wrong answer, scores 0 for that exercise;
beside a correct answer (as harmless noise), it costs nothing. Graded by the real engine and sandbox.
"""
import os
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import notebook_cells, sample_class
from autograder.engine.grade import grade_submission
from autograder.engine.sandbox import Limits, isolation
from autograder.mistakes.conv_forward import CONV_FORWARD_TESTS

A = "conv_forward"
EXERCISE = CONV_FORWARD_TESTS   # the cells of conv_forward_naive
HIDDEN = "test_conv_forward_visible"   # its plain cell: where a whole-function failure is reported
LIMITS = Limits(request_seconds=20)
# for the process killers: an infinite loop is cut at request_seconds, so keep it short: 3x the longest
# honest request here (~2 s on a loaded machine)
KILLER_LIMITS = Limits(request_seconds=6)

pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces",
                       reason="needs root with unshare/setpriv (the engine's full isolation)"),
]


def correct():
    return sample_class.correct_answers(A)


def wrong():
    """An answer that earns nothing on its own (every case wrong, no single catalogued mistake), so that any
    point of the exercise it scores under an attack was won by the attack. (A single catalogued mistake,
    like a flipped kernel, costs only its requirement's cell since points follow requirements.)"""
    answers = correct()
    answers["conv_forward_naive"] = (
        "def conv_forward_naive(x, w, b, conv_param):\n"
        "    H_out, W_out = output_size(x.shape[2], w.shape[2], conv_param['stride'], conv_param['pad']), \\\n"
        "        output_size(x.shape[3], w.shape[3], conv_param['stride'], conv_param['pad'])\n"
        "    out = np.full((x.shape[0], w.shape[0], H_out, W_out), 0.5)\n"
        "    return out, (x, w, b, conv_param)\n")
    return answers


def with_extra_cell(nb, source, after="conv_forward_naive"):
    """`nb` with a new code cell (no nbgrader metadata) right after the answer cell `after`."""
    index = next(i for i, c in enumerate(nb.cells) if notebook_cells.grade_id(c) == after)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def grade(tmp_path, nb, student="attacker", limits=LIMITS):
    folder = tmp_path / "course" / "submitted" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{A}.ipynb"))
    result = grade_submission(A, folder, student, "test-secret", tmp_path / "course", limits=limits)
    return {c.grade_id: c for c in result.cells}, result


def assert_exercise_zero(cells):
    for cell in EXERCISE:
        assert not cells[cell].passed, f"{cell} passed: {cells[cell]}"


def assert_full_marks(cells):
    failing = {gid: c.error for gid, c in cells.items() if not c.passed}
    assert not failing, failing


MONKEYPATCH = """\
import builtins, sys
import numpy as np, numpy.testing, scipy.signal, convbook, convbook.testing
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
convbook.check_close = convbook.testing.check_close = lambda *a, **k: None
convbook.rel_error = lambda *a, **k: 0.0
scipy.signal.correlate2d = lambda a, b, mode="valid": np.zeros(1)
builtins.AssertionError = type("AssertionError", (Exception,), {})
"""

EXCEPTION_HANDLERS = """\
import sys
sys.excepthook = lambda *args: None
try:
    get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)
except NameError:
    pass
"""


@pytest.mark.parametrize("attack", [MONKEYPATCH, EXCEPTION_HANDLERS], ids=["monkeypatch", "exception-handler"])
def test_patching_the_checks_changes_nothing(attack, tmp_path):
    cells, result = grade(tmp_path, with_extra_cell(sample_class.submission(A, wrong()), attack))
    assert_exercise_zero(cells)
    assert result.flags, "the attack should be flagged for the instructor"
    cells, _ = grade(tmp_path, with_extra_cell(sample_class.submission(A, correct()), attack), "honest")
    assert_full_marks(cells)


@pytest.mark.parametrize("how", ["edited", "deleted", "duplicated", "retyped"])
def test_tampering_with_test_cells_changes_nothing(how, tmp_path):
    nb = sample_class.submission(A, wrong())
    tests = [c for c in nb.cells if notebook_cells.grade_id(c) in EXERCISE]
    for cell in tests:
        if how == "edited":
            cell.source = "print('all good')"
        elif how == "deleted":
            nb.cells.remove(cell)
        elif how == "duplicated":
            nb.cells.insert(nb.cells.index(cell), nbformat.from_dict(dict(cell, id=cell.id + "-copy")))
        elif how == "retyped":
            cell.metadata = {}
            cell.source = "pass"
    cells, result = grade(tmp_path, nb)
    assert_exercise_zero(cells)
    assert any(gid in flag for flag in result.flags for gid in EXERCISE), result.flags


def test_hard_coded_visible_output_scores_nothing(tmp_path):
    from autograder.references.conv import conv_forward_reference

    rng = np.random.default_rng(3)   # the visible test's own input, as its cell makes it
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    expected = conv_forward_reference(x, w, b, {"stride": 2, "pad": 1})
    hard_coded = correct()
    hard_coded["conv_forward_naive"] = f"""\
def conv_forward_naive(x, w, b, conv_param):
    out = np.array({expected.tolist()!r})
    return out, (x, w, b, conv_param)
"""
    cells, _ = grade(tmp_path, sample_class.submission(A, hard_coded))
    assert "relative error" not in cells["test_conv_forward_visible"].error  # its visible asserts pass...
    assert_exercise_zero(cells)  # ...but the visible cell re-runs the hidden checks too


def test_forbidden_library_is_refused_with_a_clear_message(tmp_path):
    uses_scipy = correct()
    uses_scipy["conv_forward_naive"] = """\
def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.array([[sum(signal.correlate2d(xp[n, c], w[f, c], mode="valid") for c in range(x.shape[1]))[::S, ::S] + b[f]
                     for f in range(w.shape[0])] for n in range(x.shape[0])])
    return out, (x, w, b, conv_param)
"""
    cells, _ = grade(tmp_path, sample_class.submission(A, uses_scipy))
    assert_exercise_zero(cells)
    assert "which this exercise forbids" in cells[HIDDEN].error and "signal" in cells[HIDDEN].error
    assert cells["test_conv2d_full"].passed and cells["test_output_size"].passed


ENDINGS = {
    "sys.exit": "import sys\nsys.exit(0)",
    "os._exit": "import os\nos._exit(0)",
    "kill-kernel": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "infinite-loop": "while True:\n    pass",
    "memory-bomb": "hog = bytearray(64 * 2**30)",
    "fork-bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
}


@pytest.mark.parametrize("name", ENDINGS)
def test_process_killers_at_top_level_cost_only_their_cell(name, tmp_path):
    cells, result = grade(tmp_path, with_extra_cell(sample_class.submission(A, correct()), ENDINGS[name]),
                          limits=KILLER_LIMITS)
    assert_full_marks(cells)
    if name in ("os._exit", "infinite-loop", "fork-bomb"):   # these end the process (the others raise)
        first_line = ENDINGS[name].splitlines()[0]
        assert any(first_line in p and "was skipped" in p for p in result.problems), result.problems


def test_a_cell_that_ended_the_sandbox_is_skipped_in_the_clean_room_too(tmp_path):
    """The cells that reach the banned functions' clean room are the sandbox's, less the cells cut there: a
    cell is not run (or timed out) twice, and cannot act differently where the banned library is absent."""
    two_faced = ("try:\n    import scipy.signal\nexcept ImportError:   # only where scipy.signal is absent\n"
                 "    def conv_forward_naive(x, w, b, conv_param):\n        raise ValueError('the clean room ran me')\n"
                 "else:\n    import os\n    os._exit(0)\n")
    cells, result = grade(tmp_path, with_extra_cell(sample_class.submission(A, correct()), two_faced),
                          limits=KILLER_LIMITS)
    assert_full_marks(cells)
    assert any('("try:")' in p and "was skipped" in p for p in result.problems), result.problems


def test_a_fork_bomb_is_stopped_long_before_the_timeout(tmp_path):
    started = time.monotonic()
    cells, result = grade(tmp_path, with_extra_cell(sample_class.submission(A, correct()), ENDINGS["fork-bomb"]),
                          limits=Limits(request_seconds=120))
    assert_full_marks(cells)
    assert time.monotonic() - started < 60
    assert any("fork bomb" in p for p in result.problems), result.problems


@pytest.mark.parametrize("name", ["os._exit", "infinite-loop", "memory-bomb"])
def test_process_killers_inside_a_function_cost_that_exercise(name, tmp_path):
    answers = correct()
    body = "\n".join("    " + line for line in ENDINGS[name].splitlines())
    answers["conv_forward_naive"] = answers["conv_forward_naive"].replace(
        '    stride, pad = conv_param["stride"], conv_param["pad"]\n',
        '    stride, pad = conv_param["stride"], conv_param["pad"]\n' + body + "\n", 1)
    cells, _ = grade(tmp_path, sample_class.submission(A, answers), limits=KILLER_LIMITS)
    assert_exercise_zero(cells)
    others = {gid: c for gid, c in cells.items() if gid not in EXERCISE + ("test_image_filters",)}
    assert_full_marks(others)


def test_the_course_directory_cannot_be_written_or_read(tmp_path):
    course = tmp_path / "course"
    gradebook = course / "gradebook.db"
    other = course / "submitted" / "someone-else" / A / f"{A}.ipynb"
    other.parent.mkdir(parents=True)
    gradebook.write_bytes(b"the real gradebook")
    other.write_text("another student's work")
    attack = f"""\
for path, mode in (({str(gradebook)!r}, "ab"), ({str(other)!r}, "w")):
    try:
        with open(path, mode) as f:
            f.write(b"hacked" if "b" in mode else "hacked")
    except OSError as exc:
        print("refused:", exc)
"""
    cells, _ = grade(tmp_path, with_extra_cell(sample_class.submission(A, correct()), attack))
    assert_full_marks(cells)
    assert gradebook.read_bytes() == b"the real gradebook"
    assert other.read_text() == "another student's work"


def test_hidden_tests_and_solutions_cannot_be_read(tmp_path):
    from autograder.paths import REPO

    steal = f"""\
import glob, json
stolen = None
for path in glob.glob({str(REPO / 'source' / '*' / '*.ipynb')!r}):
    for cell in json.load(open(path))["cells"]:
        if "def conv_forward_naive" in "".join(cell["source"]):
            stolen = "".join(cell["source"])
try:
    from autograder.solutions import load_solution
    conv_forward_naive = load_solution({A!r}).conv_forward_naive
except Exception:
    pass
if stolen:
    exec(stolen)
"""
    answers = wrong()
    cells, _ = grade(tmp_path, with_extra_cell(sample_class.submission(A, answers), steal))
    assert_exercise_zero(cells)
    assert os.path.isdir(REPO / "source")  # it is there, only not for the student's code


def test_same_submission_graded_twice_gets_the_same_score(tmp_path):
    nb = sample_class.submission(A, wrong())
    first, _ = grade(tmp_path, nb)
    second, _ = grade(tmp_path, nb)
    assert {g: c.passed for g, c in first.items()} == {g: c.passed for g, c in second.items()}
    assert Path(tmp_path / "course").is_dir()
