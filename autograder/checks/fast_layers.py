"""Hidden checks for the assignment `fast_layers`.

Each check builds its own inputs (the backward checks build their own cache, with the reference im2col),
compares with a reference from `autograder.references` and names the likely mistake. The layers are
built on the student's own im2col / col2im, so a mistake there also shows in the layer checks; when a
layer is right with a correct helper swapped in, the diagnosis says so.

The loop rule (no loop over N, H' or W') is enforced by convbook.tracing, the one measure, also offered
to students: the Python lines the student's code executes on a small and on a large input that differ
only in N, H' and W', and the CPU time of a call on an input with very many positions, in copies of its
input (a loop driven from C runs no line of the student's, but costs time per position).
"""
import copy

import numpy as np

from autograder.checks.cases import ConvCase, backward_cases, conv_grid, positions_mistake
from autograder.checks.conv_backward import compare_gradients, diagnose_crop, diagnose_dx
from autograder.checks.conv_forward import conv_cases, diagnose_conv_forward
from autograder.checks.core import (
    Rejected,
    as_array,
    call,
    checked,
    compare_array,
    current_context,
    failed,
    first_match,
    hidden_check,
    passed,
    returns,
    run_grid,
    with_note,
)
from autograder.checks.pool_cases import pool_grid, tie_cases
from autograder.checks.pooling import ASSIGNED as POOL_ASSIGNED
from autograder.checks.pooling import (
    diagnose_max_backward,
    verdict_max_pool_backward,
    verdict_max_pool_forward,
    verdict_max_pool_ties,
)
from autograder.references.conv import conv_backward_reference, conv_forward_reference, output_size
from autograder.references.fast import (
    COST_KEYS,
    col2im_reference,
    col2im_variant,
    conv1x1_reference,
    conv_cost_reference,
    im2col_reference,
)
from autograder.references.pooling import (
    max_backward_offsets_assigned,
    max_pool_backward_reference,
    max_pool_forward_reference,
)
from convbook import tracing
from convbook.tracing import CALLS_REFERENCE, LOOP_RULE, LOOP_TOLERANCE  # noqa: F401 (the rule's words, for tests)

# Libraries each graded function may not use: the engine grades it where they do not exist (engine/rules.py);
# in a notebook kernel the loop rule below also catches calls into convbook.layers.
_OWN = "write it yourself: slices with a step (or sliding_window_view), reshape, transpose and @"
# The layers run the student's im2col / col2im: what those may use (scipy.sparse, say) the layers may too;
# scipy's convolutions and transforms they may not.
_CONVOLUTIONS = ("scipy.signal", "scipy.ndimage", "scipy.fft", "scipy.fftpack", "torch", "convbook.layers",
                 "correlate", "convolve", "fftconvolve")
FORBIDDEN = {
    "im2col": (("torch", "skimage", "convbook.layers"), _OWN),
    "col2im": (("torch", "skimage", "convbook.layers"), _OWN),
    "conv_forward_im2col": (_CONVOLUTIONS, "build the layer on your im2col and one matrix product"),
    "conv_backward_im2col": (_CONVOLUTIONS, "build the backward pass on matrix products and your col2im"),
    "max_pool_forward_fast": (("torch", "skimage", "convbook.layers"), _OWN),
    "max_pool_backward_fast": (("torch", "skimage", "convbook.layers"), _OWN),
    "conv1x1_as_matmul": (("scipy", "torch", "convbook.layers"), "one matrix product over the channels is all it takes"),
}

# ---------------------------------------------------------------------------------------------------
# Diagnosis sentences (the mistake catalogue and the tests look for phrases of these).

STRIDE_IGNORED = ("Your code ignores the stride: window (i, j) starts at row i * stride and column "
                  "j * stride of the padded input (a slice with a step: k:k + stride * H':stride).")
PAD_IGNORED = "Your code ignores the padding: pad x with pad zeros on each side of H and W first."
WINDOWS_FLIPPED = ("Your windows are flipped (row (c, k, l) holds pixel (HH-1-k, WW-1-l) of the window): "
                   "im2col copies each window as it is; a flip would turn the layer into a convolution.")
ROWS_KLC = ("Your rows are in the order (k, l, c); use (c, k, l), channel slowest, so that they match "
            "w.reshape(F, C * HH * WW).")
ROWS_CLK = ("Your rows read the window with its height and width swapped (order (c, l, k)): row "
            "(c, k, l) holds pixel (k, l) of the window, k along the height.")
COLS_IJN = ("Your columns are in the order (i, j, n); this notebook uses (n, i, j), image slowest, so "
            "that out_row.reshape(F, N, H', W') works.")
