"""Calibration of the loop rule's time measure (convbook.tracing.TIME_LIMIT): the ratio it reports, CPU time of
the call over one copy of its input, for the course's answers, other correct answers (some slow: fancy
indexing, np.add.at, sliding_window_view copies, loops over the kernel offsets and the channels), and for
loops over the positions however they are driven (Python, map/itertools in C, Python numbers, untraced).

Run from the repository root:  python -m bench.loop_rule   (a few seconds; prints one table)

Each ratio is the least of TIME_TRIES measurements, exactly as the grader takes it, on the grader's time probe
(autograder.checks.fast_layers._time_probe: one channel, 2x2 kernel or window, N * H' * W' = 262,144), and
each answer's result is checked against the reference first (a wrong answer calibrates nothing).
"""
import _imp

import numpy as np

from autograder import mistakes, sample_class
from autograder.checks import fast_layers as checks
from autograder.references.conv import conv_backward_reference, conv_forward_reference
from autograder.references.fast import col2im_reference, conv1x1_reference, im2col_reference
from autograder.references.pooling import max_pool_backward_reference, max_pool_forward_reference
from convbook import tracing

# (function, kind of probe, arguments of the probe, reference)
FUNCTIONS = {
    "im2col": ("conv", lambda p: (p["x"], p["HH"], p["WW"], p["stride"], p["pad"]), im2col_reference),
    "col2im": ("conv", lambda p: (p["cols"], p["x"].shape, p["HH"], p["WW"], p["stride"], p["pad"]), col2im_reference),
    "conv_forward_im2col": ("conv", lambda p: (p["x"], p["w"], p["b"], p["conv_param"]), conv_forward_reference),
    "conv_backward_im2col": ("conv", lambda p: (p["dout"], (p["x"], p["w"], p["b"], p["conv_param"], p["cols"])),
                             lambda dout, cache: conv_backward_reference(dout, *cache[:4])),
    "max_pool_forward_fast": ("pool", lambda p: (p["x"], p["pool_param"]), max_pool_forward_reference),
    "max_pool_backward_fast": ("pool", lambda p: (p["dout"], (p["x"], p["pool_param"])),
                               lambda dout, cache: max_pool_backward_reference(dout, *cache)),
    "conv1x1_as_matmul": ("1x1", lambda p: (p["x"], p["w"], p["b"]), conv1x1_reference),
}

