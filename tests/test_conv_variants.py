"""References, checks and the numbers behind the assignment `conv_variants` (fast, in-process)."""
import numpy as np
import pytest

from autograder import notebook_cells
from autograder.checks import conv_variants as checks
from autograder.paths import source_notebook
from autograder.references.conv import conv_backward_reference, conv_forward_reference
from autograder.references.conv_variants import (
    conv_dilated_reference,
    conv_grouped_reference,
    conv_transpose_reference,
    footprint_reference,
    input_sizes_reference,
    receptive_field_reference,
    separable_cost_reference,
    transpose_output_size,
)
from autograder.solutions import load_solution
from convbook import layers


@pytest.fixture(scope="module")
def sol():
    return load_solution("conv_variants")


@pytest.mark.parametrize("seed", [0, 1])
def test_transpose_reference_is_the_adjoint_and_the_backward_dx(seed):
    rng = np.random.default_rng(seed)
    for case in checks.transpose_cases(seed):
        y, w, p = case["x"], case["w"], case["conv_param"]
        C_out, HH, WW = w.shape[1:]
        H = transpose_output_size(y.shape[2], HH, p["stride"], p["pad"])
        W = transpose_output_size(y.shape[3], WW, p["stride"], p["pad"])
        x = rng.standard_normal((y.shape[0], C_out, H, W))
        up = conv_transpose_reference(y, w, np.zeros(C_out), p)
        assert up.shape == x.shape
        conv = conv_forward_reference(x, w, np.zeros(w.shape[0]), p)
        assert conv.shape == y.shape
        assert np.isclose(np.sum(conv * y), np.sum(x * up))
        assert np.allclose(up, conv_backward_reference(y, x, w, np.zeros(w.shape[0]), p)[0])


def test_several_input_sizes_one_transpose_as_the_notebook_says():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 2, 3, 3))
    x8 = rng.standard_normal((1, 2, 8, 8))
    # no padding: 7 and 8 rows both give 3 outputs; the eighth row is in no window and gets zeros
    y = rng.standard_normal((1, 3, 3, 3))
    dx8 = conv_backward_reference(y, x8, w, np.zeros(3), {"stride": 2, "pad": 0})[0]
    up = conv_transpose_reference(y, w, np.zeros(2), {"stride": 2, "pad": 0})
    assert up.shape[2:] == (7, 7) and input_sizes_reference(3, 3, 2, 0) == [7, 8]
    assert np.allclose(dx8[:, :, :7, :7], up) and np.all(dx8[:, :, 7] == 0) and np.all(dx8[:, :, :, 7] == 0)
    # pad 1: 7 and 8 rows both give 4 outputs; the extra row is the canvas row the symmetric crop drops
    y = rng.standard_normal((1, 3, 4, 4))
    dx8 = conv_backward_reference(y, x8, w, np.zeros(3), {"stride": 2, "pad": 1})[0]
    up = conv_transpose_reference(y, w, np.zeros(2), {"stride": 2, "pad": 1})
    canvas = conv_transpose_reference(y, w, np.zeros(2), {"stride": 2, "pad": 0})
    assert up.shape[2:] == (7, 7) and input_sizes_reference(4, 3, 2, 1) == [7, 8]
    assert np.allclose(dx8[:, :, :7, :7], up) and np.allclose(dx8[:, :, 7, :], canvas[:, :, 8, 1:9])


def test_checkerboard_numbers_claimed_in_the_notebook():
    flat = np.ones((1, 1, 6, 6))
    board = conv_transpose_reference(flat, np.ones((1, 1, 3, 3)), np.zeros(1), {"stride": 2, "pad": 0})
    assert set(np.unique(board)) == {1.0, 2.0, 4.0}
    assert board[0, 0, 2, 2] == 4 and board[0, 0, 1, 1] == 1 and board[0, 0, 1, 2] == 2
    even = conv_transpose_reference(flat, np.ones((1, 1, 4, 4)), np.zeros(1), {"stride": 2, "pad": 0})
    assert np.all(even[0, 0, 2:-2, 2:-2] == 4)


def test_dilated_reference_matches_the_definition():
    for case in checks.dilated_cases(5):
        x, w, b, p = case["x"], case["w"], case["b"], case["conv_param"]
        s, pad, d = p["stride"], p["pad"], p["dilation"]
        F, C, HH, WW = w.shape
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = conv_dilated_reference(x, w, b, p)
        for n, f, i, j in np.ndindex(out.shape):
            value = b[f] + sum(w[f, c, m, l] * xp[n, c, i * s + m * d, j * s + l * d]
                               for c in range(C) for m in range(HH) for l in range(WW))
            assert np.isclose(out[n, f, i, j], value)


