"""Typical mistakes in the assignment `conv_backward`."""
from autograder.mistakes import Mistake

A = "conv_backward"
# The test cells of conv_backward_naive, one per requirement (a mistake loses the one it breaks).
PLAIN, STRIDE, PADDING, NON_SQUARE, BATCH_CHANNELS = BACKWARD_TESTS = tuple(
    f"test_conv_backward_{r}" for r in ("plain", "stride", "padding", "non_square", "batch_channels"))

MISTAKES = [
    # --- worked example ---------------------------------------------------------------------------
    Mistake("fc_signs_lost", A, "pooled_deltas",
            "[0.02, -0.50, 0.23, -0.17]", "[0.02, 0.50, 0.23, 0.17]",
            ("test_pooled_deltas",), "not the right minus signs"),
    Mistake("sigmoid_derivative_forgotten", A, "pooled_deltas",
            ".reshape(s.shape) * s * (1 - s)", ".reshape(s.shape)",
            ("test_pooled_deltas",), "derivative of the sigmoid"),
    Mistake("kernel_gradient_rotated", A, "kernel_gradient_2d",
            "dw[m, n] = np.sum(d * o[m:m + Hd, n:n + Wd])",
            "dw[KH - 1 - m, KW - 1 - n] = np.sum(d * o[m:m + Hd, n:n + Wd])",
            ("test_kernel_gradient_2d",), "Your kernel gradient is rotated by 180 degrees"),
    Mistake("max_pool_mask_ignored", A, "pool_conv_backward_2d",
            "np.kron(pooled_delta, np.ones((kh, kw))) * max_mask", "np.kron(pooled_delta, np.ones((kh, kw)))",
            ("test_pool_conv_backward_2d",), "only to the position of the maximum"),
    Mistake("kernel_gradient_convolved", A, "pool_conv_backward_2d",
            "dw = signal.correlate2d(o, d, mode=\"valid\")", "dw = signal.convolve2d(o, d, mode=\"valid\")",
            ("test_pool_conv_backward_2d",), "You convolved o with d"),
    # --- two layers, several channels ---------------------------------------------------------------
    Mistake("delta_kernel_not_rotated", A, "two_conv_backward",
            "k2[::-1, ::-1]", "k2",
            ("test_two_conv_backward",), "delta1 used k2 as it is"),
    Mistake("multichannel_arguments_swapped", A, "multichannel_kernel_gradient",
            "signal.correlate2d(x[c], delta[f], mode=\"valid\")", "signal.correlate2d(delta[f], x[c], mode=\"valid\")",
            ("test_multichannel_kernel_gradient",), "rotated by 180 degrees in every (f, c) slice"),
    # --- conv_backward_naive ------------------------------------------------------------------------
    Mistake("dx_kernel_flipped", A, "conv_backward_naive",
            "+= g * w[f]", "+= g * w[f, :, ::-1, ::-1]",
            (PLAIN,), "Your dx uses the kernel rotated by 180 degrees"),
    Mistake("dx_height_width_swapped", A, "conv_backward_naive",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad[:, :, pad:pad + W, pad:pad + H]",
            (NON_SQUARE,), "height and width swapped"),
    Mistake("square_kernel_assumed", A, "conv_backward_naive",
            "F, _, HH, WW = w.shape", "F, _, HH, _ = w.shape\n    WW = HH",
            (NON_SQUARE,), "assume a square kernel"),
    Mistake("crop_breaks_at_pad_0", A, "conv_backward_naive",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad[:, :, pad:-pad, pad:-pad]",
            (PLAIN,), "with pad = 0 the crop"),
    Mistake("stride_ignored_in_backward", A, "conv_backward_naive",
            "top, left = i * stride, j * stride", "top, left = i, j",
            (STRIDE,), "ignores the stride"),
    Mistake("db_wrong_axes", A, "conv_backward_naive",
            "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(1, 2, 3))",
            (BATCH_CHANNELS,), "db is summed over the wrong axes"),
    Mistake("dw_not_summed_over_batch", A, "conv_backward_naive",
            "    for n in range(N):\n", "    for n in range(N):\n        dw = np.zeros_like(w)\n",
            (BATCH_CHANNELS,), "dw is not summed over the batch"),
    Mistake("input_modified_in_place", A, "conv_backward_naive",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = x\n    dx[...] = dx_pad[:, :, pad:pad + H, pad:pad + W]",
            (PLAIN,), "modified its input (cache x) in place"),
    # --- convolution as a matrix --------------------------------------------------------------------
    Mistake("conv_matrix_flipped", A, "conv_matrix",
            "= kernel[m, n]", "= kernel[KH - 1 - m, KW - 1 - n]",
            ("test_conv_matrix",), "computes a convolution (the kernel flipped)"),
    Mistake("dw_averaged_over_batch", A, "conv_backward_naive",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]\n    dw = dw / N",
            (BATCH_CHANNELS,), "dw is divided by the batch size N"),
    Mistake("dw_axes_permuted", A, "conv_backward_naive",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]\n    dw = dw.transpose(1, 0, 2, 3)",
            (BATCH_CHANNELS,), ""),
    Mistake("backward_first_image_only", A, "conv_backward_naive",
            "    for n in range(N):\n", "    for n in range(1):\n",
            (BATCH_CHANNELS,), "only indices [0] are right"),
    Mistake("backward_float32_dx", A, "conv_backward_naive",
            "dx_pad = np.zeros_like(x_pad)", "dx_pad = np.zeros_like(x_pad, dtype=np.float32)",
            (PLAIN,), "float32 round-off"),
    Mistake("dx_not_cropped", A, "conv_backward_naive",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad",
            (PADDING,), "dx still has the padding"),
]

REQUIREMENT_CELLS = {"conv_backward_naive": BACKWARD_TESTS}

# What the demo's "mistakes" student gets wrong: independent mistakes in different exercises.
DEMO_MISTAKES = ["fc_signs_lost", "delta_kernel_not_rotated", "dx_kernel_flipped", "conv_matrix_flipped"]

# The demo's crashing student breaks this cell (a NameError before the function is defined).
CRASH_CELL = "two_conv_backward"
