"""Hidden checks for the assignment `conv_backward`.

Every check builds its own inputs (it never calls the student's forward pass), so that a mistake in one
exercise costs the points of that exercise only.
"""
import numpy as np
from scipy import signal

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
from autograder.references.conv import (
    conv_backward_dw,
    conv_backward_dx_padded,
    conv_backward_reference,
    conv_matrix_reference,
)

# Libraries each graded function may not use: the engine grades it where they do not exist (engine/rules.py).
FORBIDDEN = {
    "kernel_gradient_2d": (("scipy", "torch", "correlate2d", "convolve2d", "fftconvolve"),
                           "compute the sum of the boxed formula yourself"),
    "conv_backward_naive": (("scipy", "torch", "convbook.layers", "correlate2d", "convolve2d", "fftconvolve"),
                            "write the backward pass yourself; scipy.signal is only the reference the checks use"),
}


# ---------------------------------------------------------------------------------------------------
# The worked example (seed 000): 5x5 input, 2x2 kernel -> 4x4, 2x2 max pool -> 2x2, sigmoid, FC(2).
# ---------------------------------------------------------------------------------------------------
DELTA_H = np.array([0.25, -0.15])
# Fully connected weights, row k feeds H_{k+1}, columns are the pooled units 11, 12, 21, 22.
# The source lost its minus signs; these signs reproduce every stated delta.
FC_WEIGHTS = np.array([[0.61, 0.82, 0.96, 1.00],
                       [0.02, -0.50, 0.23, -0.17]])
SIGMOID_OUT = np.array([[0.58, 0.57], [0.65, 0.55]])
STATED_POOLED_DELTAS = np.array([[0.0364182, 0.068628], [0.04675125, 0.06818625]])
O_SEED = np.array([[0.51, 0.9, 0.88, 0.84, 0.05],
                   [0.4, 0.62, 0.22, 0.59, 0.1],
                   [0.11, 0.2, 0.74, 0.33, 0.14],
                   [0.47, 0.01, 0.85, 0.7, 0.09],
                   [0.76, 0.19, 0.72, 0.17, 0.57]])
# Where each pooling window had its maximum (delta11 -> (1, 1), delta12 -> (0, 2), ...).
MAX_POSITIONS = ((1, 1), (0, 2), (2, 1), (3, 3))
# The delta map of the answer in the source, with its sign slip at (3, 3), and the gradient it reports.
D_ANSWER = np.zeros((4, 4))
for (_r, _c), _v in zip(MAX_POSITIONS, (0.0364, 0.0686, 0.0467, -0.0681)):
    D_ANSWER[_r, _c] = _v
ANSWER_GRADIENT = np.array([[0.044606, 0.094061], [0.011262, 0.068288]])


def max_mask():
    mask = np.zeros((4, 4), dtype=bool)
    for r, c in MAX_POSITIONS:
        mask[r, c] = True
    return mask


def pooled_deltas_reference(delta_h, w_fc, s):
    return (w_fc.T @ delta_h).reshape(s.shape) * s * (1 - s)


def unpool_reference(pooled, mask):
    kh, kw = mask.shape[0] // pooled.shape[0], mask.shape[1] // pooled.shape[1]
    return np.kron(pooled, np.ones((kh, kw))) * mask


def corrected_seed_gradient():
    """The kernel gradient of the worked example with the stated (correctly signed) deltas."""
    return signal.correlate2d(O_SEED, unpool_reference(STATED_POOLED_DELTAS, max_mask()), mode="valid")


def _fail(message):
    raise AssertionError(message)


def _call(fn, *args, where=""):
    try:
        return call_student(fn, *args)
    except StudentError as exc:
        _fail(f"{where} your function raised {exc}.".strip())


def _as_float_array(value):
    if value is None or isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return value


