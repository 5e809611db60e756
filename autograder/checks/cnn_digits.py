"""Hidden checks for the assignment `cnn_digits`.

The network is conv - relu - 2x2 max pool - affine - relu - affine - softmax; its reference, with switches
that reproduce typical mistakes, is `autograder.references.cnn`.

Every check calls only the one student function it grades: the loss is compared with the reference
on parameters the check draws itself, the gradient checker and the training loop are given the
reference network and the reference Adam, and the initialisation is judged by the reference loss.
"""
import copy
import hashlib
import math

import numpy as np

from autograder.checks.core import (
    Rejected,
    call,
    checked,
    compare_array,
    failed,
    first_failure,
    hidden_check,
    notebook_seconds,
    passed,
    require,
    returns,
    run_seed,
)
from autograder.references.cnn import (
    KEYS,
    SABOTAGED_KEYS,
    WEIGHTS,
    accuracy,
    reference_adam,
    reference_gradient_errors,
    reference_init,
    reference_loss,
    sabotaged,
)
from convbook.gradcheck import STEP, eval_numerical_gradient, rel_error

LOG10 = math.log(10)

# The network of the notebook (init_params' defaults) and the training settings (train's defaults).
NETWORK = {"num_filters": 32, "filter_size": 3, "hidden_dim": 128, "num_classes": 10,
           "input_shape": (1, 8, 8), "weight_scale": 5e-2}
TRAINING = {"epochs": 12, "batch_size": 64, "lr": 1e-2, "lr_decay": 0.75, "reg": 1e-3, "seed": 0}
INIT_SEED = 0                       # the initial parameters the train check starts from
ACCURACY_THRESHOLD = 0.97           # on the 360 test images: at most 10 mistakes
INITIAL_LOSS_TOLERANCE = 0.05       # |initial loss - log(10)|: random weights of scale 0.05 move it by ~0.02
GRADIENT_TOLERANCE = 1e-6           # relative error of a whole-network gradient check
TIME_LIMIT = 90                     # seconds for the whole notebook on 2 CPU cores

# ---------------------------------------------------------------------------------------------------
# Diagnosis sentences (the mistake catalogue checks that the feedback contains a phrase of each).

INIT_TOO_LARGE = ("Your initial loss is {loss:.3g}, far from log(10) = 2.303: with random weights this "
                  "large, the scores are far from 0 and the untrained network is confidently wrong. "
                  "Draw each weight as weight_scale * (a standard normal number); your {name} has "
                  "standard deviation {std:.3g} where weight_scale is {scale:g}.")
INIT_SYMMETRIC = ("All entries of your {name} are equal: every unit would then compute the same thing and "
                  "receive the same gradient, forever. Draw the weights at random (biases may be 0).")
INIT_SEED_IGNORED = ("Two calls with the same seed gave different parameters: draw every number from "
                     "rng = np.random.default_rng(seed), created once inside init_params.")
INIT_SEED_CONSTANT = "Two different seeds gave the same parameters: use the seed argument."
NOT_AVERAGED = ("Your loss is N times too large (N = {N} images): the softmax loss is not averaged over "
                "the batch. Divide the sum over the images by N, in the loss and in its gradient.")
GRADS_NOT_AVERAGED = ("Your gradients are N times too large (N = {N} images): the loss is not averaged over "
                      "the batch. Divide by N in the loss and in its gradient dscores.")
UNSHIFTED = ("Your loss is NaN or infinite on scores of size about {size:.0f}: np.exp overflowed. "
             "The softmax is not shifted: subtract each row's largest score before exponentiating "
             "(the probabilities do not change), as convbook.layers.softmax_loss does.")
REG_TWICE_LOSS = ("Your loss counts the L2 penalty twice (or without its 1/2): the penalty is "
                  "0.5 * reg * (sum(W1**2) + sum(W2**2) + sum(W3**2)).")
REG_MISSING_LOSS = ("Your loss has no L2 penalty: when reg > 0, add "
                    "0.5 * reg * (sum(W1**2) + sum(W2**2) + sum(W3**2)).")
REG_ON_BIASES = "Your penalty includes the biases: only W1, W2 and W3 are penalised."
REG_MISSING_GRAD = ("Your gradients leave out the penalty: the derivative of 0.5 * reg * sum(W**2) is "
                    "reg * W; add it to the gradient of W1, W2 and W3 (not of the biases).")
REG_TWICE_GRAD = ("Your gradients count the penalty twice: add reg * W to each weight's gradient once.")
RELU_DOUT = ("Your ReLU backward masks the gradient with dout > 0: the mask must come from the ReLU's "
             "input (x > 0) or, equivalently, its output (out > 0), never from the upstream gradient.")
FLATTEN_ORDER = ("Your scores have the right shape but flatten the pooled maps in another order than W2 "
                 "expects: use pooled.reshape(N, -1) (channel, then row, then column) and reshape the "
                 "gradient back with .reshape(pooled.shape).")
RESHAPE = ("A shape error between the pooling and the affine layer: flatten the pooled maps "
           "(N, F, H/2, W/2) to rows (N, F * H/2 * W/2) before the affine layer, and reshape its dx back "
           "to (N, F, H/2, W/2) before max_pool_backward.")
