"""Hidden checks for the assignment `spatial_norm`.

Forward passes are compared with `references.spatial_norm` on seeded non-square batches with channel
means and scales far from 0 and 1; the training-mode forward pass is called on a copy of bn_param that
the check reads back, to see the running averages it stored. Backward passes get caches built here
(the notebook's cache contract), are compared with the reference, and are gradient-checked in float64
against centred differences of the reference forward pass. Wrong answers that equal a classic mistake
(computed here) are named.
"""
import copy

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
from autograder.references.spatial_norm import (
    batchnorm_statistics,
    spatial_batchnorm_backward_reference,
    spatial_batchnorm_reference,
    spatial_batchnorm_train_reference,
    spatial_groupnorm_backward_reference,
    spatial_groupnorm_reference,
)
from convbook import eval_numerical_gradient_array

FORBIDDEN = {}

COPY_ADVICE = "work on a copy (for example x = x - mean, not x -= mean)"

# ---------------------------------------------------------------------------------------------------
# Diagnosis sentences (the mistake catalogue checks that the feedback contains a phrase of each).

PER_PIXEL = ("Your statistics are taken over the wrong axes: over axis 0 only you get one mean per pixel. A "
             "channel's mean and variance are over the batch and all its pixels, axes (0, 2, 3).")
PER_IMAGE = ("Your statistics are taken over the wrong axes: over (2, 3) you get one mean per image (instance "
             "norm). Batch norm uses the batch and the pixels, axes (0, 2, 3).")
ALL_AXES = ("Your statistics are taken over the wrong axes: one mean for the whole batch. Each channel has its "
            "own, over axes (0, 2, 3).")
UNBIASED = ("Your variance divides by M - 1 (ddof=1): batch norm uses the biased variance of the batch, dividing "
            "by M = N * H * W.")
EPS_OUTSIDE = "Your eps is outside the square root: divide by sqrt(var + eps)."
MOMENTUM_SWAPPED = ("Your running average gives the weight momentum to the new statistics: it is momentum * "
                    "running + (1 - momentum) * batch statistic.")
RUNNING_MISSING = ("In training mode store the updated running averages in bn_param['running_mean'] and "
                   "bn_param['running_var'].")
BATCH_STATS_IN_TEST = ("In test mode you normalise with the batch's own statistics; test mode uses the running "
                       "averages, so that an image's output does not depend on its batch.")
RUNNING_UPDATED_IN_TEST = "In test mode the running averages must be left unchanged; you updated them."
NO_MODE_ERROR = "For a mode other than 'train' or 'test', raise a ValueError."
FORGETS_STATISTICS = ("Your dx forgets the mean and variance terms: it is dout * gamma / sqrt(var + eps), as if "
                      "the statistics were constants. Every pixel moves the channel's mean and variance: subtract "
                      "the mean of g and the component of g along x_hat.")
FORGETS_VARIANCE = ("Your dx forgets the variance term: subtract x_hat times the mean of g * x_hat (over the "
                    "values the statistics are taken over).")
FORGETS_MEAN = "Your dx forgets the mean term: subtract the mean of g (over the values the statistics are taken over)."
DGAMMA_X = "Your dgamma sums dout * x; gamma multiplies x_hat, so dgamma sums dout * x_hat."
GN_PER_CHANNEL = ("Your group norm normalises each channel on its own (instance norm): a group is C/G consecutive "
                  "channels, normalised together with all their pixels.")
GN_ACROSS_BATCH = ("Your group norm mixes images: its statistics are per image and group, never over the batch.")
GN_INTERLEAVED = ("Your groups take every G-th channel; a group is a block of C/G consecutive channels "
                  "(x.reshape(N, G, -1) groups them so).")
NO_GROUP_ERROR = "When G does not divide C, raise a ValueError."


def _bn_variant(x, gamma, beta, eps, axes=(0, 2, 3), ddof=0, eps_inside=True):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps
    return gamma[None, :, None, None] * (x - mean) / std + beta[None, :, None, None]


def _with_param_back(fn):
    """fn(x, gamma, beta, param) on a copy of param; returns (fn's result, the param as fn left it)."""
    def run(x, gamma, beta, bn_param):
        param = copy.deepcopy(bn_param)
        return fn(x, gamma, beta, param), param
    return run


