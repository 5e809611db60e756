"""Bans by absence, the loop rule's guard and unlearnable hidden cases (issue 10, items 1-3).

Every attack is a real submission graded by the real engine and sandbox (grade_submission, as
`python -m autograder grade` runs it); beside each, honest answers that keep full marks.
"""
import json
import re

import nbformat
import numpy as np
import pytest
from test_engine_attacks import assert_full_marks, with_extra_cell

from autograder import mistakes, notebook_cells, sample_class
from autograder.engine.grade import grade_submission, student_seed, submission_digest
from autograder.engine.rules import REFERENCE_LAYERS, banned_modules, bans
from autograder.engine.sandbox import Limits, Sandbox, isolation
from autograder.mistakes.conv_forward import CONV_FORWARD_TESTS
from autograder.mistakes.pooling import MAX_FORWARD_TESTS
from autograder.references.fast import im2col_reference
from convbook import tracing

LIMITS = Limits(request_seconds=30)
SEED_ONLY = Limits(request_seconds=30, submission_seconds=0.01)   # the seed is drawn before any code runs
IM2COL = ("test_im2col", "test_im2col_hidden")
CONV = CONV_FORWARD_TESTS

pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces",
                       reason="needs root with unshare/setpriv (the engine's full isolation)"),
]


def grade(tmp_path, assignment, nb, student="attacker", limits=LIMITS):
    folder = tmp_path / "course" / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
    result = grade_submission(assignment, folder, student, "test-secret", tmp_path / "course", limits=limits)
    return {c.grade_id: c for c in result.cells}, result


def submission(assignment, **replaced):
    return sample_class.submission(assignment, {**sample_class.correct_answers(assignment), **replaced})


def assert_zero(cells, ids, words=()):
    for gid in ids:
        assert not cells[gid].passed, f"{gid} passed: {cells[gid]}"
        for word in words:
            assert word in cells[gid].error, (word, cells[gid].error)


# --- 1. bans by absence ----------------------------------------------------------------------------
SCIPY_NAIVE = '''\
def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.array([[sum({call}(xp[n, c], w[f, c], mode="valid") for c in range(x.shape[1]))[::S, ::S] + b[f]
                     for f in range(w.shape[0])] for n in range(x.shape[0])])
    return out, (x, w, b, conv_param)
'''
BAN_ATTACKS = {
    # an alias bound at top level, in a cell of its own: the function looks innocent
    "top-level-alias": ("from scipy.signal import correlate2d as c2d", SCIPY_NAIVE.format(call="c2d")),
    # the module the instructor's imports cell binds (signal), and signal.correlate rather than correlate2d
    "imports-cell-module": ("", SCIPY_NAIVE.format(call="signal.correlate")),
    # an import built from strings, inside the function
    "import-from-strings": ("", SCIPY_NAIVE.format(
        call='__import__("importlib").import_module("sci" + "py.sig" + "nal").correlate2d')),
    # a second copy: the module's files loaded by path, under another name, with the import system bypassed
    "second-copy": ('''\
import importlib.util, os, sys
sys.meta_path[:] = [f for f in sys.meta_path if "Banned" not in type(f).__name__]
def _load_copy():
    import numpy
    root = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "scipy", "signal", "__init__.py")
    spec = importlib.util.spec_from_file_location("my_signal", root)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
''', SCIPY_NAIVE.format(call="_load_copy().correlate2d")),
    # the reference layers under the graded name, bound by an import instead of a def
    "reference-layer-as-the-answer": ("from convbook.layers import conv_forward as conv_forward_naive",
                                      "def conv_forward_naive(x, w, b, conv_param):\n    raise NotImplementedError()\n"),
}


