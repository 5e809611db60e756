"""Hidden checks for the assignment `conv_variants`.

Each exercise is checked on seeded cases against an independent reference (`references.conv_variants`,
scipy.signal based, or brute force). A wrong answer that equals a known wrong variant (computed here
by explicit loops) gets that variant's sentence; otherwise the property that separates failing cases
from passing ones is named. The exercises that run convolution layers (`gradient_footprint`,
`fit_kernel`) get the reference layers of `convbook.layers` as arguments, so that a slip in the
student's pasted layers costs only the cell that checks them.
"""
import numpy as np

from autograder.checks.core import (
    StudentError,
    call,
    call_student,
    checked,
    compare_array,
    failed,
    first_match,
    passed,
    require,
    returns,
    run_grid,
    run_seed,
)
from autograder.references.conv import conv_backward_reference, conv_forward_reference
from autograder.references.conv_variants import (
    conv_dilated_reference,
    conv_grouped_reference,
    conv_transpose_reference,
    depthwise_separable_reference,
    footprint_reference,
    input_sizes_reference,
    receptive_field_reference,
    separable_cost_reference,
)
from convbook import layers

_LOOPS = ("scipy", "torch", "convbook.layers", "correlate2d", "convolve2d", "fftconvolve")
FORBIDDEN = {
    "conv_forward_naive": (_LOOPS, "paste your own loops from Assignment 1"),
    "conv_backward_naive": (_LOOPS, "paste your own loops from Assignment 2"),
    "conv_transpose_forward": (_LOOPS, "write the scatter loops yourself; scipy.signal is the reference"),
    "conv_dilated_forward": (_LOOPS, "write the loops yourself; scipy.signal is the reference"),
}

# ---------------------------------------------------------------------------------------------------
# Diagnosis sentences (the mistake catalogue checks that the feedback contains a phrase of each).

NOT_CROPPED = ("Your output keeps the padding: the scatter lands on a canvas P rows and columns larger on "
               "each side, and the transposed convolution crops P from each side (H_out = (H - 1) S - 2P + HH).")
ASSIGNED = ("Your output is what you get by assigning with = instead of adding with +=: where the "
            "kernels scattered by neighbouring inputs overlap, their contributions add up.")
FLIPPED = ("Your kernel is rotated by 180 degrees: the transposed convolution scatters w[c_in, c_out, m, l] "
           "to offset (m, l) of the block, with the kernel as it is (the flip appears only when you write "
           "it as a full convolution).")
NO_BIAS = "Your output misses the bias: add b[c_out] to every value of output channel c_out."
ONLY_SMALLEST = ("You return only the smallest input size. With stride S, S consecutive sizes share one "
                 "output size (the floor drops the rest): return all of them.")
DILATION_SIZE = ("Your output size ignores the dilation: the kernel spans D(HH - 1) + 1 rows and "
                 "D(WW - 1) + 1 columns, so H' = (H + 2P - D(HH - 1) - 1) // S + 1.")
DILATION_TAPS = ("Your taps are next to each other: with dilation D, tap (m, l) reads pixel "
                 "(iS + mD, jS + lD).")
DILATION_STRIDE = ("You use the dilation as the stride of the windows (or the other way round): windows start "
                   "S pixels apart, taps inside a window are D pixels apart.")
INTERLEAVED = ("Your groups take every G-th channel; a group is a block of consecutive channels: group g "
               "sees input channels g*C/G ... (g+1)*C/G - 1 and makes output channels g*F/G ... (g+1)*F/G - 1.")
NO_VALUE_ERROR = "When groups does not divide C or F, raise a ValueError (the channels cannot be split evenly)."
POINTWISE_KXK = ("You count the pointwise step as a k x k convolution: it is 1 x 1, C_in products per "
                 "output value.")
DEPTHWISE_COUT = ("You count the depthwise step with C_out filters: it has one k x k filter per input channel "
                  "(C_in of them), each reading one channel.")
STRIDE_IGNORED = ("Your receptive field ignores the strides: after a layer of stride S, neighbouring units "
                  "are S times further apart, so every later layer's kernel adds D(k - 1) times the jump, "
                  "the product of the strides below it.")
