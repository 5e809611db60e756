"""Hidden checks for the assignment `pooling`.

Every backward check builds its own cache, (x, pool_param), so that a bug in a forward pass costs the
points of that forward pass only. Diagnoses come from two places: a wrong answer that equals a known
wrong variant (computed here by explicit loops), and the property that separates failing cases from
passing ones over the seeded grid.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.checks.cases import size_mistake
from autograder.checks.core import (
    call,
    checked,
    compare_array,
    failed,
    first_match,
    hidden_check,
    passed,
    requirement_check,
    returns,
    run_grid,
)
from autograder.checks.pool_cases import POOL_REQUIREMENTS, pool_grid, tie_cases
from autograder.references.pooling import (
    avg_backward_variant,
    avg_pool_backward_reference,
    avg_pool_forward_reference,
    global_avg_pool_backward_reference,
    global_avg_pool_forward_reference,
    max_backward_variant,
    max_pool_backward_reference,
    max_pool_backward_upsampled,
    max_pool_forward_reference,
    pool_output_shape,
    pool_params,
)

# Libraries each graded function may not use: the engine grades it where they do not exist (engine/rules.py).
FORBIDDEN = {
    "max_pool_forward_naive": (("torch", "convbook.layers", "skimage"), "write the pooling loops yourself"),
    "max_pool_backward_naive": (("torch", "convbook.layers", "skimage"), "write the pooling loops yourself"),
}


# ---------------------------------------------------------------------------------------------------
# Diagnosis sentences (the mistake catalogue checks that the feedback contains a phrase of each).

SWAPPED = ("You read pool_height and pool_width swapped: the window is pool_height rows tall and "
           "pool_width columns wide.")
STRIDE_IGNORED = ("Your code ignores the stride: the window of output (i, j) starts at row i*stride and "
                  "column j*stride.")
NOT_DIVIDED = ("Your average is not divided by the window size (pool_height * pool_width): you computed "
               "window sums.")
ASSIGNED = ("Your gradient is what you get by assigning with = instead of accumulating with +=: where "
            "windows overlap, a pixel can be the maximum of several windows and must receive the sum of "
            "their gradients, and a later window must not erase what an earlier one wrote.")
TILED_ONLY = ("Your backward pass only works when the stride equals the window size: it places window "
              "(i, j) at row i*pool_height, column j*pool_width (or upsamples dout by the window size), "
              "which is only right when the windows tile the input without overlap or gaps. Windows "
              "start at i*stride, j*stride.")
ALL_TIES = ("Your gradient goes to every tied maximum of a window. The rule of this course (and of "
            "argmax) is: only the first maximum in row-major order gets the gradient.")
SPLIT_TIES = ("Your gradient is split equally among tied maxima. The rule of this course (and of argmax) "
              "is: the first maximum in row-major order gets all of it.")
LAST_TIE = ("Your gradient goes to the last tied maximum; it should go to the first one in row-major "
            "order, as np.argmax picks it.")
COLUMN_MAJOR_TIE = ("Your gradient goes to the first tied maximum in column-major order (down the "
                    "columns first); the rule is row-major order (along the rows first), as np.argmax "
                    "on the window picks it.")
NO_DOUT = "Your gradient does not use dout: multiply by the upstream gradient of the window."

# What the pattern over the grid says: (feature of PoolCase, its value on every failing case) -> sentence.
PATTERN_HINTS = {
    ("stride equals the window", False): TILED_ONLY,
    ("windows overlap", True): ("It fails only where windows overlap (stride < window), where a pixel "
                                "belongs to several windows: accumulate with +=, do not overwrite."),
    ("window is square", False): "It fails only for non-square windows: keep pool_height and pool_width apart.",
    ("stride is 1", False): ("It fails only when the stride is more than 1: check where window (i, j) "
                             "starts (row i*stride, column j*stride)."),
    ("windows reach the last row and column", False): (
        "It fails only when the windows do not reach the last row or column: use floor division for "
        "the output size, and leave the pixels no window covers alone."),
}
COPY_ADVICE = "work on a copy (for example dout = dout / k instead of dout /= k)"


def _with(pool_param, **changes):
    return {**pool_param, **changes}


def _swapped(pool_param):
    return _with(pool_param, pool_height=pool_param["pool_width"], pool_width=pool_param["pool_height"])


# ---------------------------------------------------------------------------------------------------
# Forward passes

def _shape_sentence(out, case):
    """The output-size mistake that explains a wrong shape, or "" (also for the right shape)."""
    if not isinstance(out, np.ndarray) or out.ndim != 4 or out.shape[:2] != case.out_shape()[:2]:
        return ""
    ph, pw, stride = case.params
    H, W = case.x.shape[2:]
    return size_mistake(out.shape[2:], H, W, ph, pw, stride)


def diagnose_pool_forward(out, case, reference):
    """A sentence naming the likely mistake behind a wrong forward `out`, or ""."""
    x, pp = case.x, case.pool_param
    Ho, Wo = case.out_shape()[2:]
    ph, pw, _ = case.params
    candidates = [
        (SWAPPED, lambda: reference(x, _swapped(pp))),
        (STRIDE_IGNORED, lambda: reference(x, _with(pp, stride=1))[:, :, :Ho, :Wo]),
        (STRIDE_IGNORED, lambda: reference(x, _with(pp, stride=1))),
        (NOT_DIVIDED, lambda: avg_pool_forward_reference(x, pp) * (ph * pw)),
        ("You took the minimum of each window, not the maximum.", lambda: -max_pool_forward_reference(-x, pp)),
        ("You computed average pooling; this is max pooling.", lambda: avg_pool_forward_reference(x, pp)),
        ("You computed max pooling; this is average pooling.", lambda: max_pool_forward_reference(x, pp)),
    ]
    return first_match(out, candidates) or _shape_sentence(out, case)


def forward_attempt(fn, name, reference):
    """attempt(case) -> Verdict for a pooling forward pass `fn` named `name`."""
    def attempt(case):
        where = f"On the case {case.describe()}:"
        result = call(fn, (case.x, case.pool_param), ("x", "pool_param"), where, COPY_ADVICE)
        if not returns(result, 2):
            return failed(f"{where} {name} must return a pair (out, cache).")
        return compare_array("out", result[0], reference(case.x, case.pool_param), where,
                             lambda: diagnose_pool_forward(result[0], case, reference))
    return attempt


def verdict_max_pool_forward(max_pool_forward_naive, cases, label="max_pool_forward_naive"):
    return run_grid(label, cases, forward_attempt(max_pool_forward_naive, label, max_pool_forward_reference),
                    PATTERN_HINTS)


def verdict_avg_pool_forward(avg_pool_forward_naive, cases):
    return run_grid("avg_pool_forward_naive", cases,
                    forward_attempt(avg_pool_forward_naive, "avg_pool_forward_naive", avg_pool_forward_reference),
                    PATTERN_HINTS)


# ---------------------------------------------------------------------------------------------------
# Backward passes

def diagnose_max_backward(dx, case):
    x, dout = case.x, case.dout
    ph, pw, s = case.params
    candidates = [
        # ties first: on the tie cases (stride = window) the other variants coincide with the right answer
        (ALL_TIES, lambda: max_backward_variant(x, dout, ph, pw, s, s, ties="all")),
        (SPLIT_TIES, lambda: max_backward_variant(x, dout, ph, pw, s, s, ties="split")),
        (LAST_TIE, lambda: max_backward_variant(x, dout, ph, pw, s, s, ties="last")),
        (COLUMN_MAJOR_TIE, lambda: max_backward_variant(x, dout, ph, pw, s, s, ties="column-major")),
        (ASSIGNED, lambda: max_backward_variant(x, dout, ph, pw, s, s, write="window")),
        (ASSIGNED, lambda: max_backward_variant(x, dout, ph, pw, s, s, write="point")),
        (TILED_ONLY, lambda: max_backward_variant(x, dout, ph, pw, ph, pw)),
        (TILED_ONLY, lambda: max_backward_variant(x, dout, ph, pw, ph, pw, ties="all")),
        (STRIDE_IGNORED, lambda: max_backward_variant(x, dout, ph, pw, 1, 1)),
        (SWAPPED, lambda: max_backward_variant(x, dout, pw, ph, s, s)),
        (NO_DOUT, lambda: max_backward_variant(x, dout, ph, pw, s, s, use_dout=False)),
    ]
    return first_match(dx, candidates) or ""


def diagnose_avg_backward(dx, case):
    x, dout = case.x, case.dout
    ph, pw, s = case.params
    scale = 1.0 / (ph * pw)
    candidates = [
        (NOT_DIVIDED, lambda: avg_backward_variant(x, dout, ph, pw, s, s, 1.0)),
        (ASSIGNED.replace("a pixel can be the maximum of several windows", "a pixel belongs to several windows"),
         lambda: avg_backward_variant(x, dout, ph, pw, s, s, scale, write="window")),
        (TILED_ONLY, lambda: avg_backward_variant(x, dout, ph, pw, ph, pw, scale)),
        (STRIDE_IGNORED, lambda: avg_backward_variant(x, dout, ph, pw, 1, 1, scale)),
        (SWAPPED, lambda: avg_backward_variant(x, dout, pw, ph, s, s, scale)),
    ]
    return first_match(dx, candidates) or ""


def backward_attempt(fn, reference, diagnose):
    """attempt(case) -> Verdict for a pooling backward pass `fn(dout, (x, pool_param))`."""
    def attempt(case):
        where = f"On the case {case.describe()}:"
        # call compares arrays and dicts, not tuples: pass x and pool_param apart, pack the cache
        dx = call(lambda dout, x, pool_param: fn(dout, (x, pool_param)), (case.dout, case.x, case.pool_param),
                           ("dout", "x in the cache", "pool_param in the cache"), where, COPY_ADVICE)
        return compare_array("dx", dx, reference(case.dout, case.x, case.pool_param), where, lambda: diagnose(dx, case))
    return attempt


def verdict_max_pool_backward(max_pool_backward_naive, cases, label="max_pool_backward_naive",
                              diagnose=diagnose_max_backward):
    return run_grid(label, cases, backward_attempt(max_pool_backward_naive, max_pool_backward_reference, diagnose),
                    PATTERN_HINTS)


def verdict_avg_pool_backward(avg_pool_backward_naive, cases):
    return run_grid("avg_pool_backward_naive", cases,
                    backward_attempt(avg_pool_backward_naive, avg_pool_backward_reference, diagnose_avg_backward),
                    PATTERN_HINTS)


def verdict_max_pool_ties(max_pool_backward_naive, cases, diagnose=diagnose_max_backward):
    """The tie rule: with square windows that tile the input, only ties can make an answer wrong."""
    return run_grid("tie rule", cases, backward_attempt(max_pool_backward_naive, max_pool_backward_reference, diagnose),
                    PATTERN_HINTS, done=f"tie rule: all {len(cases)} hidden cases with tied maxima pass.")


# ---------------------------------------------------------------------------------------------------
# Global average pooling

@checked
def verdict_global_avg_pool(forward, backward, seed):
    rng = np.random.default_rng(seed + 2)
    for shape in ((2, 3, 4, 5), (3, 2, 6, 3), (1, 4, 1, 7)):
        x = rng.standard_normal(shape)
        N, C, H, W = shape
        where = f"On x of shape {shape}:"
        result = call(forward, (x,), ("x",), f"{where} global_avg_pool_forward:", COPY_ADVICE)
        if not returns(result, 2):
            return failed(f"{where} global_avg_pool_forward must return a pair (out, cache).")
        out = result[0]
        verdict = compare_array("global_avg_pool_forward's out", out, global_avg_pool_forward_reference(x), where,
                                lambda: first_match(out, [
            ("Return shape (N, C), not (N, C, 1, 1): squeeze the two spatial axes.",
             global_avg_pool_forward_reference(x)[:, :, None, None]),
            ("You summed: divide by H * W, the number of pixels of a channel.", x.sum(axis=(2, 3))),
            ("Average over the two spatial axes (2, 3) only.", np.broadcast_to(x.mean(), (N, C))),
        ]) or "")
        if not verdict.passed:
            return verdict
        dout = rng.standard_normal((N, C))
        dx = call(backward, (dout, x), ("dout", "cache"), f"{where} global_avg_pool_backward:", COPY_ADVICE)
        verdict = compare_array("global_avg_pool_backward's dx", dx, global_avg_pool_backward_reference(dout, x), where,
                                lambda: first_match(dx, [("Divide by H * W: every pixel contributes 1/(H*W) of the mean.",
                                                          np.broadcast_to(dout[:, :, None, None], shape) * 1.0)]) or "")
        if not verdict.passed:
            return verdict
    return passed("global average pooling: hidden cases pass.")


# ---------------------------------------------------------------------------------------------------
# Spot the bug

MAX_FAILING_INPUT_SIZE = 2000


@checked
def verdict_failing_input(make_failing_input, seed):
    result = call(make_failing_input, where="make_failing_input():")
    if not returns(result, 2):
        return failed("make_failing_input() must return a pair (x, pool_param).")
    x, pool_param = result
    if not isinstance(x, np.ndarray) or x.ndim != 4 or not np.issubdtype(x.dtype, np.number) \
            or np.issubdtype(x.dtype, np.complexfloating):
        return failed("x must be a numpy array of real numbers, of shape (N, C, H, W).")
    x = x.astype(float)   # integers are fine: the layer computes in float
    if x.size > MAX_FAILING_INPUT_SIZE or not np.all(np.isfinite(x)):
        return failed(f"x must be small (at most {MAX_FAILING_INPUT_SIZE} numbers) and finite.")
    try:
        ph, pw, s = pool_params(pool_param)
    except (KeyError, TypeError, ValueError):
        return failed("pool_param must be a dict with int 'pool_height', 'pool_width' and 'stride'.")
    if min(ph, pw, s) < 1 or ph > x.shape[2] or pw > x.shape[3]:
        return failed("pool_param must have values >= 1 and a window that fits inside x.")
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
    n_max = (windows == windows.max(axis=(4, 5), keepdims=True)).sum(axis=(4, 5))
    if np.any(n_max > 1):
        return failed("Some window of your x has a tied maximum. Max pooling has no derivative there, so a "
                      "disagreement would prove nothing: use an x whose windows each have one largest value.")
    rng = np.random.default_rng(seed + 3)
    dout = rng.standard_normal(pool_output_shape(x.shape, pool_param))
    buggy = max_pool_backward_upsampled(dout, (x.copy(), dict(pool_param)))
    right = max_pool_backward_reference(dout, x, pool_param)
    if np.allclose(buggy, right, rtol=1e-6, atol=1e-9):
        hint = (" With the stride equal to the window size the windows tile the input, and there the "
                "upsampling is exactly right." if s == ph == pw else "")
        return failed(f"The buggy function agrees with the correct gradient on your input (for a random "
                      f"dout), so it does not expose the bug.{hint}")
    return passed("Your input exposes the bug: the upsampled gradient disagrees with the correct one.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells: check_x(the student's functions) requires verdict_x's verdict

check_max_pool_forward = requirement_check(verdict_max_pool_forward, pool_grid, POOL_REQUIREMENTS,
                                           "max_pool_forward_naive", PATTERN_HINTS)
check_max_pool_backward = requirement_check(verdict_max_pool_backward, pool_grid, POOL_REQUIREMENTS,
                                            "max_pool_backward_naive", PATTERN_HINTS)
check_max_pool_ties = hidden_check(verdict_max_pool_ties, tie_cases, seed=False)
check_avg_pool_forward = requirement_check(verdict_avg_pool_forward, pool_grid, POOL_REQUIREMENTS,
                                           "avg_pool_forward_naive", PATTERN_HINTS)
check_avg_pool_backward = requirement_check(verdict_avg_pool_backward, pool_grid, POOL_REQUIREMENTS,
                                            "avg_pool_backward_naive", PATTERN_HINTS)
check_global_avg_pool = hidden_check(verdict_global_avg_pool)
check_failing_input = hidden_check(verdict_failing_input)
