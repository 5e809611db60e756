"""Convolution references built on scipy.signal."""
import numpy as np
from scipy import signal


def output_size(size, kernel, stride, pad):
    """Spatial output size of a convolution or pooling: (size + 2*pad - kernel) // stride + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def conv_forward_reference(x, w, b, conv_param):
    """Cross-correlation layer: x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H', W')."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, C = x.shape[:2]
    F = w.shape[0]
    Ho = output_size(x.shape[2], w.shape[2], stride, pad)
    Wo = output_size(x.shape[3], w.shape[3], stride, pad)
    out = np.empty((N, F, Ho, Wo), dtype=np.float64)
    for n in range(N):
        for f in range(F):
            acc = sum(signal.correlate2d(xp[n, c], w[f, c], mode="valid") for c in range(C))
            out[n, f] = acc[::stride, ::stride] + b[f]
    return out


def full_convolution_reference(x, k):
    """Wide (full) 2-D convolution, kernel flipped: x (H, W), k (HH, WW) -> (H+HH-1, W+WW-1)."""
    return signal.convolve2d(x, k, mode="full")


def dilate(delta, stride):
    """Insert stride - 1 zeros between neighbouring entries along the last two axes.

    delta (..., H', W') -> (..., (H' - 1) * stride + 1, (W' - 1) * stride + 1).
    """
    delta = np.asarray(delta, dtype=np.float64)
    Ho, Wo = delta.shape[-2:]
    out = np.zeros(delta.shape[:-2] + ((Ho - 1) * stride + 1, (Wo - 1) * stride + 1))
    out[..., ::stride, ::stride] = delta
    return out


def conv_backward_dx_padded(dout, w, padded_hw, stride):
    """Gradient with respect to the *padded* input, (N, C, H + 2P, W + 2P).

    dx_pad[n, c] = sum_f convolve2d(dilated dout[n, f], w[f, c], 'full'); rows and columns that no
    window covers (when the windows do not tile the padded input) stay zero.
    """
    dd = dilate(dout, stride)
    N, F = dout.shape[:2]
    C = w.shape[1]
    Hp, Wp = padded_hw
    dx_pad = np.zeros((N, C, Hp, Wp))
    for n in range(N):
        for c in range(C):
            full = sum(signal.convolve2d(dd[n, f], w[f, c], mode="full") for f in range(F))
            dx_pad[n, c, :full.shape[0], :full.shape[1]] = full
    return dx_pad


def conv_backward_dw(dout, x_pad, kernel_hw, stride):
    """dw[f, c] = sum_n correlate2d(x_pad[n, c], dilated dout[n, f], 'valid'), cut to (HH, WW)."""
    dd = dilate(dout, stride)
    N, F = dout.shape[:2]
    HH, WW = kernel_hw
    return np.array([[sum(signal.correlate2d(x_pad[n, c], dd[n, f], mode="valid") for n in range(N))[:HH, :WW]
                      for c in range(x_pad.shape[1])] for f in range(F)])


def conv_backward_reference(dout, x, w, b, conv_param):
    """Backward pass of `conv_forward_reference`: (dx, dw, db) for upstream dout (N, F, H', W').

    dw: correlate the padded input with the dilated dout (stride - 1 zeros between entries);
    dx: full convolution of the dilated dout with w (the kernel rotated by 180 degrees, slid as a
    correlation), then the padding cropped; db: dout summed over the batch and both spatial axes.
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    H, W = x.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = conv_backward_dx_padded(dout, w, (H + 2 * pad, W + 2 * pad), stride)
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    dw = conv_backward_dw(dout, x_pad, w.shape[2:], stride)
    db = np.asarray(dout, dtype=np.float64).sum(axis=(0, 2, 3))
    return dx, dw, db


def conv_matrix_reference(kernel, H, W):
    """T of shape (H' * W', H * W) with T @ x.ravel() == correlate2d(x, kernel, 'valid').ravel()."""
    KH, KW = kernel.shape
    Ho, Wo = H - KH + 1, W - KW + 1
    T = np.zeros((Ho * Wo, H * W))
    for idx in range(H * W):
        basis = np.zeros(H * W)
        basis[idx] = 1.0
        T[:, idx] = signal.correlate2d(basis.reshape(H, W), kernel, mode="valid").ravel()
    return T


def pooled_deltas_reference(delta_h, w_fc, s):
    """Deltas of a pooled sigmoid map s (h, w) feeding a fully connected layer w_fc (K, h * w) with deltas
    delta_h (K,): (w_fc.T @ delta_h) shaped like s, times the sigmoid's derivative s * (1 - s)."""
    return (w_fc.T @ delta_h).reshape(s.shape) * s * (1 - s)


def unpool_reference(pooled, mask):
    """Max-pool backward in 2-D: each pooled delta (h, w) goes to the True entry of its window of mask."""
    kh, kw = mask.shape[0] // pooled.shape[0], mask.shape[1] // pooled.shape[1]
    return np.kron(pooled, np.ones((kh, kw))) * mask


def two_conv_reference(x, k1, k2, delta2):
    """Two stacked valid cross-correlations x -> o = x * k1 -> z = o * k2, given dE/dz = delta2:
    (delta1 = dE/do, dE/dk1, dE/dk2)."""
    o = signal.correlate2d(x, k1, mode="valid")
    delta1 = signal.convolve2d(delta2, k2, mode="full")
    return delta1, signal.correlate2d(x, delta1, mode="valid"), signal.correlate2d(o, delta2, mode="valid")


def multichannel_reference(x, delta):
    """Kernel gradient of one image: x (C, H, W), delta (F, H', W') -> dw (F, C, HH, WW)."""
    return np.array([[signal.correlate2d(x[c], delta[f], mode="valid") for c in range(x.shape[0])]
                     for f in range(delta.shape[0])])