def test_grouped_reference_is_one_convolution_per_group():
    for case in checks.grouped_cases(7):
        x, w, b, p, g = case["x"], case["w"], case["b"], case["conv_param"], case["groups"]
        C, F = x.shape[1], w.shape[0]
        parts = [layers.conv_forward(x[:, k * C // g:(k + 1) * C // g], w[k * F // g:(k + 1) * F // g],
                                     b[k * F // g:(k + 1) * F // g], p)[0] for k in range(g)]
        assert np.allclose(conv_grouped_reference(x, w, b, p, g), np.concatenate(parts, axis=1))


def test_input_sizes_are_the_stride_consecutive_sizes_from_the_formula():
    for out_size in range(1, 6):
        for kernel in range(1, 5):
            for stride in range(1, 4):
                for pad in range(0, 3):
                    smallest = (out_size - 1) * stride - 2 * pad + kernel
                    expected = [h for h in range(smallest, smallest + stride) if h >= 1]
                    assert input_sizes_reference(out_size, kernel, stride, pad) == expected


def test_separable_cost_ratio_and_the_mobilenet_layer():
    cost = separable_cost_reference(14, 14, 512, 512, 3)
    assert cost == {"standard_macs": 462_422_016, "standard_weights": 2_359_296,
                    "separable_macs": 52_283_392, "separable_weights": 266_752}
    for H, W, C_in, C_out, k in [(14, 14, 512, 512, 3), (5, 7, 3, 8, 5), (28, 9, 32, 64, 7)]:
        c = separable_cost_reference(H, W, C_in, C_out, k)
        assert np.isclose(c["separable_macs"] / c["standard_macs"], 1 / C_out + 1 / k ** 2)
        assert np.isclose(c["separable_weights"] / c["standard_weights"], 1 / C_out + 1 / k ** 2)


def test_receptive_fields_of_the_architectures_in_the_notebook():
    vgg16 = []
    for n in (2, 2, 3, 3, 3):
        vgg16 += [(3, 1, 1)] * n + [(2, 2, 1)]
    assert receptive_field_reference(vgg16) == 212
    context = [(3, 1, d) for d in (1, 1, 2, 4, 8, 16, 1)]
    assert [receptive_field_reference(context[:k]) for k in range(1, 8)] == [3, 5, 9, 17, 33, 65, 67]
    assert receptive_field_reference([(3, 1, 1)] * 3) == receptive_field_reference([(7, 1, 1)]) == 7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_footprint_extent_is_the_receptive_field(seed):
    for stack in checks.receptive_stacks(seed)[1:]:
        size = receptive_field_reference(stack) + 3
        mask = footprint_reference(stack, size)
        rows, cols = np.nonzero(mask)
        assert rows.max() - rows.min() + 1 == receptive_field_reference(stack)
        assert cols.max() - cols.min() + 1 == receptive_field_reference(stack)


def test_learning_contracts_the_kernel_error_by_about_one_minus_two_lr():
    """The notebook's claim: with whitened images each step multiplies the error of w by about 1 - 2 lr."""
    rng = np.random.default_rng(35)
    K = np.array([[[[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]]])
    X = rng.standard_normal((8, 1, 10, 10))
    Y = conv_forward_reference(X, K, np.zeros(1), {"stride": 1, "pad": 0})
    errors = [np.abs(checks.fit_kernel_reference(X, Y, 0.2, steps)[0] - K).max() for steps in (5, 15)]
    factor = (errors[1] / errors[0]) ** (1 / 10)
    assert 0.5 < factor < 0.7, factor
    assert np.abs(checks.fit_kernel_reference(X, Y, 0.2, 30)[0] - K).max() < 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_solution_passes_every_hidden_check(sol, seed):
    verdicts = [
        checks.verdict_own_conv_layers(sol.conv_forward_naive, sol.conv_backward_naive, seed),
        checks.verdict_conv_transpose(sol.conv_transpose_forward, checks.transpose_cases(seed)),
        checks.verdict_input_sizes(sol.input_sizes, seed),
        checks.verdict_conv_dilated(sol.conv_dilated_forward, checks.dilated_cases(seed)),
        checks.verdict_grouped_conv(sol.conv_grouped_forward, sol.depthwise_separable_forward, seed),
        checks.verdict_separable_cost(sol.separable_cost, seed),
        checks.verdict_receptive_field(sol.receptive_field, seed),
        checks.verdict_gradient_footprint(sol.gradient_footprint, seed),
        checks.verdict_fit_kernel(sol.fit_kernel, seed),
    ]
    assert all(v.passed for v in verdicts), [v.message for v in verdicts if not v.passed]


def test_hidden_cases_cover_the_geometries_the_visible_checks_show():
    features = [case["features"] for case in checks.dilated_cases(0)]
    assert any(not f["windows tile the input"] for f in features) and any(f["windows tile the input"] for f in features)
    assert any(not f["stride is 1"] for f in features) and any(not f["kernel is square"] for f in features)
    transposed = [case["features"] for case in checks.transpose_cases(0)]
    assert any(not f["padding is 0"] for f in transposed) and any(not f["kernel is square"] for f in transposed)
    assert any(c["x"].shape[2] != c["x"].shape[3] for c in checks.transpose_cases(0))


def test_a_function_that_raises_gets_a_message_not_a_crash():
    def broken(*args):
        raise NotImplementedError()
    verdict = checks.verdict_conv_transpose(broken, checks.transpose_cases(0))
    assert not verdict.passed and "NotImplementedError" in verdict.message
    assert not checks.verdict_receptive_field(broken, 0).passed
    assert not checks.verdict_fit_kernel(broken, 0).passed


def test_every_forbidden_rule_names_a_function_of_the_notebook():
    source = "\n".join(c.source for c in notebook_cells.read(source_notebook("conv_variants")).cells)
    for name in checks.FORBIDDEN:
        assert f"def {name}(" in source
