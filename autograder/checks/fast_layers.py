"""Hidden checks for the assignment `fast_layers`.

Each check builds its own inputs (the backward checks build their own cache, with the reference im2col),
compares with a reference from `autograder.references` and names the likely mistake. The layers are
built on the student's own im2col / col2im, so a mistake there also shows in the layer checks; when a
layer is right with a correct helper swapped in, the diagnosis says so.

The loop rule (no Python loop over N, H' or W') is enforced by counting the Python lines the student's
code executes (convbook.tracing, the one line counter, also offered to students) on a small and on a
large input that differ only in N, H' and W'.
"""
import copy
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convbook import tracing
from convbook.tracing import CALLS_REFERENCE, LOOP_RULE, LOOP_TOLERANCE  # noqa: F401 (the rule's words, for tests)
from autograder.checks.cases import ConvCase, conv_grid
from autograder.checks.conv_backward import backward_cases, diagnose_db, diagnose_dw, diagnose_dx
from autograder.checks.conv_forward import FIXED_CASE, diagnose_conv_forward
from autograder.checks.core import (
    StudentError,
    Verdict,
    call_checked,
    call_student,
    compare_array,
    explain_pattern,
    failed,
    first_match,
    passed,
    require,
    run_seed,
)
from autograder.checks.pool_cases import pool_grid, tie_cases
from autograder.checks.pooling import ASSIGNED as POOL_ASSIGNED
from autograder.checks.pooling import (
    _backward_attempt,
    _forward_attempt,
    diagnose_max_backward,
    run_grid,
)
from autograder.references.conv import conv_backward_reference, conv_forward_reference, output_size
from autograder.references.fast import (
    COST_KEYS,
    col2im_reference,
    conv1x1_reference,
    conv_cost_reference,
    im2col_reference,
)
from autograder.references.pooling import max_pool_backward_reference, max_pool_forward_reference

# Libraries each graded function may not use: the engine grades it where they do not exist (engine/rules.py);
# in a notebook kernel the loop rule below also catches calls into convbook.layers.
_OWN = "write it yourself: slices with a step (or sliding_window_view), reshape, transpose and @"
FORBIDDEN = {
    "im2col": (("torch", "skimage", "convbook.layers"), _OWN),
    "col2im": (("torch", "skimage", "convbook.layers"), _OWN),
    "conv_forward_im2col": (("scipy", "torch", "convbook.layers", "correlate", "convolve", "fftconvolve"),
                            "build the layer on your im2col and one matrix product"),
    "conv_backward_im2col": (("scipy", "torch", "convbook.layers", "correlate", "convolve", "fftconvolve"),
                             "build the backward pass on matrix products and your col2im"),
    "max_pool_forward_fast": (("torch", "skimage", "convbook.layers"), _OWN),
    "max_pool_backward_fast": (("torch", "skimage", "convbook.layers"), _OWN),
    "conv1x1_as_matmul": (("scipy", "torch", "convbook.layers"), "one matrix product over the channels is all it takes"),
}

# ---------------------------------------------------------------------------------------------------
# Diagnosis sentences (the mistake catalogue and the tests look for phrases of these).

OFF_BY_ONE = "Your output size is off by one: H' = (H + 2 * pad - HH) // stride + 1 (and the same for W')."
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
CROP_AT_PAD_0 = ("dx is empty: with pad = 0 the crop dx_pad[:, :, pad:-pad, pad:-pad] is the slice 0:0. "
                 "Crop with pad:pad + H and pad:pad + W instead.")
NOT_CROPPED = "dx still has the padding: crop pad rows and columns from each side (dx has the shape of x)."
CROP_SWAPPED = "dx has its height and width swapped: crop rows with H and columns with W."
HELPER_WRONG = ("{name} gives the right answer when it calls a correct {helper}: the mistake is in your "
                "{helper} (see its own checks above), not in {name}.")
CACHE_CONTRACT = "conv_forward_im2col must return (out, cache) with cache = (x, w, b, conv_param, cols)."
MIXED_N_C = ("Your output mixes the batch and channel axes: on an (N, C, H, W) array, x.reshape(C, -1) "
             "does not give one row per channel (the batch axis comes first in memory). Multiply each "
             "image's (C, H*W) matrix, x.reshape(N, C, H * W), or move the channels first with "
             "x.transpose(1, 0, 2, 3).reshape(C, -1) and move them back at the end.")
