"""Hidden checks for the assignment `conv_backward`.

Every check builds its own inputs (it never calls the student's forward pass), so that a mistake in one
exercise costs the points of that exercise only.
"""
import numpy as np
from scipy import signal

from autograder.checks.cases import CONV_REQUIREMENTS, backward_cases, conv_case
from autograder.checks.core import (
    Verdict,
    as_array,
    call,
    checked,
    compare_array,
    failed,
    first_failure,
    first_match,
    hidden_check,
    requirement_check,
    returns,
    run_grid,
    seeded_cases,
)
from autograder.references.conv import (
    conv_backward_dw,
    conv_backward_dx_padded,
    conv_backward_reference,
    conv_matrix_reference,
    multichannel_reference,
    pooled_deltas_reference,
    two_conv_reference,
    unpool_reference,
)
from autograder.references.worked_example import FC_WEIGHTS, O_SEED, STATED_POOLED_DELTAS, corrected_seed_gradient, max_mask
from convbook.gradcheck import rel_error

# Libraries each graded function may not use: the engine grades it where they do not exist (engine/rules.py).
FORBIDDEN = {
    "kernel_gradient_2d": (("scipy", "torch", "correlate2d", "convolve2d", "fftconvolve"),
                           "compute the sum of the boxed formula yourself"),
    "conv_backward_naive": (("scipy", "torch", "convbook.layers", "correlate2d", "convolve2d", "fftconvolve"),
                            "write the backward pass yourself; scipy.signal is only the reference the checks use"),
}


# ---------------------------------------------------------------------------------------------------
# Worked example
# ---------------------------------------------------------------------------------------------------
@checked
def verdict_pooled_deltas(fc_weights, pooled_deltas, seed):
    result = call(fc_weights, where="fc_weights():")
    w = as_array(result)
    if isinstance(w, np.ndarray) and w.shape == FC_WEIGHTS.shape and np.allclose(np.abs(w), np.abs(FC_WEIGHTS)) \
            and not np.allclose(w, FC_WEIGHTS):
        wrong = [f"({i}, {j})" for i, j in zip(*np.nonzero(~np.isclose(w, FC_WEIGHTS)))]
        return failed("fc_weights() has the right magnitudes but not the right minus signs (entries "
                      f"{', '.join(wrong)} differ in sign): pick the signs that reproduce all four stated deltas.")
    verdict = compare_array("fc_weights()", w, FC_WEIGHTS)
    if not verdict.passed:
        return verdict

    def attempt(rng, k, shape):
        delta_h, w_fc, s = rng.standard_normal(k), rng.standard_normal((k, shape[0] * shape[1])), \
            rng.uniform(0.05, 0.95, size=shape)
        where = f"pooled_deltas with {k} output neurons and a {shape} pooled map:"
        got = call(pooled_deltas, (delta_h, w_fc, s), ("delta_h", "w_fc", "s"), where)
        got, back = as_array(got), (w_fc.T @ delta_h).reshape(shape)
        return compare_array("the pooled deltas", got, pooled_deltas_reference(delta_h, w_fc, s), where,
                             lambda: first_match(got, [
            ("You left out the derivative of the sigmoid: multiply by s * (1 - s).", back),
            ("You multiplied by s instead of the sigmoid's derivative s * (1 - s).", back * s),
            ("You multiplied by (1 - s) only; the sigmoid's derivative is s * (1 - s).", back * (1 - s)),
        ]) or "")

    return seeded_cases(attempt, ((2, (2, 2)), (3, (2, 3)), (1, (3, 1))), seed, "pooled deltas: hidden checks pass.")


