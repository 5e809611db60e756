"""Red-team review of the engine after issue 10's hardening: attacks that still win, honest answers
that still lose. Each is a real submission graded by grade_submission (what `python -m autograder
grade` runs), asserting the SECURE behaviour: these tests fail until the hole they name is closed.
"""
import subprocess

import pytest
from test_engine_attacks import assert_full_marks, with_extra_cell
from test_engine_bans import CONV, IM2COL, LOOPY_IM2COL, POSITION_LOOP, assert_zero, grade, submission

from autograder.engine.sandbox import SANDBOX_UID_BASE, isolation
from autograder.paths import source_notebook
from convbook import tracing

pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces",
                       reason="needs root with unshare/setpriv (the engine's full isolation)"),
]


# --- bans: the banned files are on disk in the clean room, and the hook's path test can be dodged -------
REFERENCE_BY_DIR_FD = '''\
import os
import convbook
def _reference():
    """convbook/layers.py read through a directory fd: the audited path is just "layers.py"."""
    folder = os.open(os.path.dirname(convbook.__file__), os.O_RDONLY | os.O_DIRECTORY)
    source = os.read(os.open("layers.py", os.O_RDONLY, dir_fd=folder), 1 << 22).decode()
    scope = {}
    exec(compile(source, "my_layers", "exec"), scope)
    return scope

def conv_forward_naive(x, w, b, conv_param):
    return _reference()["conv_forward"](x, w, b, conv_param)
'''

SCIPY_EXTENSION_BY_PATH = '''\
import importlib.machinery, importlib.util, os
def _sigtools():
    """scipy.signal's C core, loaded from its file under another package name: no import of "scipy"."""
    folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "scipy", "signal")
    os.makedirs("/tmp/gone", exist_ok=True)     # realpath() of a relative path fails in a deleted cwd
    os.chdir("/tmp/gone")
    os.rmdir("/tmp/gone")
    top = os.open(os.path.dirname(os.path.dirname(folder)), os.O_RDONLY | os.O_DIRECTORY)
    name = next(n for n in os.listdir(os.open("scipy/signal", os.O_RDONLY | os.O_DIRECTORY, dir_fd=top))
                if n.startswith("_sigtools"))
    os.chdir("/")
    path = os.path.join(folder, name)
    loader = importlib.machinery.ExtensionFileLoader("mine._sigtools", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location("mine._sigtools", path,
                                                                                   loader=loader))
    loader.exec_module(module)
    return module

def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    core = _sigtools()
    out = np.array([[sum(core._convolve2d(xp[n, c], w[f, c], 0, 0, 0, 0) for c in range(x.shape[1]))[::S, ::S]
                     + b[f] for f in range(w.shape[0])] for n in range(x.shape[0])])
    return out, (x, w, b, conv_param)
'''


@pytest.mark.parametrize("answer", [REFERENCE_BY_DIR_FD, SCIPY_EXTENSION_BY_PATH], ids=["layers-dir-fd",
                                                                                         "scipy-extension-by-path"])
def test_a_banned_library_stays_absent_whatever_path_reaches_its_files(answer, tmp_path):
    """Hole: namespaces mode does not hide the banned files (Sandbox.hidden is unused there) and the
    hook matches realpath(path) of "open" events only: a dir_fd-relative name, a deleted cwd, or an
    extension module loaded by file (no "open" event, only an "import" of a name of one's choosing)
    reach them. Fix by design: leave the banned packages out of the clean room's view (mount the
    view without them, or overmount them empty) so absence is on disk, not in a path test."""
    cells, result = grade(tmp_path, "conv_forward", submission("conv_forward", conv_forward_naive=answer))
    assert_zero(cells, CONV)
    assert cells["test_zero_pad"].passed   # the rest is graded as usual


# --- the loop rule: code that runs untraced --------------------------------------------------------
AUDIT_HOOK_WORKER = POSITION_LOOP + '''
import sys
def _worker(event, args):          # CPython runs audit hooks without tracing unless they set __cantrace__
    if event == "student.im2col":
        args[0].append(position_loop(*args[1]))
sys.addaudithook(_worker)
def by_audit_hook(*args):
    box = []
    sys.audit("student.im2col", box, args)
    return box[0]
'''


