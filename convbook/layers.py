"""Reference layers students may use once they have written their own (vectorized, not loops).

Arrays are NCHW. Each forward returns (out, cache); each backward takes (dout, cache) and returns
gradients shaped like the forward's inputs. Every layer keeps the dtype of its inputs
(float32 in, float32 out; float64 in, float64 out).

The convolution is im2col: the input windows are copied into a matrix so that the layer is a matrix
product (BLAS); its backward pass undoes the copy with col2im, one kernel offset at a time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    from typing import Any

# The batch is processed a few images at a time so that each block of the im2col matrix stays in the
# CPU cache while the matrix product reads it: one huge im2col matrix would make the layer wait on memory.
_BLOCK_BYTES = 1 << 21


def _out_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


def _image_blocks(N, bytes_per_image):
    """Slices of the batch axis, each holding about _BLOCK_BYTES of im2col columns."""
    step = max(1, _BLOCK_BYTES // max(1, bytes_per_image))
    return [slice(start, start + step) for start in range(0, N, step)]


def _windows(x_pad, HH, WW, stride):
    """All windows of x_pad (N, C, Hp, Wp) as a view (N, C, H', W', HH, WW), no copy."""
    return sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]


def _im2col(windows):
    """Windows (n, C, H', W', HH, WW) copied to contiguous columns cols (n, C * HH * WW, H' * W').

    cols[n, (c, k, l), (i, j)] = x_pad[n, c, i * stride + k, j * stride + l].
    """
    n, C, Ho, Wo, HH, WW = windows.shape
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, C * HH * WW, Ho * Wo)


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, Any]) -> tuple[np.ndarray, tuple]:
    """Convolution layer (cross-correlation), vectorized: im2col and a matrix product.

    Inputs: x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride': S, 'pad': P}.
    Returns out (N, F, H', W') with H' = (H + 2P - HH) // S + 1 (same for W'), and
    cache = (x, w, b, conv_param).
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = _out_size(H, HH, stride, pad), _out_size(W, WW, stride, pad)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = _windows(x_pad, HH, WW, stride)
    w_mat = w.reshape(F, C * HH * WW)
    out = np.empty((N, F, Ho * Wo), dtype=np.result_type(x, w, b))
    for block in _image_blocks(N, C * HH * WW * Ho * Wo * x.itemsize):
        # (F, C*HH*WW) @ (n, C*HH*WW, H'*W') -> (n, F, H'*W'): one BLAS product per image
        np.matmul(w_mat, _im2col(windows[block]), out=out[block])
    out += b[:, None]
    return out.reshape(N, F, Ho, Wo), (x, w, b, conv_param)


def conv_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `conv_forward`.

    Inputs: dout (N, F, H', W') upstream gradient; cache = (x, w, b, conv_param) from the forward pass,
    x (N, C, H, W), w (F, C, HH, WW), b (F,).
    Returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,).
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    dtype = np.result_type(dout, x, w, b)
    dout = np.ascontiguousarray(dout, dtype=dtype).reshape(N, F, Ho * Wo)

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = _windows(x_pad, HH, WW, stride)          # the cache keeps x only: im2col again
    # w as (HH*WW*C, F), kernel offset first, so that dcols[:, k, l] below is one block per image
    w_t = w.transpose(2, 3, 1, 0).reshape(HH * WW * C, F)
    dw = np.zeros((F, C * HH * WW), dtype=dtype)
    dx_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    for block in _image_blocks(N, C * HH * WW * Ho * Wo * x.itemsize):
        cols = _im2col(windows[block])                 # (n, C*HH*WW, H'*W')
        dw += np.matmul(dout[block], cols.transpose(0, 2, 1)).sum(axis=0)
        dcols = np.matmul(w_t, dout[block]).reshape(-1, HH, WW, C, Ho, Wo)
        # col2im: a pixel gets the sum over all the windows (kernel offsets) that cover it
        dx_block = dx_pad[block]
        for k in range(HH):
            for l in range(WW):
                dx_block[:, :, k:k + stride * Ho:stride, l:l + stride * Wo:stride] += dcols[:, k, l]
    dx = np.ascontiguousarray(dx_pad[:, :, pad:pad + H, pad:pad + W])
    db = dout.sum(axis=(0, 2))
    return dx, dw.reshape(w.shape), db


def max_pool_forward(x: np.ndarray, pool_param: dict[str, Any]) -> tuple[np.ndarray, tuple]:
    """Max pooling layer.

    Inputs: x (N, C, H, W), pool_param {'pool_height': PH, 'pool_width': PW, 'stride': S}.
    Returns out (N, C, H', W') with H' = (H - PH) // S + 1, W' = (W - PW) // S + 1, and
    cache = (x, pool_param).
    """
    windows = _pool_windows(x, pool_param)                     # (N, C, H', W', PH, PW), a view
    out = windows.max(axis=(4, 5))
    return out, (x, pool_param)


def max_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of `max_pool_forward`.

    Inputs: dout (N, C, H', W') upstream gradient; cache = (x, pool_param), x (N, C, H, W).
    Returns dx (N, C, H, W). Each window's gradient goes to its first maximum in row-major order
    (as argmax picks it); where windows overlap, the gradients they send to one pixel add up.
    """
    x, pool_param = cache
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    windows = _pool_windows(x, pool_param)
    first_max = windows.reshape(N, C, Ho, Wo, PH * PW).argmax(axis=4)   # (N, C, H', W')
    dx = np.zeros(x.shape, dtype=np.result_type(dout, x))
    for k in range(PH):
        for l in range(PW):
            dx[:, :, k:k + S * Ho:S, l:l + S * Wo:S] += np.where(first_max == k * PW + l, dout, 0)
    return dx


def _pool_windows(x, pool_param):
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return sliding_window_view(x, (PH, PW), axis=(2, 3))[:, :, ::S, ::S]


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ReLU, max(0, x) elementwise.

    Input: x, any shape. Returns out (same shape as x) and cache = x.
    """
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of `relu_forward`.

    Inputs: dout upstream gradient and cache = x, both of the same (any) shape.
    Returns dx (same shape as x): dout where x > 0, else 0.
    """
    x = cache
    return np.where(x > 0, dout, 0).astype(np.result_type(dout, x), copy=False)


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Fully connected layer, out = x @ w + b, each example flattened to a row.

    Inputs: x (N, d_1, ..., d_k) with D = d_1 * ... * d_k, w (D, M), b (M,).
    Returns out (N, M) and cache = (x, w, b).
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of `affine_forward`.

    Inputs: dout (N, M) upstream gradient; cache = (x, w, b), x (N, d_1, ..., d_k), w (D, M), b (M,).
    Returns dx (N, d_1, ..., d_k), dw (D, M), db (M,).
    """
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def softmax_loss(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax (cross-entropy) loss, averaged over the batch.

    Inputs: scores (N, K) class scores; y (N,) integer labels, 0 <= y[i] < K.
    Returns loss (a float) and dscores (N, K), the gradient of the loss with respect to scores.
    """
    N = scores.shape[0]
    # subtracting each row's maximum changes nothing mathematically but keeps exp from overflowing
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    return float(loss), dscores / N
