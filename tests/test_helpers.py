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