# ---------------------------------------------------------------------------------------------------
# Worked example
# ---------------------------------------------------------------------------------------------------
def check_pooled_deltas(fc_weights, pooled_deltas):
    w, _ = _call(fc_weights, where="fc_weights():")
    w = _as_float_array(w)
    if isinstance(w, np.ndarray) and w.shape == FC_WEIGHTS.shape and np.allclose(np.abs(w), np.abs(FC_WEIGHTS)) \
            and not np.allclose(w, FC_WEIGHTS):
        wrong = [f"({i}, {j})" for i, j in zip(*np.nonzero(~np.isclose(w, FC_WEIGHTS)))]
        _fail("fc_weights() has the right magnitudes but not the right minus signs (entries "
              f"{', '.join(wrong)} differ in sign): pick the signs that reproduce all four stated deltas.")
    require(compare_array("fc_weights()", w, FC_WEIGHTS))

    rng = np.random.default_rng(run_seed())
    for k, shape in ((2, (2, 2)), (3, (2, 3)), (1, (3, 1))):
        delta_h = rng.standard_normal(k)
        w_fc = rng.standard_normal((k, shape[0] * shape[1]))
        s = rng.uniform(0.05, 0.95, size=shape)
        where = f"pooled_deltas with {k} output neurons and a {shape} pooled map:"
        got, changed = _call(pooled_deltas, delta_h, w_fc, s, where=where)
        got = _as_float_array(got)
        expected = pooled_deltas_reference(delta_h, w_fc, s)
        verdict = compare_array("the pooled deltas", got, expected)
        if not verdict.passed:
            hint = first_match(got, [
                ("You left out the derivative of the sigmoid: multiply by s * (1 - s).",
                 (w_fc.T @ delta_h).reshape(shape)),
                ("You multiplied by s instead of the sigmoid's derivative s * (1 - s).",
                 (w_fc.T @ delta_h).reshape(shape) * s),
                ("You multiplied by (1 - s) only; the sigmoid's derivative is s * (1 - s).",
                 (w_fc.T @ delta_h).reshape(shape) * (1 - s)),
            ]) or ""
            _fail(f"{where} {verdict.message} {hint}".strip())
        if changed:
            _fail(f"{where} your function modified its inputs in place.")
    print("pooled deltas: hidden checks pass.")


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


def check_kernel_gradient_2d(kernel_gradient_2d):
    rng = np.random.default_rng(run_seed())
    shapes = (((5, 5), (4, 4)), ((6, 8), (4, 5)), ((7, 5), (5, 4)), ((4, 6), (1, 2)))
    for o_shape, d_shape in shapes:
        o, d = rng.standard_normal(o_shape), rng.standard_normal(d_shape)
        where = f"kernel_gradient_2d(o {o_shape}, d {d_shape}):"
        got, changed = _call(kernel_gradient_2d, o, d, where=where)
        got = _as_float_array(got)
        verdict = compare_array("the kernel gradient", got, signal.correlate2d(o, d, mode="valid"))
        if not verdict.passed:
            _fail(f"{where} {verdict.message} {_kernel_gradient_hint(got, o, d)}".strip())
        if changed:
            _fail(f"{where} your function modified its inputs in place.")
    print("kernel_gradient_2d: hidden cases pass.")


