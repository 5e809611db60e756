"""Hidden checks for the assignment `conv_forward`."""
import numpy as np

from autograder.checks.cases import CONV_REQUIREMENTS, ConvCase, conv_grid, size_mistake
from autograder.checks.core import (
    Rejected,
    as_array,
    call,
    checked,
    compare_array,
    failed,
    first_failure,
    first_match,
    hidden_check,
    passed,
    requirement_check,
    returns,
    run_grid,
    seeded_cases,
)
from autograder.references.conv import conv_forward_reference, full_convolution_reference
from autograder.references.conv import output_size as reference_output_size

# A hand-checked case: with an asymmetric kernel, cross-correlation and convolution differ everywhere.
FIXED_CASE = ConvCase(
    x=np.array([[[[1.0, 0, 2, 3], [4, 1, 0, 2], [0, 3, 1, 1]]]]),
    w=np.array([[[[1.0, 2, 0], [0, -1, 3]]]]),
    b=np.array([0.5]),
    conv_param={"stride": 1, "pad": 0},
)
# Its expected output, by hand, and what a flipped kernel gives instead (tests check both with scipy).
FIXED_EXPECTED = np.array([[[[0.5, 10.5], [6.5, 3.5]]]])
FIXED_IF_FLIPPED = np.array([[[[5.5, 0.5], [18.5, 6.5]]]])

# Libraries each graded function may not use: the engine grades it where they do not exist (engine/rules.py).
FORBIDDEN = {
    "conv_forward_naive": (("scipy", "torch", "convbook.layers", "correlate2d", "convolve2d", "fftconvolve"),
                           "write the loops yourself; scipy.signal is only the reference the checks use"),
    "conv2d_full": (("scipy", "torch", "convolve2d", "fftconvolve"),   # numpy.fft is allowed (the notebook says so)
                    "compute the wide convolution yourself (numpy.fft is allowed)"),
}


def conv_cases(seed):
    """The hand-checked case (an asymmetric kernel), then the shared randomized grid."""
    return [FIXED_CASE] + conv_grid(seed)


def diagnose_conv_forward(out, case):
    """A sentence naming the likely mistake behind a wrong `out` for `case`, or ""."""
    ref = conv_forward_reference(case.x, case.w, case.b, case.conv_param)
    if isinstance(out, np.ndarray) and out.shape != ref.shape:
        if out.ndim != 4 or out.shape[:2] != ref.shape[:2]:
            return ""
        _, _, H, W = case.x.shape
        _, _, HH, WW = case.w.shape
        return size_mistake(out.shape[2:], H, W, HH, WW, case.stride, case.pad)
    flipped = case.w[:, :, ::-1, ::-1]
    candidates = [
        ("Your output equals a convolution with a flipped kernel: you computed convolution, "
         "not cross-correlation (do not flip w).",
         lambda: conv_forward_reference(case.x, flipped, case.b, case.conv_param)),
        ("Your output is missing the bias b.",
         lambda: conv_forward_reference(case.x, case.w, 0 * case.b, case.conv_param)),
        ("Your output only uses the first input channel: sum over all C channels.",
         lambda: conv_forward_reference(case.x[:, :1], case.w[:, :1], case.b, case.conv_param)),
        ("Your kernel is read with its height and width swapped (w[f, c, j, i] instead of w[f, c, i, j]).",
         lambda: conv_forward_reference(case.x, case.w.transpose(0, 1, 3, 2), case.b, case.conv_param)),
    ]
    return first_match(out, candidates) or ""


