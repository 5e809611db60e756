"""Typical mistakes in the assignment `pooling`."""
from autograder.mistakes import Mistake

# The test cells of max and average pooling, one per requirement (a mistake loses the one it breaks).
MAX_FORWARD_TESTS = tuple(f"test_max_pool_forward_{r}" for r in ("visible", "non_tiling", "stride", "non_square"))
MAX_BACKWARD_TESTS = tuple(f"test_max_pool_backward_{r}" for r in ("visible", "non_tiling", "stride", "non_square"))
F_PLAIN, F_NON_TILING, F_STRIDE, F_NON_SQUARE = MAX_FORWARD_TESTS
B_PLAIN, B_NON_TILING, B_STRIDE, B_NON_SQUARE = MAX_BACKWARD_TESTS
AVG_FORWARD_TESTS = tuple(f"test_avg_pool_forward_{r}" for r in ("visible", "non_tiling", "stride", "non_square"))
AVG_BACKWARD_TESTS = tuple(f"test_avg_pool_backward_{r}" for r in ("visible", "non_tiling", "stride", "non_square"))
AF_PLAIN, AF_NON_TILING, AF_STRIDE, AF_NON_SQUARE = AVG_FORWARD_TESTS
AB_PLAIN, AB_NON_TILING, AB_STRIDE, AB_NON_SQUARE = AVG_BACKWARD_TESTS

MISTAKES = [
    Mistake("max_output_size_off_by_one", "pooling", "max_pool_forward",
            "H_out = (H - ph) // stride + 1", "H_out = (H - ph) // stride",
            (F_PLAIN,), "off by one"),
    Mistake("max_pool_height_width_swapped", "pooling", "max_pool_forward",
            'ph, pw = pool_param["pool_height"], pool_param["pool_width"]',
            'ph, pw = pool_param["pool_width"], pool_param["pool_height"]',
            (F_NON_SQUARE,), "pool_height and pool_width swapped"),
    Mistake("max_forward_stride_ignored", "pooling", "max_pool_forward",
            "top, left = i * stride, j * stride", "top, left = i, j",
            (F_PLAIN,), "ignores the stride"),
    Mistake("max_backward_assign_not_accumulate", "pooling", "max_pool_backward",
            "dx[n, c, top:top + ph, left:left + pw] += mask", "dx[n, c, top:top + ph, left:left + pw] = mask",
            (B_STRIDE,), "instead of accumulating with +="),
    Mistake("gradient_to_every_tied_maximum", "pooling", "max_pool_backward",
            "mask[np.unravel_index(np.argmax(window), window.shape)] = 1.0",
            "mask[window == np.max(window)] = 1.0",
            ("test_max_pool_ties",), "every tied maximum"),
    Mistake("max_backward_only_when_stride_equals_window", "pooling", "max_pool_backward",
            "top, left = i * stride, j * stride", "top, left = i * ph, j * pw",
            (B_STRIDE,), "only works when the stride equals the window size"),
    Mistake("avg_not_divided_by_window", "pooling", "avg_pool_forward",
            "scale = 1.0 / (ph * pw)", "scale = 1.0",
            (AF_PLAIN,), "not divided by the window size"),
    Mistake("avg_backward_dout_modified_in_place", "pooling", "avg_pool_backward",
            "scale = 1.0 / (ph * pw)", "dout /= ph * pw\n    scale = 1.0",
            (AB_PLAIN,), "in place"),
    Mistake("avg_backward_assign_not_accumulate", "pooling", "avg_pool_backward",
            "dx[:, :, top:top + ph, left:left + pw] += scale", "dx[:, :, top:top + ph, left:left + pw] = scale",
            (AB_STRIDE,), "instead of accumulating with +="),
    Mistake("global_backward_not_divided", "pooling", "global_avg_pool",
            "dout[:, :, None, None] / (H * W)", "dout[:, :, None, None]",
            ("test_global_avg_pool",), "Divide by H * W"),
    Mistake("failing_input_with_stride_equal_to_window", "pooling", "failing_input",
            '"stride": 1}', '"stride": 2}',
            ("test_failing_input",), "does not expose the bug"),
    Mistake("max_output_size_size_over_stride", "pooling", "max_pool_forward",
            "H_out = (H - ph) // stride + 1", "H_out = H // stride",
            (F_STRIDE,), ""),
    Mistake("max_output_size_rounded", "pooling", "max_pool_forward",
            "W_out = (W - pw) // stride + 1", "W_out = round((W - pw) / stride) + 1",
            (F_NON_TILING,), "with round()"),
    Mistake("max_width_from_height", "pooling", "max_pool_forward",
            "W_out = (W - pw) // stride + 1", "W_out = (H - pw) // stride + 1",
            (F_PLAIN,), "computed from the height"),
    Mistake("avg_output_size_size_over_stride", "pooling", "avg_pool_forward",
            "H_out = (H - ph) // stride + 1", "H_out = H // stride",
            (AF_STRIDE,), ""),
    Mistake("avg_pool_height_width_swapped", "pooling", "avg_pool_forward",
            'ph, pw = pool_param["pool_height"], pool_param["pool_width"]',
            'ph, pw = pool_param["pool_width"], pool_param["pool_height"]',
            (AF_NON_SQUARE,), "pool_height and pool_width swapped"),
    Mistake("avg_backward_only_when_stride_equals_window", "pooling", "avg_pool_backward",
            "top, left = i * stride, j * stride", "top, left = i * ph, j * pw",
            (AB_STRIDE,), "only works when the stride equals the window size"),
]

REQUIREMENT_CELLS = {"max_pool_forward_naive": MAX_FORWARD_TESTS, "max_pool_backward_naive": MAX_BACKWARD_TESTS,
                     "avg_pool_forward_naive": AVG_FORWARD_TESTS, "avg_pool_backward_naive": AVG_BACKWARD_TESTS}

# What the demo's "mistakes" student gets wrong: independent mistakes in different exercises.
DEMO_MISTAKES = ["max_output_size_off_by_one", "max_backward_assign_not_accumulate", "avg_not_divided_by_window"]

# The demo's crashing student breaks this cell (a NameError before the function is defined).
CRASH_CELL = "avg_pool_forward"