@pytest.mark.parametrize("attack", BAN_ATTACKS)
def test_a_banned_library_does_not_exist_for_the_function_under_the_ban(attack, tmp_path):
    extra, answer = BAN_ATTACKS[attack]
    nb = submission("conv_forward", conv_forward_naive=answer)
    if extra:
        nb = with_extra_cell(nb, extra)
    cells, result = grade(tmp_path, "conv_forward", nb)
    assert_zero(cells, CONV)
    assert cells["test_zero_pad"].passed and cells["test_conv2d_full"].passed   # the rest is graded as usual
    assert "which this exercise forbids" in cells["test_conv_forward_visible"].error
    assert re.search(r"used (scipy|convbook\.layers)", cells["test_conv_forward_visible"].error)


def test_the_reference_layers_answer_nothing_before_cnn_digits(tmp_path):
    pool = sample_class.correct_answers("pooling")
    pool["max_pool_forward"] = '''\
def max_pool_forward_naive(x, pool_param):
    import convbook.layers
    return convbook.layers.max_pool_forward(x, pool_param)
'''
    cells, _ = grade(tmp_path, "pooling", sample_class.submission("pooling", pool))
    assert_zero(cells, MAX_FORWARD_TESTS)   # every requirement cell: no case passes, so none is credited
    assert_zero(cells, ("test_max_pool_forward_visible",), ["used convbook.layers", "which this exercise forbids"])
    for assignment in ("conv_forward", "conv_backward", "pooling", "fast_layers"):
        assert REFERENCE_LAYERS in banned_modules(assignment)
    assert bans("cnn_digits") == {}   # the assignment that gives the layers grades with them


HONEST_CONV = '''\
def correlate2d(image, kernel):
    """A hand-written helper that happens to share scipy's name."""
    H, W = image.shape
    HH, WW = kernel.shape
    windows = lambda i, j: image[i:i + HH, j:j + WW]
    return np.array([[np.sum(windows(i, j) * kernel) for j in range(W - WW + 1)] for i in range(H - HH + 1)])


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    x_pad = getattr(np, "pad")(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, F = x.shape[0], w.shape[0]
    full = eval("[[sum(correlate2d(x_pad[n, c], w[f, c]) for c in range(x.shape[1])) + b[f] "
                "for f in range(F)] for n in range(N)]", {"correlate2d": correlate2d, "x_pad": x_pad, "w": w,
                                                          "b": b, "x": x, "F": F, "N": N})
    scope = {}
    exec("def shrink(a, s):\\n    return a[:, :, ::s, ::s]", scope)
    out = scope["shrink"](np.array(full), stride)
    assert out.shape[2:] == (output_size(x.shape[2], w.shape[2], stride, pad),
                             output_size(x.shape[3], w.shape[3], stride, pad))
    _ = conv_single_step(x_pad[0, :, :w.shape[2], :w.shape[3]], w[0], b[0])   # the student's own function
    return out, (x, w, b, conv_param)
'''


def test_honest_names_and_dynamic_code_keep_full_marks(tmp_path):
    cells, result = grade(tmp_path, "conv_forward", submission("conv_forward", conv_forward_naive=HONEST_CONV))
    assert_full_marks(cells)
    assert not result.flags, result.flags


