"""Hidden checks for the assignment `conv_forward`."""
import numpy as np

from autograder.checks.cases import ConvCase, conv_grid
from autograder.checks.core import (
    StudentError,
    Verdict,
    call_student,
    compare_array,
    explain_pattern,
    failed,
    first_match,
    passed,
    require,
    run_seed,
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


ARG_NAMES = ("x", "w", "b", "conv_param")


def diagnose_conv_forward(out, case):
    """A sentence naming the likely mistake behind a wrong `out` for `case`, or ""."""
    ref = conv_forward_reference(case.x, case.w, case.b, case.conv_param)
    if isinstance(out, np.ndarray) and out.shape != ref.shape:
        N, F, Ho, Wo = ref.shape
        by_shape = [
            ((N, F, Wo, Ho), "Your output has height and width swapped: out is (N, F, H', W')."),
            (case.out_shape(stride=1), "Your output size ignores the stride."),
            (case.out_shape(pad=0), "Your output size ignores the padding."),
        ]
        for shape, sentence in by_shape:
            if out.shape == shape:
                return sentence
        if out.ndim == 4 and out.shape[:2] == (N, F) and max(abs(out.shape[2] - Ho), abs(out.shape[3] - Wo)) == 1:
            return "Your output size is off by one: use H' = (H + 2P - HH) // S + 1."
        return ""
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


def verdict_conv_forward(conv_forward, cases):
    """Run the student's conv_forward over `cases` and compare with the scipy reference."""
    results = []
    first_failure = None
    for case in cases:
        verdict = _verdict_one_conv(conv_forward, case)
        results.append((case.features(), verdict.passed))
        if not verdict.passed and first_failure is None:
            first_failure = verdict
    if first_failure is None:
        return passed(f"conv_forward_naive: all {len(cases)} hidden cases pass.")
    pattern = explain_pattern(results)
    n_failed = sum(not ok for _, ok in results)
    return failed(f"{first_failure.message} ({n_failed} of {len(cases)} hidden cases fail.) {pattern}".strip())


def _verdict_one_conv(conv_forward, case):
    where = f"On the case {case.describe()}:"
    try:
        result, changed = call_student(conv_forward, case.x, case.w, case.b, case.conv_param)
    except StudentError as exc:
        return failed(f"{where} your function raised {exc}.")
    if changed:
        names = ", ".join(ARG_NAMES[i] for i in changed)
        return failed(f"{where} your function modified its input ({names}) in place; work on a copy.")
    if not (isinstance(result, tuple) and len(result) == 2):
        return failed(f"{where} conv_forward_naive must return a pair (out, cache).")
    out = result[0]
    ref = conv_forward_reference(case.x, case.w, case.b, case.conv_param)
    verdict = compare_array("out", out, ref)
    if verdict.passed:
        return verdict
    diagnosis = diagnose_conv_forward(out, case)
    return failed(f"{where} {verdict.message} {diagnosis}".strip())


def check_output_size(output_size):
    rng = np.random.default_rng(run_seed())
    for _ in range(20):
        kernel, stride, pad = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
        size = int(rng.integers(kernel, 20))
        expected = reference_output_size(size, kernel, stride, pad)
        try:
            got, _ = call_student(output_size, size, kernel, stride, pad)
        except StudentError as exc:
            raise AssertionError(f"output_size({size}, {kernel}, {stride}, {pad}) raised {exc}.")
        if got != expected or not isinstance(got, (int, np.integer)):
            hint = " Use floor division //, so the result is an int." if got == expected else ""
            raise AssertionError(f"output_size({size}, {kernel}, stride={stride}, pad={pad}) returned {got!r}, "
                                 f"expected {expected}.{hint}")
    print("output_size: hidden cases pass.")


def check_zero_pad(zero_pad):
    rng = np.random.default_rng(run_seed())
    for pad in (0, 1, 3):
        x = rng.standard_normal((2, 3, 4, 5))
        where = f"zero_pad(x of shape {x.shape}, pad={pad}):"
        try:
            out, changed = call_student(zero_pad, x, pad)
        except StudentError as exc:
            raise AssertionError(f"{where} your function raised {exc}.")
        expected = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        verdict = compare_array("the padded array", out, expected)
        if not verdict.passed and isinstance(out, np.ndarray) and out.shape == (2 + 2 * pad, 3 + 2 * pad, 4 + 2 * pad, 5 + 2 * pad):
            verdict = failed(verdict.message + " You padded N and C too: pad only H and W (axes 2 and 3).")
        if changed:
            verdict = failed("zero_pad modified x in place; return a new array.")
        if not verdict.passed:
            raise AssertionError(f"{where} {verdict.message}")
    print("zero_pad: hidden cases pass.")


def check_conv_single_step(conv_single_step):
    rng = np.random.default_rng(run_seed())
    for shape in ((3, 2, 4), (1, 3, 3), (4, 1, 2)):
        x_slice, w = rng.standard_normal(shape), rng.standard_normal(shape)
        b = float(rng.standard_normal())
        try:
            got, _ = call_student(conv_single_step, x_slice, w, b)
        except StudentError as exc:
            raise AssertionError(f"conv_single_step with shape {shape}: your function raised {exc}.")
        expected = float(np.sum(x_slice * w) + b)
        if np.ndim(got) != 0:
            raise AssertionError(f"conv_single_step should return a scalar, got shape {np.shape(got)}.")
        if not np.isclose(float(got), expected, rtol=1e-9, atol=1e-12):
            hint = " You forgot the bias." if np.isclose(float(got), expected - b) else ""
            raise AssertionError(f"conv_single_step with shape {shape}: {float(got):.6g}, expected {expected:.6g}.{hint}")
    print("conv_single_step: hidden cases pass.")


def check_conv_forward_naive(conv_forward_naive):
    seed = run_seed()
    verdict = verdict_conv_forward(conv_forward_naive, [FIXED_CASE] + conv_grid(seed))
    require(Verdict(verdict.passed, f"{verdict.message} (seed {seed})"))


def check_image_filters(grayscale_kernel, edge_kernels):
    """Grayscale weights (1, 3, 1, 1) and Sobel filters (2, 1, 3, 3) with zero biases."""
    w, b = grayscale_kernel()
    require(compare_array("grayscale w", np.asarray(w, dtype=float) if w is not None else None,
                          np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)))
    require(compare_array("grayscale b", np.asarray(b, dtype=float), np.zeros(1)))
    w, b = edge_kernels()
    sobel_x = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    expected = np.stack([sobel_x, sobel_x.T])[:, None]
    w = np.asarray(w, dtype=float)
    if w.shape == expected.shape and np.allclose(w, -expected):
        raise AssertionError("Your edge kernels have the opposite sign: with cross-correlation the kernel is "
                             "applied as written, so a left-to-right increase needs +1 on the right.")
    if w.shape == expected.shape and np.allclose(w, expected[::-1]):
        raise AssertionError("Your two edge kernels are in the wrong order: first the one for changes along x.")
    require(compare_array("edge w", w, expected))
    require(compare_array("edge b", np.asarray(b, dtype=float), np.zeros(2)))
    print("image filters: hidden checks pass.")


def check_conv2d_full(conv2d_full):
    rng = np.random.default_rng(run_seed())
    for xs, ks in (((4, 6), (2, 3)), ((5, 3), (3, 2)), ((3, 3), (3, 3)), ((2, 5), (4, 1))):
        x, k = rng.standard_normal(xs), rng.standard_normal(ks)
        where = f"conv2d_full(x {xs}, k {ks}):"
        try:
            got, changed = call_student(conv2d_full, x, k)
            swapped, _ = call_student(conv2d_full, k, x)
        except StudentError as exc:
            raise AssertionError(f"{where} your function raised {exc}.")
        expected = full_convolution_reference(x, k)
        verdict = compare_array("the full convolution", got, expected)
        if not verdict.passed:
            flipped = full_convolution_reference(x, k[::-1, ::-1])
            hint = first_match(got, [("You computed a full cross-correlation: flip the kernel.", flipped)]) or ""
            raise AssertionError(f"{where} {verdict.message} {hint}".strip())
        if changed:
            raise AssertionError(f"{where} your function modified its inputs in place.")
        require(compare_array("conv2d_full(k, x) (commutativity)", swapped, expected))
    print("conv2d_full: hidden cases pass, and it is commutative on them.")