def reference_with_helper(conv_single_step, case):
    """The layer's output computed the reference way, but with the student's conv_single_step at every
    position (None if that helper raises or returns something that is not a number)."""
    N, _, H, W = case.x.shape
    F, _, HH, WW = case.w.shape
    _, _, H_out, W_out = case.out_shape()
    x_pad = np.pad(case.x, ((0, 0), (0, 0), (case.pad, case.pad), (case.pad, case.pad)))
    out = np.zeros((N, F, H_out, W_out))
    try:
        for n, f, i, j in np.ndindex(out.shape):
            top, left = i * case.stride, j * case.stride
            out[n, f, i, j] = float(call(conv_single_step, (x_pad[n, :, top:top + HH, left:left + WW], case.w[f],
                                                            float(case.b[f]))))
    except (Rejected, TypeError, ValueError):
        return None
    return out


def _conv_attempt(conv_forward, conv_single_step=None):
    """attempt(case) -> Verdict; an output that is right for the student's own conv_single_step passes (that
    helper is graded in its own cell, so its bug is billed once)."""
    def attempt(case):
        where = f"On the case {case.describe()}:"
        result = call(conv_forward, (case.x, case.w, case.b, case.conv_param), ("x", "w", "b", "conv_param"),
                               where)
        if not returns(result, 2):
            return failed(f"{where} conv_forward_naive must return a pair (out, cache).")
        # float64 inputs, float64 precision: an output accumulated in float32 is an error (the visible check agrees)
        verdict = compare_array("out", result[0], conv_forward_reference(case.x, case.w, case.b, case.conv_param),
                                where, lambda: diagnose_conv_forward(result[0], case), rtol=1e-9, atol=1e-12)
        if verdict.passed or conv_single_step is None or not isinstance(result[0], np.ndarray) \
                or result[0].shape != case.out_shape():
            return verdict
        own = reference_with_helper(conv_single_step, case)
        if own is not None and np.allclose(result[0], own, rtol=1e-9, atol=1e-12):
            return passed()
        return verdict
    return attempt


def verdict_conv_forward(conv_forward, *helper_and_cases):
    """Run the student's conv_forward over `cases` and compare with the scipy reference, or with the
    reference built on the student's conv_single_step when given: verdict(conv_forward, [conv_single_step,] cases)."""
    *helper, cases = helper_and_cases
    return run_grid("conv_forward_naive", cases, _conv_attempt(conv_forward, *helper))


def verdict_output_size(output_size, seed):
    def attempt(rng, *pinned):
        if pinned:
            size, kernel, stride, pad = pinned
        else:
            kernel, stride, pad = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
            size = int(rng.integers(kernel, 20))
        expected = reference_output_size(size, kernel, stride, pad)
        got = call(output_size, (size, kernel, stride, pad), where=f"output_size({size}, {kernel}, {stride}, {pad}):")
        if got != expected or not isinstance(got, (int, np.integer)):
            hint = " Use floor division //, so the result is an int." if got == expected else ""
            return failed(f"output_size({size}, {kernel}, stride={stride}, pad={pad}) returned {got!r}, "
                          f"expected {expected}.{hint}")
        return passed()

    # (size, kernel, stride, pad) on every seed where floor differs from round() and from size // stride
    pinned = [(5, 2, 3, 1), (7, 2, 2, 1), (8, 2, 3, 0), (6, 1, 3, 1)]
    return seeded_cases(attempt, pinned + [()] * 20, seed, "output_size: hidden cases pass.")


def verdict_zero_pad(zero_pad, seed):
    def attempt(rng, pad):
        x = rng.standard_normal((2, 3, 4, 5))
        where = f"zero_pad(x of shape {x.shape}, pad={pad}):"
        out = call(zero_pad, (x, pad), ("x", "pad"), where, "return a new array")
        all_axes = isinstance(out, np.ndarray) and out.shape == tuple(n + 2 * pad for n in x.shape)
        return compare_array("the padded array", out, np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))), where,
                             lambda: "You padded N and C too: pad only H and W (axes 2 and 3)." if all_axes else "")

    return seeded_cases(attempt, [(0,), (1,), (3,)], seed, "zero_pad: hidden cases pass.")