# --- 2. the loop rule -------------------------------------------------------------------------------
LOOPY_IM2COL = '''\
def im2col(x, HH, WW, stride, pad):
    {prelude}
    return {compute}(x, HH, WW, stride, pad)
'''
POSITION_LOOP = '''\
def position_loop(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C * HH * WW, N * H_out * W_out))
    column = 0
    for n in range(N):
        for i in range(H_out):
            for j in range(W_out):
                cols[:, column] = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW].reshape(-1)
                column += 1
    return cols
'''
THREAD_WORKER = POSITION_LOOP + '''
import queue, threading
jobs, answers = queue.Queue(), queue.Queue()
def _serve():
    while True:
        answers.put(position_loop(*jobs.get()))
threading.Thread(target=_serve, daemon=True).start()
def by_worker_thread(*args):
    jobs.put(args)
    return answers.get()
'''
PROCESS_WORKER = POSITION_LOOP + '''
import os, pickle
_jobs_r, _jobs_w = os.pipe()
_answers_r, _answers_w = os.pipe()
def _read(fd):
    size = int.from_bytes(os.read(fd, 8), "big")
    data = b""
    while len(data) < size:
        data += os.read(fd, size - len(data))
    return pickle.loads(data)
def _write(fd, value):
    data = pickle.dumps(value)
    os.write(fd, len(data).to_bytes(8, "big"))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
if os.fork() == 0:
    while True:
        _write(_answers_w, position_loop(*_read(_jobs_r)))
def by_worker_process(*args):
    _write(_jobs_w, args)
    return _read(_answers_r)
'''
GENERATOR_WORKER = POSITION_LOOP + '''
def _serve():
    args = yield
    while True:
        args = yield position_loop(*args)
_worker = _serve()
next(_worker)
_worker.gi_frame.f_trace_lines = False      # a frame made before the count, with line events off
def by_generator(*args):
    return _worker.send(args)
'''
LOOP_ATTACKS = {
    "plain": ("pass", "position_loop", POSITION_LOOP),
    "settrace-none": ("import sys\n    try:\n        sys.settrace(None)\n    except Exception:\n        pass",
                      "position_loop", POSITION_LOOP),
    "frame-f_trace": ("import sys\n    try:\n        frame = sys._getframe()\n        frame.f_trace = None\n"
                      "        frame.f_trace_lines = False\n    except Exception:\n        pass",
                      "position_loop", POSITION_LOOP),
    # (3.11 audits no thread start: the clean room simply cannot start threads once lines are counted)
    "thread-inside": ("import threading\n    box = []\n    try:\n"
                      "        t = threading.Thread(target=lambda: box.append(position_loop(x, HH, WW, stride, pad)))\n"
                      "        t.start()\n        t.join()\n        return box[0]\n    except Exception:\n        pass",
                      "position_loop", POSITION_LOOP),
    "thread-started-before": ("pass", "by_worker_thread", THREAD_WORKER),
    "fork-inside": ("import os\n    try:\n        if os.fork() == 0:\n            os._exit(0)\n    except OSError:\n"
                    "        pass", "position_loop", POSITION_LOOP),
    "process-started-before": ("pass", "by_worker_process", PROCESS_WORKER),
    "generator-started-before": ("pass", "by_generator", GENERATOR_WORKER),
    # exec with globals of its own (the old counter watched the notebook's globals only)
    "exec-other-globals": ("pass", "position_loop", f"_scope = {{'np': np}}\nexec({POSITION_LOOP!r}, _scope)\n"
                                                    "position_loop = _scope['position_loop']"),
    # code compiled under a library's file name, so that it looks like numpy's own
    "exec-fake-filename": ("pass", "position_loop",
                           f"_scope = {{'np': np}}\nexec(compile({POSITION_LOOP!r}, np.__file__, 'exec'), _scope)\n"
                           "position_loop = _scope.get('position_loop')"),
    # the counter's own code, the builtins it might use and the child's functions, replaced
    "replace-the-counter": ("pass", "position_loop", POSITION_LOOP + '''
import sys
import convbook.tracing as _t
_t.count_lines = lambda *a, **k: {"total": 0, "per_line": {}, "reference_calls": [], "interference": []}
_t._tracer = lambda *a, **k: (None, None)
_t._tally = _t._dumps = _t.install_guard = lambda *a, **k: None
sys.settrace = sys.setprofile = lambda *a: None
sys.gettrace = lambda: None
_main = sys.modules["__main__"]
_main.short_error = lambda exc: "nothing"
'''),
    # the counter's closure, reached through sys.gettrace(), emptied while it runs
    "closure-tampering": ("import sys\n    tracer = sys.gettrace()\n    if tracer is not None:\n"
                          "        for cell in tracer.__closure__:\n            if callable(cell.cell_contents):\n"
                          "                cell.cell_contents = lambda *a: None",
                          "position_loop", POSITION_LOOP),
    # a forged reply written on the grader's channel while the lines are counted
    "forged-reply": ('''import json, os, sys
    if x.shape[0] == 16:
        fake = json.dumps({"ok": True, "total": 5, "per_line": [], "reference_calls": [],
                           "interference": [], "blob_bytes": []}).encode()
        os.write(int(sys.argv[2]), len(fake).to_bytes(8, "big") + fake)''', "position_loop", POSITION_LOOP),
    "ctypes": ("pass", "position_loop", POSITION_LOOP + "\nimport ctypes\n_set_trace = ctypes.pythonapi.PyEval_SetTrace\n"),
}