COLS_NJI = ("Your columns have the height and width swapped (order (n, j, i)); use (n, i, j), i along "
            "the height H'.")
COLS_TRANSPOSED = ("Your cols is transposed: it has one row per (c, k, l) and one column per window, "
                   "shape (C * HH * WW, N * H' * W').")
NOT_2D = "Return a 2-D array of shape (C * HH * WW, N * H' * W') (reshape the columns at the end)."
ASSIGNED = ("Your col2im assigns with = instead of accumulating with +=: where windows overlap "
            "(stride smaller than the kernel) a pixel was copied into several columns, and the adjoint "
            "must add all of them back; with = the last window overwrites the others.")
HELPER_WRONG = ("{name} gives the right answer when it calls a correct {helper}: the mistake is in your "
                "{helper} (see its own checks above), not in {name}.")
CACHE_CONTRACT = "conv_forward_im2col must return (out, cache) with cache = (x, w, b, conv_param, cols)."
MIXED_N_C = ("Your output mixes the batch and channel axes: on an (N, C, H, W) array, x.reshape(C, -1) "
             "does not give one row per channel (the batch axis comes first in memory). Multiply each "
             "image's (C, H*W) matrix, x.reshape(N, C, H * W), or move the channels first with "
             "x.transpose(1, 0, 2, 3).reshape(C, -1) and move them back at the end.")
BIAS_MISSING = "Your output is missing the bias b."
OUT_NHWF = "Your output is (N, H, W, F); it should be (N, F, H, W), channels second."

# What a failure pattern usually means: (feature, its value on every failing case) -> sentence.
PATTERN_HINTS = {
    ("windows overlap", True): ("It fails only where windows overlap (stride smaller than the kernel), "
                                "where one pixel sits in several windows: accumulate with +=."),
    ("kernel is square", False): "Your code seems to assume a square kernel: read HH and WW separately.",
    ("input is square", False): "Your code seems to mix up the height H and the width W of the input.",
    ("stride is 1", False): STRIDE_IGNORED,
    ("pad is 0", False): PAD_IGNORED,
    ("pad is 0", True): "Your code breaks when pad is 0 (look at how you crop the padding).",
}
COPY_ADVICE = "write into new arrays (np.zeros, np.empty) instead"


def with_reference_helpers(fn, args):
    """fn(*args) with the names im2col / col2im in fn's namespace bound to the references; None if it fails.

    For diagnosis only: says whether a layer would be right on top of correct helpers.
    """
    namespace = getattr(fn, "__globals__", None)
    if namespace is None:
        return None
    references = {"im2col": im2col_reference, "col2im": col2im_reference}
    saved = {name: namespace[name] for name in references if name in namespace}
    if not saved:
        return None
    try:
        namespace.update({name: references[name] for name in saved})
        return call(fn, args)
    except Rejected:
        return None
    finally:
        namespace.update(saved)


# ---------------------------------------------------------------------------------------------------
# The loop rule

HELPERS = ("im2col", "col2im")   # checked in their own cells; inside every loop-ruled layer their lines count
                                 # too, unless their own check found the loop (one mistake, billed once)


def count_student_lines(fn, args, skip=()):
    """The lines of the student's code that fn(*copies of args) runs: convbook.tracing's count, or None
    when they cannot be counted here (a callable that is neither a function nor a proxy).

    A proxy for a function that runs in another process (the grading engine's sandbox) takes part by
    offering `fn.count_lines(args, skip)`, which runs it there under the same counter and returns the same
    dict ({"total", "per_line", "reference_calls", "interference", "result", "ok", "error"}).
    """
    remote = getattr(fn, "count_lines", None)
    if callable(remote):
        return remote(args, tuple(skip))
    namespace = getattr(fn, "__globals__", None)
    if namespace is None:
        return None
    return tracing.count_lines(fn, copy.deepcopy(args), [namespace.get(name) for name in skip])


def _first_array(value):
    return value[0] if isinstance(value, tuple) and value else value


