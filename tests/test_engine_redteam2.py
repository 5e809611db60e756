"""Red-team review of the loop rule of fast_layers (round 2): looped answers that scored, and honest answers
that lost. Each is a real submission graded by grade_submission (what `python -m autograder grade` runs),
asserting the SECURE behaviour.

The holes closed are ordinary tests. The holes still open are marked `open_hole` and xfail(strict): `make
test` leaves them out (one measures within 1.3x of the limit and could pass on a quiet machine), `make
test-open-holes` runs them, and one that starts passing (the hole closed) fails there until its marks go.

Numbers quoted are from `python -m autograder grade` on this machine (2 cores shared, load 3-4).
"""
import pytest
from test_engine_attacks import with_extra_cell
from test_engine_bans import IM2COL, POSITION_LOOP, assert_zero, grade, submission

from autograder.engine.sandbox import isolation

pytestmark = [
    pytest.mark.xdist_group("engine"),
    pytest.mark.skipif(isolation() != "namespaces",
                       reason="needs root with unshare/setpriv (the engine's full isolation)"),
]
CONV_LAYERS = ("test_conv_forward_im2col", "test_conv_forward_im2col_hidden", "test_conv_backward_im2col",
               "test_conv_backward_im2col_hidden")


# --- the time measure is taken on an input the student's code can tell apart ---------------------------
DISPATCH_ON_THE_TIME_PROBE = '''\
def im2col(x, HH, WW, stride, pad):
    """A position loop driven from C (one x_pad[n, :, i:i+HH, j:j+WW] per position), except on an input
    that looks like the time measure's (one channel, very many positions), which gets a vectorised path."""
    import itertools
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if C == 1 and N * H_out * W_out > 100_000:
        return np.stack([x_pad[:, 0, k:k + stride * H_out:stride, l:l + stride * W_out:stride].reshape(-1)
                         for k in range(HH) for l in range(WW)])
    rows = map(slice, range(0, stride * H_out, stride), range(HH, stride * H_out + HH, stride))
    cols = map(slice, range(0, stride * W_out, stride), range(WW, stride * W_out + WW, stride))
    index = itertools.product(range(N), [slice(None)], rows, cols)
    windows = np.array(list(map(x_pad.__getitem__, index)))
    return windows.reshape(N * H_out * W_out, C * HH * WW).T.copy()
'''


@pytest.mark.open_hole
@pytest.mark.xfail(strict=True, reason="hole: the time probe (one channel, 262,144 positions) is recognisable, "
                                       "so a loop driven from C runs on every other input")
def test_a_loop_that_steps_aside_for_the_time_probe_scores_zero(tmp_path):
    """Hole: the time measure runs on one input of a shape no other graded call has (C = 1, N*H'*W' =
    262,144); a C-driven position loop (MAPPED_IN_C: 9 lines on any input) sends that input to a vectorised
    path and loops everywhere else. Graded: full marks, "34 copies". Fix by design: what is measured must be
    what is graded: time (and count) the calls whose values are graded, on inputs drawn like them (random
    channels, kernels and sizes from the seed), so that no path is taken only when measured."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", im2col=DISPATCH_ON_THE_TIME_PROBE))
    assert_zero(cells, IM2COL)


LOOP_UNLESS_TRACED = '''\
def col2im(cols, x_shape, HH, WW, stride, pad):
    """A plain Python loop over every position, except while a trace function is set (the loop rule's count)."""
    import sys
    N, C, H, W = x_shape
    H_out = (H + 2 * pad - HH) // stride + 1
    W_out = (W + 2 * pad - WW) // stride + 1
    dx_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    if sys.gettrace() is None:
        column = 0
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    dx_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW] += cols[:, column].reshape(C, HH, WW)
                    column += 1
        return dx_pad[:, :, pad:pad + H, pad:pad + W]
    cols = cols.reshape(C, HH, WW, N, H_out, W_out)
    for k in range(HH):
        for l in range(WW):
            dx_pad[:, :, k:k + stride * H_out:stride, l:l + stride * W_out:stride] += cols[:, k, l].transpose(1, 0, 2, 3)
    return dx_pad[:, :, pad:pad + H, pad:pad + W]