BIAS_MISSING = "Your output is missing the bias b."
OUT_NHWF = "Your output is (N, H, W, F); it should be (N, F, H, W), channels second."

PATTERN_HINTS = {
    "'windows overlap' true": ("It fails only where windows overlap (stride smaller than the kernel), "
                               "where one pixel sits in several windows: accumulate with +=."),
    "'kernel is square' false": "Your code seems to assume a square kernel: read HH and WW separately.",
    "'input is square' false": "Your code seems to mix up the height H and the width W of the input.",
    "'stride is 1' false": STRIDE_IGNORED,
    "'pad is 0' false": PAD_IGNORED,
    "'pad is 0' true": "Your code breaks when pad is 0 (look at how you crop the padding).",
}


def conv_features(case):
    HH, WW = case.w.shape[2:]
    return {**case.features(), "windows overlap": case.stride < max(HH, WW)}


def pattern_sentence(results):
    """explain_pattern's sentence followed by what that pattern usually means."""
    sentence = explain_pattern(results)
    for state, hint in PATTERN_HINTS.items():
        if f"has {state}" in sentence:
            return f"{sentence} {hint}"
    return sentence


def summarize(label, cases, verdicts, features):
    """One Verdict for a grid: the first diagnosed failure (else the first failure), counts, pattern."""
    results = [(features(c), v.passed) for c, v in zip(cases, verdicts)]
    failures = [v for v in verdicts if not v.passed]
    if not failures:
        return passed(f"{label}: all {len(cases)} hidden cases pass.")
    first = next((v for v in failures if getattr(v, "diagnosed", False)), failures[0])
    pattern = pattern_sentence(results)
    if pattern and any(hint in first.message for hint in PATTERN_HINTS.values() if hint in pattern):
        pattern = ""
    return failed(f"{first.message} ({len(failures)} of {len(cases)} hidden cases fail.) {pattern}".strip())


@dataclass(frozen=True)
class Failure(Verdict):
    diagnosed: bool = False


def fail(message, diagnosis="", diagnosed=False):
    """A failed verdict; `diagnosed` (or a non-empty diagnosis) marks it as naming the mistake."""
    return Failure(False, f"{message} {diagnosis}".strip(), diagnosed or bool(diagnosis))


def _call(fn, args, names, where):
    """(result, None) or (None, failed Verdict) for a call of the student's fn on copies of args."""
    return call_checked(fn, args, names, where, "write into new arrays (np.zeros, np.empty) instead",
                        failure=lambda message, diagnosed: fail(message, diagnosed=diagnosed))


def _as_array(value):
    if value is None or isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return value


def with_reference_helpers(fn, call):
    """call() with the names im2col / col2im in fn's namespace bound to the references; None if it fails.

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
        return call()
    except Exception:
        return None
    finally:
        namespace.update(saved)


# ---------------------------------------------------------------------------------------------------
# The loop rule

HELPERS = ("im2col", "col2im")   # checked in their own cells; inside the layers their lines count too


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


def verdict_loop_rule(fn, name, small, large, skip=(), reference=None, excused=()):
    """small, large: (args, positions) with positions = N * H' * W'; only N, H', W' differ between them.
    skip: the helpers fn calls that are checked on their own (their lines count too); excused: those of
    them whose own loop check failed (their lines are not billed again).

    reference(*args): the right result on those args; the measured calls must return it (a count of some
    other function or input is worth nothing).
    """
    try:
        counts = [count_student_lines(fn, args, skip) for args, _ in (small, large)]
    except Exception as exc:  # the values were checked before; a crash here is still the student's
        return failed(f"{name} raised {type(exc).__name__}: {exc} on the input of the loop check "
                      f"(N * H' * W' = {large[1]}).")
    if counts[0] is None or counts[1] is None:
        return passed(f"({name}: the loop rule could not be checked in this grading mode.)")
    interference = sorted({note for c in counts for note in c.get("interference", ())})
    if interference:
        return failed(f"{name}: the loop rule could not be measured, so its points are 0: "
                      f"{'; '.join(interference)}.")
    for count, (args, positions) in zip(counts, (small, large)):
        if not count.get("ok", True):
            return failed(f"{name} raised {count.get('error')} on the input of the loop check "
                          f"(N * H' * W' = {positions}).")
        if reference is not None and "result" in count:
            got, expected = _first_array(count["result"]), _first_array(reference(*args))
            if not (isinstance(got, np.ndarray) and got.shape == expected.shape and np.allclose(got, expected)):
                return failed(f"{name}: the call the loop rule measured (N * H' * W' = {positions}) did not "
                              "return the right values, so the loop rule is not met.")
    message = tracing.loop_rule_message(name, counts[0], counts[1], (small[1], large[1]), helpers=tuple(skip),
                                        excused=tuple(excused))
    return failed(message) if message else passed()


def _probe_inputs(seed, kind):
    """Two inputs for the loop rule that differ only in N, H' and W': ((args, positions), (args, positions))."""
    rng = np.random.default_rng(seed + 7)
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


def with_rule(verdict, rule):
    """The values' verdict, unless the loop rule failed; a note from the rule is appended."""
    if not rule.passed:
        return rule
    return Verdict(verdict.passed, f"{verdict.message} {rule.message}".strip())