NOT_CONSISTENT = ("The grader's own gradient check (centred differences of your loss in float64, on a "
                  "small network) disagrees with your gradients: relative errors {errors}; it must be "
                  "below {tol:g} for every parameter.")
ADAM_NO_BIAS_CORRECTION = ("Your step has no bias correction: m and v start at 0, so early on they are too "
                           "small; divide them by (1 - beta1**t) and (1 - beta2**t).")
ADAM_T_LATE = ("Your bias correction uses the step count before it is increased (t = 0 on the first "
               "step divides by 0): add 1 to t first, then correct with the new t.")
ADAM_BETAS_SWAPPED = "You swapped beta1 and beta2: beta1 averages the gradient, beta2 its square."
ADAM_NOT_SQUARED = "Your second moment v averages dw, not dw**2 (the elementwise square)."
ADAM_ASCENT = "Your step goes up the gradient: subtract lr * m_hat / (sqrt(v_hat) + eps) from w."
ADAM_NO_MOMENTUM = "Your first moment is the current gradient: m must be the running average of dw."
ADAM_EPS_UNCORRECTED = ("Your step adds eps to sqrt(v) before the bias correction (the \"efficient\" form of "
                        "Kingma and Ba's paper, with the corrections folded into the step size): that is "
                        "Adam too, but it differs where |dw| is near eps. This notebook adds eps after the "
                        "correction: next_w = w - lr * m_hat / (sqrt(v_hat) + eps).")
ADAM_STATE_LOST = ("Your state is not carried from one step to the next: store m, v and t in the state you "
                   "return, and read them from the state you are given.")
ADAM_HARD_CODED = "Use the beta1, beta2 and eps you are given, not fixed values."
CHECK_FLOAT32 = ("Your gradient check ran in float32 when given float32 parameters: the numeric gradient "
                 "divides rounding errors of about 1e-7 by 2h = 2e-5, so it is only good to about 1e-2. "
                 "Cast copies of params and X to float64 first.")
CHECK_MISSES = ("Your gradient check did not notice wrong gradients: for each parameter compare "
                "grads[name] from loss_fn with the numeric gradient of the loss, using rel_error.")
CHECK_REG = ("Your gradient check is wrong when reg > 0 and right when reg = 0: pass the same reg to "
             "loss_fn for the analytic and for the numeric gradient.")
TRAIN_FROZEN = ("Your training returned the initial parameters unchanged: keep what update_fn returns "
                "(params[name], states[name] = update_fn(...)).")
TRAIN_MISALIGNED = ("Your training loss does not go down (first steps {first:.2f}, last steps {last:.2f}): "
                    "check that each minibatch takes its images and its labels with the same indices.")
TRAIN_HISTORY = "history must be a dict with lists 'loss', 'train_acc' and 'val_acc'."


def digits_data():
    from convbook.digits import load_digits_split  # loaded when a check needs it

    return load_digits_split()


# ---------------------------------------------------------------------------------------------------
# Cases

class LossCase:
    """Parameters, images, labels and reg for one call of the loss; `describe` says which."""

    def __init__(self, rng, config, N, weight_scale, reg, images=None):
        F, k, D, K, shape = config
        self.config = config
        self.params = reference_init(F, k, D, K, shape, weight_scale, seed=int(rng.integers(2**31)),
                                     bias_scale=weight_scale)
        if images is not None:
            self.X = images[rng.choice(len(images), size=N, replace=False)]
        else:
            self.X = rng.standard_normal((N,) + shape)
        self.y = rng.integers(0, K, size=N)
        self.reg = reg

    def describe(self):
        F, k, D, K, shape = self.config
        return (f"X of shape {self.X.shape}, {F} filters {k}x{k}, hidden size {D}, {K} classes, "
                f"reg = {self.reg:g}")


def loss_cases(seed, images=None):
    """Small networks of several shapes, with and without the penalty; the last has huge scores."""
    rng = np.random.default_rng(seed)
    cases = [
        LossCase(rng, (4, 3, 7, 10, (1, 8, 8)), 5, 0.3, 0.0, images),
        LossCase(rng, (3, 5, 6, 4, (2, 6, 10)), 4, 0.3, 0.1),
        LossCase(rng, (5, 1, 5, 10, (1, 8, 8)), 3, 0.4, 0.05, images),
        LossCase(rng, (6, 3, 9, 10, (1, 8, 8)), 6, 0.2, 0.3, images),
    ]
    large = LossCase(rng, (4, 3, 8, 10, (1, 8, 8)), 4, 3.0, 0.0, images)
    # np.exp overflows above 709: adding the same number to every score changes no probability, but makes
    # sure that an unshifted softmax overflows
    top = reference_loss(large.params, large.X).max()
    large.params["b3"] = large.params["b3"] + max(0.0, 2000.0 - top)
    return cases, large