'''


@pytest.mark.open_hole
@pytest.mark.xfail(strict=True, reason="hole: sys.gettrace() tells the student's code when it is measured")
def test_a_loop_run_only_while_no_trace_function_is_set_scores_zero(tmp_path):
    """Hole: the values are graded on calls that run untraced and untimed, the loop rule on calls that run
    under the guard's trace function, which sys.gettrace() (no audit event) shows: a plain Python loop over
    every position, taken only when sys.gettrace() is None, scores full marks ("25 Python lines on the small
    input, 25 on the large one; 4 copies"). Fix by design: the same as above: the graded calls are the
    measured ones (every call of a loop-ruled function runs under the counter and the clock), so there is
    no unmeasured path to take."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", col2im=LOOP_UNLESS_TRACED))
    assert_zero(cells, ("test_col2im", "test_col2im_hidden"))


# --- the time measure's retries run on the same input --------------------------------------------------
REMEMBERED_ON_RETRY = '''\
_SEEN = {}
def max_pool_forward_fast(x, pool_param):
    """builtin max mapped over Python numbers, per position (a loop in C), remembered per input: the time
    measure's second try on the same input is a dictionary lookup."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    key = (x.shape, ph, pw, stride, hash(x.tobytes()))
    if key not in _SEEN:
        windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::stride, ::stride]
        N, C, H_out, W_out = windows.shape[:4]
        flat = windows.reshape(-1, ph * pw).tolist()
        _SEEN[key] = np.array(list(map(max, flat))).reshape(N, C, H_out, W_out)
    return _SEEN[key].copy(), (x, pool_param)
'''


def test_a_loop_whose_retry_is_served_from_a_cache_scores_zero(tmp_path):
    """Closed: every try of the time measure gets an input of its own (fast_layers._next_draw).

    Was: hole: a call over TIME_LIMIT is measured again (TIME_TRIES) on the very same input; builtin max mapped
    over Python numbers (~800 copies, over the limit, under 10x it) remembers its result keyed on the input's
    bytes, so the retry is a dictionary lookup and the least of the tries is "12 copies": full marks. Fix by
    design: no state of the student's may serve a measured call: every try gets a fresh input (a new draw
    from the seed), and the values each try returns are checked."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", max_pool_forward_fast=REMEMBERED_ON_RETRY))
    assert_zero(cells, ("test_max_pool_forward_fast",))


# --- CPU time spent in threads that end before the count does ------------------------------------------
WORKERS_THAT_END = '''\
import os, queue, sys, threading, time
_jobs = []
def _one_job(inbox, outbox):
    fn, args = inbox.get()
    outbox.put(fn(*args))
def _start_workers(n):
    for _ in range(n):
        inbox, outbox = queue.Queue(), queue.Queue()
        thread = threading.Thread(target=_one_job, args=(inbox, outbox), daemon=True)
        thread.start()
        _jobs.append((thread, inbox, outbox))
try:
    _start_workers(12)
except RuntimeError:
    pass
def run_elsewhere(fn, *args):
    """fn(*args) in a worker thread that has ended (gone from /proc/self/task) when this returns, while
    the loop rule counts (its CPU time and lines are nobody's); inline otherwise."""
    if sys.gettrace() is None or not _jobs:
        return fn(*args)
    thread, inbox, outbox = _jobs.pop()
    inbox.put((fn, args))
    result = outbox.get()
    thread.join()
    while os.path.exists(f"/proc/self/task/{thread.native_id}"):
        time.sleep(0.001)
    return result
'''

