"""Pooling references, written independently of the notebook's solutions.

Max pooling uses numpy's sliding_window_view; average pooling uses scipy.signal. Every function takes
NCHW arrays and pool_param = {'pool_height', 'pool_width', 'stride'}; outputs are float64.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal


def pool_params(pool_param):
    return int(pool_param["pool_height"]), int(pool_param["pool_width"]), int(pool_param["stride"])


def pool_output_shape(x_shape, pool_param):
    """(N, C, H', W') with H' = (H - ph) // S + 1 and W' = (W - pw) // S + 1."""
    ph, pw, s = pool_params(pool_param)
    N, C, H, W = x_shape
    return (N, C, (H - ph) // s + 1, (W - pw) // s + 1)


def _windows(x, pool_param):
    """A view of shape (N, C, H', W', ph, pw): window (i, j) of every image and channel."""
    ph, pw, s = pool_params(pool_param)
    return sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]


def max_pool_forward_reference(x, pool_param):
    return np.asarray(_windows(x, pool_param).max(axis=(4, 5)), dtype=np.float64)


def max_pool_backward_reference(dout, x, pool_param):
    """dx for max pooling: each window's upstream gradient goes to its FIRST maximum in row-major order.

    Built from flat indices: np.argmax over a window flattened in row-major order is the first maximum;
    np.add.at accumulates, so a pixel that is the maximum of several overlapping windows gets the sum.
    """
    ph, pw, s = pool_params(pool_param)
    N, C, H, W = x.shape
    windows = _windows(x, pool_param)
    Ho, Wo = windows.shape[2:4]
    k = windows.reshape(N, C, Ho, Wo, ph * pw).argmax(axis=4)          # first maximum, row-major
    rows = np.arange(Ho)[:, None] * s + k // pw                        # (N, C, Ho, Wo) by broadcasting
    cols = np.arange(Wo)[None, :] * s + k % pw
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    dx = np.zeros(x.shape, dtype=np.float64)
    np.add.at(dx, (np.broadcast_to(n, k.shape), np.broadcast_to(c, k.shape), rows, cols), dout)
    return dx


def avg_pool_forward_reference(x, pool_param):
    """Correlate with a ones/(ph*pw) kernel ('valid'), then keep every S-th row and column."""
    ph, pw, s = pool_params(pool_param)
    kernel = np.ones((ph, pw)) / (ph * pw)
    N, C = x.shape[:2]
    out = np.empty(pool_output_shape(x.shape, pool_param), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            out[n, c] = signal.correlate2d(x[n, c], kernel, mode="valid")[::s, ::s]
    return out


def avg_pool_backward_reference(dout, x, pool_param):
    """The adjoint of the forward: put dout on a stride-dilated grid, then full-convolve with ones/(ph*pw)."""
    ph, pw, s = pool_params(pool_param)
    N, C, H, W = x.shape
    kernel = np.ones((ph, pw)) / (ph * pw)
    dilated = np.zeros((N, C, H - ph + 1, W - pw + 1))
    dilated[:, :, ::s, ::s] = dout
    dx = np.empty(x.shape, dtype=np.float64)
    for n in range(N):
        for c in range(C):
            dx[n, c] = signal.convolve2d(dilated[n, c], kernel, mode="full")
    return dx


def global_avg_pool_forward_reference(x):
    """(N, C, H, W) -> (N, C): the mean of every channel map."""
    return np.asarray(x, dtype=np.float64).mean(axis=(2, 3))


def global_avg_pool_backward_reference(dout, x):
    """(N, C) upstream gradient -> (N, C, H, W): each pixel gets dout / (H * W)."""
    H, W = x.shape[2:]
    return np.broadcast_to(dout[:, :, None, None] / (H * W), x.shape).astype(np.float64)