def _kernel_gradient_hint(got, o, d):
    return first_match(got, [
        ("Your kernel gradient is rotated by 180 degrees: dE/dw[m, n] = sum of d[i, j] * o[i + m, j + n], "
         "a cross-correlation of o with d, not a convolution.",
         lambda: signal.correlate2d(o, d, mode="valid")[::-1, ::-1]),
        ("You convolved o with d (scipy's convolve2d flips d): the kernel gradient is correlate2d(o, d, 'valid').",
         lambda: signal.convolve2d(o, d, mode="valid")),
        ("Your kernel gradient has its two axes swapped (transposed).",
         lambda: signal.correlate2d(o, d, mode="valid").T),
    ]) or ""


def verdict_kernel_gradient_2d(kernel_gradient_2d, seed):
    def attempt(rng, o_shape, d_shape):
        o, d = rng.standard_normal(o_shape), rng.standard_normal(d_shape)
        where = f"kernel_gradient_2d(o {o_shape}, d {d_shape}):"
        got = call(kernel_gradient_2d, (o, d), ("o", "d"), where)
        return compare_array("the kernel gradient", as_array(got), signal.correlate2d(o, d, mode="valid"),
                                        where, lambda: _kernel_gradient_hint(as_array(got), o, d))

    shapes = (((5, 5), (4, 4)), ((6, 8), (4, 5)), ((7, 5), (5, 4)), ((4, 6), (1, 2)))
    return seeded_cases(attempt, shapes, seed, "kernel_gradient_2d: hidden cases pass.")


@checked
def verdict_pool_conv_backward_2d(pool_conv_backward_2d, seed):
    def attempt(rng, o_shape, pooled_shape, window):
        o = rng.standard_normal(o_shape)
        pooled = rng.standard_normal(pooled_shape)
        mask = np.zeros((pooled_shape[0] * window[0], pooled_shape[1] * window[1]), dtype=bool)
        for i in range(pooled_shape[0]):
            for j in range(pooled_shape[1]):
                mask[i * window[0] + rng.integers(window[0]), j * window[1] + rng.integers(window[1])] = True
        where = f"pool_conv_backward_2d(o {o_shape}, pooled_delta {pooled_shape}, max_mask {mask.shape}):"
        result = call(pool_conv_backward_2d, (o, pooled, mask), ("o", "pooled_delta", "max_mask"), where)
        if not returns(result, 2):
            return failed(f"{where} return a pair (d, dw).")
        d, dw = (as_array(v) for v in result)
        d_ref = unpool_reference(pooled, mask)
        return first_failure([
            compare_array("the delta map d", d, d_ref, where, lambda: first_match(d, [
                ("You spread each pooled delta over its whole window: max pooling sends it only to the "
                 "position of the maximum (multiply by max_mask).", np.kron(pooled, np.ones(window)))]) or ""),
            compare_array("the kernel gradient dw", dw, signal.correlate2d(o, d_ref, mode="valid"), where,
                          lambda: _kernel_gradient_hint(dw, o, d_ref))])

    # (input shape, pooled shape, pooling window); the worked example itself comes last
    shapes = (((5, 5), (2, 2), (2, 2)), ((7, 6), (3, 2), (2, 2)), ((5, 9), (2, 3), (2, 3)))
    verdict = seeded_cases(attempt, shapes, seed, "pool_conv_backward_2d: hidden cases pass.")
    if not verdict.passed:
        return verdict
    result = call(pool_conv_backward_2d, (O_SEED, STATED_POOLED_DELTAS, max_mask()), where="On the worked example:")
    if not returns(result, 2):
        return failed("On the worked example: return a pair (d, dw).")
    worked = compare_array("the corrected kernel gradient of the worked example", as_array(result[1]),
                           corrected_seed_gradient())
    return worked if not worked.passed else verdict