POOL_BACKWARD_IN_A_WORKER = '''\
def _backward_loop(dout, x, ph, pw, stride):
    N, C, H_out, W_out = dout.shape
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    k = int(np.argmax(window))
                    dx[n, c, i * stride + k // pw, j * stride + k % pw] += dout[n, c, i, j]
    return dx

def max_pool_backward_fast(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return run_elsewhere(_backward_loop, dout, x, ph, pw, stride)
'''


def test_a_loop_in_worker_threads_that_end_during_the_count_scores_zero(tmp_path):
    """Closed: other threads are charged by the process's CPU clock, which keeps the time of threads that ended.

    Was: hole: the call is timed with its own thread's clock (thread_time_ns), and other threads are judged by
    the CPU time of those still alive at the end (/proc/self/task/*/schedstat). Threads started before any
    count (allowed: a progress bar's monitor) each take one measured call, run a plain Python position loop
    (untraced: settrace is per thread) and end before the call returns: full marks ("4 copies", 10 lines),
    no flag. Fix by design: charge the measured call the CPU time of the whole process (RUSAGE_SELF /
    process_time, which keeps the time of threads that ended), and trace every thread while counting."""
    nb = submission("fast_layers", max_pool_backward_fast=POOL_BACKWARD_IN_A_WORKER)
    nb = with_extra_cell(nb, WORKERS_THAT_END, after="max_pool_forward_fast")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, ("test_max_pool_backward_fast", "test_max_pool_backward_fast_hidden"))


# --- code that looks like a library's by the text of its path ------------------------------------------
ROWS_LOOP_MODULE = '''\
import os, sys
_source = """
import numpy as np
def rows_loop(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C, HH, WW, N, H_out, W_out))
    for n in range(N):                      # a Python loop over the images ...
        for i in range(H_out):              # ... and the output rows
            for k in range(HH):
                for l in range(WW):
                    cols[:, k, l, n, i] = x_pad[n, :, i * stride + k, l:l + stride * W_out:stride]
    return cols.reshape(C * HH * WW, N * H_out * W_out)
"""
with open("/tmp/rows_loop.py", "w") as f:
    f.write(_source)
_library = next(p for p in sys.path if p.endswith("site-packages"))
sys.path.insert(0, _library + "/.." * 20 + "/tmp")     # a path that starts with site-packages' own folder
import rows_loop as _rows
'''

IM2COL_BY_ROWS = '''\
def im2col(x, HH, WW, stride, pad):
    return _rows.rows_loop(x, HH, WW, stride, pad)
'''


def test_a_loop_in_a_module_under_a_dotted_library_path_scores_zero(tmp_path):
    """Closed: library code is decided on the real path of its file.

    Was: hole: library code is told by co_filename.startswith(library folder), and a module imported through
    sys.path entry "<site-packages>/../../(...)/tmp" has such a file name; its compile is "genuine" (the
    file at that path has that source), so its code is not the student's: a Python loop over the images and
    the output rows (1,024 rows on the time probe: 36 copies) runs "1 Python line on the small input, 1 on
    the large one": full marks. Fix by design: decide library code on the resolved real path
    (os.path.realpath at the "compile"/"exec" events and in the tracer), or better by identity: only code
    objects that existed before the guard, or loaded from a real file of a library folder, are a library's."""
    nb = submission("fast_layers", im2col=IM2COL_BY_ROWS)
    nb = with_extra_cell(nb, ROWS_LOOP_MODULE, after="im2col")
    cells, result = grade(tmp_path, "fast_layers", nb)
    assert_zero(cells, IM2COL)