def check_pool_conv_backward_2d(pool_conv_backward_2d):
    rng = np.random.default_rng(run_seed())
    # (input shape, pooled shape, pooling window): the conv kernel is 2x2 or 3x2.
    for o_shape, pooled_shape, window in (((5, 5), (2, 2), (2, 2)), ((7, 6), (3, 2), (2, 2)), ((5, 9), (2, 3), (2, 3))):
        KH, KW = (2, 2) if o_shape == (5, 5) else (o_shape[0] - pooled_shape[0] * window[0] + 1,
                                                   o_shape[1] - pooled_shape[1] * window[1] + 1)
        o = rng.standard_normal(o_shape)
        pooled = rng.standard_normal(pooled_shape)
        mask = np.zeros((pooled_shape[0] * window[0], pooled_shape[1] * window[1]), dtype=bool)
        for i in range(pooled_shape[0]):
            for j in range(pooled_shape[1]):
                mask[i * window[0] + rng.integers(window[0]), j * window[1] + rng.integers(window[1])] = True
        where = f"pool_conv_backward_2d(o {o_shape}, pooled_delta {pooled_shape}, max_mask {mask.shape}):"
        result, changed = _call(pool_conv_backward_2d, o, pooled, mask, where=where)
        if not (isinstance(result, tuple) and len(result) == 2):
            _fail(f"{where} return a pair (d, dw).")
        d, dw = (_as_float_array(v) for v in result)
        d_ref = unpool_reference(pooled, mask)
        verdict = compare_array("the delta map d", d, d_ref)
        if not verdict.passed:
            hint = first_match(d, [
                ("You spread each pooled delta over its whole window: max pooling sends it only to the "
                 "position of the maximum (multiply by max_mask).", np.kron(pooled, np.ones(window))),
            ]) or ""
            _fail(f"{where} {verdict.message} {hint}".strip())
        verdict = compare_array("the kernel gradient dw", dw, signal.correlate2d(o, d_ref, mode="valid"))
        if not verdict.passed:
            _fail(f"{where} {verdict.message} {_kernel_gradient_hint(dw, o, d_ref)}".strip())
        if changed:
            _fail(f"{where} your function modified its inputs in place.")
    # The worked example itself: the corrected gradient.
    d, dw = pool_conv_backward_2d(O_SEED, STATED_POOLED_DELTAS, max_mask())
    require(compare_array("the corrected kernel gradient of the worked example", _as_float_array(dw),
                          corrected_seed_gradient()))
    print("pool_conv_backward_2d: hidden cases pass.")


# ---------------------------------------------------------------------------------------------------
# Two layers, several channels
# ---------------------------------------------------------------------------------------------------
def two_conv_reference(x, k1, k2, delta2):
    o = signal.correlate2d(x, k1, mode="valid")
    delta1 = signal.convolve2d(delta2, k2, mode="full")
    return delta1, signal.correlate2d(x, delta1, mode="valid"), signal.correlate2d(o, delta2, mode="valid")


def check_two_conv_backward(two_conv_backward):
    rng = np.random.default_rng(run_seed())
    for x_shape, k1_shape, k2_shape in (((6, 6), (2, 2), (2, 2)), ((7, 9), (3, 2), (2, 3)), ((8, 6), (2, 3), (4, 1))):
        x, k1, k2 = rng.standard_normal(x_shape), rng.standard_normal(k1_shape), rng.standard_normal(k2_shape)
        z_shape = (x_shape[0] - k1_shape[0] - k2_shape[0] + 2, x_shape[1] - k1_shape[1] - k2_shape[1] + 2)
        delta2 = rng.standard_normal(z_shape)
        where = f"two_conv_backward(x {x_shape}, k1 {k1_shape}, k2 {k2_shape}, delta2 {z_shape}):"
        result, changed = _call(two_conv_backward, x, k1, k2, delta2, where=where)
        if not (isinstance(result, tuple) and len(result) == 3):
            _fail(f"{where} return a triple (delta1, dk1, dk2).")
        delta1, dk1, dk2 = (_as_float_array(v) for v in result)
        ref_delta1, ref_dk1, ref_dk2 = two_conv_reference(x, k1, k2, delta2)
        verdict = compare_array("delta1", delta1, ref_delta1)
        if not verdict.passed:
            hint = first_match(delta1, [
                ("delta1 used k2 as it is: sending a delta back through a cross-correlation is a full "
                 "convolution, i.e. a correlation with the kernel rotated by 180 degrees.",
                 lambda: signal.correlate2d(delta2, k2, mode="full")),
            ]) or ""
            _fail(f"{where} {verdict.message} {hint}".strip())
        verdict = compare_array("dk2", dk2, ref_dk2)
        if not verdict.passed:
            hint = "" if dk2 is None else _kernel_gradient_hint(dk2, signal.correlate2d(x, k1, mode="valid"), delta2)
            _fail(f"{where} {verdict.message} dk2 correlates the first layer's output o = x * k1 with delta2. {hint}".strip())
        verdict = compare_array("dk1", dk1, ref_dk1)
        if not verdict.passed:
            hint = _kernel_gradient_hint(dk1, x, ref_delta1)
            _fail(f"{where} {verdict.message} dk1 correlates the network input x with delta1. {hint}".strip())
        if changed:
            _fail(f"{where} your function modified its inputs in place.")
    print("two_conv_backward: hidden cases pass.")


