"""Correct answers never lose points: independent correct implementations (vectorised instead of loops,
other formulas, float32 inputs where allowed) pass every hidden check they meet, on many seeds, pass
`nbgrader validate` on the release notebook (the visible checks), and keep full marks when the whole
submission is graded: in a real kernel as plain nbgrader does, and by the grading engine in its sandbox."""
import pytest
from test_hidden_checks import SLOW, hidden_code, hidden_messages, namespace

from autograder.engine.sandbox import isolation
from autograder.validation import completed_release, correct_answers, validate

SEEDS = range(20)

CONV_FORWARD_VECTORISED = '''def conv_forward_naive(x, w, b, conv_param):
    """Forward pass of a convolutional layer (cross-correlation), vectorised with sliding_window_view."""
    from numpy.lib.stride_tricks import sliding_window_view
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, C, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("ncijkl,fckl->nfij", windows, w) + b[None, :, None, None]
    cache = (x, w, b, conv_param)
    return out, cache
'''

OUTPUT_SIZE_MATH = '''import math


def output_size(size, kernel, stride, pad):
    """Number of window positions along an axis."""
    return int(math.floor((size + 2 * pad - kernel) / stride)) + 1
'''

ZERO_PAD_MANUAL = '''def zero_pad(x, pad):
    """Pad H and W with zeros, by hand."""
    N, C, H, W = x.shape
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    x_pad[:, :, pad:pad + H, pad:pad + W] = x
    return x_pad
'''

MAX_POOL_FORWARD_VECTORISED = '''def max_pool_forward_naive(x, pool_param):
    """Max pooling with sliding_window_view."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))
    cache = (x, pool_param)
    return out, cache
'''

MAX_POOL_BACKWARD_NESTED = '''def max_pool_backward_naive(dout, cache):
    """Max pooling backward, one window at a time with explicit index arithmetic."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x, dtype=float)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    k = int(np.argmax(window))
                    dx[n, c, i * s + k // pw, j * s + k % pw] += dout[n, c, i, j]
    return dx
'''

AVG_POOL_FORWARD_VECTORISED = '''def avg_pool_forward_naive(x, pool_param):
    """Average pooling with sliding_window_view."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].mean(axis=(4, 5))
    cache = (x, pool_param)
    return out, cache
'''

CONV_BACKWARD_VECTORISED = '''def conv_backward_naive(dout, cache):
    """Backward pass of a conv layer with one einsum per kernel offset."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for k in range(HH):
        for l in range(WW):
            rows = slice(k, k + stride * (H_out - 1) + 1, stride)
            cols = slice(l, l + stride * (W_out - 1) + 1, stride)
            dw[:, :, k, l] = np.einsum("nfij,ncij->fc", dout, x_pad[:, :, rows, cols])
            dx_pad[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dout, w[:, :, k, l])
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db
'''

# fast_layers: correct answers without loops over the positions, some slow (index arrays, np.add.at,
# copies of sliding windows), some with the loops the notebook allows (channels, kernel offsets); the loop
# rule's time measure must leave them far under its limit (bench/loop_rule.py prints their ratios).
FAST_INDEX_ARRAYS = {
    "im2col": '''def im2col(x, HH, WW, stride, pad):
    """im2col with index arrays (fancy indexing), as in cs231n's im2col_indices."""
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    i0 = np.tile(np.repeat(np.arange(HH), WW), C)
    i1 = stride * np.repeat(np.arange(H_out), W_out)
    j0 = np.tile(np.arange(WW), HH * C)
    j1 = stride * np.tile(np.arange(W_out), H_out)
    i, j = i0.reshape(-1, 1) + i1.reshape(1, -1), j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(C), HH * WW).reshape(-1, 1)
    return x_pad[:, k, i, j].transpose(1, 0, 2).reshape(C * HH * WW, -1)
''',
    "col2im": '''def col2im(cols, x_shape, HH, WW, stride, pad):
    """col2im with index arrays and np.add.at (unbuffered: repeated indices add up)."""
    N, C, H, W = x_shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    i0 = np.tile(np.repeat(np.arange(HH), WW), C)
    i1 = stride * np.repeat(np.arange(H_out), W_out)
    j0 = np.tile(np.arange(WW), HH * C)
    j1 = stride * np.tile(np.arange(W_out), H_out)
    i, j = i0.reshape(-1, 1) + i1.reshape(1, -1), j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(C), HH * WW).reshape(-1, 1)
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    np.add.at(x_pad, (slice(None), k, i, j), cols.reshape(C * HH * WW, N, -1).transpose(1, 0, 2))
    return x_pad[:, :, pad:pad + H, pad:pad + W]
''',
    "conv_backward_im2col": '''def conv_backward_im2col(dout, cache):
    """The backward pass with one einsum per kernel offset (no cols, no col2im)."""
    x, w, b, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for k in range(HH):
        for l in range(WW):
            rows, columns = slice(k, k + stride * H_out, stride), slice(l, l + stride * W_out, stride)
            dw[:, :, k, l] = np.einsum("nfij,ncij->fc", dout, x_pad[:, :, rows, columns])
            dx_pad[:, :, rows, columns] += np.einsum("nfij,fc->ncij", dout, w[:, :, k, l])
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))
''',
    "max_pool_forward_fast": '''def max_pool_forward_fast(x, pool_param):
    """Max pooling on a view made with as_strided."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = (H - ph) // s + 1, (W - pw) // s + 1
    sN, sC, sH, sW = x.strides
    windows = np.lib.stride_tricks.as_strided(x, (N, C, H_out, W_out, ph, pw), (sN, sC, s * sH, s * sW, sH, sW))
    return windows.max(axis=(4, 5)), (x, pool_param)
''',
    "max_pool_backward_fast": '''def max_pool_backward_fast(dout, cache):
    """Max pooling backward: np.add.at at the first maximum of every window."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].reshape(N, C, H_out, W_out, ph * pw)
    first = windows.argmax(axis=4)
    rows = np.arange(H_out)[:, None] * s + first // pw
    columns = np.arange(W_out)[None, :] * s + first % pw
    dx = np.zeros(x.shape)
    np.add.at(dx, (np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None], rows, columns), dout)
    return dx
''',
    "conv1x1": '''def conv1x1_as_matmul(x, w, b):
    """A 1x1 convolution with tensordot over the channels."""
    out = np.tensordot(w[:, :, 0, 0], x, axes=([1], [1]))          # (F, N, H, W)
    return out.transpose(1, 0, 2, 3) + b[None, :, None, None]
''',
}