@pytest.mark.parametrize("attack", LOOP_ATTACKS)
def test_a_looped_im2col_scores_zero_however_disguised(attack, tmp_path):
    prelude, compute, helper = LOOP_ATTACKS[attack]
    nb = submission("fast_layers", im2col=LOOPY_IM2COL.format(prelude=prelude, compute=compute))
    nb = with_extra_cell(nb, helper, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, IM2COL)
    if attack in ("plain", "exec-other-globals", "replace-the-counter"):
        assert tracing.LOOP_RULE in cells["test_im2col_hidden"].error
    if attack not in ("plain", "exec-other-globals", "replace-the-counter", "thread-inside"):   # seen: flagged
        assert any("guard" in flag for flag in result.flags), result.flags


HONEST_IM2COL = '''\
def im2col(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    take = lambda k, l: x_pad[:, :, k:k + stride * H_out:stride, l:l + stride * W_out:stride]

    def as_rows(pixels):
        return pixels.transpose(1, 0, 2, 3).reshape(C, 1, N * H_out * W_out)

    rows = [as_rows(take(k, l)) for k in range(HH) for l in range(WW)]
    return np.concatenate(rows, axis=1).reshape(C * HH * WW, N * H_out * W_out)
'''


def test_a_helper_with_a_lambda_a_comprehension_and_a_nested_function_counts_the_same_everywhere():
    """The line count of the one tracer is the same in a plain process and in the engine's sandbox."""
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((2, 3, 5, 6)), 2, 3, 1, 1)
    namespace = {"np": np}
    exec(compile(HONEST_IM2COL, "<cell 0>", "exec"), namespace)
    here = tracing.count_lines(namespace["im2col"], args)
    with Sandbox(limits=LIMITS, banned=[REFERENCE_LAYERS]) as sandbox:
        sandbox.run_cells(["import numpy as np", HONEST_IM2COL])
        there = sandbox.count_lines("im2col", args)
    assert here["total"] == there["total"] > 10
    assert here["per_line"] == there["per_line"]
    assert {"<lambda>", "<listcomp>", "as_rows"} <= {name for name, _ in there["per_line"]}
    assert not there["interference"] and np.array_equal(there["result"], im2col_reference(*args))


def test_the_count_is_the_same_in_a_jupyter_kernel(tmp_path):
    """What a student's kernel counts (convbook.check_no_position_loops) is what the engine counts."""
    from autograder.solution_pages import execute_notebook

    args = "(np.random.default_rng(0).standard_normal((2, 3, 5, 6)), 2, 3, 1, 1)"
    report = ("import json\nfrom convbook.tracing import count_lines\n"
              f"counts = count_lines(im2col, {args})\n"
              "print(json.dumps(sorted([f, line, n] for (f, line), n in counts['per_line'].items())))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in
                                         ("import numpy as np", HONEST_IM2COL, report)])
    nbformat.write(nb, str(tmp_path / "kernel.ipynb"))
    printed = execute_notebook(tmp_path / "kernel.ipynb").cells[2].outputs[0]["text"]
    in_kernel = {(f, line): n for f, line, n in json.loads(printed)}
    with Sandbox(limits=LIMITS, banned=[REFERENCE_LAYERS]) as sandbox:
        sandbox.run_cells(["import numpy as np", HONEST_IM2COL])
        there = sandbox.count_lines("im2col", (np.random.default_rng(0).standard_normal((2, 3, 5, 6)), 2, 3, 1, 1))
    assert in_kernel == there["per_line"] and sum(in_kernel.values()) > 10