def multichannel_reference(x, delta):
    return np.array([[signal.correlate2d(x[c], delta[f], mode="valid") for c in range(x.shape[0])]
                     for f in range(delta.shape[0])])


def check_multichannel_kernel_gradient(multichannel_kernel_gradient):
    rng = np.random.default_rng(run_seed())
    for x_shape, d_shape in (((3, 6, 5), (2, 4, 4)), ((1, 5, 7), (3, 3, 4)), ((4, 6, 6), (2, 5, 3))):
        x, delta = rng.standard_normal(x_shape), rng.standard_normal(d_shape)
        where = f"multichannel_kernel_gradient(x {x_shape}, delta {d_shape}):"
        got, changed = _call(multichannel_kernel_gradient, x, delta, where=where)
        got = _as_float_array(got)
        expected = multichannel_reference(x, delta)
        verdict = compare_array("dw", got, expected)
        if not verdict.passed:
            F, C = d_shape[0], x_shape[0]
            hint = first_match(got, [
                ("Your dw is the right one rotated by 180 degrees in every (f, c) slice: the input comes first, "
                 "correlate2d(x[c], delta[f], 'valid').", expected[:, :, ::-1, ::-1]),
                ("Your dw has the filter and channel axes swapped: it is (F, C, HH, WW), dw[f, c] from x[c] and delta[f].",
                 expected.transpose(1, 0, 2, 3)),
                ("Your dw is summed over the input channels: every channel c has its own slice dw[f, c].",
                 expected.sum(axis=1, keepdims=True)),
            ]) or ""
            if not hint and isinstance(got, np.ndarray) and got.shape == (C, F) + expected.shape[2:] and F != C:
                hint = "Your dw has the filter and channel axes swapped: it is (F, C, HH, WW)."
            _fail(f"{where} {verdict.message} {hint}".strip())
        if changed:
            _fail(f"{where} your function modified its inputs in place.")
    print("multichannel_kernel_gradient: hidden cases pass.")


# ---------------------------------------------------------------------------------------------------
# conv_backward_naive
# ---------------------------------------------------------------------------------------------------
def _case(rng, N, C, F, H, W, HH, WW, stride, pad):
    return ConvCase(x=rng.standard_normal((N, C, H, W)), w=rng.standard_normal((F, C, HH, WW)),
                    b=rng.standard_normal(F), conv_param={"stride": stride, "pad": pad})


def backward_cases(seed):
    """Two cases that keep the failure patterns apart, then the shared randomized grid.

    A square kernel on a non-square input, and a non-square kernel on a square input (both stride 1),
    so that "fails only for non-square kernels" and "fails only for non-square inputs" differ.
    """
    rng = np.random.default_rng(seed + 1)
    extra = [_case(rng, 2, 2, 3, 6, 8, 3, 3, 1, 1), _case(rng, 2, 3, 2, 7, 7, 2, 3, 1, 0)]
    return extra + conv_grid(seed)


BACKWARD_ARGS = ("dout", "cache x", "cache w", "cache b", "cache conv_param")