def verdict_loop_rule(fn, name, small, large, skip=(), reference=None, excused=(), many=None):
    """small, large: (args, positions) with positions = N * H' * W'; only N, H', W' differ between them.
    many: (args, positions) of the input with very many positions, timed (tracing.TIME_LIMIT), or a function
    that draws a fresh one for each try (nothing the student's code remembers from one try serves the next).
    skip: the helpers fn calls that are checked on their own (their lines count too); excused: those of
    them whose own loop check failed (their lines are not billed again, nor is the layer's time).

    reference(*args): the right result on those args; the measured calls must return it (a count of some
    other function or input is worth nothing).
    """
    def measured(probes, counts):
        """The verdict on counts of fn on probes ((args, positions) each) if they cannot be judged, else None."""
        if any(c is None for c in counts):
            return passed(f"({name}: the loop rule could not be checked in this grading mode.)")
        interference = sorted({note for c in counts for note in c.get("interference", ())})
        if interference:
            return failed(f"{name}: the loop rule could not be measured, so its points are 0: "
                          f"{'; '.join(interference)}.")
        for count, (args, positions) in zip(counts, probes):
            if not count.get("ok", True):
                return failed(f"{name} raised {count.get('error')} on the input of the loop check "
                              f"(N * H' * W' = {positions}).")
            if reference is not None and "result" in count:
                got, expected = _first_array(count["result"]), _first_array(reference(*args))
                if not (isinstance(got, np.ndarray) and got.shape == expected.shape and np.allclose(got, expected)):
                    return failed(f"{name}: the call the loop rule measured (N * H' * W' = {positions}) did not "
                                  "return the right values, so the loop rule is not met.")
        return None

    try:
        counts = [count_student_lines(fn, args, skip) for args, _ in (small, large)]
        verdict = measured((small, large), counts)
        if verdict is not None:
            return verdict
        message = tracing.loop_rule_message(name, counts[0], counts[1], (small[1], large[1]), helpers=tuple(skip),
                                            excused=tuple(excused))
        if message or many is None or excused:   # (a helper's loop costs the layer's time too: billed once)
            return failed(message) if message else passed()
        probes = {}   # id(count) -> the probe it measured: each try has an input of its own

        def measure():
            probe = many() if callable(many) else many
            count = count_student_lines(fn, probe[0], skip)
            probes[id(count)] = probe
            return count

        timed = tracing.least_ratio(measure)
        verdict = measured((probes[id(timed)],), [timed])
    except Exception as exc:  # the values were checked before; a crash here is still the student's
        return failed(f"{name} raised {type(exc).__name__}: {exc} on the input of the loop check.")
    if verdict is not None:
        return verdict
    message = tracing.time_rule_message(name, timed, probes[id(timed)][1])
    return failed(message) if message else passed()


def _probe_inputs(seed, kind, draw=0):
    """Two inputs for the loop rule that differ only in N, H' and W': ((args, positions), (args, positions)).
    draw: which drawing of this seed (each measured call of a grading run gets a fresh one: _next_draw)."""
    rng = np.random.default_rng([seed, draw, 7])
    pairs = []
    for N, H, W in ((2, 5, 6), (16, 21, 22)):
        x = rng.standard_normal((N, 3, H, W))
        if kind == "pool":
            pool_param = {"pool_height": 2, "pool_width": 3, "stride": 1}
            Ho, Wo = H - 1, W - 2
            pairs.append({"x": x, "pool_param": pool_param, "dout": rng.standard_normal((N, 3, Ho, Wo)),
                          "positions": N * Ho * Wo})
            continue
        HH, WW, stride, pad = (1, 1, 1, 0) if kind == "1x1" else (2, 3, 1, 1)
        w, b = rng.standard_normal((4, 3, HH, WW)), rng.standard_normal(4)
        conv_param = {"stride": stride, "pad": pad}
        Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
        cols = im2col_reference(x, HH, WW, stride, pad)
        pairs.append({"x": x, "w": w, "b": b, "conv_param": conv_param, "cols": cols, "HH": HH, "WW": WW,
                      "stride": stride, "pad": pad, "dout": rng.standard_normal((N, 4, Ho, Wo)),
                      "positions": N * Ho * Wo})
    return pairs


