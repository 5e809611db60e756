"""Typical mistakes in the assignment `conv_forward`."""
from autograder.mistakes import Mistake

# The test cells of conv_forward_naive, one per requirement (a mistake loses the one it breaks).
PLAIN, STRIDE, PADDING, NON_SQUARE, CHANNELS = (
    "test_conv_forward_visible", "test_conv_forward_stride", "test_conv_forward_padding",
    "test_conv_forward_non_square", "test_conv_forward_channels")
CONV_FORWARD_TESTS = (PLAIN, STRIDE, PADDING, NON_SQUARE, CHANNELS)

MISTAKES = [
    Mistake("flipped_kernel", "conv_forward", "conv_forward_naive",
            "conv_single_step(window, w[f], b[f])", "conv_single_step(window, w[f, :, ::-1, ::-1], b[f])",
            (PLAIN,), "you computed convolution, not cross-correlation"),
    Mistake("square_kernel_assumed", "conv_forward", "conv_forward_naive",
            "left:left + WW]", "left:left + HH]",
            (NON_SQUARE,), "'kernel is square'"),
    Mistake("stride_ignored", "conv_forward", "conv_forward_naive",
            "top, left = i * stride, j * stride", "top, left = i, j",
            (STRIDE,), "'stride is 1'"),
    Mistake("output_size_off_by_one", "conv_forward", "conv_forward_naive",
            "H_out = output_size(H, HH, stride, pad)", "H_out = (H + 2 * pad - HH) // stride",
            (PLAIN,), "off by one"),
    Mistake("bias_forgotten", "conv_forward", "conv_single_step",
            "return float(np.sum(x_slice * w) + b)", "return float(np.sum(x_slice * w))",
            ("test_conv_single_step",), "You forgot the bias"),
    Mistake("all_axes_padded", "conv_forward", "zero_pad",
            "((0, 0), (0, 0), (pad, pad), (pad, pad))", "pad",
            ("test_zero_pad", PADDING), "pad only H and W"),
    Mistake("output_size_true_division", "conv_forward", "output_size",
            "return (size + 2 * pad - kernel) // stride + 1", "return (size + 2 * pad - kernel) / stride + 1",
            ("test_output_size",) + CONV_FORWARD_TESTS, "",
            "a float size makes the layer raise on every case: no requirement of the layer can be credited"),
    Mistake("edge_kernel_sign", "conv_forward", "image_filters",
            "g_x = np.array([[-1.0, 0.0, 1.0],\n                    [-2.0, 0.0, 2.0],\n                    [-1.0, 0.0, 1.0]])",
            "g_x = np.array([[1.0, 0.0, -1.0],\n                    [2.0, 0.0, -2.0],\n                    [1.0, 0.0, -1.0]])",
            ("test_image_filters",), ""),
    Mistake("full_conv_not_flipped", "conv_forward", "conv2d_full",
            "k_flipped = k[::-1, ::-1]", "k_flipped = k",
            ("test_conv2d_full",), "flip the kernel"),
    Mistake("output_size_size_over_stride", "conv_forward", "output_size",
            "return (size + 2 * pad - kernel) // stride + 1", "return size // stride",
            ("test_output_size", PLAIN), ""),
    Mistake("output_size_rounded", "conv_forward", "output_size",
            "return (size + 2 * pad - kernel) // stride + 1", "return round((size + 2 * pad - kernel) / stride) + 1",
            ("test_output_size", STRIDE), "with round()"),
    Mistake("height_used_for_width", "conv_forward", "conv_forward_naive",
            "W_out = output_size(W, WW, stride, pad)", "W_out = output_size(H, WW, stride, pad)",
            (NON_SQUARE,), "computed from the height"),
    Mistake("first_image_only", "conv_forward", "conv_forward_naive",
            "    for n in range(N):\n", "    for n in range(1):\n",
            (PLAIN,), "Along axis 0 (images) only indices [0] are right"),
    Mistake("float32_output", "conv_forward", "conv_forward_naive",
            "out = np.zeros((N, F, H_out, W_out))", "out = np.zeros((N, F, H_out, W_out), dtype=np.float32)",
            (PLAIN,), "float32 round-off"),
]

REQUIREMENT_CELLS = {"conv_forward_naive": CONV_FORWARD_TESTS}

# What the demo's "mistakes" student gets wrong: independent mistakes in different exercises.
DEMO_MISTAKES = ["flipped_kernel", "edge_kernel_sign", "full_conv_not_flipped"]

# The demo's crashing student breaks this cell (a NameError before the function is defined).
CRASH_CELL = "conv_single_step"
