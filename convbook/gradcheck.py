"""Numeric gradients by centred differences, and the relative error used to compare them."""
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

STEP = 1e-5   # h of the centred differences



def rel_error(x: ArrayLike, y: ArrayLike) -> float:
    """Largest elementwise relative error max |x - y| / max(1e-8, |x| + |y|).

    x, y: arrays of the same shape (or broadcastable). Returns a float.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = STEP) -> np.ndarray:
    """Gradient of a scalar function f at x by centred differences.

    f: callable taking an array shaped like x and returning a float.
    x: float64 array of any shape; restored to its value before returning.
    Returns grad, shaped like x.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def eval_numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray,
                                  h: float = STEP) -> np.ndarray:
    """Numeric gradient of sum(f(x) * df) with respect to x: the backward pass of f for upstream df.

    f: callable taking an array shaped like x and returning an array shaped like df.
    x: float64 array of any shape; restored to its value before returning.
    df: upstream gradient, shaped like f(x).
    Returns dx, shaped like x.
    """
    return eval_numerical_gradient(lambda v: float(np.sum(f(v) * df)), x, h)