_LOOPED_HELPERS = {}   # (seed, helper name) -> whether that helper's own loop check found a loop


def loop_rule(fn, name, kind, args_of, seed, skip=(), reference=None):
    small, large = _probe_inputs(seed, kind)
    excused = [helper for helper in skip if _LOOPED_HELPERS.get((seed, helper))]
    verdict = verdict_loop_rule(fn, name, (args_of(small), small["positions"]),
                                (args_of(large), large["positions"]), skip, reference, excused)
    if name in HELPERS:   # remembered for the layers that call it, in this submission's grading (same seed)
        if len(_LOOPED_HELPERS) > 4096:
            _LOOPED_HELPERS.clear()
        _LOOPED_HELPERS[(seed, name)] = not verdict.passed and LOOP_RULE in verdict.message
    return verdict


# ---------------------------------------------------------------------------------------------------
# im2col

# A hand-checked case: x = 1..12 in a 3x4 map, 2x2 windows, stride 1, no padding -> 4 rows, 6 columns.
FIXED_X = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
FIXED_COLS = np.array([[1.0, 2, 3, 5, 6, 7],
                       [2, 3, 4, 6, 7, 8],
                       [5, 6, 7, 9, 10, 11],
                       [6, 7, 8, 10, 11, 12]])


def conv_cases(seed):
    """The fixed case of Assignment 1 (an asymmetric kernel), then the shared randomized grid."""
    return [FIXED_CASE] + conv_grid(seed)


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
        near = {N * (Ho + a) * (Wo + c) for a in (-1, 0, 1) for c in (-1, 0, 1)} - {Q}
        if cols.shape[0] == R and cols.shape[1] in near:
            return OFF_BY_ONE
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


def _im2col_attempt(im2col, case):
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    where = f"On x {case.x.shape} with HH={HH}, WW={WW}, stride {S}, pad {P}:"
    cols, problem = _call(im2col, (case.x, HH, WW, S, P), ("x",), where)
    if problem is not None:
        return problem
    cols = _as_array(cols)
    verdict = compare_array("cols", cols, im2col_reference(case.x, HH, WW, S, P))
    if verdict.passed:
        return verdict
    return fail(f"{where} {verdict.message}", diagnose_im2col(cols, case))


def verdict_im2col(im2col, cases, seed):
    fixed = ConvCase(FIXED_X, np.zeros((1, 1, 2, 2)), np.zeros(1), {"stride": 1, "pad": 0})
    cases = [fixed] + list(cases)
    verdict = summarize("im2col", cases, [_im2col_attempt(im2col, c) for c in cases], conv_features)
    if not verdict.passed:
        return verdict
    rule = loop_rule(im2col, "im2col", "conv", lambda p: (p["x"], p["HH"], p["WW"], p["stride"], p["pad"]), seed,
                     reference=im2col_reference)
    return with_rule(verdict, rule)


# ---------------------------------------------------------------------------------------------------
# col2im

def col2im_variant(cols, x_shape, HH, WW, stride, pad, write="add", step=None):
    """col2im with a chosen (possibly wrong) behaviour, one kernel offset at a time (for diagnosis).

    write: "add" (+=, right) or "assign" (=, the last offset wins); step: the window step used (stride).
    """
    step = stride if step is None else step
    N, C, H, W = x_shape
    Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
    six = np.asarray(cols, dtype=np.float64).reshape(C, HH, WW, N, Ho, Wo)
    dx_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for k in range(HH):
        for l in range(WW):
            region = dx_pad[:, :, k:k + step * Ho:step, l:l + step * Wo:step]
            values = six[:, k, l].transpose(1, 0, 2, 3)[:, :, :region.shape[2], :region.shape[3]]
            if write == "add":
                region += values
            else:
                region[...] = values
    return dx_pad[:, :, pad:pad + H, pad:pad + W]