# The networks of the grader's own gradient checks: (config of LossCase, number of images, the steps h the
# check must hold for). cnn_loss is checked on digits, with the grader's own h; gradient_errors, which
# computes three numeric gradients per check, on random 4x4 images and a network of 32 parameters (not
# 245: cheap enough to be tried on 100 seeds in the tests), for any h a student may pick from 1e-6 to 1e-4.
GRADCHECK_NET = ((2, 3, 5, 10, (1, 8, 8)), 3, (STEP,))
ERRORS_CHECK_NET = ((1, 3, 2, 4, (1, 4, 4)), 2, (STEP / 10, STEP, STEP * 10))


def gradcheck_case(seed, images=None, net=GRADCHECK_NET):
    """A small float64 network `net` on which the reference passes a numeric gradient check comfortably,
    with each of the net's steps h.

    Finding one takes a full numeric gradient of the reference per try, so the cases found are kept (a
    fresh copy is returned each time: a case is never shared between two gradings)."""
    key = (seed, net, None if images is None else hashlib.blake2b(np.ascontiguousarray(images).tobytes()).hexdigest())
    if key not in _GRADCHECK_CASES:
        if len(_GRADCHECK_CASES) >= 512:
            _GRADCHECK_CASES.clear()
        _GRADCHECK_CASES[key] = _find_gradcheck_case(seed, images, net)
    return copy.deepcopy(_GRADCHECK_CASES[key])


_GRADCHECK_CASES = {}   # (seed, net, digest of the images) -> the LossCase gradcheck_case found


def _find_gradcheck_case(seed, images, net):
    config, count, steps = net
    rng = np.random.default_rng(seed + 7)
    for _ in range(100):
        case = LossCase(rng, config, count, 0.35, 0.1, images)
        # Two things can make even a right gradient score about 1e-6. (1) Round-off: each loss is off by
        # about eps * |L|, so a numeric slope is off by about eps * |L| / (2h), 2e-11 here, and an entry of
        # the gradient near that size has a large relative error whatever the student wrote (a reference
        # that happened to score well on it proves nothing about another correct formula). Keep a case
        # whose smallest nonzero entry makes that error 20 times smaller than the tolerance.
        loss, grads = reference_loss(case.params, case.X, case.y, case.reg)
        rounding = np.finfo(np.float64).eps * abs(loss) / (2 * min(steps))
        smallest = min((np.abs(g[g != 0]).min() for g in grads.values() if np.any(g)), default=np.inf)
        if rounding / (2 * smallest) > GRADIENT_TOLERANCE / 20:
            continue
        # (2) A ReLU or max-pool kink within h of a parameter: keep a case on which the reference scores
        # 30 times better than the tolerance, with every step.
        if all(max(reference_gradient_errors(reference_loss, case.params, case.X, case.y, case.reg, h).values())
               < GRADIENT_TOLERANCE / 30 for h in steps):
            return case
    raise RuntimeError("no gradient-check case without kinks found")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------
# Calling the student

def _call(fn, args, names, where):
    """(result, None) or (None, failed Verdict)."""
    return call(fn, args, names, where, "work on copies", hint=_error_hint)


def _error_hint(message):
    shape_words = ("matmul", "aligned", "broadcast", "shape", "reshape", "dimension")
    if any(word in message for word in shape_words):
        return " " + RESHAPE
    return ""


def _close(a, b, rtol=1e-7, atol=1e-10):
    """Same shape and close values (NaN matching NaN: some wrong variants produce them)."""
    try:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    except (TypeError, ValueError):
        return False


def _grads_match(got, expected, rtol=1e-6, atol=1e-9):
    if not isinstance(got, dict) or set(got) != set(expected):
        return False
    return all(np.shape(got[k]) == expected[k].shape and _close(got[k], expected[k], rtol, atol) for k in expected)


def _describe_errors(errors):
    return ", ".join(f"{k} {v:.1e}" for k, v in errors.items())


# ---------------------------------------------------------------------------------------------------
# init_params

def _initial_loss(params, data):
    X, y = data["X_train"][:300], data["y_train"][:300]
    return reference_loss(params, X, y)[0]


def looks_normal(w, scale):
    """Could w be n draws of a normal with mean 0 and standard deviation `scale`? (5 standard errors)"""
    n = w.size
    return abs(w.mean()) < 5 * scale / np.sqrt(n) and abs(w.std() / scale - 1) < 5 / np.sqrt(2 * n)


