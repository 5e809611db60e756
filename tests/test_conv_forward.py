"""References, checks and helpers behind the assignment `conv_forward`."""
import numpy as np
import pytest

from autograder.checks import conv_forward as checks
from autograder.checks.cases import conv_grid
from autograder.checks.core import Verdict, call_student, compare_array, explain_pattern
from autograder.references.conv import conv_forward_reference, full_convolution_reference, output_size
from autograder.solutions import load_solution
from convbook import check_close, rel_error
from convbook.layers import conv_forward


def brute_force_conv(x, w, b, stride, pad):
    """The definition, term by term: out[n,f,i,j] = b[f] + sum_c,m,l x_pad[n,c,iS+m,jS+l] w[f,c,m,l]."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, C, H, W = xp.shape
    F, _, HH, WW = w.shape
    Ho, Wo = (H - HH) // stride + 1, (W - WW) // stride + 1
    out = np.zeros((N, F, Ho, Wo))
    for n, f, i, j, c, m, l in np.ndindex(N, F, Ho, Wo, C, HH, WW):
        out[n, f, i, j] += xp[n, c, i * stride + m, j * stride + l] * w[f, c, m, l]
    return out + b[None, :, None, None]


@pytest.mark.parametrize("seed", [0, 1])
def test_scipy_reference_matches_the_definition(seed):
    for case in conv_grid(seed):
        expected = brute_force_conv(case.x, case.w, case.b, case.stride, case.pad)
        assert np.allclose(conv_forward_reference(case.x, case.w, case.b, case.conv_param), expected)


def test_hidden_grid_covers_the_required_shapes():
    cases = conv_grid(123)
    grid = cases[3:]
    assert {c.pad for c in grid} == {0, 1, 2} and {c.stride for c in grid} == {1, 2, 3}
    for c in grid:
        N, C, H, W = c.x.shape
        F, _, HH, WW = c.w.shape
        assert N > 1 and C != F and H != W and HH != WW
    assert [c.x.shape for c in conv_grid(5)] == [c.x.shape for c in conv_grid(5)], "seeded"


def test_fixed_case_values_by_hand_and_flipped():
    case = checks.FIXED_CASE
    assert np.array_equal(conv_forward_reference(case.x, case.w, case.b, case.conv_param), checks.FIXED_EXPECTED)
    flipped = conv_forward_reference(case.x, case.w[:, :, ::-1, ::-1], case.b, case.conv_param)
    assert np.array_equal(flipped, checks.FIXED_IF_FLIPPED)
    assert not np.allclose(checks.FIXED_EXPECTED, checks.FIXED_IF_FLIPPED)


def test_output_size_examples_from_the_notebook():
    assert output_size(5, 3, 2, 1) == 3 and output_size(32, 5, 1, 2) == 32 and output_size(7, 3, 3, 0) == 2


def test_full_convolution_is_commutative():
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((4, 6)), rng.standard_normal((2, 3))
    assert np.allclose(full_convolution_reference(x, k), full_convolution_reference(k, x))


def test_solutions_pass_the_hidden_checks():
    sol = load_solution("conv_forward")
    checks.check_output_size(sol.output_size)
    checks.check_zero_pad(sol.zero_pad)
    checks.check_conv_single_step(sol.conv_single_step)
    checks.check_conv_forward_naive(sol.conv_forward_naive)
    checks.check_image_filters(sol.grayscale_kernel, sol.edge_kernels)
    checks.check_conv2d_full(sol.conv2d_full)


def test_image_filters_are_graded_by_value_not_by_dtype():
    """Kernels written as integers (the notebook prints them so) are right; a Sobel filter scaled by 1/8 is
    not (the visible check tests the scale too: the response to a ramp)."""
    g_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    sol = load_solution("conv_forward")
    assert checks.verdict_image_filters(sol.grayscale_kernel,
                                        lambda: (np.stack([g_x, g_x.T])[:, None], np.array([0, 0]))).passed
    scaled = checks.verdict_image_filters(sol.grayscale_kernel, lambda: (np.stack([g_x, g_x.T])[:, None] / 8, np.zeros(2)))
    assert not scaled.passed and "0.125 times the expected one" in scaled.message


def test_helper_layer_matches_the_reference():
    for case in conv_grid(7):
        out, cache = conv_forward(case.x, case.w, case.b, case.conv_param)
        assert np.allclose(out, conv_forward_reference(case.x, case.w, case.b, case.conv_param))
        assert cache[0] is case.x


def test_input_mutation_is_detected_and_reported():
    def mutating(x, w, b, conv_param):
        x += 1
        return conv_forward_reference(x, w, b, conv_param), None

    verdict = checks.verdict_conv_forward(mutating, conv_grid(0)[:2])
    assert not verdict.passed and "modified its input (x) in place" in verdict.message


def test_a_raising_function_is_reported_with_the_failure_pattern():
    def square_only(x, w, b, conv_param):
        if w.shape[2] != w.shape[3]:
            raise IndexError("index 3 is out of bounds")
        return conv_forward_reference(x, w, b, conv_param), None

    verdict = checks.verdict_conv_forward(square_only, conv_grid(0))
    assert not verdict.passed
    assert "raised IndexError" in verdict.message and "'kernel is square' false" in verdict.message


def test_transposed_output_is_diagnosed():
    def transposed(x, w, b, conv_param):
        return conv_forward_reference(x, w, b, conv_param).transpose(0, 1, 3, 2).copy(), None

    verdict = checks.verdict_conv_forward(transposed, conv_grid(0)[3:])
    assert "height and width swapped" in verdict.message


def test_missing_bias_and_first_channel_only_are_diagnosed():
    def no_bias(x, w, b, p):
        return conv_forward_reference(x, w, 0 * b, p), None

    def first_channel(x, w, b, p):
        return conv_forward_reference(x[:, :1], w[:, :1], b, p), None

    assert "missing the bias" in checks.verdict_conv_forward(no_bias, conv_grid(0)).message
    assert "first input channel" in checks.verdict_conv_forward(first_channel, conv_grid(0)).message


def test_call_student_keeps_stderr_and_warnings_off_stderr(capsys):
    import sys
    import warnings

    def noisy(a):
        warnings.warn("careful", stacklevel=2)
        print("to stderr", file=sys.stderr)
        return a * 2

    result, changed = call_student(noisy, np.ones(2))
    captured = capsys.readouterr()
    assert np.array_equal(result, [2, 2]) and changed == []
    assert captured.err == "" and "careful" in captured.out and "to stderr" in captured.out


def test_compare_array_reasons():
    expected = np.zeros((2, 3))
    assert "None" in compare_array("out", None, expected).message
    assert "shape (3, 2)" in compare_array("out", np.zeros((3, 2)), expected).message
    assert compare_array("out", np.zeros((2, 3), dtype=np.int64), expected).passed   # right numbers, as ints
    assert "dtype complex128" in compare_array("out", np.zeros((2, 3), dtype=complex), expected).message
    one_wrong = np.array([[0, 0, 0], [0, 0, 5.0]])
    assert "largest error is at index (1, 2)" in compare_array("out", one_wrong, expected).message
    assert compare_array("out", expected.copy(), expected) == Verdict(True, "")


def test_explain_pattern_names_the_separating_feature():
    results = [({"a": True, "b": True}, True), ({"a": False, "b": True}, False), ({"a": False, "b": False}, False)]
    assert "'a' false" in explain_pattern(results)
    assert explain_pattern([({"a": True}, True)]) == ""


def test_rel_error_and_check_close(capsys):
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    check_close("same", np.ones(3), np.ones(3))
    assert "relative error 0.00e+00 (good" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="above"):
        check_close("different", np.ones(3), np.zeros(3))
    with pytest.raises(AssertionError, match="returned None"):
        check_close("none", None, np.zeros(3))
