"""Typical mistakes in the assignment `conv_variants`."""
from autograder.mistakes import Mistake

A = "conv_variants"

MISTAKES = [
    Mistake("own_backward_dx_assigned", A, "own_conv_layers",
            "dx_pad[n, :, top:top + HH, left:left + WW] += dout", "dx_pad[n, :, top:top + HH, left:left + WW] = dout",
            ("test_own_conv_layers",), "conv_backward_naive's dx"),
    Mistake("transpose_not_cropped", A, "conv_transpose",
            "out = canvas[:, :, pad:pad + H_out, pad:pad + W_out]", "out = canvas",
            ("test_conv_transpose",), "keeps the padding"),
    Mistake("transpose_assign_not_add", A, "conv_transpose",
            "j * stride:j * stride + WW] += block", "j * stride:j * stride + WW] = block",
            ("test_conv_transpose",), "instead of adding with +="),
    Mistake("transpose_kernel_flipped", A, "conv_transpose",
            "np.tensordot(x[:, :, i, j], w, axes=(1, 0))", "np.tensordot(x[:, :, i, j], w[:, :, ::-1, ::-1], axes=(1, 0))",
            ("test_conv_transpose",), "rotated by 180 degrees"),
    Mistake("input_sizes_only_smallest", A, "input_sizes",
            "return [size for size in range(smallest, smallest + stride) if size >= 1]", "return [smallest]",
            ("test_input_sizes",), "only the smallest input size"),
    Mistake("dilated_taps_adjacent", A, "conv_dilated",
            "x_pad[:, :, top:top + span_h:dilation, left:left + span_w:dilation]", "x_pad[:, :, top:top + HH, left:left + WW]",
            ("test_conv_dilated",), "taps are next to each other"),
    Mistake("grouped_channels_interleaved", A, "grouped_conv",
            "x_g = x[:, g * C_g:(g + 1) * C_g]", "x_g = x[:, g::groups]",
            ("test_grouped_conv",), "a group is a block of consecutive channels"),
    Mistake("grouped_no_value_error", A, "grouped_conv",
            '    if C % groups or F % groups:\n'
            '        raise ValueError(f"groups = {groups} must divide the {C} input and {F} output channels")\n', "",
            ("test_grouped_conv",), "raise a ValueError"),
    Mistake("separable_pointwise_counted_kxk", A, "separable_cost",
            "H * W * C_in * k * k + H * W * C_in * C_out,", "H * W * C_in * k * k + H * W * C_in * C_out * k * k,",
            ("test_separable_cost",), "pointwise step as a k x k convolution"),
    Mistake("receptive_field_stride_ignored", A, "receptive_field",
            "jump *= stride", "jump = 1",
            ("test_receptive_field",), "ignores the strides"),
    Mistake("receptive_field_dilation_ignored", A, "receptive_field",
            "size += dilation * (kernel - 1) * jump", "size += (kernel - 1) * jump",
            ("test_receptive_field",), "ignores the dilation"),
    Mistake("footprint_of_the_first_unit", A, "gradient_footprint",
            "grad[0, 0, H_L // 2, W_L // 2] = 1.0", "grad[0, 0, 0, 0] = 1.0",
            ("test_gradient_footprint",), "the unit is (H_L // 2, W_L // 2)"),
    Mistake("fit_kernel_loss_summed", A, "fit_kernel",
            "losses.append(float(np.mean(error ** 2)))", "losses.append(float(np.sum(error ** 2)))",
            ("test_fit_kernel",), "losses are sums of squared errors"),
    Mistake("fit_kernel_gradient_not_averaged", A, "fit_kernel",
            "2.0 * error / error.size", "2.0 * error",
            ("test_fit_kernel",), "not of the mean"),
]

DEMO_MISTAKES = ["transpose_not_cropped", "receptive_field_stride_ignored", "fit_kernel_loss_summed"]

CRASH_CELL = "conv_dilated"