@checked
def verdict_init_params(init_params, seed, data):
    configs = [dict(NETWORK), {"num_filters": 5, "filter_size": 5, "hidden_dim": 17, "num_classes": 4,
                               "input_shape": (2, 6, 10), "weight_scale": 0.1}]
    for config in configs:
        where = f"init_params({', '.join(f'{k}={v!r}' for k, v in config.items())}, seed={seed}):"
        params = _call(lambda: init_params(**config, seed=seed), (), (), where)
        if not isinstance(params, dict) or set(params) != set(KEYS):
            keys = sorted(params) if isinstance(params, dict) else type(params).__name__
            return failed(f"{where} must return a dict with keys {', '.join(KEYS)}; got {keys}.")
        expected = reference_init(**config, seed=seed)
        for name in KEYS:
            value = params[name]
            if not isinstance(value, np.ndarray) or value.shape != expected[name].shape:
                return failed(f"{where} {name} has shape {np.shape(value)}, expected {expected[name].shape}.")
            if value.dtype != np.float64:
                return failed(f"{where} {name} has dtype {value.dtype}; use float64.")
            if not np.all(np.isfinite(value)):
                return failed(f"{where} {name} contains NaN or infinity.")
        for name in ("b1", "b2", "b3"):
            if np.any(params[name] != 0):
                return failed(f"{where} {name} should be all zeros: biases start at 0.")
        for name in WEIGHTS:
            if np.all(params[name] == params[name].flat[0]):
                return failed(f"{where} " + INIT_SYMMETRIC.format(name=name))
        again = _call(lambda: init_params(**config, seed=seed), (), (), where)
        if not all(np.array_equal(params[k], again[k]) for k in KEYS):
            return failed(f"{where} {INIT_SEED_IGNORED}")
        other = _call(lambda: init_params(**config, seed=seed + 1), (), (), where)
        if np.array_equal(params["W1"], other["W1"]):
            return failed(f"{where} {INIT_SEED_CONSTANT}")
        scale = config["weight_scale"]
        if config == NETWORK:
            loss = initial_loss = _initial_loss(params, data)
            if not abs(loss - LOG10) < INITIAL_LOSS_TOLERANCE:
                name = max(WEIGHTS, key=lambda k: abs(params[k].std() / scale - 1))
                return failed(f"{where} " + INIT_TOO_LARGE.format(loss=loss, name=name, std=params[name].std(),
                                                                   scale=scale))
        for name in WEIGHTS:
            if not looks_normal(params[name], scale):
                return failed(f"{where} {name} has mean {params[name].mean():.3g} and standard deviation "
                              f"{params[name].std():.3g}; draw it from a normal distribution with mean 0 and "
                              f"standard deviation weight_scale = {scale:g}.")
    return passed(f"init_params: shapes, seeds and scales right; the initial loss of your parameters is "
                  f"{initial_loss:.4f} (log(10) = {LOG10:.4f}).")


# ---------------------------------------------------------------------------------------------------
# cnn_loss: the value

LOSS_VARIANTS = [
    (("summed",), NOT_AVERAGED),
    (("reg_twice_loss",), REG_TWICE_LOSS),
    (("reg_missing_loss",), REG_MISSING_LOSS),
    (("reg_on_biases",), REG_ON_BIASES),
    (("nhwc_flatten",), FLATTEN_ORDER),
]


def diagnose_variants(case, variants, matches):
    """The sentence (with N filled in) of the first wrong variant of the reference network whose
    (loss, grads) on `case` matches(...); the penalty's variants only when reg > 0."""
    for variant, sentence in variants:
        if not ("reg" in variant[0] and case.reg == 0) and \
                matches(reference_loss(case.params, case.X, case.y, case.reg, variant)):
            return sentence.format(N=len(case.X))
    return ""


def diagnose_loss(loss, case):
    return diagnose_variants(case, LOSS_VARIANTS, lambda reference: _close(loss, reference[0], rtol=1e-8))


def _loss_attempt(cnn_loss, case):
    where = f"On {case.describe()}:"
    names = ("params", "X", "y")
    scores = _call(cnn_loss, (case.params, case.X), names, f"{where} cnn_loss(params, X):")
    verdict = compare_array("scores = cnn_loss(params, X)", scores, reference_loss(case.params, case.X), where,
                            lambda: FLATTEN_ORDER if _close(scores, reference_loss(case.params, case.X,
                                                                                   variant=("nhwc_flatten",))) else "")
    if not verdict.passed:
        return verdict
    result = _call(cnn_loss, (case.params, case.X, case.y, case.reg), names + ("reg",),
                            f"{where} cnn_loss(params, X, y, reg):")
    if not returns(result, 2):
        return failed(f"{where} with labels, cnn_loss must return a pair (loss, grads).")
    loss = result[0]
    expected = reference_loss(case.params, case.X, case.y, case.reg)[0]
    if not np.isscalar(loss) and np.shape(loss) != ():
        return failed(f"{where} the loss must be one number, got shape {np.shape(loss)}.")
    if not np.isfinite(loss):
        return failed(f"{where} your loss is {loss}.")
    if not _close(loss, expected, rtol=1e-8):
        return failed(f"{where} your loss is {float(loss):.10g}, expected {expected:.10g}. "
                      f"{diagnose_loss(loss, case)}".strip())
    return passed()


@checked
def verdict_loss_value(cnn_loss, seed, images=None):
    cases, large = loss_cases(seed, images)
    verdict = first_failure(_loss_attempt(cnn_loss, case) for case in cases)
    if not verdict.passed:
        return verdict
    # huge scores: a softmax that is not shifted overflows
    size = np.abs(reference_loss(large.params, large.X)).max()
    result = _call(cnn_loss, (large.params, large.X, large.y, large.reg), ("params", "X", "y", "reg"),
                            f"On {large.describe()} (scores up to {size:.0f}):")
    loss = result[0] if returns(result, 2) else None
    if loss is None or not np.all(np.isfinite(loss)):
        return failed(UNSHIFTED.format(size=size))
    return first_failure([_loss_attempt(cnn_loss, large)], f"cnn_loss: scores and loss match the reference on "
                         f"{len(cases) + 1} hidden networks, including one with scores up to {size:.0f}.")


