"""References for the assignment `fast_layers`: im2col / col2im, the 1x1 convolution, and layer costs.

Written independently of the notebook's solutions: im2col with numpy's sliding_window_view, col2im with
np.add.at on explicit indices, the 1x1 convolution with einsum, costs from their definitions;
col2im_variant computes what typical mistakes do.

Column layout (the one the notebook teaches, as in cs231n):
    cols[(c, k, l), (n, i, j)] = x_pad[n, c, i * stride + k, j * stride + l]
rows ordered (c, k, l) (c slowest), columns ordered (n, i, j) (n slowest); shape (C*HH*WW, N*H'*W').
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.references.conv import output_size


def im2col_reference(x, HH, WW, stride, pad):
    """x (N, C, H, W) -> cols (C*HH*WW, N*H'*W'), every window of the padded input as a column."""
    x_pad = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, H', W', HH, WW)
    N, C, Ho, Wo = windows.shape[:4]
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * HH * WW, N * Ho * Wo)


def col2im_reference(cols, x_shape, HH, WW, stride, pad):
    """The adjoint of im2col_reference: cols (C*HH*WW, N*H'*W') -> dx (N, C, H, W).

    Every entry of cols is added to the pixel it was copied from (pixels in several windows get the
    sum); the padding is cropped.
    """
    N, C, H, W = x_shape
    Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
    c, k, l, n, i, j = np.indices((C, HH, WW, N, Ho, Wo), sparse=True)
    dx_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    np.add.at(dx_pad, (n, c, i * stride + k, j * stride + l), np.asarray(cols, dtype=np.float64).reshape(C, HH, WW, N, Ho, Wo))
    return dx_pad[:, :, pad:pad + H, pad:pad + W]


def conv1x1_reference(x, w, b):
    """A 1x1 convolution: x (N, C, H, W), w (F, C, 1, 1), b (F,) -> out (N, F, H, W)."""
    return np.einsum("fc,nchw->nfhw", w[:, :, 0, 0], x) + b[None, :, None, None]


COST_KEYS = ("multiply_adds", "params", "outputs", "im2col")


def conv_cost_reference(H, W, C_in, C_out, k, stride=1, pad=None):
    """What one k x k convolution layer costs on one image (see the notebook for the definitions).

    multiply_adds: one multiplication (and one addition) per weight per output position; bias additions
    are not counted. params: weights only, C_out * C_in * k * k (no biases). outputs: the C_out * H' * W'
    values of the output maps. im2col: entries of the im2col matrix, (C_in * k * k) * (H' * W').
    pad=None is "same" padding, k // 2.
    """
    if pad is None:
        pad = k // 2
    Ho, Wo = output_size(H, k, stride, pad), output_size(W, k, stride, pad)
    return {
        "multiply_adds": Ho * Wo * C_out * C_in * k * k,
        "params": C_out * C_in * k * k,
        "outputs": C_out * Ho * Wo,
        "im2col": C_in * k * k * Ho * Wo,
    }


# GoogLeNet (Szegedy et al. 2014), inception module 3a, on a 28x28x192 input; every convolution is
# stride 1 with "same" padding. Each branch is a list of (kernel size, output channels); the input of
# a branch's first layer has 192 channels, the input of the next one the previous layer's channels.
INCEPTION_3A_INPUT = (28, 28, 192)
INCEPTION_3A_NAIVE = {"1x1": [(1, 64)], "3x3": [(3, 128)], "5x5": [(5, 32)]}
INCEPTION_3A_REDUCED = {"1x1": [(1, 64)], "3x3": [(1, 96), (3, 128)], "5x5": [(1, 16), (5, 32)]}
INCEPTION_3A_POOL_PROJECTION = {"pool proj": [(1, 32)]}   # after the 3x3 max pool; not in the naive module


def module_layers(branches, input_shape=INCEPTION_3A_INPUT):
    """[(branch, k, C_in, C_out)] for every convolution of a module."""
    _, _, C = input_shape
    layers = []
    for name, convs in branches.items():
        c_in = C
        for k, c_out in convs:
            layers.append((name, k, c_in, c_out))
            c_in = c_out
    return layers


def module_cost(branches, input_shape=INCEPTION_3A_INPUT):
    """The sum of conv_cost_reference over every convolution of a module (a dict like conv_cost's)."""
    H, W, _ = input_shape
    total = dict.fromkeys(COST_KEYS, 0)
    for _, k, c_in, c_out in module_layers(branches, input_shape):
        for key, value in conv_cost_reference(H, W, c_in, c_out, k).items():
            total[key] += value
    return total


def col2im_variant(cols, x_shape, HH, WW, stride, pad, write="add", step=None):
    """col2im with a chosen (possibly wrong) behaviour, one kernel offset at a time (for diagnosis).

    write: "add" (+=, right) or "assign" (=, the last offset wins); step: the window step used (stride).
    """
    step = stride if step is None else step
    N, C, H, W = x_shape
    Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
    six = np.asarray(cols, dtype=np.float64).reshape(C, HH, WW, N, Ho, Wo)
    dx_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for k in range(HH):
        for l in range(WW):
            region = dx_pad[:, :, k:k + step * Ho:step, l:l + step * Wo:step]
            values = six[:, k, l].transpose(1, 0, 2, 3)[:, :, :region.shape[2], :region.shape[3]]
            if write == "add":
                region += values
            else:
                region[...] = values
    return dx_pad[:, :, pad:pad + H, pad:pad + W]