def _time_probe(seed, kind, draw=0):
    """The input of the time measure: one channel, one filter, a 2x1 kernel or window (1x1 for "1x1"),
    stride 1, pad 1 (no pad for pooling and "1x1"), N * H' * W' = 4 * 256 * 256 = 262,144 positions.

    On it a loop-free answer costs a few copies of its input, and any loop over the positions, whatever
    drives it, at least ~100 ns a position, hundreds of copies (tracing.TIME_LIMIT). A window one pixel wide
    keeps numpy's reductions over it fast (max over a 2x2 window of sliding_window_view costs ~130 copies,
    over 2x1 ~3). 2 MiB an array: the child's memory limit is far away even for a slow honest answer (a list
    of 262,144 slices is ~60 MB)."""
    rng = np.random.default_rng([seed, draw, 11])
    N, Ho, Wo = 4, 256, 256
    if kind == "pool":
        x = rng.standard_normal((N, 1, Ho + 1, Wo))
        return {"x": x, "pool_param": {"pool_height": 2, "pool_width": 1, "stride": 1},
                "dout": rng.standard_normal((N, 1, Ho, Wo)), "positions": N * Ho * Wo}
    (HH, WW), pad = ((1, 1), 0) if kind == "1x1" else ((2, 1), 1)
    x = rng.standard_normal((N, 1, Ho + HH - 1 - 2 * pad, Wo + WW - 1 - 2 * pad))
    w, b = rng.standard_normal((1, 1, HH, WW)), rng.standard_normal(1)
    return {"x": x, "w": w, "b": b, "conv_param": {"stride": 1, "pad": pad}, "cols": im2col_reference(x, HH, WW, 1, pad),
            "HH": HH, "WW": WW, "stride": 1, "pad": pad, "dout": rng.standard_normal((N, 1, Ho, Wo)),
            "positions": N * Ho * Wo}


def _next_draw():
    """A number no earlier probe of this grading run used: no input of the loop rule is seen twice (a
    cache of the student's, filled by one measured call, cannot answer another)."""
    findings = current_context().findings
    findings["probe draws"] = findings.get("probe draws", 0) + 1
    return findings["probe draws"]


def with_loop_rule(verdict, fn, name, kind, args_of, seed, skip=(), reference=None):
    """The values' verdict if it failed, else the loop rule's on probe inputs of `kind`, its note appended.

    reference(*args): the right result on the probe inputs (the measured calls must return it). A helper
    in `skip` whose own loop check found a loop (same grading run) is excused here: one mistake is billed once.
    """
    if not verdict.passed:
        return verdict
    small, large = _probe_inputs(seed, kind, _next_draw())

    def many():
        probe = _time_probe(seed, kind, _next_draw())
        return args_of(probe), probe["positions"]

    looped = current_context().findings.setdefault("looped helpers", {})   # this run's, filled below
    excused = [helper for helper in skip if looped.get(helper)]
    rule = verdict_loop_rule(fn, name, (args_of(small), small["positions"]), (args_of(large), large["positions"]),
                             skip, reference, excused, many)
    if name in HELPERS:   # remembered for the layers that call it, in this submission's grading run
        looped[name] = not rule.passed and LOOP_RULE in rule.message
    return with_note(verdict, rule)


# ---------------------------------------------------------------------------------------------------
# im2col

# A hand-checked case: x = 1..12 in a 3x4 map, 2x2 windows, stride 1, no padding -> 4 rows, 6 columns.
FIXED_X = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
FIXED_COLS = np.array([[1.0, 2, 3, 5, 6, 7],
                       [2, 3, 4, 6, 7, 8],
                       [5, 6, 7, 9, 10, 11],
                       [6, 7, 8, 10, 11, 12]])


def _geometry(case):
    N, C, H, W = case.x.shape
    _, _, HH, WW = case.w.shape
    S, P = case.stride, case.pad
    return N, C, H, W, HH, WW, S, P, output_size(H, HH, S, P), output_size(W, WW, S, P)


def diagnose_im2col(cols, case):
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    x = case.x
    ref = im2col_reference(x, HH, WW, S, P)
    R, Q = ref.shape
    if not isinstance(cols, np.ndarray):
        return ""
    if cols.shape != ref.shape:
        if cols.ndim != 2:
            return NOT_2D if cols.size == ref.size else ""
        by_shape = [
            ((Q, R), COLS_TRANSPOSED),
            ((R, N * output_size(H, HH, 1, P) * output_size(W, WW, 1, P)), STRIDE_IGNORED),
            ((R, N * output_size(H, HH, S, 0) * output_size(W, WW, S, 0)), PAD_IGNORED),
            ((R, N * output_size(H, WW, S, P) * output_size(W, HH, S, P)),
             "Your windows have the kernel's height and width swapped: HH rows and WW columns."),
        ]
        for shape, sentence in by_shape:
            if cols.shape == shape:
                return sentence
        if cols.shape[0] == R:
            return positions_mistake(cols.shape[1], N, H, W, HH, WW, S, P)
        return ""
    six = ref.reshape(C, HH, WW, N, Ho, Wo)
    candidates = [
        (WINDOWS_FLIPPED, six[:, ::-1, ::-1].reshape(R, Q)),
        (COLS_IJN, six.transpose(0, 1, 2, 4, 5, 3).reshape(R, Q)),
        (COLS_NJI, six.transpose(0, 1, 2, 3, 5, 4).reshape(R, Q)),
        (ROWS_KLC, six.transpose(1, 2, 0, 3, 4, 5).reshape(R, Q)),
        (ROWS_CLK, six.transpose(0, 2, 1, 3, 4, 5).reshape(R, Q)),
        (STRIDE_IGNORED, lambda: im2col_reference(x, HH, WW, 1, P).reshape(
            R, N, output_size(H, HH, 1, P), output_size(W, WW, 1, P))[:, :, :Ho, :Wo].reshape(R, Q)),
    ]
    return first_match(cols, candidates) or ""