# ---------------------------------------------------------------------------------------------------
# cnn_loss: the gradients

GRAD_VARIANTS = [
    (("summed",), GRADS_NOT_AVERAGED),
    (("reg_missing_grad",), REG_MISSING_GRAD),
    (("reg_twice_grad",), REG_TWICE_GRAD),
    (("reg_on_biases",), REG_ON_BIASES),
    (("relu1_dout",), RELU_DOUT),
    (("relu2_dout",), RELU_DOUT),
    (("relu1_dout", "relu2_dout"), RELU_DOUT),
    (("nhwc_flatten",), FLATTEN_ORDER),
]


def diagnose_grads(grads, case):
    return diagnose_variants(case, GRAD_VARIANTS, lambda reference: _grads_match(grads, reference[1]))


def _grads_attempt(cnn_loss, case):
    where = f"On {case.describe()}:"
    result = _call(cnn_loss, (case.params, case.X, case.y, case.reg), ("params", "X", "y", "reg"),
                            f"{where} cnn_loss(params, X, y, reg):")
    if not (returns(result, 2) and isinstance(result[1], dict)):
        return failed(f"{where} with labels, cnn_loss must return a pair (loss, grads) with grads a dict.")
    grads = result[1]
    if set(grads) != set(KEYS):
        return failed(f"{where} grads must have the keys {', '.join(KEYS)}; got {', '.join(sorted(map(str, grads)))}.")
    expected = reference_loss(case.params, case.X, case.y, case.reg)[1]
    return first_failure(compare_array(f"grads['{name}']", grads[name], expected[name], where,
                                       lambda: diagnose_grads(grads, case)) for name in KEYS)


def student_gradient_errors(cnn_loss, case):
    """The grader's own gradient check of the student's loss: {name: relative error}, all in float64."""
    params = {k: v.copy() for k, v in case.params.items()}

    def loss_and_grads():
        return call(cnn_loss, (params, case.X, case.y, case.reg), ("params", "X", "y", "reg"), f"On {case.describe()}:")

    grads = loss_and_grads()[1]
    return {name: rel_error(np.asarray(grads[name], dtype=float),
                            eval_numerical_gradient(lambda _: float(loss_and_grads()[0]), params[name]))
            for name in KEYS}


@checked
def verdict_loss_gradients(cnn_loss, seed, images=None):
    cases, _ = loss_cases(seed, images)
    verdict = first_failure(_grads_attempt(cnn_loss, case) for case in cases)
    if not verdict.passed:
        return verdict
    case = gradcheck_case(seed, images)
    try:
        errors = student_gradient_errors(cnn_loss, case)
    except Rejected:
        raise
    except Exception as exc:  # what the student's loss returned does not fit
        return failed(f"On {case.describe()}: your function raised {type(exc).__name__}: {exc}.")
    if not all(e < GRADIENT_TOLERANCE for e in errors.values()):
        return failed(f"On {case.describe()}: " + NOT_CONSISTENT.format(errors=_describe_errors(errors),
                                                                       tol=GRADIENT_TOLERANCE))
    return passed(f"cnn_loss: gradients match the reference on {len(cases)} hidden networks, and the grader's "
                  f"own numeric check gives relative errors of at most {max(errors.values()):.1e}.")


# ---------------------------------------------------------------------------------------------------
# gradient_errors

def _errors_attempt(gradient_errors, loss_fn, case, params, X, reg, label):
    where = f"gradient_errors on {label} ({case.describe()}):"
    errors = _call(gradient_errors, (loss_fn, params, X, case.y, reg), ("loss_fn", "params", "X", "y", "reg"), where)
    if not isinstance(errors, dict) or set(errors) != set(params):
        got = sorted(errors) if isinstance(errors, dict) else type(errors).__name__
        raise Rejected(failed(f"{where} return a dict with one relative error per parameter "
                              f"({', '.join(params)}); got {got}."))
    try:
        return {k: float(v) for k, v in errors.items()}
    except (TypeError, ValueError):
        raise Rejected(failed(f"{where} each relative error must be one number.")) from None