FAST_SLIDING_WINDOWS = {
    "im2col": '''def im2col(x, HH, WW, stride, pad):
    """im2col as a copy of sliding_window_view's windows."""
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    N, C, H_out, W_out = windows.shape[:4]
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * HH * WW, N * H_out * W_out).copy()
''',
    "col2im": '''def col2im(cols, x_shape, HH, WW, stride, pad):
    """col2im with np.bincount: every entry of cols weighs the number of the pixel it came from."""
    N, C, H, W = x_shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    pixel = np.arange(N * C * Hp * Wp).reshape(N, C, Hp, Wp)
    windows = sliding_window_view(pixel, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    target = windows.transpose(1, 4, 5, 0, 2, 3).reshape(-1)
    dx = np.bincount(target, weights=cols.reshape(-1), minlength=pixel.size).reshape(N, C, Hp, Wp)
    return dx[:, :, pad:pad + H, pad:pad + W]
''',
    "conv_forward_im2col": '''def conv_forward_im2col(x, w, b, conv_param):
    """The layer as an einsum over sliding windows (cols still built with im2col, for the cache)."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, C, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("ncijkl,fckl->nfij", windows, w) + b[None, :, None, None]
    return out, (x, w, b, conv_param, im2col(x, HH, WW, stride, pad))
''',
    "max_pool_forward_fast": '''def max_pool_forward_fast(x, pool_param):
    """Max pooling on the windows copied to one axis of ph * pw."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
    return windows.reshape(windows.shape[:4] + (ph * pw,)).max(axis=4), (x, pool_param)
''',
    "max_pool_backward_fast": '''def max_pool_backward_fast(dout, cache):
    """Max pooling backward: dout put at the argmax of each window's copy, then added back per offset."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].reshape(N, C, H_out, W_out, ph * pw)
    routed = np.zeros(windows.shape)
    np.put_along_axis(routed, windows.argmax(axis=4)[..., None], dout[..., None], axis=4)
    dx = np.zeros(x.shape)
    for k in range(ph):
        for l in range(pw):
            dx[:, :, k:k + s * H_out:s, l:l + s * W_out:s] += routed[..., k * pw + l]
    return dx
''',
    "conv1x1": '''def conv1x1_as_matmul(x, w, b):
    """A 1x1 convolution with einsum."""
    return np.einsum("fc,nchw->nfhw", w[:, :, 0, 0], x) + b[None, :, None, None]
''',
}

FAST_ALLOWED_LOOPS = {
    "im2col": '''def im2col(x, HH, WW, stride, pad):
    """im2col with loops over the channels and the kernel offsets, one row each, stacked."""
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = []
    for c in range(C):
        for k in range(HH):
            for l in range(WW):
                rows.append(x_pad[:, c, k:k + stride * H_out:stride, l:l + stride * W_out:stride].reshape(-1))
    return np.stack(rows)
''',
    "max_pool_forward_fast": '''def max_pool_forward_fast(x, pool_param):
    """Max pooling as np.maximum over the window offsets."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = (H - ph) // s + 1, (W - pw) // s + 1
    out = np.full((N, C, H_out, W_out), -np.inf)
    for k in range(ph):
        for l in range(pw):
            np.maximum(out, x[:, :, k:k + s * H_out:s, l:l + s * W_out:s], out=out)
    return out, (x, pool_param)
''',
    "max_pool_backward_fast": '''def max_pool_backward_fast(dout, cache):
    """Max pooling backward with a one-hot mask of the first maximum, added back per offset."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].reshape(N, C, H_out, W_out, ph * pw)
    routed = (np.arange(ph * pw) == windows.argmax(axis=4)[..., None]) * dout[..., None]
    dx = np.zeros(x.shape)
    for k in range(ph):
        for l in range(pw):
            dx[:, :, k:k + s * H_out:s, l:l + s * W_out:s] += routed[..., k * pw + l]
    return dx
''',
}