# --- what a time measure cannot see: per-position work that is cheap enough ---------------------------
BLOCKS_OF_8_POSITIONS = '''\
def im2col(x, HH, WW, stride, pad):
    """A loop over blocks of 8 output positions along W' (one numpy getitem per block), driven from C."""
    import itertools
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    k = 8
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad + k * stride)))   # room for a last, partial block
    rows = map(slice, range(0, stride * H_out, stride), range(HH, stride * H_out + HH, stride))
    step = k * stride
    blocks_j = map(slice, range(0, stride * W_out, step), range(step - stride + WW, stride * W_out + step + WW, step))
    index = itertools.product(range(N), [slice(None)], rows, list(blocks_j))
    blocks = np.array(list(map(x_pad.__getitem__, index)))     # (N * H' * ceil(W'/k), C, HH, (k-1)*S + WW)
    windows = sliding_window_view(blocks, (HH, WW), axis=(2, 3))[:, :, 0, ::stride]   # (B, C, k, HH, WW)
    cols = windows.transpose(1, 3, 4, 0, 2).reshape(C, HH, WW, N, H_out, -1)[..., :W_out]
    return cols.reshape(C * HH * WW, N * H_out * W_out)
'''


@pytest.mark.open_hole
@pytest.mark.xfail(strict=True, reason="hole: a C-driven loop over blocks of 8 positions costs ~150 copies")
def test_a_loop_over_blocks_of_eight_positions_driven_from_c_scores_zero(tmp_path):
    """Hole (beyond the README's stated limit, a loop over ONE axis driven from C): one numpy getitem per
    block of 8 positions along W', mapped in C over N x H' x W'/8 = 32,768 blocks, runs 12 lines on any
    input and measures 147 copies (in process: blocks of 1 ~860, 4 ~230, 8 ~115-155, 16 ~60, 32 ~35).
    Any loop whose per-iteration cost, spread over the positions of one iteration, stays under ~130 ns
    (TIME_LIMIT x one copy / 262,144 positions) is invisible to the time measure. Fix: a time measure
    cannot separate blocks from vectorised code; count iterations instead, e.g. the calls into numpy (or
    allocations) per call on two inputs that differ only in N, H', W', like the line count."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", im2col=BLOCKS_OF_8_POSITIONS))
    assert_zero(cells, IM2COL)


PYTHON_NUMBERS_1X1 = '''\
def conv1x1_as_matmul(x, w, b):
    """Python numbers multiplied and added per position (map, in C); loops over F and C only."""
    import operator
    N, C, H, W = x.shape
    F = w.shape[0]
    planes = x.transpose(1, 0, 2, 3).reshape(C, -1).tolist()     # C lists of N*H*W Python numbers
    out = np.empty((F, N * H * W))
    for f in range(F):
        acc = map(float(w[f, 0, 0, 0]).__mul__, planes[0])
        for c in range(1, C):
            acc = map(operator.add, acc, map(float(w[f, c, 0, 0]).__mul__, planes[c]))
        out[f] = np.fromiter(acc, float, N * H * W)
    return out.reshape(F, N, H, W).transpose(1, 0, 2, 3) + b[None, :, None, None]
'''


@pytest.mark.open_hole
@pytest.mark.xfail(strict=True, reason="hole: arithmetic on Python numbers mapped in C costs ~160-180 copies")
def test_python_numbers_multiplied_per_position_score_zero(tmp_path):
    """Hole: tracing.py says loops of Python numbers (340) are caught with 1.5x to spare; tolist, a bound
    float.__mul__ mapped in C and np.fromiter do each position in Python numbers (a loop over F and C only in
    the student's lines) for 155-180 copies in process, 180 graded: full marks. (Pool forward by
    operator.gt mapped over Python numbers graded 214.) Fix: the same as above: count what runs per
    position (Python objects made, C calls) on two sizes, not the time."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", conv1x1=PYTHON_NUMBERS_1X1))
    assert_zero(cells, ("test_conv1x1",))


# --- honest answers: a library the helper may use is banned in the layer that must call the helper ------
SPARSE_IM2COL = '''\
def im2col(x, HH, WW, stride, pad):
    """im2col as one sparse selection matrix (scipy.sparse) times the flattened padded input."""
    import scipy.sparse
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    Hp, Wp = H + 2 * pad, W + 2 * pad
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    c, k, l, n, i, j = np.ix_(np.arange(C), np.arange(HH), np.arange(WW), np.arange(N), np.arange(H_out), np.arange(W_out))
    source = ((n * C + c) * Hp + i * stride + k) * Wp + j * stride + l       # (C, HH, WW, N, H', W')
    rows = np.arange(source.size)
    select = scipy.sparse.csr_matrix((np.ones(source.size), (rows, source.ravel())), shape=(source.size, x_pad.size))
    return (select @ x_pad.ravel()).reshape(C * HH * WW, N * H_out * W_out)
'''