@checked
def verdict_gradient_errors(gradient_errors, seed):
    case = gradcheck_case(seed, net=ERRORS_CHECK_NET)
    ok = lambda errors: all(e < GRADIENT_TOLERANCE for e in errors.values())
    params32 = {k: v.astype(np.float32) for k, v in case.params.items()}
    runs = {}
    for label, loss_fn, params, X, reg in (
            ("the correct network, float64", reference_loss, case.params, case.X, case.reg),
            ("a network whose W2 and b1 gradients are wrong", sabotaged(reference_loss), case.params, case.X,
             case.reg),
            ("the correct network, float32 params and X", reference_loss, params32, case.X.astype(np.float32),
             case.reg)):
        runs[label] = _errors_attempt(gradient_errors, loss_fn, case, params, X, reg, label)
    right64, wrong, right32 = runs.values()
    if not ok(right64):
        try:   # is it right without the penalty?
            hint = CHECK_REG if ok(_errors_attempt(gradient_errors, reference_loss, case, case.params, case.X, 0.0,
                                                   "reg = 0")) else ""
        except Rejected:
            hint = ""
        return failed(f"On the correct network your check reports {_describe_errors(right64)}; every error "
                      f"should be below {GRADIENT_TOLERANCE:g}. {hint}".strip())
    caught = all(wrong[k] > 1e-3 for k in SABOTAGED_KEYS)
    quiet = all(wrong[k] < GRADIENT_TOLERANCE for k in wrong if k not in SABOTAGED_KEYS)
    if not (caught and quiet):
        return failed(f"On a network whose gradients of W2 (5% too large) and b1 (0.01 too large) are wrong, "
                      f"your check reports {_describe_errors(wrong)}. {CHECK_MISSES}")
    if not ok(right32):
        return failed(f"Given float32 parameters and images of the correct network, your check reports "
                      f"{_describe_errors(right32)}. {CHECK_FLOAT32}")
    return passed("gradient_errors: small errors for a correct network (in float32 too), large ones exactly "
                  "where the gradients are wrong.")


# ---------------------------------------------------------------------------------------------------
# adam_update

ADAM_VARIANTS = [
    ("no_bias_correction", ADAM_NO_BIAS_CORRECTION),
    ("t_late", ADAM_T_LATE),
    ("betas_swapped", ADAM_BETAS_SWAPPED),
    ("not_squared", ADAM_NOT_SQUARED),
    ("ascent", ADAM_ASCENT),
    ("no_momentum", ADAM_NO_MOMENTUM),
    ("eps_on_uncorrected_v", ADAM_EPS_UNCORRECTED),
]


def diagnose_adam(next_w, w, dw, states, args):
    """The mistake whose step from w equals next_w; states: {variant: that variant's own state so far}."""
    for variant, sentence in ADAM_VARIANTS:
        expected, _ = reference_adam(w, dw, states[variant], variant=variant, **args)
        if _close(next_w, expected, rtol=1e-6, atol=1e-9):
            return sentence
    if (args["beta1"], args["beta2"], args["eps"]) != (0.9, 0.999, 1e-8):
        expected, _ = reference_adam(w, dw, states["fixed"], args["lr"])
        if _close(next_w, expected, rtol=1e-6, atol=1e-9):
            return ADAM_HARD_CODED
    fresh, _ = reference_adam(w, dw, {}, **args)
    if states["fixed"] and _close(next_w, fresh, rtol=1e-6, atol=1e-9):
        return ADAM_STATE_LOST
    return ""


def adam_sequences(seed):
    """Sequences of steps from a fresh state: (shape, lr, beta1, beta2, eps, list of dw)."""
    rng = np.random.default_rng(seed + 3)
    out = []
    for shape, lr, beta1, beta2, eps in (((3, 4), 1e-2, 0.9, 0.999, 1e-8), ((5,), 3e-3, 0.8, 0.99, 1e-6),
                                         ((2, 3, 2), 0.1, 0.5, 0.9, 1e-8)):
        w = rng.standard_normal(shape)
        # gradients of very different sizes per entry: Adam's steps are about lr whatever their size
        dws = [rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 2, size=shape) for _ in range(4)]
        out.append((w, lr, beta1, beta2, eps, dws))
    return out


def _call_adam(adam_update, w, dw, state, args, where):
    """Call adam_update on copies; it may update the state dict in place, but not w or dw."""
    return call(lambda w_, dw_, s_: adam_update(w_, dw_, s_, args["lr"], args["beta1"], args["beta2"], args["eps"]),
                (w, dw, state), ("w", "dw"), where, "return a new next_w (next_w = w - ..., not w -= ...)",
                may_change=(2,))