def test_a_loop_run_inside_the_students_own_audit_hook_scores_zero(tmp_path):
    """Hole: the student may add an audit hook of their own; CPython runs it untraced, so a position
    loop inside it runs 3 Python lines on any input. Fix by design: refuse sys.addaudithook after
    the guard (it is the only hook the child needs), and more generally measure what ran untraced
    (e.g. compare with the reference's time or count object allocations), not only traced lines."""
    nb = submission("fast_layers", im2col=LOOPY_IM2COL.format(prelude="pass", compute="by_audit_hook"))
    nb = with_extra_cell(nb, AUDIT_HOOK_WORKER, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, IM2COL)
    # zero for the right reason: the rule (or a flagged guard), not a protocol error of the engine's own
    assert tracing.LOOP_RULE in cells["test_im2col"].error or any("guard" in f for f in result.flags), \
        (cells["test_im2col"].error, result.flags)


MAPPED_IN_C = '''\
def im2col(x, HH, WW, stride, pad):
    import itertools
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = map(slice, range(0, stride * H_out, stride), range(HH, stride * H_out + HH, stride))
    cols = map(slice, range(0, stride * W_out, stride), range(WW, stride * W_out + WW, stride))
    index = itertools.product(range(N), [slice(None)], rows, cols)      # one tuple per position, made in C
    windows = np.array(list(map(x_pad.__getitem__, index)))            # (N*H'*W', C, HH, WW), by position
    return windows.reshape(N * H_out * W_out, C * HH * WW).T.copy()
'''


def test_a_position_loop_driven_by_map_scores_zero(tmp_path):
    """Hole (was a stated limit): one x_pad[n, :, i:i+HH, j:j+WW] per position, made by map/itertools in C,
    runs 9 Python lines on any input. Closed by a resource measure no disguise escapes: the guard times the
    call on 262,144 positions (CPU time, in copies of its input, measured at the same moment); a loop over
    the positions costs hundreds of copies however it is driven, a loop-free answer a few dozen at most."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", im2col=MAPPED_IN_C))
    assert_zero(cells, IM2COL, words=(tracing.LOOP_RULE, "copying its input once", "N * H' * W' = 262144"))
    assert cells["test_conv_forward_im2col_hidden"].passed   # the layer on it: the helper's loop is billed once
    assert cells["test_col2im"].passed and cells["test_max_pool_forward_fast"].passed


COMPILED_NOT_EXECUTED = f'''\
import _imp, types
_module = compile({POSITION_LOOP!r}, "<made>", "exec")     # compiled, never executed: no "exec" event
_code = next(c for c in _module.co_consts if hasattr(c, "co_code"))
_imp._fix_co_filename(_code, np.__file__)                 # labelled as numpy's: its lines are not the student's
position_loop = types.FunctionType(_code, globals())
'''


def test_a_loop_compiled_without_exec_and_relabelled_scores_zero(tmp_path):
    """Hole: code compile()d but never exec'd is not in the guard's identity set; relabelled as numpy's
    (_imp._fix_co_filename, no audit event) and made a function with types.FunctionType, its position loop
    runs no counted line. Closed by the same time measure: whatever the tracer sees, the loop costs its time."""
    nb = submission("fast_layers", im2col=LOOPY_IM2COL.format(prelude="pass", compute="position_loop"))
    nb = with_extra_cell(nb, COMPILED_NOT_EXECUTED, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, IM2COL, words=(tracing.LOOP_RULE, "copying its input once"))


WORK_DONE_ON_THE_WAY_IN = POSITION_LOOP + '''
import sys
_main = sys.modules["__main__"]               # the sandbox's child: its functions are plain globals
_genuine_decode, _done = _main.decode, {}
def _decode(tree, blobs, namespace=None):
    """The child's decode, patched: the position loop runs here, before any counter or clock starts."""
    args = _genuine_decode(tree, blobs, namespace)
    if type(args) is list and len(args) == 5 and getattr(args[0], "ndim", 0) == 4:
        _done[args[0].shape] = position_loop(*args)
    return args
_main.decode = _decode
def by_work_done_earlier(x, HH, WW, stride, pad):
    return _done.pop(x.shape) if x.shape in _done else position_loop(x, HH, WW, stride, pad)