def verdict_im2col(im2col, cases, seed):
    def attempt(case):
        N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
        where = f"On x {case.x.shape} with HH={HH}, WW={WW}, stride {S}, pad {P}:"
        cols = call(im2col, (case.x, HH, WW, S, P), ("x",), where, COPY_ADVICE)
        return compare_array("cols", as_array(cols), im2col_reference(case.x, HH, WW, S, P), where,
                             lambda: diagnose_im2col(as_array(cols), case))

    fixed = ConvCase(FIXED_X, np.zeros((1, 1, 2, 2)), np.zeros(1), {"stride": 1, "pad": 0})
    return with_loop_rule(run_grid("im2col", [fixed] + list(cases), attempt, PATTERN_HINTS), im2col, "im2col",
                          "conv", lambda p: (p["x"], p["HH"], p["WW"], p["stride"], p["pad"]), seed,
                          reference=im2col_reference)


# ---------------------------------------------------------------------------------------------------
# col2im

def diagnose_col2im(dx, case, cols):
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    if not isinstance(dx, np.ndarray):
        return ""
    if dx.shape != (N, C, H, W):
        return diagnose_crop(dx, case)
    R, Q = cols.shape
    shape = (N, C, H, W)
    candidates = [
        (ASSIGNED, lambda: col2im_variant(cols, shape, HH, WW, S, P, write="assign")),
        (STRIDE_IGNORED, lambda: col2im_variant(cols, shape, HH, WW, S, P, step=1)),
        (WINDOWS_FLIPPED.replace("im2col copies", "col2im adds back").replace("(row (c, k, l) holds",
                                                                             "(row (c, k, l) goes to"),
         lambda: col2im_reference(cols.reshape(C, HH, WW, Q)[:, ::-1, ::-1].reshape(R, Q), shape, HH, WW, S, P)),
        (COLS_IJN.replace("Your columns are", "You read the columns"),
         lambda: col2im_reference(cols.reshape(R, Ho, Wo, N).transpose(0, 3, 1, 2).reshape(R, Q), shape, HH, WW, S, P)),
    ]
    return first_match(dx, candidates) or ""


def col2im_cases(seed):
    """(case, cols): the fixed all-ones columns of a 3x3, stride-1 kernel on 6x7 (pixel counts), then the grid."""
    rng = np.random.default_rng(seed + 3)
    ones_case = ConvCase(np.zeros((2, 2, 6, 7)), np.zeros((1, 2, 3, 3)), np.zeros(1), {"stride": 1, "pad": 0})
    pairs = [(ones_case, np.ones(im2col_reference(ones_case.x, 3, 3, 1, 0).shape))]
    for case in conv_grid(seed):
        HH, WW = case.w.shape[2:]
        pairs.append((case, rng.standard_normal(im2col_reference(case.x, HH, WW, case.stride, case.pad).shape)))
    return pairs


def verdict_col2im(col2im, pairs, seed):
    """pairs: (case, cols) as col2im_cases makes them."""
    def attempt(pair):
        case, cols = pair
        N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
        where = f"On cols {cols.shape} for x {case.x.shape}, HH={HH}, WW={WW}, stride {S}, pad {P}:"
        dx = call(col2im, (cols, case.x.shape, HH, WW, S, P), ("cols",), where, COPY_ADVICE)
        return compare_array("dx", as_array(dx), col2im_reference(cols, case.x.shape, HH, WW, S, P), where,
                             lambda: diagnose_col2im(as_array(dx), case, cols))

    return with_loop_rule(run_grid("col2im", pairs, attempt, PATTERN_HINTS, lambda pair: pair[0].features()), col2im,
                          "col2im", "conv", lambda p: (p["cols"], p["x"].shape, p["HH"], p["WW"], p["stride"], p["pad"]),
                          seed,
                          reference=col2im_reference)


# ---------------------------------------------------------------------------------------------------
# The convolution layer

FORWARD_ARGS = ("x", "w", "b", "conv_param")


