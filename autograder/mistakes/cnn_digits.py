"""Typical mistakes in the assignment `cnn_digits`."""
from autograder.mistakes import Mistake

INIT = ("test_init_params",)
LOSS_VALUE = ("test_loss_value",)
LOSS_GRADIENTS = ("test_loss_gradients",)
LOSS = LOSS_VALUE + LOSS_GRADIENTS

SOFTMAX_CALL = "    loss, dscores = softmax_loss(scores, y)\n"
UNSHIFTED_SOFTMAX = """\
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(N), y]))
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
"""
SUMMED_SOFTMAX = """\
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y]))
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
"""
PENALTY_GRADIENT = ("    for weight in (\"W1\", \"W2\", \"W3\"):\n"
                    "        grads[weight] = grads[weight] + reg * params[weight]\n")

MISTAKES = [
    Mistake("init_weights_not_scaled", "cnn_digits", "init_params",
            "return weight_scale * rng.standard_normal(shape)", "return rng.standard_normal(shape)",
            INIT, "far from log(10)"),
    Mistake("init_zero_weights", "cnn_digits", "init_params",
            "return weight_scale * rng.standard_normal(shape)", "return np.zeros(shape)",
            INIT, "every unit would then compute the same thing"),
    Mistake("softmax_not_shifted", "cnn_digits", "cnn_loss", SOFTMAX_CALL, UNSHIFTED_SOFTMAX,
            LOSS_VALUE, "The softmax is not shifted"),
    Mistake("loss_summed_not_averaged", "cnn_digits", "cnn_loss", SOFTMAX_CALL, SUMMED_SOFTMAX,
            LOSS, "not averaged over the batch"),
    Mistake("no_flatten_before_affine", "cnn_digits", "cnn_loss",
            "hidden, hidden_cache = affine_forward(pooled.reshape(N, -1), W2, b2)",
            "hidden, hidden_cache = pooled @ W2 + b2, (pooled, W2, b2)",
            LOSS, "flatten the pooled maps"),
    Mistake("penalty_missing_from_gradient", "cnn_digits", "cnn_loss", PENALTY_GRADIENT, "",
            LOSS_GRADIENTS, "leave out the penalty"),
    Mistake("penalty_gradient_counted_twice", "cnn_digits", "cnn_loss",
            "grads[weight] = grads[weight] + reg * params[weight]",
            "grads[weight] = grads[weight] + 2 * reg * params[weight]",
            LOSS_GRADIENTS, "count the penalty twice"),
    Mistake("relu_backward_masked_by_dout", "cnn_digits", "cnn_loss",
            "dhidden = relu_backward(dhidden_relu, relu2_cache)",
            "dhidden = np.where(dhidden_relu > 0, dhidden_relu, 0.0)",
            LOSS_GRADIENTS, "dout > 0"),
    Mistake("gradient_check_in_float32", "cnn_digits", "gradient_errors",
            "params64 = {name: np.array(value, dtype=np.float64) for name, value in params.items()}\n"
            "    X64 = np.array(X, dtype=np.float64)",
            "params64 = {name: np.array(value) for name, value in params.items()}\n"
            "    X64 = np.array(X)",
            ("test_gradient_errors",), "ran in float32"),
    Mistake("adam_no_bias_correction", "cnn_digits", "adam_update",
            "m_hat = m / (1 - beta1 ** t)\n    v_hat = v / (1 - beta2 ** t)",
            "m_hat = m\n    v_hat = v",
            ("test_adam",), "no bias correction"),
    Mistake("adam_eps_before_bias_correction", "cnn_digits", "adam_update",   # the paper's "efficient" form
            "m_hat = m / (1 - beta1 ** t)\n    v_hat = v / (1 - beta2 ** t)\n"
            "    next_w = w - lr * m_hat / (np.sqrt(v_hat) + eps)",
            "lr_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)\n    next_w = w - lr_t * m / (np.sqrt(v) + eps)",
            ("test_adam",), "adds eps to sqrt(v) before the bias correction"),
    Mistake("adam_step_count_not_increased", "cnn_digits", "adam_update",
            't = state.get("t", 0) + 1', 't = state.get("t", 0)',
            ("test_adam",), "add 1 to t first"),
    Mistake("train_update_discarded", "cnn_digits", "train",
            "params[name], states[name] = update_fn(params[name], grads[name], states[name], lr)",
            "update_fn(params[name], grads[name], states[name], lr)",
            ("test_train",), "initial parameters unchanged"),
    Mistake("train_labels_not_shuffled_with_images", "cnn_digits", "train",
            "random_shift(X[batch], rng), y[batch], reg)",
            "random_shift(X[batch], rng), y[start:start + batch_size], reg)",
            ("test_train",), "images and its labels with the same indices"),
    Mistake("train_without_random_shift", "cnn_digits", "train",
            "loss, grads = loss_fn(params, random_shift(X[batch], rng), y[batch], reg)",
            "loss, grads = loss_fn(params, X[batch], y[batch], reg)",
            ("test_train",), "the minibatches reach loss_fn unshifted"),
    Mistake("train_lr_not_decayed", "cnn_digits", "train",
            "        lr *= lr_decay\n", "",
            ("test_train",), "multiplied by lr_decay after it"),
    Mistake("train_biases_not_through_update_fn", "cnn_digits", "train",
            "            for name in params:\n"
            "                params[name], states[name] = update_fn(params[name], grads[name], states[name], lr)\n",
            "            for name in params:\n"
            "                if name.startswith(\"b\"):\n"
            "                    params[name] = params[name] - lr * grads[name]\n"
            "                    continue\n"
            "                params[name], states[name] = update_fn(params[name], grads[name], states[name], lr)\n",
            ("test_train",), "call update_fn once for every parameter"),
]

# What the demo's "mistakes" student gets wrong: independent mistakes in different exercises.
DEMO_MISTAKES = ["init_weights_not_scaled", "penalty_missing_from_gradient", "adam_no_bias_correction"]

# The demo's crashing student breaks this cell (a NameError before the function is defined); only an
# ungraded cell uses gradient_errors, so every later test cell is still graded normally.
CRASH_CELL = "gradient_errors"