def verdict_conv_single_step(conv_single_step, seed):
    def attempt(rng, *shape):
        x_slice, w, b = rng.standard_normal(shape), rng.standard_normal(shape), float(rng.standard_normal())
        where = f"conv_single_step with shape {x_slice.shape}:"
        got = call(conv_single_step, (x_slice, w, b), ("x_slice", "w", "b"), where)
        expected = float(np.sum(x_slice * w) + b)
        if np.ndim(got) != 0:
            return failed(f"conv_single_step should return a scalar, got shape {np.shape(got)}.")
        if not np.isclose(float(got), expected, rtol=1e-9, atol=1e-12):
            hint = " You forgot the bias." if np.isclose(float(got), expected - b) else ""
            return failed(f"{where} {float(got):.6g}, expected {expected:.6g}.{hint}")
        return passed()

    return seeded_cases(attempt, ((3, 2, 4), (1, 3, 3), (4, 1, 2)), seed, "conv_single_step: hidden cases pass.")


SOBEL_X = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])


@checked
def verdict_image_filters(grayscale_kernel, edge_kernels):
    """Grayscale weights (1, 3, 1, 1) and Sobel filters (2, 1, 3, 3) with zero biases."""
    gray = call(grayscale_kernel, where="grayscale_kernel():")
    edges = call(edge_kernels, where="edge_kernels():")
    if not (returns(gray, 2) and returns(edges, 2)):
        return failed("grayscale_kernel() and edge_kernels() must each return a pair (w, b).")
    expected = np.stack([SOBEL_X, SOBEL_X.T])[:, None]
    w = as_array(edges[0])
    if isinstance(w, np.ndarray) and w.shape == expected.shape and np.allclose(w, -expected):
        return failed("Your edge kernels have the opposite sign: with cross-correlation the kernel is "
                      "applied as written, so a left-to-right increase needs +1 on the right.")
    if isinstance(w, np.ndarray) and w.shape == expected.shape and np.allclose(w, expected[::-1]):
        return failed("Your two edge kernels are in the wrong order: first the one for changes along x.")
    return first_failure((compare_array(name, as_array(got), want) for name, got, want in (
        ("grayscale w", gray[0], np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)),
        ("grayscale b", gray[1], np.zeros(1)), ("edge w", w, expected), ("edge b", edges[1], np.zeros(2)))),
        "image filters: hidden checks pass.")


def verdict_conv2d_full(conv2d_full, seed):
    def attempt(rng, x_shape, k_shape):
        x, k = rng.standard_normal(x_shape), rng.standard_normal(k_shape)
        where = f"conv2d_full(x {x.shape}, k {k.shape}):"
        got = call(conv2d_full, (x, k), ("x", "k"), where, "return a new array")
        expected = full_convolution_reference(x, k)
        verdict = compare_array("the full convolution", got, expected, where, lambda: first_match(got, [
            ("You computed a full cross-correlation: flip the kernel.", full_convolution_reference(x, k[::-1, ::-1]))]) or "")
        if not verdict.passed:
            return verdict
        swapped = call(conv2d_full, (k, x), ("k", "x"), where, "return a new array")
        return compare_array("conv2d_full(k, x) (commutativity)", swapped, expected)

    shapes = (((4, 6), (2, 3)), ((5, 3), (3, 2)), ((3, 3), (3, 3)), ((2, 5), (4, 1)))
    return seeded_cases(attempt, shapes, seed, "conv2d_full: hidden cases pass, and it is commutative on them.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells: check_x(the student's functions) requires verdict_x's verdict

check_output_size = hidden_check(verdict_output_size)
check_zero_pad = hidden_check(verdict_zero_pad)
check_conv_single_step = hidden_check(verdict_conv_single_step)
check_conv_forward_naive = requirement_check(verdict_conv_forward, conv_cases, CONV_REQUIREMENTS, "conv_forward_naive")
check_image_filters = hidden_check(verdict_image_filters, seed=False)
check_conv2d_full = hidden_check(verdict_conv2d_full)