# ---------------------------------------------------------------------------------------------------
# Cases

BN_SHAPES = [(4, 3, 5, 7), (2, 2, 6, 3), (3, 4, 2, 5), (5, 1, 3, 4)]


def bn_cases(seed):
    rng = np.random.default_rng(seed + 60)
    cases = []
    for k, (N, C, H, W) in enumerate(BN_SHAPES):
        x = rng.uniform(0.5, 4.0, C)[None, :, None, None] * rng.standard_normal((N, C, H, W)) \
            + rng.uniform(-5, 5, C)[None, :, None, None]
        # never 0.5: there momentum * old + (1 - momentum) * new is symmetric, and a swapped momentum hides
        param = {"eps": float(rng.choice([1e-5, 1e-3, 0.1])), "momentum": float(rng.choice([0.9, 0.7, 0.8]))}
        if k % 2:
            param.update(running_mean=rng.standard_normal(C), running_var=rng.uniform(0.5, 2.0, C))
        cases.append({"x": x, "gamma": rng.standard_normal(C), "beta": rng.standard_normal(C), "param": param,
                      "dout": rng.standard_normal((N, C, H, W)),
                      "features": {"running averages given": k % 2 == 1, "map is square": H == W}})
    return cases


def _bn_defaults(case):
    C = case["x"].shape[1]
    p = case["param"]
    return (p.get("eps", 1e-5), p.get("momentum", 0.9), p.get("running_mean", np.zeros(C)),
            p.get("running_var", np.ones(C)))


def _where(case, extra=""):
    p = case["param"]
    return f"On x {case['x'].shape}, eps {p['eps']}, momentum {p['momentum']}{extra}:"


# ---------------------------------------------------------------------------------------------------
# Batch norm, forward

@checked
def verdict_bn_forward_train(fn, seed):
    def attempt(case):
        eps, momentum, running_mean, running_var = _bn_defaults(case)
        where = _where(case, ", mode 'train'")
        param = {**case["param"], "mode": "train"}
        result = call(_with_param_back(fn), (case["x"], case["gamma"], case["beta"], param),
                               ("x", "gamma", "beta", "bn_param"), where, COPY_ADVICE)
        (out_cache, after) = result
        if not returns(out_cache, 2):
            return failed(f"{where} spatial_batchnorm_forward must return a pair (out, cache).")
        out = out_cache[0]
        x, gamma, beta = case["x"], case["gamma"], case["beta"]
        expected, new_mean, new_var = spatial_batchnorm_train_reference(x, gamma, beta, eps, momentum,
                                                                        running_mean, running_var)
        verdict = compare_array("out", out, expected)
        if not verdict.passed:
            return failed(f"{where} {verdict.message}", first_match(out, [
                (PER_PIXEL, lambda: _bn_variant(x, gamma, beta, eps, axes=0)),
                (PER_IMAGE, lambda: _bn_variant(x, gamma, beta, eps, axes=(2, 3))),
                (ALL_AXES, lambda: _bn_variant(x, gamma, beta, eps, axes=(0, 1, 2, 3))),
                (UNBIASED, lambda: _bn_variant(x, gamma, beta, eps, ddof=1)),
                (EPS_OUTSIDE, lambda: _bn_variant(x, gamma, beta, eps, eps_inside=False)),
            ]) or "")
        if not isinstance(after, dict) or "running_mean" not in after or "running_var" not in after:
            return failed(f"{where} bn_param has no running averages after the call.", RUNNING_MISSING)
        mean, var = batchnorm_statistics(x)
        for name, got, ref, old, new in (("running_mean", after["running_mean"], new_mean, running_mean, mean),
                                         ("running_var", after["running_var"], new_var, running_var, var)):
            verdict = compare_array(f"bn_param['{name}']", got, ref)
            if not verdict.passed:
                return failed(f"{where} {verdict.message}",
                              first_match(got, [(MOMENTUM_SWAPPED, (1 - momentum) * old + momentum * new)]) or "")
        return passed()

    return run_grid("spatial_batchnorm_forward, training mode", bn_cases(seed), attempt,
                    features=lambda case: case["features"])