'''


def test_a_loop_run_while_the_request_is_decoded_scores_zero(tmp_path):
    """Hole: student code can patch the child's own functions (sys.modules["__main__"].decode): the loop
    then runs on the request's arguments before the guard's counter and clock start, and the measured call
    only returns its result (1 line, no time). Fixed by design: the grader seals the arguments of a count
    with the sandbox's secret, which only the guard holds; it opens them after its counter and clock are
    ready, with no student code running in between, so work done earlier is done on noise."""
    nb = submission("fast_layers", im2col=LOOPY_IM2COL.format(prelude="pass", compute="by_work_done_earlier"))
    nb = with_extra_cell(nb, WORK_DONE_ON_THE_WAY_IN, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, IM2COL, words=("did not return the right values",))


BALLAST_ON_THE_WAY_IN = '''\
import sys
_main = sys.modules["__main__"]
_genuine_decode = _main.decode
def _decode(tree, blobs, namespace=None):
    """The child's decode, patched: 400 MB more input, so that one copy of the input (the unit) is slow."""
    args = _genuine_decode(tree, blobs, namespace)
    if type(args) is list and len(args) == 5 and getattr(args[0], "size", 0) > 200_000:   # the timed input only
        args.append(np.zeros(50_000_000))
    return args
_main.decode = _decode
'''


def test_a_unit_inflated_with_extra_input_scores_zero(tmp_path):
    """The time measure's unit is one copy of the input: an input made larger on its way in (a patched
    decode adding an array the function ignores) would make a loop look cheap. The guard reports the bytes
    it copied, signed, and the grader checks them against what it sent."""
    mapped = MAPPED_IN_C.replace("def im2col(x, HH, WW, stride, pad):", "def im2col(x, HH, WW, stride, pad, *ballast):")
    nb = with_extra_cell(submission("fast_layers", im2col=mapped), BALLAST_ON_THE_WAY_IN, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, IM2COL, words=("changed on their way",))


def test_slow_but_loop_free_answers_keep_full_marks(tmp_path):
    """Honest answers never lose points to the time measure: index arrays, np.add.at, copies of sliding
    windows, tensordot, einsum, and the loops the notebook allows (channels, kernel offsets)."""
    from test_alternative_answers import ALTERNATIVES

    for name, cells in ALTERNATIVES["fast_layers"]:
        graded, result = grade(tmp_path / name, "fast_layers", submission("fast_layers", **cells), student=name)
        assert_full_marks(graded)
        assert not result.flags, (name, result.flags)


# --- honest answers ----------------------------------------------------------------------------------
POOL_WITH_SCIPY = '''\
def max_pool_forward_fast(x, pool_param):
    from scipy.ndimage import maximum_filter      # scipy is not in FORBIDDEN["max_pool_forward_fast"]
    ph, pw, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    peaks = maximum_filter(x, size=(1, 1, ph, pw), origin=(0, 0, -(ph // 2), -(pw // 2)), mode="constant",
                           cval=-np.inf)
    H_out, W_out = (x.shape[2] - ph) // S + 1, (x.shape[3] - pw) // S + 1
    return peaks[:, :, :S * (H_out - 1) + 1:S, :S * (W_out - 1) + 1:S], (x, pool_param)
'''


def test_a_library_the_exercise_allows_is_there_for_it(tmp_path):
    """Honest answer lost: the clean room lacks the UNION of the assignment's bans, so max_pool_forward_fast
    (whose ban is torch/skimage/convbook.layers only) cannot use scipy.ndimage and scores 0 with "which this
    exercise forbids". Fix by design: one clean room per distinct ban set (each function graded where
    exactly its own banned modules are absent)."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", max_pool_forward_fast=POOL_WITH_SCIPY))
    assert cells["test_max_pool_forward_fast"].passed, cells["test_max_pool_forward_fast"].error


# --- containment: the host's System V IPC namespace is shared ----------------------------------------
SYSV_IPC = '''\
import ctypes
_libc = ctypes.CDLL(None)
_libc.shmat.restype = ctypes.c_void_p
_segment = _libc.shmget(0x5EED, 1 << 20, 0o1000 | 0o666)      # IPC_CREAT: outlives the sandbox
ctypes.memmove(_libc.shmat(_segment, None, 0), b"left for the next student", 25)
_queue = _libc.msgget(0x5EEE, 0o1000 | 0o666)
'''


def _sysv_objects_of_sandboxes():
    found = []
    for kind in ("shm", "msg", "sem"):
        with open(f"/proc/sysvipc/{kind}") as table:
            header, *rows = [line.split() for line in table]
        uid = header.index("uid")
        found += [(kind, int(row[0]), int(row[uid])) for row in rows if int(row[uid]) >= SANDBOX_UID_BASE]
    return found


def test_nothing_of_a_submission_outlives_it_in_system_v_ipc(tmp_path):
    """Hole: the child is not in an IPC namespace of its own (unshare has no --ipc), and ctypes is allowed
    outside the clean room: SysV shared memory and message queues survive the sandbox (a channel between
    students, and memory no rlimit bounds: a host-wide filler). Fix by design: unshare --ipc (and in "uid"
    mode remove the uid's IPC objects with its files)."""
    before = _sysv_objects_of_sandboxes()
    try:
        nb = with_extra_cell(submission("conv_forward"), SYSV_IPC)
        grade(tmp_path, "conv_forward", nb)
        left = [o for o in _sysv_objects_of_sandboxes() if o not in before]
        assert not left, f"System V IPC objects left by the submission: {left}"
    finally:
        for kind, key, _ in _sysv_objects_of_sandboxes():
            if (kind, key) in (("shm", 0x5EED), ("msg", 0x5EEE)):
                subprocess.run(["ipcrm", "-M" if kind == "shm" else "-Q", hex(key)], check=False)


RELABELLED_AS_NUMPY = POSITION_LOOP + '''
import _imp
_imp._fix_co_filename(position_loop.__code__, np.__file__)   # no audit event: now it "is" numpy's code
'''


def test_a_loop_relabelled_as_library_code_scores_zero(tmp_path):
    """Hole: the tracer decides "library or student" by co_filename, a label the student can rewrite
    without any audit event (_imp._fix_co_filename): the position loop then runs 0 counted lines.
    Fix by design: know the student's code by identity (the code objects compiled from the student's
    cells, and everything they create), not by the file name written in it."""
    nb = submission("fast_layers", im2col=LOOPY_IM2COL.format(prelude="pass", compute="position_loop"))
    nb = with_extra_cell(nb, RELABELLED_AS_NUMPY, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, IM2COL)
    assert tracing.LOOP_RULE in cells["test_im2col"].error or any("guard" in f for f in result.flags), \
        (cells["test_im2col"].error, result.flags)


# --- the grader's own resources: a callback runs C code the alarm cannot stop -------------------------
CALLBACK_WORK = '''\
def make_the_grader_work(loss):
    """The reference loss, called back in the grader, on ~2 MB of arrays: a 300x300 image and 300
    filters of 23x23 (the conv runs to the end in C before the shapes of W2 fail)."""
    params = {"W1": np.zeros((300, 1, 23, 23)), "b1": np.zeros(300), "W2": np.zeros((1, 1)),
              "b2": np.zeros(1), "W3": np.zeros((1, 1)), "b3": np.zeros(1)}
    try:
        loss(params, np.zeros((1, 1, 300, 300)))
    except RuntimeError:
        pass
    return np.zeros(1)
'''


def test_a_callback_of_the_grader_stops_at_its_time_limit():
    """Hole: Limits.callback_seconds is enforced with SIGALRM in the grader's own process, which cannot
    interrupt numpy's C code: cnn_digits hands train() the reference loss, and ~2 MB of arguments keep
    the grader busy ~10 s (quadratic: ~8 MB, minutes and GiBs per call). Fix by design: run the
    grader's functions for the child in a separate, killable process with its own memory limit (or check
    the arguments' shapes against the network's before any work)."""
    import time

    from autograder.checks.cnn_digits import reference_loss
    from autograder.engine.sandbox import Limits, Sandbox

    with Sandbox(limits=Limits(request_seconds=60, callback_seconds=1)) as sandbox:
        sandbox.run_cells(["import numpy as np", CALLBACK_WORK])
        started = time.monotonic()
        sandbox.call("make_the_grader_work", [reference_loss])
        assert time.monotonic() - started < 4, "the grader's function ran far past callback_seconds"


# --- judgement: numpy's own FFT is fftconvolve under another name ----------------------------------------
FFT_FULL = '''\
def conv2d_full(x, k):
    H, W = x.shape
    KH, KW = k.shape
    shape = (H + KH - 1, W + KW - 1)
    return np.real(np.fft.ifft2(np.fft.fft2(x, shape) * np.fft.fft2(k, shape)))
'''


def test_an_fft_convolution_with_numpy_is_allowed_as_the_notebook_says(tmp_path):
    """Hole (a judgement: FORBIDDEN["conv2d_full"] names fftconvolve, "compute the wide convolution
    yourself"): numpy.fft does what fftconvolve does, in three lines, and scores full marks. Bans by
    absence cannot reach it: numpy imports numpy.fft before the guard, so no "import" event ever comes.
    Fix by design: let FORBIDDEN name modules numpy preloads (numpy.fft) and make them absent in the clean
    room (remove them from sys.modules and numpy's namespace before student code runs), or say in the
    notebook that numpy.fft is allowed and drop fftconvolve from the words.

    Decided: allowed. numpy.fft computes the wide convolution from its definition (zero padding to
    H + KH - 1 is the point of the exercise, and an FFT answer must get it right); the notebook says so,
    and only scipy (fftconvolve) stays banned."""
    cells, _ = grade(tmp_path, "conv_forward", submission("conv_forward", conv2d_full=FFT_FULL))
    assert cells["test_conv2d_full"].passed, cells["test_conv2d_full"].error
    with open(source_notebook("conv_forward"), encoding="utf-8") as notebook:
        assert "`numpy.fft` is allowed" in notebook.read()


# --- honest answers: a thread that does nothing during the count is not tampering ------------------------
OPEN_PROGRESS_BAR = '''\
from tqdm import tqdm
progress = tqdm(total=3)      # a progress bar left open (tqdm then keeps its monitor thread alive)
progress.update(1)
'''


def test_an_honest_progress_bar_left_open_costs_nothing(tmp_path):
    """Honest answer lost: tqdm (a course package) starts a monitor thread with its first bar; while it
    lives, every loop-ruled function scores 0 and the student is flagged for tampering ("another Python
    thread of your code was running"). Fix by design: judge what threads do during the count, not that
    they exist (trace every thread during the measured call, e.g. threading.settrace plus the frames of
    the running threads, and count their student lines too)."""
    nb = with_extra_cell(submission("fast_layers"), OPEN_PROGRESS_BAR, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_full_marks(cells)
    assert not result.flags, result.flags


# --- the loop rule: lines of the helpers "checked on their own" are not counted ----------------------------
IM2COL_WITH_A_BACK_DOOR = '''\
def im2col(x, HH, WW, stride, pad, layer=None):
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if layer is not None:            # never taken when im2col is checked on its own
        w, b = layer
        out = np.empty((N, w.shape[0], H_out, W_out))
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, :, i, j] = (w * window).sum(axis=(1, 2, 3)) + b
        return out
    cols = np.empty((C, HH, WW, N, H_out, W_out), dtype=x_pad.dtype)
    for k in range(HH):
        for l in range(WW):
            cols[:, k, l] = x_pad[:, :, k:k + stride * H_out:stride, l:l + stride * W_out:stride].transpose(1, 0, 2, 3)
    return cols.reshape(C * HH * WW, N * H_out * W_out)
'''
LAYER_THROUGH_THE_BACK_DOOR = '''\
def conv_forward_im2col(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    out = im2col(x, w.shape[2], w.shape[3], stride, pad, layer=(w, b))    # a position loop, not counted
    return out, (x, w, b, conv_param, im2col(x, w.shape[2], w.shape[3], stride, pad))
'''


def test_a_position_loop_hidden_in_a_skipped_helper_scores_zero(tmp_path):
    """Hole: conv_forward_im2col is measured with im2col's lines skipped ("checked on its own"), but im2col
    was checked on im2col's own arguments: a branch it takes only when the layer calls it holds the
    layer's position loop. Fix by design: count every line the measured call runs (a loop-free helper adds
    no growth anyway); to charge one mistake once, attribute growth inside a helper whose own check
    failed to that helper instead of skipping it."""
    answers = {"im2col": IM2COL_WITH_A_BACK_DOOR, "conv_forward_im2col": LAYER_THROUGH_THE_BACK_DOOR}
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", **answers))
    assert cells["test_im2col"].passed                     # im2col itself is fine where it is checked
    assert_zero(cells, ("test_conv_forward_im2col", "test_conv_forward_im2col_hidden"))


# --- honest answers: the course's own loop check, called by the student, is "tampering" in the clean room --
SELF_CHECK = '''\
import convbook
convbook.check_no_position_loops(im2col, (np.zeros((1, 1, 4, 4)), 2, 2, 1, 0), (np.zeros((4, 1, 9, 9)), 2, 2, 1, 0),
                                 (np.ones((4, 1, 255, 254)), 2, 1, 1, 1), positions=(9, 256, 262144))
'''


def test_the_students_own_loop_check_runs_in_the_clean_room_without_a_flag():
    """Honest answer mis-graded: README tells students to call convbook.check_no_position_loops; in the
    clean room (strict guard) its sys.settrace is refused, the cell fails with "your code called
    sys.settrace, which would switch off the line counter" and the refusal is a tampering flag for the
    instructor (grade.guard_flags; today lost by the merge, see the report). Fix by design: one counter,
    reachable both ways: in the sandbox, check_no_position_loops asks the guard's hook to count (as the
    grader does) instead of calling sys.settrace itself."""
    from autograder import sample_class
    from autograder.engine.rules import banned_modules
    from autograder.engine.sandbox import Limits, Sandbox

    with Sandbox(limits=Limits(request_seconds=30), banned=banned_modules("fast_layers")) as clean:
        clean.run_cells(["import numpy as np", sample_class.correct_answers("fast_layers")["im2col"]])
        header, _ = clean._request({"op": "run", "cells": [SELF_CHECK]})
    cell = header["cells"][0]
    assert cell["ok"] and not cell["refused"], cell
    assert "copies of its input in time" in cell["stdout"], cell     # the time measure ran there too


# --- the grader's own resources: the clean room is a second budget ------------------------------------
def test_the_clean_room_shares_the_submissions_wall_clock_budget(tmp_path):
    """Hole: the clean room is a second Sandbox with a budget of its own (run_cells starts one per
    sandbox), and the student's cells all run there again: a submission holds its worker for twice
    Limits.submission_seconds (and each restart re-runs them within each budget). Fix by design: one
    budget per submission, a deadline passed to every sandbox of it (and to grader-side callbacks)."""
    import time

    from autograder.engine.grade import grade_submission
    from autograder.engine.sandbox import Limits

    limits = Limits(request_seconds=12, submission_seconds=23)

    def seconds_to_grade(nb, name):
        folder = tmp_path / "course" / "submitted" / name / "conv_forward"
        folder.mkdir(parents=True)
        import nbformat
        nbformat.write(nb, str(folder / "conv_forward.ipynb"))
        started = time.monotonic()
        grade_submission("conv_forward", folder, name, "test-secret", tmp_path / "course", limits=limits)
        return time.monotonic() - started

    plain = seconds_to_grade(submission("conv_forward"), "plain")
    sleep = "import time\ntime.sleep(9)"
    nb = with_extra_cell(with_extra_cell(submission("conv_forward"), sleep), sleep)
    slow = seconds_to_grade(nb, "slow")   # 18 s of cells: within the 23 s budget, once (twice would be 36 s)
    assert slow - plain < limits.submission_seconds + 5, f"18 s of cells cost {slow - plain:.0f} s of grading (budget 23 s)"


def test_the_uid_mode_sweep_removes_the_uids_system_v_ipc_objects():
    """In "uid" mode there is no IPC namespace: the sweep after the submission removes what its uid made."""
    import ctypes
    import os

    from autograder.engine.sandbox import _fresh_uid, remove_ipc_of

    uid = _fresh_uid()
    pid = os.fork()
    if pid == 0:   # a process of the sandbox's uid leaves a shared memory segment and a message queue
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            libc = ctypes.CDLL(None)
            libc.shmget(0x5EF1, 4096, 0o1000 | 0o600)
            libc.msgget(0x5EF2, 0o1000 | 0o600)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert sum(owner == uid for _, _, owner in _sysv_objects_of_sandboxes()) == 2
    assert remove_ipc_of(uid) == 2
    assert not [o for o in _sysv_objects_of_sandboxes() if o[2] == uid]