DILATION_IGNORED = "Your receptive field ignores the dilation: a layer's kernel spans D(k - 1) + 1 units."
KERNEL_SUM = ("You add the kernel sizes: a layer adds k - 1 (times dilation and jump) to the receptive field, "
              "not k; one pixel sees itself, so the field starts at 1.")
LOSS_SUM = "Your losses are sums of squared errors; the loss is their mean over all output values."
GRADIENT_NOT_AVERAGED = ("Your gradient is that of the sum of squared errors, not of the mean: divide dout = "
                         "2 (out - Y) by the number of output values M.")
LOSS_AFTER_STEP = "You record the loss after each step; record it before each update (the first loss is at w = 0)."


COPY_ADVICE = "work on a copy (for example x = x + 1, not x += 1)"


def _call(fn, args, names, where):
    """The student's fn(*copies of args); a raise or an in-place change rejects the check (core.call)."""
    return call(fn, args, names, where, COPY_ADVICE)


def _pair(result, name, where):
    """(out, None) from a (out, cache) result, or (None, failed Verdict)."""
    if not returns(result, 2):
        return None, failed(f"{where} {name} must return a pair (out, cache).")
    return result[0], None


def run_cases(label, cases, attempt):
    """run_grid over case dicts, whose "features" say what can separate failing from passing cases."""
    return run_grid(label, cases, attempt, features=lambda case: case["features"])


def _geometry_features(stride, pad, HH, WW, tiles=True):
    return {"stride is 1": stride == 1, "padding is 0": pad == 0, "kernel is square": HH == WW,
            "windows tile the input": tiles}


# ---------------------------------------------------------------------------------------------------
# 0 · the student's own layers

OWN_SPECS = [  # (H, W, HH, WW, stride, pad)
    (6, 7, 3, 3, 1, 1), (7, 9, 3, 2, 2, 1), (8, 7, 2, 3, 3, 0), (9, 8, 4, 3, 2, 2),
]


@checked
def verdict_own_conv_layers(forward, backward, seed):
    rng = np.random.default_rng(seed + 40)
    for H, W, HH, WW, stride, pad in OWN_SPECS:
        x = rng.standard_normal((2, 3, H, W))
        w, b = rng.standard_normal((2, 3, HH, WW)), rng.standard_normal(2)
        conv_param = {"stride": stride, "pad": pad}
        where = f"On x {x.shape}, w {w.shape}, stride {stride}, pad {pad}:"
        result = _call(forward, (x, w, b, conv_param), ("x", "w", "b", "conv_param"), f"{where} conv_forward_naive:")
        out, problem = _pair(result, "conv_forward_naive", where)
        if problem is not None:
            return problem
        expected = conv_forward_reference(x, w, b, conv_param)
        verdict = compare_array("conv_forward_naive's out", out, expected)
        if not verdict.passed:
            return failed(f"{where} {verdict.message} (this is your layer from Assignment 1)")
        dout = rng.standard_normal(expected.shape)
        grads = _call(lambda d, x_, w_, b_, p: backward(d, (x_, w_, b_, p)), (dout, x, w, b, conv_param),
                               ("dout", "x", "w", "b", "conv_param"), f"{where} conv_backward_naive:")
        if not (isinstance(grads, tuple) and len(grads) == 3):
            return failed(f"{where} conv_backward_naive must return (dx, dw, db).")
        for name, got, ref in zip(("dx", "dw", "db"), grads, conv_backward_reference(dout, x, w, b, conv_param)):
            verdict = compare_array(f"conv_backward_naive's {name}", got, ref)
            if not verdict.passed:
                return failed(f"{where} {verdict.message} (this is your layer from Assignment 2)")
    return passed(f"your pasted layers: all {len(OWN_SPECS)} hidden cases pass.")


# ---------------------------------------------------------------------------------------------------
# 1 · transposed convolution

TRANSPOSE_SPECS = [  # (H, W, HH, WW, stride, pad)
    (3, 4, 3, 3, 1, 0), (4, 3, 3, 3, 2, 1), (3, 5, 3, 4, 2, 1), (4, 4, 2, 3, 3, 0),
    (3, 4, 4, 4, 2, 1), (5, 3, 5, 3, 1, 2), (2, 3, 3, 2, 3, 1),
]


