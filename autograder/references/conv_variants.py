"""References for the assignment `conv_variants`, written independently of the notebook's solutions.

Transposed, dilated and grouped convolutions are built on scipy.signal (through `references.conv`);
sizes, costs and receptive fields by brute force or by a different route than the notebook's formulas.
"""
import numpy as np
from scipy import signal

from autograder.references.conv import conv_forward_reference, dilate, output_size


def transpose_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Spatial size of a transposed convolution's output: (size - 1) * stride - 2 * pad + kernel."""
    return (size - 1) * stride - 2 * pad + kernel


def conv_transpose_reference(x, w, b, conv_param):
    """Transposed convolution by scipy: zeros between the inputs, full convolution, crop the padding.

    x (N, C_in, H, W), w (C_in, C_out, HH, WW), b (C_out,) -> out (N, C_out, H_out, W_out),
    H_out = (H - 1) * S - 2P + HH.
    """
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    spread = dilate(x, stride)
    N, C_in = x.shape[:2]
    C_out, HH, WW = w.shape[1:]
    H_out = transpose_output_size(x.shape[2], HH, stride, pad)
    W_out = transpose_output_size(x.shape[3], WW, stride, pad)
    out = np.empty((N, C_out, H_out, W_out))
    for n in range(N):
        for co in range(C_out):
            full = sum(signal.convolve2d(spread[n, ci], w[ci, co], mode="full") for ci in range(C_in))
            out[n, co] = full[pad:pad + H_out, pad:pad + W_out] + b[co]
    return out


def dilate_kernel(w, dilation: int):
    """w (..., HH, WW) with dilation - 1 zeros between neighbouring taps: (..., D(HH-1)+1, D(WW-1)+1)."""
    return dilate(w, dilation)


def dilated_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return output_size(size, dilation * (kernel - 1) + 1, stride, pad)


def conv_dilated_reference(x, w, b, conv_param):
    """A dilated convolution is a plain one (scipy.signal based) with zeros inserted in the kernel."""
    plain = {"stride": conv_param["stride"], "pad": conv_param["pad"]}
    return conv_forward_reference(x, dilate_kernel(w, int(conv_param["dilation"])), b, plain)


def grouped_as_dense(w, C: int, groups: int):
    """The grouped weights w (F, C/G, HH, WW) as dense weights (F, C, HH, WW), zero outside each group."""
    F, Cg, HH, WW = w.shape
    dense = np.zeros((F, C, HH, WW))
    per_group = F // groups
    for f in range(F):
        g = f // per_group
        dense[f, g * Cg:(g + 1) * Cg] = w[f]
    return dense


def conv_grouped_reference(x, w, b, conv_param, groups):
    """Grouped convolution as a dense convolution with block-diagonal weights (scipy.signal based)."""
    return conv_forward_reference(x, grouped_as_dense(w, x.shape[1], groups), b, conv_param)


def depthwise_separable_reference(x, w_depth, b_depth, w_point, b_point, conv_param):
    """Depthwise k x k (groups = C) with conv_param, then a 1x1 convolution, as dense convolutions."""
    depth = conv_grouped_reference(x, w_depth, b_depth, conv_param, x.shape[1])
    return conv_forward_reference(depth, w_point, b_point, {"stride": 1, "pad": 0})


def input_sizes_reference(out_size: int, kernel: int, stride: int, pad: int):
    """Every input size whose convolution output has `out_size` rows, by trying sizes one by one."""
    top = (out_size + 1) * stride + kernel + 2
    return [h for h in range(1, top) if h + 2 * pad >= kernel and output_size(h, kernel, stride, pad) == out_size]


def separable_cost_reference(H, W, C_in, C_out, k):
    """Multiply-adds and weights (no biases) of a k x k convolution (stride 1, 'same') and its
    depthwise-separable version, counted one output value at a time."""
    outputs_standard = H * W * C_out
    outputs_depth, outputs_point = H * W * C_in, H * W * C_out
    return {
        "standard_macs": outputs_standard * (C_in * k * k),
        "standard_weights": C_out * C_in * k * k,
        "separable_macs": outputs_depth * (k * k) + outputs_point * C_in,
        "separable_weights": C_in * k * k + C_out * C_in,
    }


def receptive_field_reference(layers):
    """Receptive field of one output unit, found by walking an interval of positions back to the input.

    layers: [(kernel, stride, dilation), ...], first layer first.
    """
    lo, hi = 0, 0
    for kernel, stride, dilation in reversed(list(layers)):
        lo, hi = lo * stride, hi * stride + dilation * (kernel - 1)
    return hi - lo + 1


def footprint_reference(layers, size: int):
    """(size, size) bool mask of the input pixels that reach output (H_L // 2, W_L // 2) of a stack of
    one-channel convolutions without padding, found by spreading the mask back tap by tap."""
    sizes = [size]
    for kernel, stride, dilation in layers:
        sizes.append(dilated_output_size(sizes[-1], kernel, stride, 0, dilation))
    mask = np.zeros((sizes[-1], sizes[-1]), dtype=bool)
    mask[sizes[-1] // 2, sizes[-1] // 2] = True
    for (kernel, stride, dilation), below in zip(reversed(list(layers)), reversed(sizes[:-1])):
        spread = np.zeros((below, below), dtype=bool)
        for i, j in zip(*np.nonzero(mask)):
            for m in range(kernel):
                for l in range(kernel):
                    spread[i * stride + m * dilation, j * stride + l * dilation] = True
        mask = spread
    return mask
