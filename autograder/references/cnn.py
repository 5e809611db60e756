"""The network of the assignment `cnn_digits`, built from `convbook.layers`, and the wrong variants the checks
recognise.

The network is conv - relu - 2x2 max pool - affine - relu - affine - softmax; `reference_loss` and
`reference_adam` take switches (`variant`) that reproduce typical mistakes, so that a wrong answer which
equals a known wrong variant gets a sentence naming the mistake.
"""
import numpy as np

from convbook.gradcheck import STEP, eval_numerical_gradient, rel_error
from convbook.layers import (
    affine_backward,
    affine_forward,
    conv_backward,
    conv_forward,
    max_pool_backward,
    max_pool_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)

KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")
WEIGHTS = ("W1", "W2", "W3")
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}



def reference_init(num_filters=32, filter_size=3, hidden_dim=128, num_classes=10, input_shape=(1, 8, 8),
                   weight_scale=5e-2, seed=0, bias_scale=0.0):
    """The parameters init_params draws (the same numbers for the same seed).

    bias_scale > 0 then draws random biases too (for gradient checks, away from the ReLU's kink).
    """
    rng = np.random.default_rng(seed)
    C, H, W = input_shape
    shapes = {"W1": (num_filters, C, filter_size, filter_size), "b1": (num_filters,),
              "W2": (num_filters * (H // 2) * (W // 2), hidden_dim), "b2": (hidden_dim,),
              "W3": (hidden_dim, num_classes), "b3": (num_classes,)}
    params = {name: weight_scale * rng.standard_normal(shapes[name]) for name in WEIGHTS}
    for name in ("b1", "b2", "b3"):
        params[name] = bias_scale * rng.standard_normal(shapes[name]) if bias_scale else np.zeros(shapes[name])
    return {name: params[name] for name in KEYS}


def _relu_back(dout, x, by_dout):
    return np.where(dout > 0, dout, 0.0) if by_dout else relu_backward(dout, x)


def reference_loss(params, X, y=None, reg=0.0, variant=()):
    """The network's scores, or (loss, grads), from convbook.layers.

    variant: names of mistakes to make, for diagnosis: "summed" (loss and dscores not divided by N),
    "reg_twice_loss", "reg_missing_loss", "reg_on_biases", "reg_missing_grad", "reg_twice_grad",
    "relu1_dout", "relu2_dout" (ReLU backward masked by dout > 0), "nhwc_flatten".
    """
    variant = set(variant)
    W1, b1, W2, b2, W3, b3 = (params[k] for k in KEYS)
    conv_param = {"stride": 1, "pad": (W1.shape[2] - 1) // 2}
    conv, conv_cache = conv_forward(X, W1, b1, conv_param)
    conv_relu, _ = relu_forward(conv)
    pooled, pool_cache = max_pool_forward(conv_relu, POOL_PARAM)
    N = X.shape[0]
    flat = pooled.transpose(0, 2, 3, 1) if "nhwc_flatten" in variant else pooled
    hidden, hidden_cache = affine_forward(flat.reshape(N, -1), W2, b2)
    hidden_relu, _ = relu_forward(hidden)
    scores, scores_cache = affine_forward(hidden_relu, W3, b3)
    if y is None:
        return scores
    loss, dscores = softmax_loss(scores, y)
    if "summed" in variant:
        loss, dscores = loss * N, dscores * N
    penalised = WEIGHTS + (("b1", "b2", "b3") if "reg_on_biases" in variant else ())
    penalty = 0.5 * reg * sum(np.sum(params[k] ** 2) for k in penalised)
    loss += (2 if "reg_twice_loss" in variant else 0 if "reg_missing_loss" in variant else 1) * penalty
    grads = {}
    dhidden_relu, grads["W3"], grads["b3"] = affine_backward(dscores, scores_cache)
    dhidden = _relu_back(dhidden_relu, hidden, "relu2_dout" in variant)
    dflat, grads["W2"], grads["b2"] = affine_backward(dhidden, hidden_cache)
    dflat = dflat.reshape(flat.shape)
    dpooled = dflat.transpose(0, 3, 1, 2) if "nhwc_flatten" in variant else dflat
    dconv_relu = max_pool_backward(np.ascontiguousarray(dpooled), pool_cache)
    dconv = _relu_back(dconv_relu, conv, "relu1_dout" in variant)
    _, grads["W1"], grads["b1"] = conv_backward(dconv, conv_cache)
    factor = 2 if "reg_twice_grad" in variant else 0 if "reg_missing_grad" in variant else 1
    for name in penalised:
        grads[name] = grads[name] + factor * reg * params[name]
    return float(loss), grads


def reference_adam(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, variant=""):
    """One Adam step; returns (next_w, new_state). variant: a mistake to make, for diagnosis."""
    if variant == "betas_swapped":
        beta1, beta2 = beta2, beta1
    t = state.get("t", 0)
    t_correct = t if variant == "t_late" else t + 1
    m_old = state.get("m", np.zeros_like(w))
    v_old = state.get("v", np.zeros_like(w))
    m = dw if variant == "no_momentum" else beta1 * m_old + (1 - beta1) * dw
    v = beta2 * v_old + (1 - beta2) * (dw if variant == "not_squared" else dw * dw)
    if variant == "no_bias_correction":
        m_hat, v_hat = m, v
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            m_hat, v_hat = m / (1 - beta1 ** t_correct), v / (1 - beta2 ** t_correct)
    with np.errstate(invalid="ignore"):
        if variant == "eps_on_uncorrected_v":   # Kingma and Ba's "efficient" form: eps added before correcting
            step = lr * np.sqrt(1 - beta2 ** t_correct) / (1 - beta1 ** t_correct) * m / (np.sqrt(v) + eps)
        else:
            step = lr * m_hat / (np.sqrt(v_hat) + eps)
    next_w = w + step if variant == "ascent" else w - step
    return next_w, {"m": m, "v": v, "t": t + 1}


def reference_gradient_errors(loss_fn, params, X, y, reg=0.0, h=STEP):
    """{name: rel_error(analytic, numeric)} with every number in float64, centred differences of step h."""
    params64 = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    X64 = np.array(X, dtype=np.float64)
    _, grads = loss_fn(params64, X64, y, reg)
    errors = {}
    for name in params64:
        numeric = eval_numerical_gradient(lambda _: loss_fn(params64, X64, y, reg)[0], params64[name], h)
        errors[name] = rel_error(grads[name], numeric)
    return errors


def accuracy(scores, y):
    return float(np.mean(np.argmax(scores, axis=1) == y))


def sabotaged(loss_fn):
    """loss_fn with wrong gradients for W2 (5% too large) and b1 (shifted by 0.01)."""
    def wrong(params, X, y=None, reg=0.0):
        loss, grads = loss_fn(params, X, y, reg)
        grads = dict(grads)
        grads["W2"] = grads["W2"] * 1.05
        grads["b1"] = grads["b1"] + 0.01
        return loss, grads
    return wrong


SABOTAGED_KEYS = ("W2", "b1")