# ---------------------------------------------------------------------------------------------------
# Two layers, several channels
# ---------------------------------------------------------------------------------------------------
def verdict_two_conv_backward(two_conv_backward, seed):
    def attempt(rng, x_shape, k1_shape, k2_shape):
        x, k1, k2 = rng.standard_normal(x_shape), rng.standard_normal(k1_shape), rng.standard_normal(k2_shape)
        z_shape = (x_shape[0] - k1_shape[0] - k2_shape[0] + 2, x_shape[1] - k1_shape[1] - k2_shape[1] + 2)
        delta2 = rng.standard_normal(z_shape)
        where = f"two_conv_backward(x {x_shape}, k1 {k1_shape}, k2 {k2_shape}, delta2 {z_shape}):"
        result = call(two_conv_backward, (x, k1, k2, delta2), ("x", "k1", "k2", "delta2"), where)
        if not returns(result, 3):
            return failed(f"{where} return a triple (delta1, dk1, dk2).")
        delta1, dk1, dk2 = (as_array(v) for v in result)
        ref_delta1, ref_dk1, ref_dk2 = two_conv_reference(x, k1, k2, delta2)
        o = signal.correlate2d(x, k1, mode="valid")
        return first_failure([
            compare_array("delta1", delta1, ref_delta1, where, lambda: first_match(delta1, [
                ("delta1 used k2 as it is: sending a delta back through a cross-correlation is a full "
                 "convolution, i.e. a correlation with the kernel rotated by 180 degrees.",
                 lambda: signal.correlate2d(delta2, k2, mode="full"))]) or ""),
            compare_array("dk2", dk2, ref_dk2, where, lambda: "dk2 correlates the first layer's output o = x * k1 "
                          "with delta2. " + _kernel_gradient_hint(dk2, o, delta2)),
            compare_array("dk1", dk1, ref_dk1, where, lambda: "dk1 correlates the network input x with delta1. "
                          + _kernel_gradient_hint(dk1, x, ref_delta1))])

    shapes = (((6, 6), (2, 2), (2, 2)), ((7, 9), (3, 2), (2, 3)), ((8, 6), (2, 3), (4, 1)))
    return seeded_cases(attempt, shapes, seed, "two_conv_backward: hidden cases pass.")


def verdict_multichannel_kernel_gradient(multichannel_kernel_gradient, seed):
    def attempt(rng, x_shape, d_shape):
        x, delta = rng.standard_normal(x_shape), rng.standard_normal(d_shape)
        where = f"multichannel_kernel_gradient(x {x_shape}, delta {d_shape}):"
        got = call(multichannel_kernel_gradient, (x, delta), ("x", "delta"), where)
        got, expected = as_array(got), multichannel_reference(x, delta)
        swapped = ("Your dw has the filter and channel axes swapped: it is (F, C, HH, WW), dw[f, c] from x[c] "
                   "and delta[f].")
        return compare_array("dw", got, expected, where, lambda: first_match(got, [
            ("Your dw is the right one rotated by 180 degrees in every (f, c) slice: the input comes first, "
             "correlate2d(x[c], delta[f], 'valid').", expected[:, :, ::-1, ::-1]),
            (swapped, expected.transpose(1, 0, 2, 3)),
            ("Your dw is summed over the input channels: every channel c has its own slice dw[f, c].",
             expected.sum(axis=1, keepdims=True)),
        ]) or (swapped if isinstance(got, np.ndarray) and d_shape[0] != x_shape[0]
               and got.shape == expected.transpose(1, 0, 2, 3).shape else ""))

    shapes = (((3, 6, 5), (2, 4, 4)), ((1, 5, 7), (3, 3, 4)), ((4, 6, 6), (2, 5, 3)))
    return seeded_cases(attempt, shapes, seed, "multichannel_kernel_gradient: hidden cases pass.")


# ---------------------------------------------------------------------------------------------------
# conv_backward_naive
# ---------------------------------------------------------------------------------------------------
# The requirements a backward case can exercise beyond the plain one (one image, one channel, one filter,
# square input and kernel, stride 1, pad 0), in billing order (see core.split_by_requirement); one test cell each.
BACKWARD_REQUIREMENTS = {
    "stride": CONV_REQUIREMENTS["stride"],
    "padding": CONV_REQUIREMENTS["padding"],
    "non-square": CONV_REQUIREMENTS["non-square"],
    "batch and channels": lambda f: not (f["one image"] and f["one channel and one filter"]),
}