# What a failure pattern usually means; keys are the failing cases' state as explain_pattern words it.
PATTERN_HINTS = {
    "'kernel is square' false": "Your code seems to assume a square kernel: read HH and WW separately from w.shape.",
    "'input is square' false": "Your code seems to mix up the height H and the width W of the input.",
    "'stride is 1' false": "Your backward pass seems to ignore the stride (windows start at i * stride, j * stride).",
    "'pad is 0' true": "Your code breaks when pad is 0 (look at how you crop the padding).",
}


def _pattern(results):
    """explain_pattern's sentence, followed by what that pattern usually means."""
    sentence = explain_pattern(results)
    for failing_state, hint in PATTERN_HINTS.items():
        if f"has {failing_state}" in sentence:
            return f"{sentence} {hint}"
    return sentence


def diagnose_dx(dx, case, dout):
    x, w = case.x, case.w
    stride, pad = case.stride, case.pad
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if isinstance(dx, np.ndarray) and dx.shape != x.shape:
        if dx.size == 0 and pad == 0:
            return ("dx is empty: with pad = 0 the crop dx_pad[:, :, pad:-pad, pad:-pad] is the slice 0:0. "
                    "Crop with pad:pad + H and pad:pad + W instead.")
        if dx.shape == (N, C, Hp, Wp):
            return "dx still has the padding: crop pad rows and columns from each side (dx has the shape of x)."
        dx_pad = conv_backward_dx_padded(dout, w, (Hp, Wp), stride)
        if dx.shape == dx_pad[:, :, pad:pad + W, pad:pad + H].shape or dx.shape == (N, C, W, H):
            return "dx has its height and width swapped: crop rows with H and columns with W."
        return ""
    candidates = [
        ("Your dx uses the kernel rotated by 180 degrees: in the scatter form dx_pad[window] += dout * w[f] "
         "the kernel is used as it is (the rotation only appears when dx is written as a full convolution); "
         "or you rotated it twice.",
         lambda: conv_backward_reference(dout, x, w[:, :, ::-1, ::-1], case.b, case.conv_param)[0]),
        ("Your dx ignores the stride: window (i, j) starts at row i * stride and column j * stride of the "
         "padded input (in the convolution form: dilate dout with stride - 1 zeros).",
         lambda: conv_backward_dx_padded(dout, w, (Hp, Wp), 1)[:, :, pad:pad + H, pad:pad + W]),
        ("Your dx reads the kernel with its height and width swapped.",
         lambda: conv_backward_reference(dout, x, w.transpose(0, 1, 3, 2), case.b, case.conv_param)[0]),
    ]
    return first_match(dx, candidates) or ""


def diagnose_dw(dw, case, dout):
    x, w = case.x, case.w
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
        (batch.replace("adds its own contribution", "adds its own contribution; do not average"), ref / x.shape[0]),
        ("Your dw ignores the stride: window (i, j) starts at row i * stride and column j * stride.",
         lambda: conv_backward_dw(dout, x_pad, w.shape[2:], 1) if stride > 1 else None),
    ]
    return first_match(dw, candidates) or ""


def diagnose_db(db, dout):
    sentence = ("db is summed over the wrong axes: sum dout over the batch and both spatial axes, "
                "dout.sum(axis=(0, 2, 3)), one value per filter.")
    candidates = [(sentence, dout.sum(axis=axes)) for axes in ((1, 2, 3), (2, 3), (0,), (0, 1, 2, 3), (0, 2), (0, 3))]
    found = first_match(db, candidates)
    if found:
        return found
    if isinstance(db, np.ndarray) and db.shape != (dout.shape[1],):
        return sentence
    if isinstance(db, (float, np.floating)):
        return sentence
    return ""