ALTERNATIVES = {
    "conv_forward": [
        ("conv_forward_vectorised", {"conv_forward_naive": CONV_FORWARD_VECTORISED}),
        ("output_size_with_math_floor", {"output_size": OUTPUT_SIZE_MATH}),
        ("zero_pad_by_hand", {"zero_pad": ZERO_PAD_MANUAL}),
    ],
    "pooling": [
        ("max_pool_forward_vectorised", {"max_pool_forward": MAX_POOL_FORWARD_VECTORISED}),
        ("max_pool_backward_index_arithmetic", {"max_pool_backward": MAX_POOL_BACKWARD_NESTED}),
        ("avg_pool_forward_vectorised", {"avg_pool_forward": AVG_POOL_FORWARD_VECTORISED}),
    ],
    "conv_backward": [
        ("conv_backward_einsum_per_offset", {"conv_backward_naive": CONV_BACKWARD_VECTORISED}),
    ],
    "fast_layers": [
        ("index_arrays_add_at_as_strided_tensordot", FAST_INDEX_ARRAYS),
        ("sliding_window_copies_bincount_einsum", FAST_SLIDING_WINDOWS),
        ("loops_over_channels_and_offsets", FAST_ALLOWED_LOOPS),
    ],
}
CASES = [pytest.param(a, name, cells, id=f"{a}-{name}", marks=pytest.mark.xdist_group(f"alternatives-{a}"))
         for a, variants in ALTERNATIVES.items() for name, cells in variants]


@pytest.mark.parametrize("assignment, name, cells", CASES)
def test_alternative_correct_answer_passes_every_hidden_check(assignment, name, cells):
    answers = {**correct_answers(assignment), **cells}
    codes = {cell: code for cell, code in hidden_code(assignment).items() if cell not in SLOW}
    for cell, by_seed in hidden_messages(namespace(assignment, answers), codes, SEEDS).items():
        failures = {seed: m for seed, m in by_seed.items() if m}
        assert not failures, f"{name}: {cell} fails: {next(iter(failures.values()))}"


@pytest.mark.parametrize("assignment", [pytest.param(a, marks=pytest.mark.xdist_group(f"alternatives-{a}"))
                                        for a in ALTERNATIVES])
def test_alternative_correct_answers_pass_validate(assignment, tmp_path):
    answers = correct_answers(assignment)
    notebooks = [completed_release(assignment, {**answers, **cells}) for _, cells in ALTERNATIVES[assignment]]
    for (name, _), failures in zip(ALTERNATIVES[assignment], validate(notebooks, tmp_path)):
        assert failures == [], f"{name} fails validation: {failures}"


def submissions(assignment):
    """The assignment's alternatives typed into as few submissions as possible: alternatives that answer
    different exercises go in one submission (the correct answers everywhere else), as a student hands them in."""
    groups = []
    for _, cells in ALTERNATIVES[assignment]:
        group = next((g for g in groups if not set(g) & set(cells)), None)
        if group is None:
            groups.append(group := {})
        group.update(cells)
    return [{**correct_answers(assignment), **group} for group in groups]


SUBMISSIONS = [(a, i) for a in ALTERNATIVES for i in range(len(submissions(a)))]


@pytest.mark.parametrize("assignment, index", [
    pytest.param(a, i, id=f"{a}-{i}", marks=pytest.mark.xdist_group(f"alternatives-{a}")) for a, i in SUBMISSIONS])
def test_alternative_correct_answers_keep_full_marks_in_a_kernel(assignment, index, tmp_path):
    """Plain nbgrader's way: the source notebook (hidden tests included) run top to bottom in a real kernel."""
    from conftest import run_source_with_answers, test_cell_scores

    nb = run_source_with_answers(assignment, submissions(assignment)[index], tmp_path, display=False)
    lost = {cell: score for cell, score in test_cell_scores(nb).items() if score[0] < score[1]}
    assert not lost, lost


@pytest.mark.skipif(isolation() != "namespaces", reason="needs root with unshare/setpriv (the engine's full isolation)")
@pytest.mark.parametrize("assignment, index", [   # fast_layers' sets: test_engine_redteam's slow-but-loop-free test
    pytest.param(a, i, id=f"{a}-{i}", marks=pytest.mark.xdist_group("engine")) for a, i in SUBMISSIONS
    if a != "fast_layers"])
def test_alternative_correct_answers_keep_full_marks_under_the_engine(assignment, index, tmp_path):
    """The grading engine's way: the submission graded in its sandbox (bans, loop rule, proxies)."""
    from test_engine_bans import grade

    from autograder import sample_class

    nb = sample_class.submission(assignment, submissions(assignment)[index])
    cells, _ = grade(tmp_path, assignment, nb, student="honest")
    lost = {gid: cell.error for gid, cell in cells.items() if not cell.passed}
    assert not lost, lost