def test_honest_fast_layers_keep_full_marks(tmp_path):
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", im2col=HONEST_IM2COL))
    assert_full_marks(cells)
    assert not result.flags, result.flags


def test_the_student_helper_says_what_the_grader_says():
    small = (np.zeros((1, 1, 4, 4)), 2, 2, 1, 0)
    large = (np.zeros((4, 1, 9, 9)), 2, 2, 1, 0)
    namespace = {"np": np}
    exec(compile(POSITION_LOOP + HONEST_IM2COL, "<cell 0>", "exec"), namespace)
    tracing.check_no_position_loops(namespace["im2col"], small, large, positions=(9, 256))
    with pytest.raises(AssertionError, match=tracing.LOOP_RULE) as failure:
        tracing.check_no_position_loops(namespace["position_loop"], small, large, positions=(9, 256))
    assert "N * H' * W' = 256" in str(failure.value)


# --- 3. hidden cases that cannot be learned -------------------------------------------------------------
def test_the_seed_follows_the_submitted_code_and_is_withheld_from_the_student(tmp_path):
    wrong = mistakes.by_name("conv_forward", "flipped_kernel").apply(sample_class.correct_answers("conv_forward"))
    nb = sample_class.submission("conv_forward", wrong)
    cells, first = grade(tmp_path, "conv_forward", nb)
    # the others are graded for their seed only: a budget that stops them at once (the seed does not depend on it)
    _, again = grade(tmp_path, "conv_forward", nb, limits=SEED_ONLY)
    _, changed = grade(tmp_path, "conv_forward", with_extra_cell(nb, "# a comment changes the code"), limits=SEED_ONLY)
    _, other = grade(tmp_path, "conv_forward", nb, student="someone-else", limits=SEED_ONLY)
    assert first.seed == again.seed
    assert len({first.seed, changed.seed, other.seed}) == 3
    shown = " ".join(c.output + c.error for c in cells.values())
    assert "seed withheld" in shown and str(first.seed) not in shown
    assert first.to_json()["seed"] == first.seed             # the instructor's results file keeps it
    sources = [src for c in nb.cells if c.cell_type == "code" and not notebook_cells.is_test(c) for src in [c.source]]
    assert student_seed("s", "a", "b", submission_digest(sources)) != student_seed("s", "a", "b", "")


def test_what_the_student_prints_during_the_checks_is_not_shown(tmp_path):
    answers = sample_class.correct_answers("conv_forward")
    answers["conv_forward_naive"] = answers["conv_forward_naive"].replace(
        '    stride, pad = conv_param["stride"], conv_param["pad"]\n',
        '    stride, pad = conv_param["stride"], conv_param["pad"]\n'
        '    import sys\n    print("LEAKED", x.shape, x.ravel()[:3])\n    print("LEAKED", file=sys.stderr)\n', 1)
    cells, _ = grade(tmp_path, "conv_forward", sample_class.submission("conv_forward", answers))
    assert_full_marks(cells)
    assert not any("LEAKED" in c.output + c.error for c in cells.values())


def test_a_banned_package_inside_another_banned_one_is_covered_once():
    """fast_layers bans scipy in some exercises and only scipy.signal (and other convolution modules) in
    others: the clean room for all of them covers scipy once (a mount on a folder of an absent package
    has nowhere to go), and a banned file beside them still has its folder rebuilt without it."""
    import sys

    from autograder.engine.rules import banned_paths
    from autograder.engine.sandbox import absent_mounts, view_paths
    paths = banned_paths(banned_modules("fast_layers"))
    scipy_folder = next(p for p in paths if p.endswith("/scipy"))
    assert any(p.startswith(scipy_folder + "/") for p in paths)        # scipy.signal and the others, inside it
    lines = absent_mounts(paths, view_paths(sys.executable))
    covered = [line for line in lines if "convbook-absent" in line and "/scipy" in line]
    assert len(covered) == 1 and covered[0].endswith("/scipy"), covered
    assert any("convbook-without" in line and line.endswith("/convbook") for line in lines)   # layers.py's folder