@checked
def verdict_adam(adam_update, seed):
    for w0, lr, beta1, beta2, eps, dws in adam_sequences(seed):
        args = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps}
        w, state, ref_w, ref_state = w0.copy(), {}, w0.copy(), {}
        # each wrong variant's own state along the same steps, to recognise it at any step
        variant_states = {variant: {} for variant, _ in ADAM_VARIANTS + [("fixed", "")]}
        for step, dw in enumerate(dws, start=1):
            where = (f"Step {step} from a fresh state ({{}} before step 1), w of shape {w0.shape}, lr={lr:g}, "
                     f"beta1={beta1:g}, beta2={beta2:g}, eps={eps:g}:")
            result = _call_adam(adam_update, w, dw, state, args, where)
            if not (returns(result, 2) and isinstance(result[1], dict)):
                return failed(f"{where} adam_update must return a pair (next_w, state) with state a dict.")
            next_w, new_state = result
            expected_w, expected_state = reference_adam(ref_w, dw, ref_state, **args)
            verdict = compare_array("next_w", next_w, expected_w, where,
                                    lambda: diagnose_adam(next_w, ref_w, dw, variant_states, args))
            if not verdict.passed:
                return verdict
            for variant, _ in ADAM_VARIANTS:
                variant_states[variant] = reference_adam(ref_w, dw, variant_states[variant], variant=variant,
                                                         **args)[1]
            variant_states["fixed"] = reference_adam(ref_w, dw, variant_states["fixed"], lr)[1]
            w, state, ref_w, ref_state = next_w, new_state, expected_w, expected_state
    # one step from a given state in the middle of training
    rng = np.random.default_rng(seed + 4)
    w, dw = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    state = {"m": 0.1 * rng.standard_normal((4, 3)), "v": 0.01 * rng.random((4, 3)) + 1e-4, "t": 9}
    args = {"lr": 5e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    where = "One step from the state {'m': ..., 'v': ..., 't': 9} (10th step):"
    result = _call_adam(adam_update, w, dw, state, args, where)
    expected_w, expected_state = reference_adam(w, dw, state, **args)
    if not (returns(result, 2) and isinstance(result[1], dict)):
        return failed(f"{where} adam_update must return a pair (next_w, state) with state a dict.")
    states = {**{v: state for v, _ in ADAM_VARIANTS}, "fixed": state}
    new_state = result[1]
    t = passed() if new_state.get("t") == 10 else failed(f"{where} the new state's 't' is {new_state.get('t')!r}, "
                                                          "expected 10.")
    return first_failure([compare_array("next_w", result[0], expected_w, where,
                                        lambda: diagnose_adam(result[0], w, dw, states, args)),
                          *(compare_array(f"state['{key}']", new_state.get(key), expected_state[key], where)
                            for key in ("m", "v")), t],
                         "adam_update: every step of three hidden sequences, and one step from a given state, match.")


# ---------------------------------------------------------------------------------------------------
# train

@checked
def verdict_train(train, data):
    """The contract first (spies on a linear model), then the reference network trained by the student's loop."""
    contract = verdict_train_contract(train, data)
    if not contract.passed:
        return contract
    params0 = reference_init(**NETWORK, seed=INIT_SEED)
    settings = dict(TRAINING, verbose=False)
    where = (f"train(params, data, <reference loss>, <reference adam>, "
             f"{', '.join(f'{k}={v!r}' for k, v in settings.items())}):")
    result = call(lambda p, d: train(p, d, reference_loss, reference_adam, **settings), (params0, data),
                           where=where, may_change=(0, 1))
    if not returns(result, 2):
        return failed(f"{where} train must return a pair (params, history).")
    params, history = result
    if not isinstance(params, dict) or set(params) != set(KEYS):
        return failed(f"{where} the trained params must be a dict with keys {', '.join(KEYS)}.")
    for name in KEYS:
        if np.shape(params[name]) != params0[name].shape or not np.all(np.isfinite(params[name])):
            return failed(f"{where} the trained {name} has shape {np.shape(params[name])} or is not finite.")
    if all(np.array_equal(params[k], params0[k]) for k in KEYS):
        return failed(f"{where} {TRAIN_FROZEN}")
    if not (isinstance(history, dict) and all(isinstance(history.get(k), (list, tuple, np.ndarray))
                                              for k in ("loss", "train_acc", "val_acc"))):
        return failed(f"{where} {TRAIN_HISTORY}")
    epochs, n = TRAINING["epochs"], len(data["X_train"])
    steps = epochs * math.ceil(n / TRAINING["batch_size"])
    if len(history["loss"]) != steps:
        return failed(f"{where} history['loss'] has {len(history['loss'])} entries; with {n} images, batches of "
                      f"{TRAINING['batch_size']} (the last one smaller) and {epochs} epochs there are {steps} steps, "
                      f"one loss each.")
    for key in ("train_acc", "val_acc"):
        if len(history[key]) != epochs:
            return failed(f"{where} history['{key}'] has {len(history[key])} entries, expected one per epoch "
                          f"({epochs}).")
    losses = np.asarray(history["loss"], dtype=float)
    first, last = losses[:20].mean(), losses[-20:].mean()
    val = accuracy(reference_loss(params, data["X_val"]), data["y_val"])
    test = accuracy(reference_loss(params, data["X_test"]), data["y_test"])
    if not last < 0.5 * first:
        return failed(f"{where} {TRAIN_MISALIGNED.format(first=first, last=last)} Test accuracy {test:.3f}.")
    if not abs(float(history["val_acc"][-1]) - val) < 1e-9:
        return failed(f"{where} history['val_acc'][-1] is {history['val_acc'][-1]}, but the returned params "
                      f"classify {val:.4f} of the validation images correctly: record the accuracy of the "
                      f"parameters after each epoch.")
    if not test >= ACCURACY_THRESHOLD:
        return failed(f"{where} the trained network classifies {test:.4f} of the {len(data['y_test'])} test "
                      f"images correctly; at least {ACCURACY_THRESHOLD:.2f} is needed. Check that every "
                      f"epoch visits the training images in a new random order, that each minibatch is "
                      f"moved by random_shift, that the learning rate is multiplied by lr_decay after each "
                      f"epoch, and that reg is passed to loss_fn.")
    return passed(f"train: with the reference network and Adam, your loop reaches a test accuracy of "
                  f"{test:.4f} (validation {val:.4f}).")


TRAIN_UNSHIFTED = ("the minibatches reach loss_fn unshifted: pass every minibatch through random_shift(X_batch, "
                   "rng) before loss_fn sees it.")
TRAIN_UPDATE_PER_PARAMETER = "call update_fn once for every parameter (weights and biases) at every step."
TRAIN_LR_DECAY = ("the learning rate must stay fixed during an epoch and be multiplied by lr_decay after it.")


def _linear_loss(params, X, y=None, reg=0.0):
    """Softmax regression on the flattened images: scores, or (loss, grads). X: (N, 1, 8, 8)."""
    flat = np.asarray(X, dtype=float).reshape(len(X), -1)
    scores = flat @ params["W"] + params["b"]
    if y is None:
        return scores
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(len(y)), y]).mean() + 0.5 * reg * np.sum(params["W"] ** 2)
    dscores = probs
    dscores[np.arange(len(y)), y] -= 1
    dscores /= len(y)
    return loss, {"W": flat.T @ dscores + reg * params["W"], "b": dscores.sum(axis=0)}


