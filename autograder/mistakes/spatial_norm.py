"""Typical mistakes in the assignment `spatial_norm`."""
from autograder.mistakes import Mistake

A = "spatial_norm"

MISTAKES = [
    Mistake("bn_statistics_per_pixel", A, "bn_forward",
            "axes = (0, 2, 3)", "axes = (0,)",
            ("test_bn_forward_train",), "one mean per pixel"),
    Mistake("bn_unbiased_variance", A, "bn_forward",
            "var = x.var(axis=axes, keepdims=True)", "var = x.var(axis=axes, keepdims=True, ddof=1)",
            ("test_bn_forward_train",), "divides by M - 1"),
    Mistake("bn_momentum_swapped", A, "bn_forward",
            "momentum * running_mean + (1 - momentum) * mean[0, :, 0, 0]",
            "(1 - momentum) * running_mean + momentum * mean[0, :, 0, 0]",
            ("test_bn_forward_train",), "gives the weight momentum to the new statistics"),
    Mistake("bn_running_averages_updated_in_test_mode", A, "bn_forward",
            "mean, var = running_mean.reshape(1, C, 1, 1), running_var.reshape(1, C, 1, 1)",
            "mean, var = running_mean.reshape(1, C, 1, 1), running_var.reshape(1, C, 1, 1)\n"
            "        bn_param[\"running_mean\"] = momentum * running_mean + (1 - momentum) * x.mean(axis=(0, 2, 3))",
            ("test_bn_forward_test",), "must be left unchanged"),
    Mistake("bn_batch_statistics_in_test_mode", A, "bn_forward",
            "mean, var = running_mean.reshape(1, C, 1, 1), running_var.reshape(1, C, 1, 1)",
            "mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)",
            ("test_bn_forward_test",), "batch's own statistics"),
    Mistake("bn_backward_forgets_mean_and_variance", A, "bn_backward",
            "dx = inv_std / M * (M * g - g.sum(axis=axes, keepdims=True) - x_hat * (g * x_hat).sum(axis=axes, keepdims=True))",
            "dx = g * inv_std",
            ("test_bn_backward",), "forgets the mean and variance terms"),
    Mistake("bn_backward_forgets_variance", A, "bn_backward",
            "dx = inv_std / M * (M * g - g.sum(axis=axes, keepdims=True) - x_hat * (g * x_hat).sum(axis=axes, keepdims=True))",
            "dx = inv_std / M * (M * g - g.sum(axis=axes, keepdims=True))",
            ("test_bn_backward",), "forgets the variance term"),
    Mistake("bn_dgamma_with_x", A, "bn_backward",
            "dgamma = (dout * x_hat).sum(axis=axes)", "dgamma = (dout * x).sum(axis=axes)",
            ("test_bn_backward",), "dgamma sums dout * x_hat"),
    Mistake("gn_per_channel", A, "gn_forward",
            "groups = x.reshape(N, G, -1)", "groups = x.reshape(N, C, -1)",
            ("test_gn_forward",), "each channel on its own"),
    Mistake("gn_statistics_across_the_batch", A, "gn_forward",
            "mean = groups.mean(axis=2, keepdims=True)\n    var = groups.var(axis=2, keepdims=True)",
            "mean = groups.mean(axis=(0, 2), keepdims=True)\n    var = groups.var(axis=(0, 2), keepdims=True)",
            ("test_gn_forward",), "mixes images"),
    Mistake("gn_no_value_error", A, "gn_forward",
            '    if C % G:\n        raise ValueError(f"G = {G} does not divide the {C} channels")\n', "",
            ("test_gn_forward",), "raise a ValueError"),
    Mistake("gn_backward_forgets_mean_and_variance", A, "gn_backward",
            "dx = inv_std / M * (M * g - g.sum(axis=2, keepdims=True) - x_hat * (g * x_hat).sum(axis=2, keepdims=True))",
            "dx = g * inv_std",
            ("test_gn_backward",), "forgets the mean and variance terms"),
]

DEMO_MISTAKES = ["bn_unbiased_variance", "bn_backward_forgets_mean_and_variance", "gn_per_channel"]

CRASH_CELL = "gn_forward"