def test_a_library_allowed_in_im2col_does_not_cost_the_layers_that_call_it(tmp_path):
    """Closed: the layers ban scipy's convolutions (scipy.signal, ndimage, fft), not scipy.

    Was: honest answer lost 7 points: FORBIDDEN allows scipy in im2col (im2col passes: 114 copies) but bans it
    in conv_forward_im2col / conv_backward_im2col, which must call the student's im2col / col2im; in their
    clean room scipy.sparse does not exist, so both layers score 0 with "conv_forward_im2col used
    scipy.sparse ... build the layer on your im2col", which is what the student did. Fix by design: bans
    consistent along the calls the notebook requires (a helper's allowed libraries are allowed where its
    callers are graded, or the helper is banned what its callers are, and the notebook says so)."""
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", im2col=SPARSE_IM2COL))
    assert cells["test_im2col"].passed, cells["test_im2col"].error
    for gid in CONV_LAYERS:
        assert cells[gid].passed, (gid, cells[gid].error)


# --- one mistake billed once: a helper's loop excuses the layer's own loop from the time measure -------
# the plain Python loop over every position of test_engine_bans, as the student's im2col (its points are lost, once)
POSITION_LOOP_IM2COL = POSITION_LOOP.replace("def position_loop(", "def im2col(", 1)
LAYER_MAPPED_IN_C = '''\
def conv_forward_im2col(x, w, b, conv_param):
    """Its own position loop, driven from C (one x_pad[n, :, i:i+HH, j:j+WW] per position); im2col unused."""
    import itertools
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = map(slice, range(0, stride * H_out, stride), range(HH, stride * H_out + HH, stride))
    columns = map(slice, range(0, stride * W_out, stride), range(WW, stride * W_out + WW, stride))
    index = itertools.product(range(N), [slice(None)], rows, columns)
    windows = np.array(list(map(x_pad.__getitem__, index))).reshape(N * H_out * W_out, C * HH * WW)
    out = (windows @ w.reshape(F, -1).T + b).reshape(N, H_out, W_out, F).transpose(0, 3, 1, 2)
    return out, (x, w, b, conv_param, windows.T.copy())
'''


@pytest.mark.open_hole
@pytest.mark.xfail(strict=True, reason="hole: a looped im2col excuses conv_forward_im2col's own loop from the time "
                                       "measure in the hidden check")
def test_a_looped_helper_does_not_excuse_a_loop_of_the_layers_own(tmp_path):
    """Hole: when im2col's own check found a loop (same seed), the hidden check of conv_forward_im2col
    skips the layer's time measure altogether (verdict_loop_rule: `if message or many is None or
    excused`), whether or not the layer's time is im2col's. A layer with its own position loop mapped in C
    (845-866 copies with a correct im2col, which scores 0 there), beside a plainly looped im2col (0, 3
    points lost once), keeps conv_forward_im2col_hidden (2 points); the visible cell's own
    check_no_position_loops, which excuses by the helper's lines in that call, fails it (866): the two
    disagree. Fix by design: bill the layer for what is its own: time it with the reference helpers bound
    in its namespace (with_reference_helpers), and excuse only the helper's share, as the lines are."""
    answers = {"im2col": POSITION_LOOP_IM2COL, "conv_forward_im2col": LAYER_MAPPED_IN_C}
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", **answers))
    assert_zero(cells, IM2COL)
    assert_zero(cells, ("test_conv_forward_im2col", "test_conv_forward_im2col_hidden"))