def _verdict_one_backward(conv_backward, case, dout):
    where = f"On the case {case.describe()}:"

    def with_cache(d, x, w, b, conv_param):
        return conv_backward(d, (x, w, b, conv_param))

    try:
        result, changed = call_student(with_cache, dout, case.x, case.w, case.b, case.conv_param)
    except StudentError as exc:
        return failed(f"{where} your function raised {exc}.")
    if changed:
        names = ", ".join(BACKWARD_ARGS[i] for i in changed)
        return failed(f"{where} your function modified its input ({names}) in place; the cache must stay as the "
                      "forward pass left it (write the gradients into new arrays, e.g. np.zeros_like(x)).")
    if not (isinstance(result, tuple) and len(result) == 3):
        return failed(f"{where} conv_backward_naive must return a triple (dx, dw, db).")
    dx, dw, db = (_as_float_array(v) for v in result)
    ref_dx, ref_dw, ref_db = conv_backward_reference(dout, case.x, case.w, case.b, case.conv_param)
    for name, got, ref, diagnose in (("dx", dx, ref_dx, lambda: diagnose_dx(dx, case, dout)),
                                     ("dw", dw, ref_dw, lambda: diagnose_dw(dw, case, dout)),
                                     ("db", db, ref_db, lambda: diagnose_db(db, dout))):
        verdict = compare_array(name, got, ref)
        if not verdict.passed:
            return failed(f"{where} {verdict.message} {diagnose()}".strip())
    return passed()


def verdict_conv_backward(conv_backward, cases, seed):
    rng = np.random.default_rng(seed + 2)
    results, first_failure = [], None
    for case in cases:
        dout = rng.standard_normal(case.out_shape())
        verdict = _verdict_one_backward(conv_backward, case, dout)
        results.append((case.features(), verdict.passed))
        if not verdict.passed and first_failure is None:
            first_failure = verdict
    if first_failure is None:
        return passed(f"conv_backward_naive: all {len(cases)} hidden cases pass (dx, dw and db).")
    n_failed = sum(not ok for _, ok in results)
    return failed(f"{first_failure.message} ({n_failed} of {len(cases)} hidden cases fail.) {_pattern(results)}".strip())


def check_conv_backward_naive(conv_backward_naive):
    seed = run_seed()
    verdict = verdict_conv_backward(conv_backward_naive, backward_cases(seed), seed)
    require(Verdict(verdict.passed, f"{verdict.message} (seed {seed})"))


# ---------------------------------------------------------------------------------------------------
# Convolution as a matrix
# ---------------------------------------------------------------------------------------------------
def check_conv_matrix(conv_matrix):
    rng = np.random.default_rng(run_seed())
    for k_shape, H, W in (((3, 3), 4, 4), ((2, 3), 5, 4), ((3, 2), 4, 6), ((1, 4), 3, 5)):
        kernel = rng.standard_normal(k_shape)
        where = f"conv_matrix(kernel {k_shape}, H={H}, W={W}):"
        got, changed = _call(conv_matrix, kernel, H, W, where=where)
        got = _as_float_array(got)
        expected = conv_matrix_reference(kernel, H, W)
        verdict = compare_array("T", got, expected)
        if not verdict.passed:
            hint = first_match(got, [
                ("Your T computes a convolution (the kernel flipped), not the layer's cross-correlation: "
                 "T[row of output (i, j), column of input (i + m, j + n)] = kernel[m, n].",
                 conv_matrix_reference(kernel[::-1, ::-1], H, W)),
                ("Your T is transposed: it has one row per output pixel and one column per input pixel, "
                 "shape (H' * W', H * W).", expected.T),
            ]) or ""
            if not hint and isinstance(got, np.ndarray) and got.shape == expected.T.shape:
                hint = "Your T is transposed: shape (H' * W', H * W), one row per output pixel."
            _fail(f"{where} {verdict.message} {hint}".strip())
        if changed:
            _fail(f"{where} your function modified the kernel in place.")
        dout = rng.standard_normal((H - k_shape[0] + 1, W - k_shape[1] + 1))
        require(compare_array("T.T @ dout.ravel() (the backward pass)", got.T @ dout.ravel(),
                              signal.convolve2d(dout, kernel, mode="full").ravel()))
    print("conv_matrix: hidden cases pass; T.T is the backward pass on them.")