def diagnose_forward(out, case):
    diagnosis = diagnose_conv_forward(out, case)
    if diagnosis:
        return diagnosis
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    return first_match(out, [
        (STRIDE_IGNORED, lambda: conv_forward_reference(case.x, case.w, case.b, {"stride": 1, "pad": P})[:, :, :Ho, :Wo]),
        ("Your output mixes the batch and filter axes: out_row has shape (F, N * H' * W'); reshape it to "
         "(F, N, H', W') and then transpose to (N, F, H', W') (a plain reshape to (N, F, H', W') mixes them).",
         lambda: conv_forward_reference(case.x, case.w, case.b, case.conv_param).transpose(1, 0, 2, 3).reshape(
             N, case.w.shape[0], Ho, Wo)),
    ]) or ""


def verdict_conv_forward_im2col(fn, cases, seed):
    def attempt(case):
        where = f"On the case {case.describe()}:"
        args = (case.x, case.w, case.b, case.conv_param)
        result = call(fn, args, FORWARD_ARGS, where, COPY_ADVICE)
        if not returns(result, 2):
            return failed(f"{where} conv_forward_im2col must return a pair (out, cache).")
        out, expected = as_array(result[0]), conv_forward_reference(*args)

        def diagnose():
            retry = with_reference_helpers(fn, args)
            helper = returns(retry, 2) and compare_array("out", as_array(retry[0]), expected).passed
            return f"{HELPER_WRONG.format(name='conv_forward_im2col', helper='im2col') if helper else ''} " \
                   f"{diagnose_forward(out, case)}".strip()
        verdict = compare_array("out", out, expected, where, diagnose)
        return verdict if not verdict.passed or returns(result[1], 5) else failed(f"{where} {CACHE_CONTRACT}")

    return with_loop_rule(run_grid("conv_forward_im2col", cases, attempt, PATTERN_HINTS), fn, "conv_forward_im2col",
                          "conv", lambda p: (p["x"], p["w"], p["b"], p["conv_param"]), seed, skip=HELPERS,
                          reference=conv_forward_reference)


BACKWARD_ARGS = ("dout", "x in the cache", "w in the cache", "b in the cache", "conv_param in the cache",
                 "cols in the cache")


def verdict_conv_backward_im2col(fn, cases, seed):
    """cases: with their dout (cases.backward_cases)."""
    def attempt(case):
        where = f"On the case {case.describe()}:"
        N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
        cache = (case.x, case.w, case.b, case.conv_param, im2col_reference(case.x, HH, WW, S, P))
        # call compares arrays and dicts, not tuples: pass the cache's parts apart, pack them here
        result = call(lambda dout, *cache: fn(dout, cache), (case.dout,) + cache, BACKWARD_ARGS, where,
                               COPY_ADVICE)
        if not returns(result, 3):
            return failed(f"{where} conv_backward_im2col must return a triple (dx, dw, db).")
        verdict = compare_gradients(where, [as_array(v) for v in result], case, {"dx": diagnose_dx_im2col})
        if verdict.passed:
            return verdict
        retry = with_reference_helpers(fn, (case.dout, cache))
        if returns(retry, 3) and compare_gradients(where, [as_array(v) for v in retry], case).passed:
            return failed(f"{verdict.message} {HELPER_WRONG.format(name='conv_backward_im2col', helper='col2im')}",
                          diagnosed=True)
        return verdict

    verdict = run_grid("conv_backward_im2col", cases, attempt, PATTERN_HINTS,
                       done=f"conv_backward_im2col: all {len(cases)} hidden cases pass (dx, dw and db).")
    return with_loop_rule(verdict, fn, "conv_backward_im2col", "conv",
                          lambda p: (p["dout"], (p["x"], p["w"], p["b"], p["conv_param"], p["cols"])), seed, skip=HELPERS,
                          reference=lambda dout, cache: conv_backward_reference(dout, *cache[:4]))


def diagnose_dx_im2col(dx, case):
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    F = case.w.shape[0]
    dcols = case.w.reshape(F, -1).T @ case.dout.transpose(1, 0, 2, 3).reshape(F, -1)
    return first_match(dx, [(ASSIGNED, lambda: col2im_variant(dcols, case.x.shape, HH, WW, S, P, write="assign"))]) \
        or diagnose_dx(dx, case)


# ---------------------------------------------------------------------------------------------------
# Max pooling, vectorized

def diagnose_max_backward_fast(dx, case):
    ph, pw, s = case.params
    return first_match(dx, [(POOL_ASSIGNED, lambda: max_backward_offsets_assigned(case.x, case.dout, ph, pw, s))]) \
        or diagnose_max_backward(dx, case)