POOL_FORWARD_ON_IM2COL = '''\
def max_pool_forward_fast(x, pool_param):
    """Max pooling on the student's own im2col (each channel as an image of one channel): cs231n's way."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = (H - ph) // stride + 1, (W - pw) // stride + 1
    cols = im2col(x.reshape(N * C, 1, H, W), ph, pw, stride, 0)      # (ph * pw, N * C * H' * W')
    out = cols.max(axis=0).reshape(N, C, H_out, W_out)
    return out, (x, pool_param)
'''
POOL_BACKWARD_ON_COL2IM = '''\
def max_pool_backward_fast(dout, cache):
    """The gradient routed to each window's first maximum in im2col's layout, added back by the student's col2im."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    cols = im2col(x.reshape(N * C, 1, H, W), ph, pw, stride, 0)
    first = cols.argmax(axis=0)
    dcols = np.zeros_like(cols)
    dcols[first, np.arange(cols.shape[1])] = dout.reshape(-1)
    return col2im(dcols, (N * C, 1, H, W), ph, pw, stride, 0).reshape(x.shape)
'''


def test_a_loop_in_im2col_is_billed_once_when_pooling_is_built_on_it(tmp_path):
    """Closed: every loop-ruled layer excuses a helper whose own check found the loop.

    Was: one mistake, billed three times: max pooling built on the student's own im2col / col2im (cs231n's
    way: each channel an image of one channel; 24/24 with a correct im2col) loses im2col's 3 points and
    also max_pool_forward_fast (2) and max_pool_backward_fast (1 + 2) to the same loop ("line 10 of im2col
    ... ran"), while conv_forward_im2col on it is excused. The excuse is a fixed list (HELPERS, for the conv
    layers only). Fix by design: bill lines by the function they belong to, for every loop-ruled check:
    growth in the lines of another graded function whose own check failed is that function's, whoever
    calls it."""
    answers = {"im2col": POSITION_LOOP_IM2COL, "max_pool_forward_fast": POOL_FORWARD_ON_IM2COL,
               "max_pool_backward_fast": POOL_BACKWARD_ON_COL2IM}
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", **answers))
    assert_zero(cells, IM2COL)
    for gid in ("test_max_pool_forward_fast", "test_max_pool_backward_fast", "test_max_pool_backward_fast_hidden"):
        assert cells[gid].passed, (gid, cells[gid].error)


LAYER_WITH_A_LOCAL_IM2COL = '''\
def conv_forward_im2col(x, w, b, conv_param):
    """A plain Python loop over every position, in a local function that happens to be called im2col."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))

    def im2col():
        out = np.empty((N, F, H_out, W_out))
        for n in range(N):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, :, i, j] = (w * window).sum(axis=(1, 2, 3)) + b
        return out

    return im2col(), (x, w, b, conv_param, None)
'''


def test_a_layers_own_loop_in_a_function_named_like_the_helper_scores_zero(tmp_path):
    """Closed: lines are billed to a helper by the identity of its code.

    Was: hole: the excuse bills lines to a helper by co_name (looping_helpers sums per_line entries whose
    function is "im2col"): a plain Python loop over every position in conv_forward_im2col's own local
    function named im2col, beside a looped im2col (0, its 3 points), scores conv_forward_im2col's 3 points:
    "the loop is in your im2col, whose own check fails ... Your conv_forward_im2col's own lines do not loop".
    Fix by design: attribute lines by code identity (the code objects of the function graded as im2col,
    and those nested in it), not by name; and time the layer on the reference helpers (see above)."""
    answers = {"im2col": POSITION_LOOP_IM2COL, "conv_forward_im2col": LAYER_WITH_A_LOCAL_IM2COL}
    cells, result = grade(tmp_path, "fast_layers", submission("fast_layers", **answers))
    assert_zero(cells, IM2COL)
    assert_zero(cells, ("test_conv_forward_im2col", "test_conv_forward_im2col_hidden"))