def diagnose_col2im(dx, case, cols):
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    if not isinstance(dx, np.ndarray):
        return ""
    if dx.shape != (N, C, H, W):
        if dx.size == 0 and P == 0:
            return CROP_AT_PAD_0
        if dx.shape == (N, C, H + 2 * P, W + 2 * P):
            return NOT_CROPPED
        if dx.shape in ((N, C, W, H), (N, C, min(W, H + P), min(H, W + P))):
            return CROP_SWAPPED
        return ""
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


def _col2im_attempt(col2im, case, cols):
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    where = f"On cols {cols.shape} for x {case.x.shape}, HH={HH}, WW={WW}, stride {S}, pad {P}:"
    dx, problem = _call(col2im, (cols, case.x.shape, HH, WW, S, P), ("cols",), where)
    if problem is not None:
        return problem
    dx = _as_array(dx)
    verdict = compare_array("dx", dx, col2im_reference(cols, case.x.shape, HH, WW, S, P))
    if verdict.passed:
        return verdict
    return fail(f"{where} {verdict.message}", diagnose_col2im(dx, case, cols))


def verdict_col2im(col2im, pairs, seed):
    cases = [c for c, _ in pairs]
    verdicts = [_col2im_attempt(col2im, case, cols) for case, cols in pairs]
    verdict = summarize("col2im", cases, verdicts, conv_features)
    if not verdict.passed:
        return verdict
    rule = loop_rule(col2im, "col2im", "conv",
                     lambda p: (p["cols"], p["x"].shape, p["HH"], p["WW"], p["stride"], p["pad"]), seed,
                     reference=col2im_reference)
    return with_rule(verdict, rule)


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


def _forward_attempt_im2col(fn, case):
    where = f"On the case {case.describe()}:"
    result, problem = _call(fn, (case.x, case.w, case.b, case.conv_param), FORWARD_ARGS, where)
    if problem is not None:
        return problem
    if not (isinstance(result, tuple) and len(result) == 2):
        return fail(f"{where} conv_forward_im2col must return a pair (out, cache).")
    out, cache = _as_array(result[0]), result[1]
    verdict = compare_array("out", out, conv_forward_reference(case.x, case.w, case.b, case.conv_param))
    if not verdict.passed:
        expected = conv_forward_reference(case.x, case.w, case.b, case.conv_param)
        retry = with_reference_helpers(fn, lambda: fn(case.x.copy(), case.w.copy(), case.b.copy(), dict(case.conv_param)))
        helper = (HELPER_WRONG.format(name="conv_forward_im2col", helper="im2col")
                  if retry is not None and compare_array("out", _as_array(retry[0]), expected).passed else "")
        return fail(f"{where} {verdict.message}", f"{helper} {diagnose_forward(out, case)}".strip())
    if not (isinstance(cache, tuple) and len(cache) == 5):
        return fail(f"{where} {CACHE_CONTRACT}")
    return verdict


def verdict_conv_forward_im2col(fn, cases, seed):
    verdict = summarize("conv_forward_im2col", cases, [_forward_attempt_im2col(fn, c) for c in cases], conv_features)
    if not verdict.passed:
        return verdict
    rule = loop_rule(fn, "conv_forward_im2col", "conv", lambda p: (p["x"], p["w"], p["b"], p["conv_param"]),
                     seed, skip=HELPERS, reference=conv_forward_reference)
    return with_rule(verdict, rule)


BACKWARD_ARGS = ("dout", "x in the cache", "w in the cache", "b in the cache", "conv_param in the cache",
                 "cols in the cache")