def transpose_cases(seed):
    rng = np.random.default_rng(seed + 41)
    cases = []
    for H, W, HH, WW, stride, pad in TRANSPOSE_SPECS:
        C_in, C_out = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        cases.append({
            "x": rng.standard_normal((2, C_in, H, W)), "w": rng.standard_normal((C_in, C_out, HH, WW)),
            "b": rng.standard_normal(C_out), "conv_param": {"stride": stride, "pad": pad},
            "features": _geometry_features(stride, pad, HH, WW),
        })
    return cases


def transpose_variant(x, w, b, stride, pad, write="add", flip=False, crop=True, bias=True):
    """The transposed convolution by loops, with one of the classic mistakes switched on."""
    N, C_in, H, W = x.shape
    C_out, HH, WW = w.shape[1:]
    kernel = w[:, :, ::-1, ::-1] if flip else w
    canvas = np.zeros((N, C_out, (H - 1) * stride + HH, (W - 1) * stride + WW))
    for i in range(H):
        for j in range(W):
            block = np.tensordot(x[:, :, i, j], kernel, axes=(1, 0))
            region = canvas[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            if write == "add":
                region += block
            else:
                region[...] = block
    if crop:
        canvas = canvas[:, :, pad:canvas.shape[2] - pad, pad:canvas.shape[3] - pad]
    return canvas + (b[None, :, None, None] if bias else 0)


def diagnose_transpose(out, case):
    x, w, b, p = case["x"], case["w"], case["b"], case["conv_param"]
    s, pad = p["stride"], p["pad"]
    return first_match(out, [
        (NOT_CROPPED, lambda: transpose_variant(x, w, b, s, pad, crop=False)),
        (ASSIGNED, lambda: transpose_variant(x, w, b, s, pad, write="assign")),
        (FLIPPED, lambda: transpose_variant(x, w, b, s, pad, flip=True)),
        (NO_BIAS, lambda: transpose_variant(x, w, b, s, pad, bias=False)),
    ]) or ""


@checked
def verdict_conv_transpose(fn, cases):
    def attempt(case):
        p = case["conv_param"]
        where = (f"On x {case['x'].shape}, w {case['w'].shape}, stride {p['stride']}, pad {p['pad']}:")
        result = _call(fn, (case["x"], case["w"], case["b"], p), ("x", "w", "b", "conv_param"), where)
        out, problem = _pair(result, "conv_transpose_forward", where)
        if problem is not None:
            return problem
        verdict = compare_array("out", out, conv_transpose_reference(case["x"], case["w"], case["b"], p))
        if verdict.passed:
            return verdict
        return failed(f"{where} {verdict.message}", diagnose_transpose(out, case))
    return run_cases("conv_transpose_forward", cases, attempt)


INPUT_SIZE_SPECS = [(4, 3, 2, 1), (5, 3, 1, 1), (3, 2, 3, 0), (2, 5, 4, 2), (6, 4, 3, 1), (1, 3, 2, 0), (7, 1, 2, 0)]


@checked
def verdict_input_sizes(fn, seed):
    rng = np.random.default_rng(seed + 42)
    specs = INPUT_SIZE_SPECS + [(int(rng.integers(1, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 5)),
                                 int(rng.integers(0, 3))) for _ in range(5)]
    for out_size, kernel, stride, pad in specs:
        expected = input_sizes_reference(out_size, kernel, stride, pad)
        where = f"input_sizes({out_size}, kernel={kernel}, stride={stride}, pad={pad}):"
        try:
            got, _ = call_student(fn, out_size, kernel, stride, pad)
            got = [int(v) for v in got]
        except StudentError as exc:
            return failed(f"{where} your function raised {exc}.")
        except (TypeError, ValueError):
            return failed(f"{where} return a list of ints.")
        if got != expected:
            hint = ONLY_SMALLEST if got == expected[:1] and len(expected) > 1 else ""
            return failed(f"{where} you return {got}, expected {expected}.", hint)
    return passed(f"input_sizes: all {len(specs)} hidden cases pass.")


# ---------------------------------------------------------------------------------------------------
# 2 · dilated convolution

DILATED_SPECS = [  # (H, W, HH, WW, stride, pad, dilation)
    (8, 9, 3, 3, 1, 0, 2), (9, 12, 3, 2, 2, 1, 2), (11, 10, 2, 3, 1, 2, 3), (10, 13, 3, 3, 3, 1, 2),
    (7, 8, 3, 3, 2, 0, 1), (12, 9, 2, 2, 2, 2, 4),
]


def dilated_cases(seed):
    rng = np.random.default_rng(seed + 43)
    cases = []
    for H, W, HH, WW, stride, pad, dilation in DILATED_SPECS:
        C, F = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        span_h, span_w = dilation * (HH - 1) + 1, dilation * (WW - 1) + 1
        tiles = (H + 2 * pad - span_h) % stride == 0 and (W + 2 * pad - span_w) % stride == 0
        cases.append({
            "x": rng.standard_normal((2, C, H, W)), "w": rng.standard_normal((F, C, HH, WW)),
            "b": rng.standard_normal(F), "conv_param": {"stride": stride, "pad": pad, "dilation": dilation},
            "features": {**_geometry_features(stride, pad, HH, WW, tiles), "dilation is 1": dilation == 1},
        })
    return cases


def diagnose_dilated(out, case):
    x, w, b, p = case["x"], case["w"], case["b"], case["conv_param"]
    s, pad, d = p["stride"], p["pad"], p["dilation"]
    plain = conv_forward_reference(x, w, b, {"stride": s, "pad": pad})
    if isinstance(out, np.ndarray) and out.shape == plain.shape and plain.shape != conv_dilated_reference(x, w, b, p).shape:
        return DILATION_SIZE
    Ho, Wo = conv_dilated_reference(x, w, b, p).shape[2:]
    return first_match(out, [
        (DILATION_TAPS, plain[:, :, :Ho, :Wo]),
        (DILATION_STRIDE, lambda: conv_dilated_reference(x, w, b, {"stride": d, "pad": pad, "dilation": s})),
    ]) or ""


@checked
def verdict_conv_dilated(fn, cases):
    def attempt(case):
        p = case["conv_param"]
        where = (f"On x {case['x'].shape}, w {case['w'].shape}, stride {p['stride']}, pad {p['pad']}, "
                 f"dilation {p['dilation']}:")
        result = _call(fn, (case["x"], case["w"], case["b"], p), ("x", "w", "b", "conv_param"), where)
        out, problem = _pair(result, "conv_dilated_forward", where)
        if problem is not None:
            return problem
        verdict = compare_array("out", out, conv_dilated_reference(case["x"], case["w"], case["b"], p))
        if verdict.passed:
            return verdict
        return failed(f"{where} {verdict.message}", diagnose_dilated(out, case))
    return run_cases("conv_dilated_forward", cases, attempt)


# ---------------------------------------------------------------------------------------------------
# 3 · grouped and depthwise-separable convolution

GROUPED_SPECS = [  # (C, F, groups, H, W, HH, WW, stride, pad)
    (4, 6, 1, 6, 7, 3, 3, 1, 1), (4, 6, 2, 7, 6, 3, 2, 2, 1), (6, 9, 3, 8, 9, 2, 3, 3, 0),
    (6, 6, 6, 7, 9, 3, 3, 2, 1), (4, 8, 4, 6, 5, 1, 1, 1, 0),
]


def grouped_cases(seed):
    rng = np.random.default_rng(seed + 44)
    cases = []
    for C, F, groups, H, W, HH, WW, stride, pad in GROUPED_SPECS:
        cases.append({
            "x": rng.standard_normal((2, C, H, W)), "w": rng.standard_normal((F, C // groups, HH, WW)),
            "b": rng.standard_normal(F), "conv_param": {"stride": stride, "pad": pad}, "groups": groups,
            "features": {"one group": groups == 1, "depthwise": groups == C},
        })
    return cases


def _interleaved(x, w, b, conv_param, groups):
    """Group g reads channels g, g + G, g + 2G, ... instead of a block of consecutive channels."""
    order = np.concatenate([np.arange(g, x.shape[1], groups) for g in range(groups)])
    return conv_grouped_reference(x[:, order], w, b, conv_param, groups)


@checked
def verdict_grouped_conv(grouped, separable, seed):
    def attempt(case):
        p, g = case["conv_param"], case["groups"]
        where = f"On x {case['x'].shape}, w {case['w'].shape}, groups {g}, stride {p['stride']}, pad {p['pad']}:"
        result = _call(grouped, (case["x"], case["w"], case["b"], p, g),
                                ("x", "w", "b", "conv_param", "groups"), where)
        out, problem = _pair(result, "conv_grouped_forward", where)
        if problem is not None:
            return problem
        verdict = compare_array("out", out, conv_grouped_reference(case["x"], case["w"], case["b"], p, g))
        if verdict.passed:
            return verdict
        diagnosis = first_match(out, [(INTERLEAVED, lambda: _interleaved(case["x"], case["w"], case["b"], p, g))]) or ""
        return failed(f"{where} {verdict.message}", diagnosis)

    verdict = run_cases("conv_grouped_forward", grouped_cases(seed), attempt)
    if not verdict.passed:
        return verdict
    rng = np.random.default_rng(seed + 45)
    x = rng.standard_normal((2, 6, 5, 5))
    try:
        call_student(grouped, x, rng.standard_normal((4, 2, 3, 3)), np.zeros(4), {"stride": 1, "pad": 1}, 3)
    except StudentError as exc:
        if not str(exc).startswith("ValueError"):
            return failed(f"With 6 channels, 4 filters and groups = 3 your function raised {exc}.", NO_VALUE_ERROR)
    else:
        return failed("With 6 channels, 4 filters and groups = 3 your function returned a result.", NO_VALUE_ERROR)
    for C, F, H, W, k, stride, pad in ((3, 5, 7, 6, 3, 1, 1), (4, 2, 9, 8, 3, 2, 1), (2, 3, 6, 9, 5, 2, 2)):
        args = (rng.standard_normal((2, C, H, W)), rng.standard_normal((C, 1, k, k)), rng.standard_normal(C),
                rng.standard_normal((F, C, 1, 1)), rng.standard_normal(F), {"stride": stride, "pad": pad})
        where = f"depthwise_separable_forward on x {args[0].shape}, {k}x{k} depthwise, stride {stride}, pad {pad}:"
        result = _call(separable, args, ("x", "w_depth", "b_depth", "w_point", "b_point", "conv_param"), where)
        out, problem = _pair(result, "depthwise_separable_forward", where)
        if problem is not None:
            return problem
        verdict = compare_array("out", out, depthwise_separable_reference(*args))
        if not verdict.passed:
            return failed(f"{where} {verdict.message}")
    return passed("grouped and depthwise-separable convolutions: all hidden cases pass.")


COST_SPECS = [(14, 14, 512, 512, 3), (5, 7, 3, 8, 5), (56, 28, 32, 64, 3), (7, 9, 16, 4, 1)]


@checked
def verdict_separable_cost(fn, seed):
    rng = np.random.default_rng(seed + 46)
    specs = COST_SPECS + [tuple(int(v) for v in (rng.integers(3, 30), rng.integers(3, 30), rng.integers(1, 65),
                                                 rng.integers(1, 65), rng.choice([1, 3, 5, 7]))) for _ in range(4)]
    for H, W, C_in, C_out, k in specs:
        expected = separable_cost_reference(H, W, C_in, C_out, k)
        where = f"separable_cost(H={H}, W={W}, C_in={C_in}, C_out={C_out}, k={k}):"
        try:
            got, _ = call_student(fn, H, W, C_in, C_out, k)
        except StudentError as exc:
            return failed(f"{where} your function raised {exc}.")
        if not isinstance(got, dict) or set(got) != set(expected):
            return failed(f"{where} return a dict with the keys {sorted(expected)}.")
        wrong = [key for key in expected if got[key] != expected[key]]
        if wrong:
            key = wrong[0]
            hint = ""
            if key.startswith("separable"):
                depth = (H * W if key.endswith("macs") else 1) * C_in * k * k
                point = (H * W if key.endswith("macs") else 1) * C_in * C_out
                if got[key] == depth + point * k * k:
                    hint = POINTWISE_KXK
                elif got[key] == depth // C_in * C_out + point:
                    hint = DEPTHWISE_COUT
            return failed(f"{where} {key} is {got[key]}, expected {expected[key]}.", hint)
    return passed(f"separable_cost: all {len(specs)} hidden cases pass.")


# ---------------------------------------------------------------------------------------------------
# 4 · receptive fields

def _rf_variant(stack, use_stride=True, use_dilation=True, kernel_sum=False):
    size, jump = 1, 1
    for kernel, stride, dilation in stack:
        d = dilation if use_dilation else 1
        size += d * (kernel if kernel_sum else kernel - 1) * jump
        jump *= stride if use_stride else 1
    return size


def receptive_stacks(seed):
    rng = np.random.default_rng(seed + 47)
    stacks = [[], [(3, 1, 1)] * 3, [(7, 2, 1), (3, 2, 1), (3, 1, 1)], [(3, 1, d) for d in (1, 2, 4)],
              [(5, 2, 1), (3, 3, 1), (2, 1, 2)]]
    for _ in range(4):
        stacks.append([(int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))
                       for _ in range(int(rng.integers(2, 6)))])
    return stacks


@checked
def verdict_receptive_field(fn, seed):
    stacks = receptive_stacks(seed)
    for stack in stacks:
        expected = receptive_field_reference(stack)
        where = f"receptive_field({stack}):"
        try:
            got, _ = call_student(fn, list(stack))
        except StudentError as exc:
            return failed(f"{where} your function raised {exc}.")
        if not isinstance(got, (int, np.integer)) or got != expected:
            hint = ""
            for sentence, kwargs in ((STRIDE_IGNORED, {"use_stride": False}), (DILATION_IGNORED, {"use_dilation": False}),
                                     (KERNEL_SUM, {"kernel_sum": True})):
                if got == _rf_variant(stack, **kwargs):
                    hint = sentence
                    break
            return failed(f"{where} you return {got!r}, expected {expected}.", hint)
    return passed(f"receptive_field: all {len(stacks)} hidden stacks pass.")


FOOTPRINT_STACKS = [([(3, 1, 1)] * 2, 9), ([(3, 2, 1), (3, 1, 1)], 12), ([(3, 1, 2), (3, 1, 1)], 10),
                    ([(2, 2, 1), (3, 1, 3), (1, 1, 1)], 16), ([(5, 1, 1), (2, 3, 1)], 14)]


@checked
def verdict_gradient_footprint(fn, seed):
    for stack, size in FOOTPRINT_STACKS:
        where = f"gradient_footprint({stack}, size={size}) with the reference layers:"
        result = _call(fn, (stack, size, layers.conv_forward, layers.conv_backward),
                                ("layer_specs", "size", "conv_forward", "conv_backward"), where)
        expected = footprint_reference(stack, size)
        if not isinstance(result, np.ndarray) or result.shape != expected.shape:
            return failed(f"{where} return a bool array of shape {expected.shape}, got "
                          f"{getattr(result, 'shape', type(result).__name__)}.")
        if result.dtype != bool:
            return failed(f"{where} return a bool array (dx[0, 0] != 0), not {result.dtype}.")
        if not np.array_equal(result, expected):
            rows, cols = np.nonzero(expected)
            return failed(f"{where} your mask has {int(result.sum())} True pixels, expected {int(expected.sum())} in rows "
                          f"{rows.min()}..{rows.max()} and columns {cols.min()}..{cols.max()} (the unit is "
                          "(H_L // 2, W_L // 2) of the last map; weights 1 every D taps, no padding).")
    return passed(f"gradient_footprint: all {len(FOOTPRINT_STACKS)} hidden stacks pass.")


# ---------------------------------------------------------------------------------------------------
# 5 · learning a kernel

def fit_kernel_reference(X, Y, lr, steps, loss="mean", grad_scale=None, record="before"):
    """Gradient descent on the mean squared error with the reference layers (variants for diagnoses)."""
    w = np.zeros((1, 1, X.shape[2] - Y.shape[2] + 1, X.shape[3] - Y.shape[3] + 1))
    losses = []
    for _ in range(steps):
        out, cache = layers.conv_forward(X, w, np.zeros(1), {"stride": 1, "pad": 0})
        error = out - Y
        value = float(np.mean(error ** 2)) if loss == "mean" else float(np.sum(error ** 2))
        if record == "before":
            losses.append(value)
        scale = error.size if grad_scale is None else grad_scale
        w = w - lr * layers.conv_backward(2.0 * error / scale, cache)[1]
        if record == "after":
            out, _ = layers.conv_forward(X, w, np.zeros(1), {"stride": 1, "pad": 0})
            losses.append(float(np.mean((out - Y) ** 2)))
    return w, losses


@checked
def verdict_fit_kernel(fn, seed):
    rng = np.random.default_rng(seed + 48)
    for kernel_shape, image_shape, steps in (((3, 3), (8, 9, 8), 40), ((2, 4), (6, 7, 10), 40)):
        K = rng.integers(-2, 3, size=(1, 1) + kernel_shape).astype(float)
        X = rng.standard_normal((image_shape[0], 1) + image_shape[1:])
        Y = conv_forward_reference(X, K, np.zeros(1), {"stride": 1, "pad": 0})
        lr = 0.2
        where = f"fit_kernel on X {X.shape}, Y {Y.shape}, lr {lr}, {steps} steps, with the reference layers:"
        result = _call(fn, (X, Y, lr, steps, layers.conv_forward, layers.conv_backward),
                                ("X", "Y", "lr", "steps", "conv_forward", "conv_backward"), where)
        if not (isinstance(result, tuple) and len(result) == 2):
            return failed(f"{where} return a pair (w, losses).")
        w, losses = result
        w_ref, losses_ref = fit_kernel_reference(X, Y, lr, steps)
        try:
            losses = np.asarray([float(v) for v in losses])
        except (TypeError, ValueError):
            return failed(f"{where} losses must be a list of floats.")
        if losses.shape != (steps,):
            return failed(f"{where} losses has {losses.size} values, expected one per step ({steps}).")
        for name, got, ref in (("losses", losses, np.asarray(losses_ref)), ("w", w, w_ref)):
            verdict = compare_array(name, got, ref, rtol=1e-6, atol=1e-10)
            if not verdict.passed:
                hint = ""
                for sentence, kwargs in ((LOSS_SUM, {"loss": "sum"}), (GRADIENT_NOT_AVERAGED, {"grad_scale": 1.0}),
                                         (LOSS_AFTER_STEP, {"record": "after"})):
                    w_v, losses_v = fit_kernel_reference(X, Y, lr, steps, **kwargs)
                    if first_match(got, [(sentence, w_v if name == "w" else np.asarray(losses_v))]):
                        hint = sentence
                        break
                return failed(f"{where} {verdict.message}", hint)
        if np.abs(w_ref - K).max() > 1e-3:
            raise AssertionError("the hidden case does not converge: fix the checks")
    return passed("fit_kernel: the hidden kernels are recovered, step by step as the reference.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells

def check_own_conv_layers(conv_forward_naive, conv_backward_naive):
    require(verdict_own_conv_layers(conv_forward_naive, conv_backward_naive, run_seed()))


def check_conv_transpose(conv_transpose_forward):
    require(verdict_conv_transpose(conv_transpose_forward, transpose_cases(run_seed())))


def check_input_sizes(input_sizes):
    require(verdict_input_sizes(input_sizes, run_seed()))


def check_conv_dilated(conv_dilated_forward):
    require(verdict_conv_dilated(conv_dilated_forward, dilated_cases(run_seed())))


def check_grouped_conv(conv_grouped_forward, depthwise_separable_forward):
    require(verdict_grouped_conv(conv_grouped_forward, depthwise_separable_forward, run_seed()))


def check_separable_cost(separable_cost):
    require(verdict_separable_cost(separable_cost, run_seed()))


def check_receptive_field(receptive_field):
    require(verdict_receptive_field(receptive_field, run_seed()))


def check_gradient_footprint(gradient_footprint):
    require(verdict_gradient_footprint(gradient_footprint, run_seed()))


def check_fit_kernel(fit_kernel):
    require(verdict_fit_kernel(fit_kernel, run_seed()))
