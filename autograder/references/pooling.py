"""Pooling references, written independently of the notebook's solutions, and the wrong variants the
checks recognise.

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


# ---------------------------------------------------------------------------------------------------
# Wrong variants, by explicit loops (what typical mistakes compute; the checks diagnose with them)


def _tie_mask(window, ties):
    flat = window.ravel()
    top = flat.max()
    mask = np.zeros(window.shape)
    if ties == "first":
        mask.flat[int(np.argmax(flat))] = 1.0
    elif ties == "last":
        mask.flat[flat.size - 1 - int(np.argmax(flat[::-1]))] = 1.0
    elif ties == "column-major":
        r, q = np.unravel_index(int(np.argmax(window.T)), window.T.shape)
        mask[q, r] = 1.0
    elif ties == "all":
        mask = (window == top).astype(float)
    elif ties == "split":
        mask = (window == top) / np.sum(window == top)
    return mask


def max_backward_variant(x, dout, ph, pw, step_h, step_w, ties="first", write="add", use_dout=True):
    """Max-pool backward with a chosen (possibly wrong) behaviour; windows are clipped at the border.

    ties: which maximum gets the gradient ("first", "last", "column-major", "all", "split");
    write: "add" (+=, right), "window" (dx[window] = mask * g) or "point" (dx[argmax] = g).
    """
    dx = np.zeros(x.shape)
    N, C, Ho, Wo = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    top, left = i * step_h, j * step_w
                    window = x[n, c, top:top + ph, left:left + pw]
                    if window.size == 0:
                        continue
                    g = dout[n, c, i, j] if use_dout else 1.0
                    mask = _tie_mask(window, ties)
                    region = dx[n, c, top:top + ph, left:left + pw]
                    if write == "add":
                        region += mask * g
                    elif write == "window":
                        region[...] = mask * g
                    else:
                        region[mask > 0] = g
    return dx


def avg_backward_variant(x, dout, ph, pw, step_h, step_w, scale, write="add"):
    """Average-pool backward with windows at (i * step_h, j * step_w), each pixel getting dout * scale."""
    dx = np.zeros(x.shape)
    N, C, Ho, Wo = dout.shape
    for i in range(Ho):
        for j in range(Wo):
            top, left = i * step_h, j * step_w
            region = dx[:, :, top:top + ph, left:left + pw]
            g = dout[:, :, i, j][:, :, None, None] * scale
            if write == "add":
                region += g
            else:
                region[...] = g
    return dx


def max_backward_offsets_assigned(x, dout, ph, pw, stride):
    """Max-pool backward routed one window offset at a time with = instead of += (vectorized code's slip)."""
    N, C, Ho, Wo = dout.shape
    windows = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::stride, ::stride]
    first = windows.reshape(N, C, Ho, Wo, ph * pw).argmax(axis=4)
    dx = np.zeros(x.shape)
    for k in range(ph):
        for l in range(pw):
            dx[:, :, k:k + stride * Ho:stride, l:l + stride * Wo:stride] = np.where(first == k * pw + l, dout, 0.0)
    return dx


def max_pool_backward_upsampled(dout, cache):
    """Max-pool backward found in a forum post (it contains a bug; keep in sync with the notebook)."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = dout.shape[2:]
    # the maximum of every window
    maxima = np.zeros(dout.shape)
    for i in range(H_out):
        for j in range(W_out):
            maxima[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    # blow maxima and dout up to the size of the input: every value becomes a ph x pw block
    big_max = np.repeat(np.repeat(maxima, ph, axis=2), pw, axis=3)
    big_dout = np.repeat(np.repeat(dout, ph, axis=2), pw, axis=3)
    h, w = min(H, big_max.shape[2]), min(W, big_max.shape[3])
    dx = np.zeros(x.shape)
    is_max = x[:, :, :h, :w] == big_max[:, :, :h, :w]
    dx[:, :, :h, :w] = is_max * big_dout[:, :, :h, :w]
    return dx