def _backward_attempt_im2col(fn, case, dout):
    where = f"On the case {case.describe()}:"
    N, C, H, W, HH, WW, S, P, Ho, Wo = _geometry(case)
    cols = im2col_reference(case.x, HH, WW, S, P)

    def with_cache(d, x, w, b, conv_param, cols_):
        return fn(d, (x, w, b, conv_param, cols_))

    args = (dout, case.x, case.w, case.b, case.conv_param, cols)
    result, problem = _call(with_cache, args, BACKWARD_ARGS, where)
    if problem is not None:
        return problem
    if not (isinstance(result, tuple) and len(result) == 3):
        return fail(f"{where} conv_backward_im2col must return a triple (dx, dw, db).")
    dx, dw, db = (_as_array(v) for v in result)
    ref = conv_backward_reference(dout, case.x, case.w, case.b, case.conv_param)
    assigned = lambda: col2im_variant(case.w.reshape(case.w.shape[0], -1).T @ dout.transpose(1, 0, 2, 3).reshape(
        case.w.shape[0], -1), case.x.shape, HH, WW, S, P, write="assign")
    diagnoses = {
        "dx": lambda: first_match(dx, [(ASSIGNED, assigned)]) or diagnose_dx(dx, case, dout),
        "dw": lambda: diagnose_dw(dw, case, dout),
        "db": lambda: diagnose_db(db, dout),
    }
    for name, got, expected in (("dx", dx, ref[0]), ("dw", dw, ref[1]), ("db", db, ref[2])):
        verdict = compare_array(name, got, expected)
        if verdict.passed:
            continue
        retry = with_reference_helpers(fn, lambda: fn(dout.copy(), copy.deepcopy((case.x, case.w, case.b,
                                                                                   case.conv_param, cols))))
        helper = ""
        if retry is not None and isinstance(retry, tuple) and len(retry) == 3 and all(
                compare_array(n, _as_array(g), e).passed for n, g, e in zip(("dx", "dw", "db"), retry, ref)):
            helper = HELPER_WRONG.format(name="conv_backward_im2col", helper="col2im")
        diagnosis = f"{helper} {diagnoses[name]()}".strip()
        return fail(f"{where} {verdict.message}", diagnosis)
    return passed()


def verdict_conv_backward_im2col(fn, cases, seed):
    rng = np.random.default_rng(seed + 2)
    douts = [rng.standard_normal(case.out_shape()) for case in cases]
    verdicts = [_backward_attempt_im2col(fn, c, d) for c, d in zip(cases, douts)]
    verdict = summarize("conv_backward_im2col", cases, verdicts, conv_features)
    if not verdict.passed:
        return verdict
    rule = loop_rule(fn, "conv_backward_im2col", "conv",
                     lambda p: (p["dout"], (p["x"], p["w"], p["b"], p["conv_param"], p["cols"])), seed, skip=HELPERS,
                     reference=lambda dout, cache: conv_backward_reference(dout, *cache[:4]))
    return with_rule(passed(f"conv_backward_im2col: all {len(cases)} hidden cases pass (dx, dw and db)."), rule)


# ---------------------------------------------------------------------------------------------------
# Max pooling, vectorized

def max_backward_offsets_assigned(x, dout, ph, pw, stride):
    """Max-pool backward routed one window offset at a time with = instead of += (for diagnosis)."""
    N, C, Ho, Wo = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::stride, ::stride]
    first = windows.reshape(N, C, Ho, Wo, ph * pw).argmax(axis=4)
    dx = np.zeros(x.shape)
    for k in range(ph):
        for l in range(pw):
            dx[:, :, k:k + stride * Ho:stride, l:l + stride * Wo:stride] = np.where(first == k * pw + l, dout, 0.0)
    return dx


def diagnose_max_backward_fast(dx, case):
    ph, pw, s = case.params
    return first_match(dx, [(POOL_ASSIGNED, lambda: max_backward_offsets_assigned(case.x, case.dout, ph, pw, s))]) \
        or diagnose_max_backward(dx, case)


def verdict_max_pool_forward_fast(fn, cases, seed):
    verdict = run_grid("max_pool_forward_fast", cases,
                       _forward_attempt(fn, "max_pool_forward_fast", max_pool_forward_reference))
    if not verdict.passed:
        return verdict
    rule = loop_rule(fn, "max_pool_forward_fast", "pool", lambda p: (p["x"], p["pool_param"]), seed,
                     reference=max_pool_forward_reference)
    return with_rule(verdict, rule)


