"""Calibration of the loop rule's time measure (convbook.tracing.TIME_LIMIT): the ratio it reports, CPU time of
the call over one copy of its input, for the course's answers, other correct answers (some slow: fancy
indexing, np.add.at, sliding_window_view copies, loops over the kernel offsets and the channels), and for
loops over the positions however they are driven (Python, map/itertools in C, Python numbers, untraced).

Run from the repository root:  python -m bench.loop_rule   (a few seconds; prints one table)
                               python -m bench.loop_rule --sandbox   (the same, measured by the grading
                               sandbox's guard, as the grader measures it: traced, one BLAS thread)

Each ratio is the least of TIME_TRIES measurements, exactly as the grader takes it, on the grader's time probe
(autograder.checks.fast_layers._time_probe: one channel, 2x2 kernel or window, N * H' * W' = 262,144), and
each answer's result is checked against the reference first (a wrong answer calibrates nothing).
"""
import _imp
import sys

import numpy as np

from autograder import mistakes, sample_class
from autograder.checks import fast_layers as checks
from autograder.paths import REPO
from autograder.references.conv import conv_backward_reference, conv_forward_reference
from autograder.references.fast import col2im_reference, conv1x1_reference, im2col_reference
from autograder.references.pooling import max_pool_backward_reference, max_pool_forward_reference
from convbook import tracing

sys.path.insert(0, str(REPO / "tests"))   # the answers the tests grade are the ones calibrated here
from test_alternative_answers import ALTERNATIVES
from test_engine_bans import POSITION_LOOP
from test_engine_redteam import MAPPED_IN_C

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
GRADE_IDS = {"conv1x1": "conv1x1_as_matmul"}   # the answer cell of a function, where its name differs

LOOPED = {
    "im2col": {
        "MAPPED_IN_C (tests/test_engine_redteam.py)": MAPPED_IN_C,
        "Python numbers zipped per position (tolist, zip)": '''
def im2col(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    pixels = [x_pad[:, c, k:k + stride * Ho:stride, l:l + stride * Wo:stride].ravel().tolist()
              for c in range(C) for k in range(HH) for l in range(WW)]
    return np.array(list(zip(*pixels))).T
''',
        "POSITION_LOOP untraced (audit hook, relabel, compile+FunctionType)": "UNTRACED",
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



def load(source, name):
    namespace = {"__source__": source}
    exec(compile(PRELUDE + source, f"<{name}>", "exec"), namespace)
    return namespace


def untraced_position_loop():
    """The position loop with its code labelled as numpy's: no line of it is counted (what an audit hook of
    the student's, or code compiled and relabelled without exec, achieved before the time measure)."""
    code = compile(PRELUDE + POSITION_LOOP, "<untraced>", "exec")
    _imp._fix_co_filename(code, np.__file__)
    namespace = {}
    exec(code, namespace)
    return _calling(namespace["position_loop"])


def _calling(position_loop):
    """A function of the student's (counted) that calls position_loop (not counted)."""
    namespace = {"position_loop": position_loop}
    exec(compile("def im2col(*args):\n    return position_loop(*args)\n", "<student>", "exec"), namespace)
    return namespace["im2col"]


def answers():
    """(function, label, looped?, callable) of every answer in the table."""
    course = sample_class.correct_answers("fast_layers")
    reference = load("\n".join(course[k] for k in ("im2col", "col2im", "conv_forward_im2col", "conv_backward_im2col",
                                                    "max_pool_forward_fast", "max_pool_backward_fast", "conv1x1")),
                     "course")
    rows = [(name, "the course's answer", False, reference[name]) for name in FUNCTIONS]
    for label, cells in ALTERNATIVES["fast_layers"]:
        for cell, source in cells.items():
            name = GRADE_IDS.get(cell, cell)
            rows.append((name, label, False, load("\n".join((course["im2col"], course["col2im"], source)), label)[name]))
    slow = dict(ALTERNATIVES["fast_layers"])["index_arrays_add_at_as_strided_tensordot"]
    for name in ("conv_forward_im2col", "conv_backward_im2col"):
        layer = load("\n".join((slow["im2col"], slow["col2im"], course[name])), name)[name]
        rows.append((name, "the course's layer on index_arrays' im2col and col2im", False, layer))
    for mistake in mistakes.catalogue("fast_layers").MISTAKES:
        if "loop" in mistake.name:
            function = {"conv1x1": "conv1x1_as_matmul"}.get(mistake.cell, mistake.cell)
            module = load(mistake.apply(course)[mistake.cell], mistake.name)
            rows.append((function, f"catalogue: {mistake.name}", True, module[function]))
    rows.append(("im2col", "POSITION_LOOP (tests/test_engine_bans.py), traced", True,
                 load(POSITION_LOOP, "loop")["position_loop"]))
    for name, variants in LOOPED.items():
        for label, source in variants.items():
            rows.append((name, label, True, untraced_position_loop() if source == "UNTRACED" else load(source, label)[name]))
    return rows


def in_sandbox(fn, name, args):
    """The count of fn(*args) measured by the guard of a grading sandbox (fn's source and globals re-created
    there from the module fn was loaded into, as a student's cells would be)."""
    from autograder.engine.rules import banned_modules
    from autograder.engine.sandbox import Limits, Sandbox

    namespace = fn.__globals__
    with Sandbox(limits=Limits(request_seconds=60), banned=banned_modules("fast_layers")) as clean:
        clean.run_cells([PRELUDE, namespace["__source__"]])
        return tracing.least_ratio(lambda: clean.count_lines(name, args))


def main():
    sandbox = "--sandbox" in sys.argv
    table = []
    for name, label, looped, fn in answers():
        kind, args_of, reference = FUNCTIONS[name]
        probe = checks._time_probe(0, kind)
        args = args_of(probe)
        got, expected = fn(*args), reference(*args)
        got, expected = (v[0] if isinstance(v, tuple) else v for v in (got, expected))
        assert np.allclose(got, expected), f"{name}: {label} is wrong on the probe"
        if sandbox and "__source__" not in fn.__globals__:
            continue   # (the relabelled loop is built in this process)
        count = (in_sandbox(fn, fn.__name__, args) if sandbox else
                 tracing.least_ratio(lambda: tracing.count_lines(fn, args)))
        assert not count.get("interference") and count.get("ok", True), (label, count)
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