@checked
def verdict_bn_forward_test(fn, seed):
    def attempt(case):
        x, gamma, beta = case["x"], case["gamma"], case["beta"]
        C = x.shape[1]
        rng = np.random.default_rng(int(abs(x[0, 0, 0, 0]) * 1e6))
        running = {"running_mean": rng.standard_normal(C), "running_var": rng.uniform(0.5, 3.0, C)}
        param = {**case["param"], **running, "mode": "test"}
        where = _where(case, ", mode 'test'")
        result = call(_with_param_back(fn), (x, gamma, beta, param), ("x", "gamma", "beta", "bn_param"),
                               where, COPY_ADVICE)
        out_cache, after = result
        if not returns(out_cache, 2):
            return failed(f"{where} spatial_batchnorm_forward must return a pair (out, cache).")
        eps = param["eps"]
        expected = spatial_batchnorm_reference(x, gamma, beta, running["running_mean"], running["running_var"], eps)
        verdict = compare_array("out", out_cache[0], expected)
        if not verdict.passed:
            return failed(f"{where} {verdict.message}",
                          first_match(out_cache[0], [(BATCH_STATS_IN_TEST, lambda: _bn_variant(x, gamma, beta, eps))]) or "")
        for name, value in running.items():
            got = after.get(name) if isinstance(after, dict) else None
            if not (isinstance(got, np.ndarray) and got.shape == value.shape and np.array_equal(got, value)):
                return failed(f"{where} bn_param['{name}'] changed.", RUNNING_UPDATED_IN_TEST)
        return passed()

    verdict = run_grid("spatial_batchnorm_forward, test mode", bn_cases(seed), attempt,
                       features=lambda case: case["features"])
    if not verdict.passed:
        return verdict
    x = np.random.default_rng(seed + 61).standard_normal((2, 2, 3, 3))
    try:
        call_student(fn, x, np.ones(2), np.zeros(2), {"mode": "eval"})
    except StudentError as exc:
        if not str(exc).startswith("ValueError"):
            return failed(f"With mode 'eval' your function raised {exc}.", NO_MODE_ERROR)
    else:
        return failed("With mode 'eval' your function returned a result.", NO_MODE_ERROR)
    return verdict


# ---------------------------------------------------------------------------------------------------
# Backward passes

def _statistics_variants(g, x_hat, inv_std, axes):
    """dx with the mean and/or variance terms left out (g = dout * gamma)."""
    mean_g = g.mean(axis=axes, keepdims=True)
    mean_gx = (g * x_hat).mean(axis=axes, keepdims=True)
    return [(FORGETS_STATISTICS, g * inv_std), (FORGETS_VARIANCE, (g - mean_g) * inv_std),
            (FORGETS_MEAN, (g - x_hat * mean_gx) * inv_std)]


def _numeric_check(name, fn_backward, forward, x, gamma, beta, cache, dout, where):
    """Gradient check in float64: the student's dx against centred differences of the reference forward."""
    grads = call(fn_backward, (dout, cache), ("dout", "cache"), where, COPY_ADVICE)
    if not returns(grads, 3):
        return failed(f"{where} {name} must return (dx, dgamma, dbeta).")
    numeric = eval_numerical_gradient_array(lambda v: forward(v, gamma, beta), x.copy(), dout)
    verdict = compare_array("dx (numeric gradient check, float64)", grads[0], numeric, rtol=1e-5, atol=1e-7)
    return passed() if verdict.passed else failed(f"{where} {verdict.message}")