# (N, C, F, H, W, HH, WW, stride, pad) on every seed: the plain case, and the plain case plus one requirement,
# so that a mistake's simplest failing case names the requirement it breaks (the visible checks use the same
# kinds of case).
PINNED_BACKWARD = [
    (1, 1, 1, 5, 5, 3, 3, 1, 0), (1, 1, 1, 6, 6, 2, 2, 1, 0),                                   # plain
    (1, 1, 1, 7, 7, 2, 2, 3, 0), (1, 1, 1, 8, 8, 3, 3, 2, 0),     # stride > kernel (gaps), overlap; neither tiles
    (1, 1, 1, 5, 5, 3, 3, 1, 1), (1, 1, 1, 4, 4, 2, 2, 1, 2),                                   # padding
    (1, 1, 1, 5, 8, 2, 2, 1, 0), (1, 1, 1, 6, 6, 2, 3, 1, 0), (1, 1, 1, 7, 5, 3, 1, 1, 0),      # non-square
    (3, 1, 1, 5, 5, 3, 3, 1, 0), (1, 2, 3, 5, 5, 3, 3, 1, 0), (2, 2, 2, 5, 5, 2, 2, 1, 0),      # batch, channels
    (2, 3, 2, 6, 6, 3, 3, 1, 0),
]


def backward_features(case):
    """A conv case's features, and whether it has one image, and one channel and one filter."""
    N, C = case.x.shape[:2]
    return {**case.features(), "one image": N == 1, "one channel and one filter": C == 1 and case.w.shape[0] == 1}


def naive_backward_cases(seed):
    """The pinned plain and one-requirement cases (PINNED_BACKWARD), then the shared backward grid."""
    rng = np.random.default_rng(seed + 3)
    cases = [conv_case(rng, *geometry) for geometry in PINNED_BACKWARD]
    for case in cases:
        case.dout = rng.standard_normal(case.out_shape())
    return cases + backward_cases(seed)


# What a failure pattern usually means: (feature, its value on every failing case) -> sentence.
PATTERN_HINTS = {
    ("one image", False): "Your gradients are right for a single image and wrong for a batch: every image adds "
                          "its own contribution to dw and db, and has its own slice of dx.",
    ("kernel is square", False): "Your code seems to assume a square kernel: read HH and WW separately from w.shape.",
    ("input is square", False): "Your code seems to mix up the height H and the width W of the input.",
    ("stride is 1", False): "Your backward pass seems to ignore the stride (windows start at i * stride, j * stride).",
    ("pad is 0", True): "Your code breaks when pad is 0 (look at how you crop the padding).",
}
CROP_AT_PAD_0 = ("dx is empty: with pad = 0 the crop dx_pad[:, :, pad:-pad, pad:-pad] is the slice 0:0. "
                 "Crop with pad:pad + H and pad:pad + W instead.")
NOT_CROPPED = "dx still has the padding: crop pad rows and columns from each side (dx has the shape of x)."
CROP_SWAPPED = "dx has its height and width swapped: crop rows with H and columns with W."


def diagnose_crop(dx, case):
    """The sentence for a dx of the wrong shape when cropping the padding went wrong, or ""."""
    N, C, H, W = case.x.shape
    pad = case.pad
    if dx.size == 0 and pad == 0:
        return CROP_AT_PAD_0
    if dx.shape == (N, C, H + 2 * pad, W + 2 * pad):
        return NOT_CROPPED
    if dx.shape in ((N, C, W, H), (N, C, min(W, H + pad), min(H, W + pad))):
        return CROP_SWAPPED
    return ""