def verdict_max_pool_backward_fast(fn, cases, seed, label="max_pool_backward_fast"):
    verdict = run_grid(label, cases, _backward_attempt(fn, max_pool_backward_reference, diagnose_max_backward_fast))
    if not verdict.passed:
        return verdict
    rule = loop_rule(fn, "max_pool_backward_fast", "pool", lambda p: (p["dout"], (p["x"], p["pool_param"])), seed,
                     reference=lambda dout, cache: max_pool_backward_reference(dout, *cache))
    return with_rule(verdict, rule)


def verdict_max_pool_fast_ties(fn, cases):
    verdict = run_grid("tie rule", cases, _backward_attempt(fn, max_pool_backward_reference, diagnose_max_backward_fast))
    if verdict.passed:
        return passed(f"tie rule: all {len(cases)} hidden cases with tied maxima pass.")
    return verdict


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


def verdict_conv1x1(fn, cases, seed):
    for x, w, b in cases:
        where = f"On x {x.shape}, w {w.shape}:"
        out, problem = _call(fn, (x, w, b), ("x", "w", "b"), where)
        if problem is not None:
            return problem
        out = _as_array(out)
        verdict = compare_array("out", out, conv1x1_reference(x, w, b))
        if not verdict.passed:
            return fail(f"{where} {verdict.message}", diagnose_conv1x1(out, x, w, b))
    rule = loop_rule(fn, "conv1x1_as_matmul", "1x1", lambda p: (p["x"], p["w"], p["b"]), seed,
                     reference=conv1x1_reference)
    return with_rule(passed(f"conv1x1_as_matmul: all {len(cases)} hidden cases pass."), rule)


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


def verdict_conv_cost(fn, configs):
    for config in configs:
        H, W, C_in, C_out, k, stride, pad = config
        where = f"conv_cost({H}, {W}, {C_in}, {C_out}, {k}, stride={stride}, pad={pad}):"
        try:
            got, _ = call_student(fn, H, W, C_in, C_out, k, stride, pad)
        except StudentError as exc:
            return failed(f"{where} your function raised {exc}.")
        if not isinstance(got, dict) or set(got) != set(COST_KEYS):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            return failed(f"{where} return a dict with exactly the keys {', '.join(COST_KEYS)}; got {keys}.")
        ref = conv_cost_reference(*config)
        for key in COST_KEYS:
            value = got[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                hint = " Use // (floor division) for the output size." if isinstance(value, float) else ""
                return failed(f"{where} {key} should be an int, got {type(value).__name__} {value!r}.{hint}")
            if value != ref[key]:
                diagnosis = diagnose_cost(key, int(value), config)
                return failed(f"{where} {key} is {int(value):,}, expected {ref[key]:,}. {diagnosis}".strip())
    return passed(f"conv_cost: all {len(configs)} hidden layers (the notebook's and random ones) are counted right.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells

def _require(verdict, seed):
    require(Verdict(verdict.passed, f"{verdict.message} (seed {seed})"))


def check_im2col(im2col):
    seed = run_seed()
    _require(verdict_im2col(im2col, conv_grid(seed), seed), seed)


def check_col2im(col2im):
    seed = run_seed()
    _require(verdict_col2im(col2im, col2im_cases(seed), seed), seed)


def check_conv_forward_im2col(conv_forward_im2col):
    seed = run_seed()
    _require(verdict_conv_forward_im2col(conv_forward_im2col, conv_cases(seed), seed), seed)


def check_conv_backward_im2col(conv_backward_im2col):
    seed = run_seed()
    _require(verdict_conv_backward_im2col(conv_backward_im2col, backward_cases(seed), seed), seed)


def check_max_pool_forward_fast(max_pool_forward_fast):
    seed = run_seed()
    _require(verdict_max_pool_forward_fast(max_pool_forward_fast, pool_grid(seed), seed), seed)


def check_max_pool_backward_fast(max_pool_backward_fast):
    seed = run_seed()
    _require(verdict_max_pool_backward_fast(max_pool_backward_fast, pool_grid(seed), seed), seed)


def check_max_pool_fast_ties(max_pool_backward_fast):
    seed = run_seed()
    _require(verdict_max_pool_fast_ties(max_pool_backward_fast, tie_cases(seed)), seed)


def check_conv1x1(conv1x1_as_matmul):
    seed = run_seed()
    _require(verdict_conv1x1(conv1x1_as_matmul, conv1x1_cases(seed), seed), seed)


def check_conv_cost(conv_cost):
    seed = run_seed()
    _require(verdict_conv_cost(conv_cost, cost_cases(seed)), seed)