PRELUDE = "import numpy as np\nfrom numpy.lib.stride_tricks import sliding_window_view\n"
HONEST = {
    "im2col": {
        "sliding_window_view + copy": '''
def im2col(x, HH, WW, stride, pad):
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    N, C, Ho, Wo = win.shape[:4]
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(C * HH * WW, N * Ho * Wo).copy()
''',
        "fancy indexing (index arrays)": '''
def im2col(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    i0 = np.tile(np.repeat(np.arange(HH), WW), C)
    i1 = stride * np.repeat(np.arange(Ho), Wo)
    j0 = np.tile(np.arange(WW), HH * C)
    j1 = stride * np.tile(np.arange(Wo), Ho)
    i, j = i0.reshape(-1, 1) + i1.reshape(1, -1), j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(C), HH * WW).reshape(-1, 1)
    return x_pad[:, k, i, j].transpose(1, 0, 2).reshape(C * HH * WW, -1)
''',
        "loops over C and the offsets, np.stack": '''
def im2col(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = []
    for c in range(C):
        for k in range(HH):
            for l in range(WW):
                rows.append(x_pad[:, c, k:k + stride * Ho:stride, l:l + stride * Wo:stride].reshape(-1))
    return np.stack(rows)
''',
    },
    "col2im": {
        "np.add.at with index arrays": '''
def col2im(cols, x_shape, HH, WW, stride, pad):
    N, C, H, W = x_shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    i0 = np.tile(np.repeat(np.arange(HH), WW), C)
    i1 = stride * np.repeat(np.arange(Ho), Wo)
    j0 = np.tile(np.arange(WW), HH * C)
    j1 = stride * np.tile(np.arange(Wo), Ho)
    i, j = i0.reshape(-1, 1) + i1.reshape(1, -1), j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(C), HH * WW).reshape(-1, 1)
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    np.add.at(x_pad, (slice(None), k, i, j), cols.reshape(C * HH * WW, N, -1).transpose(1, 0, 2))
    return x_pad[:, :, pad:pad + H, pad:pad + W]
''',
        "np.bincount over pixel numbers": '''
def col2im(cols, x_shape, HH, WW, stride, pad):
    N, C, H, W = x_shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    pixel = np.arange(N * C * Hp * Wp).reshape(N, C, Hp, Wp)
    windows = sliding_window_view(pixel, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    target = windows.transpose(1, 4, 5, 0, 2, 3).reshape(-1)
    dx = np.bincount(target, weights=cols.reshape(-1), minlength=pixel.size).reshape(N, C, Hp, Wp)
    return dx[:, :, pad:pad + H, pad:pad + W]
''',
    },
    "conv_forward_im2col": {
        "einsum on sliding_window_view": '''
def conv_forward_im2col(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, C, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("ncijkl,fckl->nfij", windows, w) + b[None, :, None, None], (x, w, b, conv_param, None)
''',
    },
    "conv_backward_im2col": {
        "einsum per kernel offset": '''
def conv_backward_im2col(dout, cache):
    x, w, b, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for k in range(HH):
        for l in range(WW):
            rows, columns = slice(k, k + stride * (Ho - 1) + 1, stride), slice(l, l + stride * (Wo - 1) + 1, stride)
            dw[:, :, k, l] = np.einsum("nfij,ncij->fc", dout, x_pad[:, :, rows, columns])
            dx_pad[:, :, rows, columns] += np.einsum("nfij,fc->ncij", dout, w[:, :, k, l])
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))
''',
    },
    "max_pool_forward_fast": {
        "np.maximum over the window offsets": '''
def max_pool_forward_fast(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = (H - ph) // s + 1, (W - pw) // s + 1
    out = np.full((N, C, Ho, Wo), -np.inf)
    for k in range(ph):
        for l in range(pw):
            np.maximum(out, x[:, :, k:k + s * Ho:s, l:l + s * Wo:s], out=out)
    return out, (x, pool_param)
''',
        "np.lib.stride_tricks.as_strided, max": '''
def max_pool_forward_fast(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = (H - ph) // s + 1, (W - pw) // s + 1
    sN, sC, sH, sW = x.strides
    windows = np.lib.stride_tricks.as_strided(x, (N, C, Ho, Wo, ph, pw), (sN, sC, s * sH, s * sW, sH, sW))
    return windows.max(axis=(4, 5)), (x, pool_param)
''',
        "sliding_window_view, reshape (a copy), max": '''
def max_pool_forward_fast(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
    return windows.reshape(windows.shape[:4] + (ph * pw,)).max(axis=4), (x, pool_param)
''',
    },
    "max_pool_backward_fast": {
        "np.add.at at the argmax": '''
def max_pool_backward_fast(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].reshape(N, C, Ho, Wo, ph * pw)
    first = windows.argmax(axis=4)
    rows = np.arange(Ho)[:, None] * s + first // pw
    columns = np.arange(Wo)[None, :] * s + first % pw
    dx = np.zeros(x.shape)
    np.add.at(dx, (np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None], rows, columns), dout)
    return dx
''',
        "np.put_along_axis into the windows' copy": '''
def max_pool_backward_fast(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].reshape(N, C, Ho, Wo, ph * pw)
    routed = np.zeros(windows.shape)
    np.put_along_axis(routed, windows.argmax(axis=4)[..., None], dout[..., None], axis=4)
    dx = np.zeros(x.shape)
    for k in range(ph):
        for l in range(pw):
            dx[:, :, k:k + s * Ho:s, l:l + s * Wo:s] += routed[..., k * pw + l]
    return dx
''',
        "one-hot mask, then the offsets": '''
def max_pool_backward_fast(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].reshape(N, C, Ho, Wo, ph * pw)
    routed = (np.arange(ph * pw) == windows.argmax(axis=4)[..., None]) * dout[..., None]
    dx = np.zeros(x.shape)
    for k in range(ph):
        for l in range(pw):
            dx[:, :, k:k + s * Ho:s, l:l + s * Wo:s] += routed[..., k * pw + l]
    return dx
''',
    },
    "conv1x1_as_matmul": {
        "einsum": '''
def conv1x1_as_matmul(x, w, b):
    return np.einsum("fc,nchw->nfhw", w[:, :, 0, 0], x) + b[None, :, None, None]
''',
        "tensordot": '''
def conv1x1_as_matmul(x, w, b):
    return np.tensordot(w[:, :, 0, 0], x, axes=([1], [1])).transpose(1, 0, 2, 3) + b[None, :, None, None]
''',
    },
}