@checked
def verdict_bn_backward(fn, seed):
    def attempt(case):
        x, gamma, beta, dout = case["x"], case["gamma"], case["beta"], case["dout"]
        eps = case["param"]["eps"]
        where = f"On x {x.shape}, eps {eps}, cache (x, gamma, beta, eps):"
        grads = call(lambda d, x_, g_, b_, e: fn(d, (x_, g_, b_, e)), (dout, x, gamma, beta, eps),
                              ("dout", "x in the cache", "gamma in the cache", "beta in the cache", "eps"),
                              where, COPY_ADVICE)
        if not returns(grads, 3):
            return failed(f"{where} spatial_batchnorm_backward must return (dx, dgamma, dbeta).")
        dx_ref, dgamma_ref, dbeta_ref = spatial_batchnorm_backward_reference(dout, x, gamma, eps)
        mean, var = batchnorm_statistics(x)
        inv_std = 1.0 / np.sqrt(var + eps)[None, :, None, None]
        x_hat = (x - mean[None, :, None, None]) * inv_std
        g = dout * gamma[None, :, None, None]
        for name, got, ref, variants in (
                ("dx", grads[0], dx_ref, _statistics_variants(g, x_hat, inv_std, (0, 2, 3))),
                ("dgamma", grads[1], dgamma_ref, [(DGAMMA_X, (dout * x).sum(axis=(0, 2, 3)))]),
                ("dbeta", grads[2], dbeta_ref, [])):
            verdict = compare_array(name, got, ref)
            if not verdict.passed:
                return failed(f"{where} {verdict.message}", first_match(got, variants) or "")
        return passed()

    verdict = run_grid("spatial_batchnorm_backward", bn_cases(seed), attempt, features=lambda case: case["features"])
    if not verdict.passed:
        return verdict
    rng = np.random.default_rng(seed + 62)
    x = 2.0 * rng.standard_normal((2, 3, 3, 4)) + 1.0
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    forward = lambda v, g_, b_: spatial_batchnorm_reference(v, g_, b_, *batchnorm_statistics(v), 1e-5)
    check = _numeric_check("spatial_batchnorm_backward", fn, forward, x, gamma, beta, (x, gamma, beta, 1e-5),
                           rng.standard_normal(x.shape), f"Gradient check on x {x.shape}:")
    return check if not check.passed else passed(f"{verdict.message} The float64 gradient check passes too.")


# ---------------------------------------------------------------------------------------------------
# Group norm

GN_SPECS = [(2, 6, 3, 5, 3), (3, 4, 4, 2, 2), (2, 4, 3, 3, 1), (2, 3, 2, 5, 3), (1, 8, 3, 4, 4)]  # N, C, H, W, G


def gn_cases(seed):
    rng = np.random.default_rng(seed + 63)
    cases = []
    for N, C, H, W, G in GN_SPECS:
        x = rng.uniform(0.5, 3.0, (N, C))[:, :, None, None] * rng.standard_normal((N, C, H, W)) \
            + rng.uniform(-4, 4, (N, C))[:, :, None, None]
        cases.append({"x": x, "gamma": rng.standard_normal(C), "beta": rng.standard_normal(C), "G": G,
                      "eps": float(rng.choice([1e-5, 1e-3])), "dout": rng.standard_normal((N, C, H, W)),
                      "features": {"one group (layer norm)": G == 1, "one channel per group": G == C,
                                   "one image": N == 1}})
    return cases


def _gn_variant(x, gamma, beta, G, eps, kind):
    N, C, H, W = x.shape
    if kind == "channel":
        return spatial_groupnorm_reference(x, gamma, beta, C, eps)
    if kind == "interleaved":
        order = np.concatenate([np.arange(g, C, G) for g in range(G)])
        out = np.empty_like(x)
        out[:, order] = spatial_groupnorm_reference(x[:, order], gamma[order], beta[order], G, eps)
        return out
    groups = x.reshape(N, G, -1)                                         # "batch": statistics over images too
    mean, var = groups.mean(axis=(0, 2), keepdims=True), groups.var(axis=(0, 2), keepdims=True)
    x_hat = ((groups - mean) / np.sqrt(var + eps)).reshape(x.shape)
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]


