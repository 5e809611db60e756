"""Reference layers built on scipy.signal: independent of the solutions, used to grade them."""
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