LOOPED = {
    "im2col": {
        "MAPPED_IN_C (map over itertools.product)": '''
def im2col(x, HH, WW, stride, pad):
    import itertools
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = map(slice, range(0, stride * H_out, stride), range(HH, stride * H_out + HH, stride))
    cols = map(slice, range(0, stride * W_out, stride), range(WW, stride * W_out + WW, stride))
    index = itertools.product(range(N), [slice(None)], rows, cols)
    windows = np.array(list(map(x_pad.__getitem__, index)))
    return windows.reshape(N * H_out * W_out, C * HH * WW).T.copy()
''',
        "Python numbers zipped per position (tolist, zip)": '''
def im2col(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    pixels = [x_pad[:, c, k:k + stride * Ho:stride, l:l + stride * Wo:stride].ravel().tolist()
              for c in range(C) for k in range(HH) for l in range(WW)]
    return np.array(list(zip(*pixels))).T
''',
        "position loop, untraced (audit hook, relabel, compile+FunctionType)": "UNTRACED",
    },
    "col2im": {
        "map of np.add over window views": '''
def col2im(cols, x_shape, HH, WW, stride, pad):
    import itertools
    N, C, H, W = x_shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    dx = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    patches = cols.reshape(C, HH, WW, N, Ho, Wo).transpose(3, 4, 5, 0, 1, 2).reshape(-1, C, HH, WW)
    rows = [slice(i * stride, i * stride + HH) for i in range(Ho)]
    columns = [slice(j * stride, j * stride + WW) for j in range(Wo)]
    views = list(map(dx.__getitem__, itertools.product(range(N), [slice(None)], rows, columns)))
    list(map(np.add, views, patches, views))
    return dx[:, :, pad:pad + H, pad:pad + W]
''',
    },
    "conv_forward_im2col": {
        "one np.dot per position, mapped": '''
def conv_forward_im2col(x, w, b, conv_param):
    import itertools
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = [slice(i * stride, i * stride + HH) for i in range(Ho)]
    columns = [slice(j * stride, j * stride + WW) for j in range(Wo)]
    windows = map(x_pad.__getitem__, itertools.product(range(N), [slice(None)], rows, columns))
    out = np.array(list(map(np.ravel, windows))) @ w.reshape(F, -1).T + b
    return out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2), (x, w, b, conv_param, None)
''',
    },
    "max_pool_forward_fast": {
        "builtin max mapped over Python numbers": '''
def max_pool_forward_fast(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = (H - ph) // s + 1, (W - pw) // s + 1
    pixels = [x[:, :, k:k + s * Ho:s, l:l + s * Wo:s].ravel().tolist() for k in range(ph) for l in range(pw)]
    return np.array(list(map(max, *pixels))).reshape(N, C, Ho, Wo), (x, pool_param)
''',
        "window views mapped (itertools.product)": '''
def max_pool_forward_fast(x, pool_param):
    import itertools
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = (H - ph) // s + 1, (W - pw) // s + 1
    rows = [slice(i * s, i * s + ph) for i in range(Ho)]
    columns = [slice(j * s, j * s + pw) for j in range(Wo)]
    windows = np.array(list(map(x.__getitem__, itertools.product(range(N), [slice(None)], rows, columns))))
    return windows.max(axis=(2, 3)).reshape(N, Ho, Wo, C).transpose(0, 3, 1, 2), (x, pool_param)
''',
    },
    "max_pool_backward_fast": {
        "np.add mapped over window views": '''
def max_pool_backward_fast(dout, cache):
    import itertools
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].reshape(N, C, Ho, Wo, ph * pw)
    routed = ((np.arange(ph * pw) == windows.argmax(axis=4)[..., None]) * dout[..., None])
    patches = routed.transpose(0, 2, 3, 1, 4).reshape(-1, C, ph, pw)
    dx = np.zeros(x.shape)
    rows = [slice(i * s, i * s + ph) for i in range(Ho)]
    columns = [slice(j * s, j * s + pw) for j in range(Wo)]
    views = list(map(dx.__getitem__, itertools.product(range(N), [slice(None)], rows, columns)))
    list(map(np.add, views, patches, views))
    return dx
''',
    },
    "conv1x1_as_matmul": {
        "w @ pixel, mapped over the pixels": '''
def conv1x1_as_matmul(x, w, b):
    N, C, H, W = x.shape
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out = np.array(list(map(w[:, :, 0, 0].__matmul__, pixels))) + b
    return out.reshape(N, H, W, -1).transpose(0, 3, 1, 2)
''',
    },
}