@checked
def verdict_gn_forward(fn, seed):
    def attempt(case):
        x, gamma, beta, G, eps = case["x"], case["gamma"], case["beta"], case["G"], case["eps"]
        where = f"On x {x.shape}, G {G}, eps {eps}:"
        result = call(fn, (x, gamma, beta, G, {"eps": eps}), ("x", "gamma", "beta", "G", "gn_param"),
                               where, COPY_ADVICE)
        if not returns(result, 2):
            return failed(f"{where} spatial_groupnorm_forward must return a pair (out, cache).")
        verdict = compare_array("out", result[0], spatial_groupnorm_reference(x, gamma, beta, G, eps))
        if verdict.passed:
            return verdict
        return failed(f"{where} {verdict.message}", first_match(result[0], [
            (GN_PER_CHANNEL, lambda: _gn_variant(x, gamma, beta, G, eps, "channel")),
            (GN_ACROSS_BATCH, lambda: _gn_variant(x, gamma, beta, G, eps, "batch")),
            (GN_INTERLEAVED, lambda: _gn_variant(x, gamma, beta, G, eps, "interleaved")),
        ]) or "")

    verdict = run_grid("spatial_groupnorm_forward", gn_cases(seed), attempt, features=lambda case: case["features"])
    if not verdict.passed:
        return verdict
    x = np.random.default_rng(seed + 64).standard_normal((1, 6, 2, 2))
    try:
        call_student(fn, x, np.ones(6), np.zeros(6), 4, {})
    except StudentError as exc:
        if not str(exc).startswith("ValueError"):
            return failed(f"With 6 channels and G = 4 your function raised {exc}.", NO_GROUP_ERROR)
    else:
        return failed("With 6 channels and G = 4 your function returned a result.", NO_GROUP_ERROR)
    return verdict


@checked
def verdict_gn_backward(fn, seed):
    def attempt(case):
        x, gamma, beta, G, eps, dout = (case[k] for k in ("x", "gamma", "beta", "G", "eps", "dout"))
        where = f"On x {x.shape}, G {G}, eps {eps}, cache (x, gamma, beta, G, eps):"
        grads = call(lambda d, x_, g_, b_, G_, e: fn(d, (x_, g_, b_, G_, e)), (dout, x, gamma, beta, G, eps),
                              ("dout", "x in the cache", "gamma in the cache", "beta in the cache", "G", "eps"),
                              where, COPY_ADVICE)
        if not returns(grads, 3):
            return failed(f"{where} spatial_groupnorm_backward must return (dx, dgamma, dbeta).")
        dx_ref, dgamma_ref, dbeta_ref = spatial_groupnorm_backward_reference(dout, x, gamma, G, eps)
        N, C, H, W = x.shape
        groups = x.reshape(N, G, -1)
        inv_std = 1.0 / np.sqrt(groups.var(axis=2, keepdims=True) + eps)
        x_hat = (groups - groups.mean(axis=2, keepdims=True)) * inv_std
        g = (dout * gamma[None, :, None, None]).reshape(N, G, -1)
        variants = [(s, v.reshape(x.shape)) for s, v in _statistics_variants(g, x_hat, inv_std, 2)]
        for name, got, ref, candidates in (("dx", grads[0], dx_ref, variants),
                                           ("dgamma", grads[1], dgamma_ref, [(DGAMMA_X, (dout * x).sum(axis=(0, 2, 3)))]),
                                           ("dbeta", grads[2], dbeta_ref, [])):
            verdict = compare_array(name, got, ref)
            if not verdict.passed:
                return failed(f"{where} {verdict.message}", first_match(got, candidates) or "")
        return passed()

    verdict = run_grid("spatial_groupnorm_backward", gn_cases(seed), attempt, features=lambda case: case["features"])
    if not verdict.passed:
        return verdict
    rng = np.random.default_rng(seed + 65)
    x = rng.standard_normal((2, 4, 3, 3)) + 0.5
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    forward = lambda v, g_, b_: spatial_groupnorm_reference(v, g_, b_, 2, 1e-5)
    check = _numeric_check("spatial_groupnorm_backward", fn, forward, x, gamma, beta, (x, gamma, beta, 2, 1e-5),
                           rng.standard_normal(x.shape), f"Gradient check on x {x.shape}, G 2:")
    return check if not check.passed else passed(f"{verdict.message} The float64 gradient check passes too.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells

def check_bn_forward_train(spatial_batchnorm_forward):
    require(verdict_bn_forward_train(spatial_batchnorm_forward, run_seed()))


def check_bn_forward_test(spatial_batchnorm_forward):
    require(verdict_bn_forward_test(spatial_batchnorm_forward, run_seed()))


def check_bn_backward(spatial_batchnorm_backward):
    require(verdict_bn_backward(spatial_batchnorm_backward, run_seed()))


def check_gn_forward(spatial_groupnorm_forward):
    require(verdict_gn_forward(spatial_groupnorm_forward, run_seed()))


def check_gn_backward(spatial_groupnorm_backward):
    require(verdict_gn_backward(spatial_groupnorm_backward, run_seed()))