def diagnose_dx(dx, case):
    x, w, dout = case.x, case.w, case.dout
    pad = case.pad
    H, W = x.shape[2:]
    if isinstance(dx, np.ndarray) and dx.shape != x.shape:
        return diagnose_crop(dx, case)
    candidates = [
        ("Your dx uses the kernel rotated by 180 degrees: in the scatter form dx_pad[window] += dout * w[f] "
         "the kernel is used as it is (the rotation only appears when dx is written as a full convolution); "
         "or you rotated it twice.",
         lambda: conv_backward_reference(dout, x, w[:, :, ::-1, ::-1], case.b, case.conv_param)[0]),
        ("Your dx ignores the stride: window (i, j) starts at row i * stride and column j * stride of the "
         "padded input (in the convolution form: dilate dout with stride - 1 zeros).",
         lambda: conv_backward_dx_padded(dout, w, (H + 2 * pad, W + 2 * pad), 1)[:, :, pad:pad + H, pad:pad + W]),
        ("Your dx reads the kernel with its height and width swapped.",
         lambda: conv_backward_reference(dout, x, w.transpose(0, 1, 3, 2), case.b, case.conv_param)[0]),
    ]
    return first_match(dx, candidates) or ""


def diagnose_dw(dw, case):
    x, w, dout = case.x, case.w, case.dout
    stride, pad = case.stride, case.pad
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    per_image = [conv_backward_dw(dout[n:n + 1], x_pad[n:n + 1], w.shape[2:], stride) for n in range(x.shape[0])]
    ref = sum(per_image)
    batch = ("dw is not summed over the batch: each of the N images adds its own contribution "
             "(accumulate over n, and do not reset dw inside the loop).")
    candidates = [
        ("Your dw is the right one rotated by 180 degrees: dw[f, c] correlates the padded input with dout, "
         "do not flip it.", ref[:, :, ::-1, ::-1]),
        (batch, per_image[-1]),
        (batch, per_image[0]),
        ("Your dw is divided by the batch size N: the gradient of a sum over the images is the sum of "
         "their contributions (average only where the loss itself is averaged, and not in this layer).",
         ref / x.shape[0]),
        ("Your dw ignores the stride: window (i, j) starts at row i * stride and column j * stride.",
         lambda: conv_backward_dw(dout, x_pad, w.shape[2:], 1) if stride > 1 else None),
    ]
    return first_match(dw, candidates) or ""


def diagnose_db(db, case):
    dout = case.dout
    sentence = ("db is summed over the wrong axes: sum dout over the batch and both spatial axes, "
                "dout.sum(axis=(0, 2, 3)), one value per filter.")
    candidates = [(sentence, dout.sum(axis=axes)) for axes in ((1, 2, 3), (2, 3), (0,), (0, 1, 2, 3), (0, 2), (0, 3))]
    wrong_shape = isinstance(db, (float, np.floating)) or (isinstance(db, np.ndarray) and db.shape != (dout.shape[1],))
    return first_match(db, candidates) or (sentence if wrong_shape else "")


def compare_gradients(where, grads, case, diagnoses=None, float64=False):
    """The first of (dx, dw, db) that differs from the reference of `case`, diagnosed (diagnoses: overrides).

    float64: compare to float64 precision (rtol 1e-9), and an error of float32 size names the mistake.
    """
    ref = conv_backward_reference(case.dout, case.x, case.w, case.b, case.conv_param)
    diagnoses = {"dx": diagnose_dx, "dw": diagnose_dw, "db": diagnose_db, **(diagnoses or {})}
    tolerance = {"rtol": 1e-9, "atol": 1e-12} if float64 else {}

    def compare(name, got, expected):
        error = _precision_error(got, expected) if float64 else None
        diagnose = (lambda: "") if error is not None else (lambda: diagnoses[name](got, case))
        verdict = compare_array(name, got, expected, where, diagnose, **tolerance)
        if verdict.passed or error is None:
            return verdict
        # off by round-off only: its message says float32 (describe_difference), and no other mistake fits
        return Verdict(False, verdict.message, error >= 1e-8)

    return first_failure(compare(name, got, expected) for name, got, expected in zip(("dx", "dw", "db"), grads, ref))


