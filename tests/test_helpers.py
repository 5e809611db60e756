"""The student helper package: gradient checking, data, plotting, timing."""
import numpy as np

from convbook import eval_numerical_gradient, eval_numerical_gradient_array
from convbook.data import load_sample_photo
from convbook.plotting import show_grid, show_images
from convbook.timing import median_time


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = eval_numerical_gradient(lambda v: float(np.sum(v ** 3)), x)
    assert np.allclose(grad, 3 * x ** 2, rtol=1e-7)
    assert np.array_equal(x, [[1.0, -2.0], [0.5, 3.0]]), "x must be restored"


def test_numerical_gradient_array_is_the_backward_of_f():
    rng = np.random.default_rng(0)
    A, x, df = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    assert np.allclose(eval_numerical_gradient_array(lambda v: A @ v, x, df), A.T @ df, rtol=1e-7)


def test_sample_photo_ships_with_matplotlib():
    photo = load_sample_photo()
    assert photo.shape == (600, 512, 3) and photo.dtype == np.float64
    assert 0 <= photo.min() and photo.max() <= 1 and photo.std() > 0.1


def test_plots_draw_without_a_screen():
    fig = show_images([np.zeros((4, 4)), np.ones((4, 4, 3))], ["a", "b"])
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "b"
    ax = show_grid(np.arange(6.0).reshape(2, 3), title="grid")
    assert len(ax.texts) == 6 and ax.texts[5].get_text() == "5"


def test_median_time_is_positive():
    assert median_time(np.sum, np.ones(10), repeat=3) > 0


def test_check_close_says_how_a_wrong_answer_differs():
    import pytest

    from convbook import check_close, check_output_shape, describe_difference

    rng = np.random.default_rng(0)
    expected = rng.standard_normal((3, 2, 4, 5))
    first_only = expected.copy()
    first_only[1:] = 0
    assert "Along axis 0 (images) only indices [0] are right." in describe_difference(first_only, expected)
    assert "0.5 times the expected one everywhere" in describe_difference(0.5 * expected, expected)
    square = rng.standard_normal((2, 3, 4, 4))
    assert "axes permuted as (0, 1, 3, 2)" in describe_difference(square.transpose(0, 1, 3, 2), square)
    assert "float32 round-off" in describe_difference(expected.astype(np.float32), expected)
    nearly = expected * (1 + 1e-7)   # float64, a hair off: not called float32 round-off
    assert "float32 round-off" not in describe_difference(nearly, expected)
    assert "differs slightly from the notebook's" in describe_difference(nearly, expected)
    one_image = rng.standard_normal((1, 1, 5, 5))   # permuting its size-1 axes, or a symmetric map, changes nothing
    symmetric = one_image[0, 0] + one_image[0, 0].T
    assert "permuted" not in describe_difference(one_image.astype(np.float32), one_image)
    assert "transposed" not in describe_difference(symmetric.astype(np.float32), symmetric)
    assert describe_difference(expected.copy(), expected) == ""
    with pytest.raises(AssertionError, match=r"wrong values: .*The largest error is at index \([12], "):
        check_close("case", first_only, expected)
    with pytest.raises(AssertionError, match="wrong shape: yours is"):
        check_close("case", expected[:, :, :3], expected)
    with pytest.raises(AssertionError, match=r"H' is 2 instead of 3.*floor"):
        check_output_shape("case", np.zeros((2, 3, 2, 2)), (2, 3, 3, 2))
    check_output_shape("case", np.zeros((2, 3, 3, 2)), (2, 3, 3, 2))
