"""Typical mistakes in the assignment `fast_layers`.

The layers are built on the student's own im2col / col2im, so a mistake in a helper also costs the
layer cells that call it (as conv_single_step does for conv_forward_naive in Assignment 1); each entry
lists exactly the cells it costs. Visible test cells re-run their exercise's hidden check, so a mistake
the hidden check catches costs the visible cell too.
"""
from autograder.mistakes import Mistake

A = "fast_layers"
IM2COL_TESTS = ("test_im2col", "test_im2col_hidden")
COL2IM_TESTS = ("test_col2im", "test_col2im_hidden")
FORWARD_TESTS = ("test_conv_forward_im2col", "test_conv_forward_im2col_hidden")
BACKWARD_TESTS = ("test_conv_backward_im2col", "test_conv_backward_im2col_hidden")
POOL_BACKWARD_TESTS = ("test_max_pool_backward_fast", "test_max_pool_backward_fast_hidden")
COST_TESTS = ("test_conv_cost", "test_conv_cost_hidden")

MISTAKES = [
    # --- im2col / col2im ------------------------------------------------------------------------------
    Mistake("im2col_loops_over_positions", A, "im2col",
            "    for k in range(HH):\n"
            "        for l in range(WW):\n"
            "            # pixel (k, l) of every window, for all images and positions at once: (N, C, H', W')\n"
            "            pixels = x_pad[:, :, k:k + stride * H_out:stride, l:l + stride * W_out:stride]\n"
            "            cols[:, k, l] = pixels.transpose(1, 0, 2, 3)\n",
            "    for i in range(H_out):\n"
            "        for j in range(W_out):\n"
            "            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]\n"
            "            cols[:, :, :, :, i, j] = window.transpose(1, 2, 3, 0)\n",
            IM2COL_TESTS, "has a Python loop over the images or the output positions"),
    Mistake("im2col_maps_over_positions_in_c", A, "im2col",
            "    for k in range(HH):\n"
            "        for l in range(WW):\n"
            "            # pixel (k, l) of every window, for all images and positions at once: (N, C, H', W')\n"
            "            pixels = x_pad[:, :, k:k + stride * H_out:stride, l:l + stride * W_out:stride]\n"
            "            cols[:, k, l] = pixels.transpose(1, 0, 2, 3)\n",
            "    import itertools\n"
            "    rows = map(slice, range(0, stride * H_out, stride), range(HH, stride * H_out + HH, stride))\n"
            "    columns = map(slice, range(0, stride * W_out, stride), range(WW, stride * W_out + WW, stride))\n"
            "    windows = map(x_pad.__getitem__, itertools.product(range(N), [slice(None)], rows, columns))\n"
            "    cols[...] = np.array(list(windows)).reshape(N, H_out, W_out, C, HH, WW).transpose(3, 4, 5, 0, 1, 2)\n",
            IM2COL_TESTS + ("test_conv_forward_im2col",),   # its time counts in the layer's too (no lines to excuse)
            "has a Python loop over the images or the output positions"),   # (the rule's one sentence, timed)
    Mistake("im2col_stride_ignored", A, "im2col",
            "pixels = x_pad[:, :, k:k + stride * H_out:stride, l:l + stride * W_out:stride]",
            "pixels = x_pad[:, :, k:k + H_out, l:l + W_out]",
            IM2COL_TESTS + FORWARD_TESTS + ("test_conv_backward_im2col",), "ignores the stride"),
    Mistake("col2im_assign_not_accumulate", A, "col2im",
            "l:l + stride * W_out:stride] += cols", "l:l + stride * W_out:stride] = cols",
            COL2IM_TESTS + BACKWARD_TESTS, "assigns with = instead of accumulating with +="),
    Mistake("col2im_crop_breaks_at_pad_0", A, "col2im",
            "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad[:, :, pad:-pad, pad:-pad]",
            COL2IM_TESTS + BACKWARD_TESTS, "with pad = 0 the crop"),
    Mistake("im2col_output_size_size_over_stride", A, "im2col",
            "    H_out = (H + 2 * pad - HH) // stride + 1\n    W_out = (W + 2 * pad - WW) // stride + 1\n    x_pad",
            "    H_out = (H + 2 * pad) // stride\n    W_out = (W + 2 * pad) // stride\n    x_pad",
            IM2COL_TESTS + FORWARD_TESTS + ("test_conv_backward_im2col",), ""),
    # --- the convolution layer ------------------------------------------------------------------------
    Mistake("forward_flipped_kernel", A, "conv_forward_im2col",
            "w_row = w.reshape(F, C * HH * WW)", "w_row = w[:, :, ::-1, ::-1].reshape(F, C * HH * WW)",
            FORWARD_TESTS, "you computed convolution, not cross-correlation"),
    Mistake("forward_batch_and_filters_mixed", A, "conv_forward_im2col",
            "out = out_row.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3)",
            "out = out_row.reshape(N, F, H_out, W_out)",
            FORWARD_TESTS, "mixes the batch and filter axes"),
    Mistake("backward_db_wrong_axes", A, "conv_backward_im2col",
            "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(1, 2, 3))",
            BACKWARD_TESTS, "db is summed over the wrong axes"),
    Mistake("backward_dout_modified_in_place", A, "conv_backward_im2col",
            "dout_row = dout.transpose(1, 0, 2, 3).reshape(F, -1)",
            "dout *= 1.0 / dout.shape[0]\n    dout_row = dout.transpose(1, 0, 2, 3).reshape(F, -1) * dout.shape[0]",
            BACKWARD_TESTS, "modified its input (dout) in place"),
    # --- max pooling ----------------------------------------------------------------------------------
    Mistake("pool_forward_window_swapped", A, "max_pool_forward_fast",
            'ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]',
            'pw, ph, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]',
            ("test_max_pool_forward_fast",), "pool_height and pool_width swapped"),
    Mistake("pool_backward_assign_not_accumulate", A, "max_pool_backward_fast",
            "l:l + stride * W_out:stride] += routed", "l:l + stride * W_out:stride] = routed",
            POOL_BACKWARD_TESTS, "instead of accumulating with +="),
    Mistake("pool_gradient_to_every_tied_maximum", A, "max_pool_backward_fast",
            "routed = np.where(first == k * pw + l, dout, 0.0)",
            "routed = np.where(windows[..., k, l] == windows.max(axis=(4, 5)), dout, 0.0)",
            ("test_max_pool_fast_ties",), "every tied maximum"),
    # --- 1x1 convolution ------------------------------------------------------------------------------
    Mistake("conv1x1_batch_and_channels_mixed", A, "conv1x1",
            "x_cols = x.reshape(N, C, H * W)", "x_cols = x.reshape(C, N * H * W)",
            ("test_conv1x1",), "mixes the batch and channel axes"),
    # --- cost -----------------------------------------------------------------------------------------
    Mistake("cost_forgets_c_in", A, "conv_cost",
            '"multiply_adds": positions * C_out * C_in * k * k', '"multiply_adds": positions * C_out * k * k',
            COST_TESTS, "multiply_adds forgets C_in"),
    Mistake("cost_counts_biases", A, "conv_cost",
            '"params": C_out * C_in * k * k,', '"params": C_out * C_in * k * k + C_out,',
            COST_TESTS, "params counts the biases"),
    Mistake("cost_same_pad_taken_as_zero", A, "conv_cost",
            "pad = k // 2", "pad = 0",
            COST_TESTS, 'pad=None means "same" padding'),
    Mistake("cost_output_size_off_by_one", A, "conv_cost",
            "H_out = (H + 2 * pad - k) // stride + 1", "H_out = (H + 2 * pad - k) // stride",
            COST_TESTS, "off by one"),
]

# What the demo's "mistakes" student gets wrong: independent mistakes in different exercises.
DEMO_MISTAKES = ["forward_flipped_kernel", "pool_gradient_to_every_tied_maximum", "cost_counts_biases"]

# The demo's crashing student breaks this cell (a NameError before the function is defined).
CRASH_CELL = "conv1x1"