def verdict_max_pool_forward_fast(fn, cases, seed):
    return with_loop_rule(verdict_max_pool_forward(fn, cases, "max_pool_forward_fast"), fn, "max_pool_forward_fast",
                          "pool", lambda p: (p["x"], p["pool_param"]), seed, skip=HELPERS,
                          reference=max_pool_forward_reference)


def verdict_max_pool_backward_fast(fn, cases, seed):
    return with_loop_rule(verdict_max_pool_backward(fn, cases, "max_pool_backward_fast", diagnose_max_backward_fast),
                          fn, "max_pool_backward_fast", "pool", lambda p: (p["dout"], (p["x"], p["pool_param"])), seed,
                          skip=HELPERS, reference=lambda dout, cache: max_pool_backward_reference(dout, *cache))


def verdict_max_pool_fast_ties(fn, cases):
    return verdict_max_pool_ties(fn, cases, diagnose_max_backward_fast)


# ---------------------------------------------------------------------------------------------------
# 1x1 convolution

def conv1x1_cases(seed):
    rng = np.random.default_rng(seed + 4)
    cases = []
    for N, C, F, H, W in ((2, 3, 4, 5, 6), (3, 5, 2, 4, 7), (2, 4, 6, 6, 3), (4, 2, 3, 1, 5)):
        cases.append((rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, 1, 1)), rng.standard_normal(F)))
    return cases


def diagnose_conv1x1(out, x, w, b):
    N, C, H, W = x.shape
    F = w.shape[0]
    mixed = lambda: w.reshape(F, C) @ x.reshape(C, -1) + b[:, None]           # (F, N*H*W), rows mixing n and c
    ref = conv1x1_reference(x, w, b)
    candidates = [
        (MIXED_N_C, lambda: mixed().reshape(F, N, H, W).transpose(1, 0, 2, 3)),
        (MIXED_N_C, lambda: mixed().reshape(N, F, H, W)),
        (BIAS_MISSING, lambda: ref - b[None, :, None, None]),
        (OUT_NHWF, lambda: ref.transpose(0, 2, 3, 1)),
    ]
    return first_match(out, candidates) or ""


@checked
def verdict_conv1x1(fn, cases, seed):
    for x, w, b in cases:
        where = f"On x {x.shape}, w {w.shape}:"
        out = call(fn, (x, w, b), ("x", "w", "b"), where, COPY_ADVICE)
        verdict = compare_array("out", as_array(out), conv1x1_reference(x, w, b), where,
                                lambda: diagnose_conv1x1(as_array(out), x, w, b))
        if not verdict.passed:
            return verdict
    return with_loop_rule(passed(f"conv1x1_as_matmul: all {len(cases)} hidden cases pass."), fn, "conv1x1_as_matmul",
                          "1x1", lambda p: (p["x"], p["w"], p["b"]), seed, skip=HELPERS,
                          reference=conv1x1_reference)


# ---------------------------------------------------------------------------------------------------
# Cost

# (H, W, C_in, C_out, k, stride, pad) of the numbers the notebook states (exercise 5-4 and GoogLeNet 3a).
KNOWN_COSTS = [
    (100, 100, 256, 256, 3, 1, None),
    (100, 100, 256, 64, 1, 1, None),
    (100, 100, 64, 256, 3, 1, None),
    (28, 28, 192, 64, 1, 1, None),
    (28, 28, 192, 128, 3, 1, None),
    (28, 28, 192, 32, 5, 1, None),
    (28, 28, 96, 128, 3, 1, None),
    (28, 28, 16, 32, 5, 1, None),
]


def cost_cases(seed):
    """Random layers with C_in != C_out, H != W, strides 1..3, explicit pads and "same" (None)."""
    rng = np.random.default_rng(seed + 5)
    cases = []
    while len(cases) < 12:
        k = int(rng.choice([1, 2, 3, 4, 5, 7]))
        H, W = (int(v) for v in rng.choice(np.arange(max(k, 5), 60), size=2, replace=False))
        C_in, C_out = (int(v) for v in rng.choice(np.arange(1, 65), size=2, replace=False))
        stride = int(rng.integers(1, 4))
        pad = None if len(cases) % 2 == 0 else int(rng.integers(0, k + 1))
        cases.append((H, W, C_in, C_out, k, stride, pad))
    return KNOWN_COSTS + cases