def verdict_train_contract(train, data):
    """What train does with its loss_fn and update_fn, seen by spies on a linear model: every minibatch is
    shifted, update_fn updates every parameter at every step, and the rate decays after each epoch."""
    epochs, batch, lr, decay = 2, 300, 0.1, 0.5
    where = (f"train(linear params, data, <spy loss>, <spy update>, epochs={epochs}, batch_size={batch}, lr={lr}, "
             f"lr_decay={decay}, reg=0.0, seed=0, verbose=False):")
    params = {"W": np.zeros((64, 10)), "b": np.zeros(10)}
    seen = {"batches": [], "updates": []}

    def spy_loss(params, X, y=None, reg=0.0):
        if y is not None:
            seen["batches"].append(np.array(X))
        return _linear_loss(params, X, y, reg)

    def spy_update(w, dw, state, lr):
        seen["updates"].append((len(seen["batches"]), np.shape(w), float(lr)))
        return np.asarray(w) - lr * np.asarray(dw), state

    try:
        call(lambda p, d: train(p, d, spy_loss, spy_update, epochs=epochs, batch_size=batch, lr=lr,
                                lr_decay=decay, reg=0.0, seed=0, verbose=False), (params, data),
             where=where, may_change=(0, 1))
    except Rejected as rejected:
        return rejected.verdict
    steps_per_epoch = math.ceil(len(data["X_train"]) / batch)
    if len(seen["batches"]) != epochs * steps_per_epoch:
        return failed(f"{where} loss_fn saw {len(seen['batches'])} minibatches with labels; {epochs} epochs of "
                      f"ceil({len(data['X_train'])} / {batch}) = {steps_per_epoch} steps make "
                      f"{epochs * steps_per_epoch}.")
    train_images = {image.tobytes() for image in np.asarray(data["X_train"], dtype=float)}
    unshifted = np.mean([image.astype(float).tobytes() in train_images for b in seen["batches"] for image in b])
    if unshifted > 0.5:
        return failed(f"{where} {unshifted:.0%} of the images given to loss_fn are unshifted training images: "
                      f"{TRAIN_UNSHIFTED}", diagnosed=True)
    for step in range(1, epochs * steps_per_epoch + 1):
        shapes = sorted(shape for k, shape, _ in seen["updates"] if k == step)
        if shapes != [(10,), (64, 10)]:
            return failed(f"{where} at step {step} update_fn was called for the parameters of shapes {shapes}: "
                          f"{TRAIN_UPDATE_PER_PARAMETER}", diagnosed=True)
    rates = [sorted({r for k, _, r in seen["updates"] if (k - 1) // steps_per_epoch == e}) for e in range(epochs)]
    expected = [[lr * decay ** e] for e in range(epochs)]
    if not all(len(got) == 1 and abs(got[0] - want[0]) < 1e-12 for got, want in zip(rates, expected)):
        return failed(f"{where} the learning rates used in each epoch were {rates}, expected {expected}: "
                      f"{TRAIN_LR_DECAY}", diagnosed=True)
    return passed("train: minibatches shifted, one update per parameter and step, learning rate decayed per epoch.")


# ---------------------------------------------------------------------------------------------------
# Entry points of the hidden test cells

def check_init_params(init_params):
    require(verdict_init_params(init_params, run_seed() % 1000, digits_data()))


def check_loss_value(cnn_loss):
    require(verdict_loss_value(cnn_loss, run_seed(), digits_data()["X_train"]))


def check_loss_gradients(cnn_loss):
    require(verdict_loss_gradients(cnn_loss, run_seed(), digits_data()["X_train"]))


check_gradient_errors = hidden_check(verdict_gradient_errors)


check_adam = hidden_check(verdict_adam)


def check_train(train):
    require(verdict_train(train, digits_data()))


def check_run_time(notebook_start):
    elapsed = notebook_seconds(notebook_start)
    if elapsed < TIME_LIMIT:
        return require(passed(f"The whole notebook ran in {elapsed:.0f} s (limit {TIME_LIMIT} s)."))
    require(failed(f"The whole notebook ran in {elapsed:.0f} s; the limit is {TIME_LIMIT} s on 2 CPU cores. "
                   f"Make training faster (fewer epochs or a smaller network)."))