def _precision_error(got, expected):
    """The relative error of `got` when it is below 1e-5 (round-off, not a mistake of the formula), else None."""
    if not isinstance(got, np.ndarray) or got.shape != expected.shape or not np.all(np.isfinite(got)):
        return None
    error = rel_error(got, expected)
    return error if error < 1e-5 else None


def _backward_attempt(conv_backward):
    def attempt(case):
        where = f"On the case {case.describe()}:"
        result = call(lambda d, x, w, b, conv_param: conv_backward(d, (x, w, b, conv_param)),
                               (case.dout, case.x, case.w, case.b, case.conv_param),
                               ("dout", "cache x", "cache w", "cache b", "cache conv_param"), where,
                               "the cache must stay as the forward pass left it (write the gradients into new "
                               "arrays, e.g. np.zeros_like(x))")
        if not returns(result, 3):
            return failed(f"{where} conv_backward_naive must return a triple (dx, dw, db).")
        return compare_gradients(where, [as_array(v) for v in result], case, float64=True)
    return attempt


def verdict_conv_backward(conv_backward, cases):
    return run_grid("conv_backward_naive", cases, _backward_attempt(conv_backward), PATTERN_HINTS, backward_features,
                    done=f"conv_backward_naive: all {len(cases)} hidden cases pass (dx, dw and db).")


# ---------------------------------------------------------------------------------------------------
# Convolution as a matrix
# ---------------------------------------------------------------------------------------------------
def verdict_conv_matrix(conv_matrix, seed):
    def attempt(rng, k_shape, H, W):
        kernel = rng.standard_normal(k_shape)
        where = f"conv_matrix(kernel {k_shape}, H={H}, W={W}):"
        got = call(conv_matrix, (kernel, H, W), ("kernel", "H", "W"), where)
        got, expected = as_array(got), conv_matrix_reference(kernel, H, W)
        transposed = ("Your T is transposed: it has one row per output pixel and one column per input pixel, "
                      "shape (H' * W', H * W).")
        verdict = compare_array("T", got, expected, where, lambda: first_match(got, [
            ("Your T computes a convolution (the kernel flipped), not the layer's cross-correlation: "
             "T[row of output (i, j), column of input (i + m, j + n)] = kernel[m, n].",
             conv_matrix_reference(kernel[::-1, ::-1], H, W)),
            (transposed, expected.T),
        ]) or (transposed if isinstance(got, np.ndarray) and got.shape == expected.T.shape else ""))
        if not verdict.passed:
            return verdict
        dout = rng.standard_normal((H - k_shape[0] + 1, W - k_shape[1] + 1))
        return compare_array("T.T @ dout.ravel() (the backward pass)", got.T @ dout.ravel(),
                             signal.convolve2d(dout, kernel, mode="full").ravel())

    shapes = (((3, 3), 4, 4), ((2, 3), 5, 4), ((3, 2), 4, 6), ((1, 4), 3, 5))
    return seeded_cases(attempt, shapes, seed, "conv_matrix: hidden cases pass; T.T is the backward pass on them.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells: check_x(the student's functions) requires verdict_x's verdict

check_pooled_deltas = hidden_check(verdict_pooled_deltas)
check_kernel_gradient_2d = hidden_check(verdict_kernel_gradient_2d)
check_pool_conv_backward_2d = hidden_check(verdict_pool_conv_backward_2d)
check_two_conv_backward = hidden_check(verdict_two_conv_backward)
check_multichannel_kernel_gradient = hidden_check(verdict_multichannel_kernel_gradient)
check_conv_backward_naive = requirement_check(verdict_conv_backward, naive_backward_cases, BACKWARD_REQUIREMENTS,
                                              "conv_backward_naive", PATTERN_HINTS)
check_conv_matrix = hidden_check(verdict_conv_matrix)