def diagnose_cost(key, got, config):
    H, W, C_in, C_out, k, stride, pad = config
    ref = conv_cost_reference(*config)
    p = k // 2 if pad is None else pad
    Ho, Wo = output_size(H, k, stride, p), output_size(W, k, stride, p)
    sentences = {
        "multiply_adds": [
            (ref["multiply_adds"] // C_in, "multiply_adds forgets C_in: each output value is a sum over "
                                           "C_in * k * k products, one per weight of its filter."),
            (ref["multiply_adds"] // (k * k), "multiply_adds forgets the kernel area k * k."),
            (H * W * C_out * C_in * k * k, "multiply_adds counts one window per input pixel: there is one per "
                                           "output position, H' * W' of them (mind the stride and the padding)."),
            (ref["multiply_adds"] + ref["outputs"], "multiply_adds counts the bias additions too; count "
                                                    "the multiplications of the weights only."),
        ],
        "params": [
            (ref["params"] + C_out, "params counts the biases: count the weights only, as the GoogLeNet "
                                    "numbers do (a layer has C_out biases on top)."),
            (C_out * k * k, "params forgets C_in: each of the C_out filters has C_in * k * k weights."),
            (C_in * k * k, "params counts one filter: there are C_out of them."),
        ],
        "outputs": [
            (C_in * Ho * Wo, "outputs counts the input channels: the layer stores C_out output maps."),
            (Ho * Wo, "outputs forgets the channels: the layer stores C_out maps of H' x W' values."),
            (C_out * H * W, "outputs uses the input size: the output maps are H' x W'."),
        ],
        "im2col": [
            (C_in * Ho * Wo, "im2col forgets the window: each column holds C_in * k * k numbers."),
            (C_in * k * k * H * W, "im2col has one column per output position (H' * W'), not per input pixel."),
            (ref["multiply_adds"], "im2col is the number of entries of the im2col matrix, not the multiply-adds."),
        ],
    }[key]
    for value, sentence in sentences:
        if got == value != ref[key]:
            return sentence
    if pad is None and conv_cost_reference(H, W, C_in, C_out, k, stride, 0)[key] == got != ref[key]:
        return 'pad=None means "same" padding, k // 2 zeros on each side, not 0.'
    scale = {"multiply_adds": C_out * C_in * k * k, "outputs": C_out, "im2col": C_in * k * k}.get(key)
    if scale and got % scale == 0 and got != ref[key]:
        positions = got // scale
        near = {(Ho + a) * (Wo + c) for a in (-1, 0, 1) for c in (-1, 0, 1)} - {Ho * Wo}
        if positions in near:
            return "Your output size is off by one: H' = (H + 2 * pad - k) // stride + 1 (and the same for W')."
    return ""


@checked
def verdict_conv_cost(fn, configs):
    for config in configs:
        H, W, C_in, C_out, k, stride, pad = config
        where = f"conv_cost({H}, {W}, {C_in}, {C_out}, {k}, stride={stride}, pad={pad}):"
        got = call(fn, config, where=where)
        if not isinstance(got, dict) or set(got) != set(COST_KEYS):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            return failed(f"{where} return a dict with exactly the keys {', '.join(COST_KEYS)}; got {keys}.")
        ref = conv_cost_reference(*config)
        for key in COST_KEYS:
            value = got[key]
            if isinstance(value, (float, np.floating)) and float(value).is_integer():
                value = int(value)   # a whole count held in a float (np.floor) is the right count
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                hint = " Use // (floor division) for the output size." if isinstance(value, float) else ""
                return failed(f"{where} {key} should be a whole number, got {type(value).__name__} {value!r}.{hint}")
            if value != ref[key]:
                diagnosis = diagnose_cost(key, int(value), config)
                return failed(f"{where} {key} is {int(value):,}, expected {ref[key]:,}. {diagnosis}".strip())
    return passed(f"conv_cost: all {len(configs)} hidden layers (the notebook's and random ones) are counted right.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells: check_x(the student's functions) requires verdict_x's verdict

check_im2col = hidden_check(verdict_im2col, conv_grid)
check_col2im = hidden_check(verdict_col2im, col2im_cases)
check_conv_forward_im2col = hidden_check(verdict_conv_forward_im2col, conv_cases)
check_conv_backward_im2col = hidden_check(verdict_conv_backward_im2col, backward_cases)
check_max_pool_forward_fast = hidden_check(verdict_max_pool_forward_fast, pool_grid)
check_max_pool_backward_fast = hidden_check(verdict_max_pool_backward_fast, pool_grid)
check_max_pool_fast_ties = hidden_check(verdict_max_pool_fast_ties, tie_cases, seed=False)
check_conv1x1 = hidden_check(verdict_conv1x1, conv1x1_cases)
check_conv_cost = hidden_check(verdict_conv_cost, cost_cases, seed=False)