POSITION_LOOP = '''
def im2col(x, HH, WW, stride, pad):
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


def load(source, name):
    namespace = {}
    exec(compile(PRELUDE + source, f"<{name}>", "exec"), namespace)
    return namespace


def untraced_position_loop():
    """The position loop with its code labelled as numpy's: no line of it is counted (what an audit hook of
    the student's, or code compiled and relabelled without exec, achieved before the time measure)."""
    code = compile(PRELUDE + POSITION_LOOP, "<untraced>", "exec")
    namespace = {}
    exec(code, namespace)
    for const in namespace["im2col"].__code__.co_consts:
        if hasattr(const, "co_filename"):
            _imp._fix_co_filename(const, np.__file__)
    _imp._fix_co_filename(namespace["im2col"].__code__, np.__file__)
    return namespace["im2col"]


def answers():
    """(function, label, looped?, callable) of every answer in the table."""
    course = sample_class.correct_answers("fast_layers")
    reference = load("\n".join(course[k] for k in ("im2col", "col2im", "conv_forward_im2col", "conv_backward_im2col",
                                                    "max_pool_forward_fast", "max_pool_backward_fast", "conv1x1")),
                     "course")
    rows = [(name, "the course's answer", False, reference[name]) for name in FUNCTIONS]
    for name, variants in HONEST.items():
        rows += [(name, label, False, load(source, label)[name]) for label, source in variants.items()]
    slow_helpers = HONEST["im2col"]["fancy indexing (index arrays)"] + HONEST["col2im"]["np.add.at with index arrays"]
    for name in ("conv_forward_im2col", "conv_backward_im2col"):
        layer = load(slow_helpers + course[name], name)[name]
        rows.append((name, "the course's layer on fancy-indexing im2col, np.add.at col2im", False, layer))
    for mistake in mistakes.catalogue("fast_layers").MISTAKES:
        if "loop" in mistake.name:
            function = {"conv1x1": "conv1x1_as_matmul"}.get(mistake.cell, mistake.cell)
            module = load(mistake.apply(course)[mistake.cell], mistake.name)
            rows.append((function, f"catalogue: {mistake.name}", True, module[function]))
    rows.append(("im2col", "POSITION_LOOP (tests/test_engine_bans.py), traced", True, load(POSITION_LOOP, "loop")["im2col"]))
    for name, variants in LOOPED.items():
        for label, source in variants.items():
            rows.append((name, label, True, untraced_position_loop() if source == "UNTRACED" else load(source, label)[name]))
    return rows


def main():
    table = []
    for name, label, looped, fn in answers():
        kind, args_of, reference = FUNCTIONS[name]
        probe = checks._time_probe(0, kind)
        args = args_of(probe)
        got, expected = fn(*args), reference(*args)
        got, expected = (v[0] if isinstance(v, tuple) else v for v in (got, expected))
        assert np.allclose(got, expected), f"{name}: {label} is wrong on the probe"
        count = tracing.least_ratio(lambda: tracing.count_lines(fn, args))
        table.append((looped, name, label, tracing.time_ratio(count), count["cpu_ns"] / 1e6, count["unit_ns"] / 1e6))
    print(f"{'':7s} {'function':23s} {'answer':62s} {'ratio':>8s} {'call ms':>9s} {'unit ms':>8s}")
    for looped, name, label, ratio, call, unit in sorted(table, key=lambda row: (row[0], row[3])):
        print(f"{'LOOPED' if looped else 'honest':7s} {name:23s} {label:62s} {ratio:8.1f} {call:9.2f} {unit:8.3f}")
    honest = max(r[3] for r in table if not r[0])
    looped = min(r[3] for r in table if r[0])
    print(f"\nTIME_LIMIT {tracing.TIME_LIMIT}: slowest honest answer {honest:.1f} ({tracing.TIME_LIMIT / honest:.1f}x "
          f"under the limit), fastest loop {looped:.1f} ({looped / tracing.TIME_LIMIT:.1f}x over it)")


if __name__ == "__main__":
    main()
