"""The instructor's fast reference layers (convbook.layers) against numeric gradients and references."""
import tracemalloc

import numpy as np
import pytest

from autograder.checks.cases import conv_grid
from autograder.references.conv import conv_forward_reference
from convbook import eval_numerical_gradient_array, rel_error
from convbook.layers import (
    affine_backward,
    affine_forward,
    conv_backward,
    conv_forward,
    max_pool_backward,
    max_pool_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)

POOLS = [  # (x shape, pool_height, pool_width, stride): square, non-square, overlapping, gaps
    ((2, 3, 4, 6), 2, 2, 2),
    ((2, 2, 5, 7), 2, 3, 1),
    ((3, 2, 7, 5), 3, 2, 2),
    ((2, 1, 8, 9), 2, 2, 3),
]


def pool_param(ph, pw, s):
    return {"pool_height": ph, "pool_width": pw, "stride": s}


def brute_force_max_pool_backward(dout, x, pp):
    """Window by window: the gradient goes to the first maximum in row-major order, and adds up."""
    ph, pw, s = pp["pool_height"], pp["pool_width"], pp["stride"]
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dout.shape):
        window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
        k, l = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i * s + k, j * s + l] += dout[n, c, i, j]
    return dx


@pytest.mark.parametrize("seed", [0, 1])
def test_conv_forward_matches_the_scipy_reference(seed):
    for case in conv_grid(seed):
        out, cache = conv_forward(case.x, case.w, case.b, case.conv_param)
        assert out.shape == case.out_shape(), case.describe()
        assert rel_error(out, conv_forward_reference(case.x, case.w, case.b, case.conv_param)) < 1e-10
        assert cache[0] is case.x and cache[1] is case.w and cache[2] is case.b and cache[3] is case.conv_param


def test_conv_backward_matches_numeric_gradients():
    rng = np.random.default_rng(7)
    for case in conv_grid(0)[::2]:
        x, w, b, cp = case.x.copy(), case.w.copy(), case.b.copy(), case.conv_param
        dout = rng.standard_normal(case.out_shape())
        dx, dw, db = conv_backward(dout, conv_forward(x, w, b, cp)[1])
        assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
        dx_num = eval_numerical_gradient_array(lambda v: conv_forward(v, w, b, cp)[0], x, dout)
        dw_num = eval_numerical_gradient_array(lambda v: conv_forward(x, v, b, cp)[0], w, dout)
        db_num = eval_numerical_gradient_array(lambda v: conv_forward(x, w, v, cp)[0], b, dout)
        for name, got, num in (("dx", dx, dx_num), ("dw", dw, dw_num), ("db", db, db_num)):
            assert rel_error(got, num) < 1e-7, f"{name}: {case.describe()}"


def test_max_pool_forward_and_backward():
    rng = np.random.default_rng(3)
    for shape, ph, pw, s in POOLS:
        x, pp = rng.standard_normal(shape), pool_param(ph, pw, s)
        out, cache = max_pool_forward(x, pp)
        N, C, H, W = shape
        assert out.shape == (N, C, (H - ph) // s + 1, (W - pw) // s + 1)
        windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
        assert np.array_equal(out, windows.max(axis=(4, 5)))
        dout = rng.standard_normal(out.shape)
        dx = max_pool_backward(dout, cache)
        assert rel_error(dx, eval_numerical_gradient_array(lambda v: max_pool_forward(v, pp)[0], x, dout)) < 1e-8
        assert np.allclose(dx, brute_force_max_pool_backward(dout, x, pp))


def test_max_pool_ties_go_to_the_first_maximum_and_overlaps_add_up():
    x = np.array([[[[1.0, 5.0, 5.0],
                    [5.0, 5.0, 0.0],
                    [0.0, 2.0, 2.0]]]])
    dout = np.array([[[[1.0, 10.0],
                       [100.0, 1000.0]]]])
    dx = max_pool_backward(dout, max_pool_forward(x, pool_param(2, 2, 1))[1])
    # windows at (0, 0) and (0, 1) both pick x[0, 1]; (1, 0) picks x[1, 0]; (1, 1) picks x[1, 1]
    assert np.array_equal(dx[0, 0], [[0, 11, 0], [100, 1000, 0], [0, 0, 0]])
    rng = np.random.default_rng(5)
    for shape, ph, pw, s in POOLS:
        x = rng.integers(0, 3, size=shape).astype(np.float64)  # many ties
        pp = pool_param(ph, pw, s)
        out, cache = max_pool_forward(x, pp)
        dout = rng.standard_normal(out.shape)
        assert np.allclose(max_pool_backward(dout, cache), brute_force_max_pool_backward(dout, x, pp), rtol=0, atol=1e-12)


def test_relu_and_affine_match_numeric_gradients():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5))
    dout = rng.standard_normal(x.shape)
    out, cache = relu_forward(x)
    assert np.array_equal(out, np.where(x > 0, x, 0))
    assert rel_error(relu_backward(dout, cache), eval_numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)) < 1e-9

    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    out, cache = affine_forward(x, w, b)
    assert np.allclose(out, x.reshape(4, 6) @ w + b)
    dx, dw, db = affine_backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)) < 1e-7


def test_softmax_loss():
    rng = np.random.default_rng(6)
    scores, y = rng.standard_normal((5, 4)), rng.integers(0, 4, size=5)
    loss, dscores = softmax_loss(scores, y)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert np.isclose(loss, -np.log(probs[np.arange(5), y]).mean())
    num = eval_numerical_gradient_array(lambda s: np.array(softmax_loss(s, y)[0]), scores, np.array(1.0))
    assert rel_error(dscores, num) < 1e-8
    # small random scores over K classes give a loss near log(K)
    assert abs(softmax_loss(1e-3 * scores, y)[0] - np.log(4)) < 1e-2
    # huge scores must not overflow
    loss, dscores = softmax_loss(1e4 * scores, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dscores))


def layer_calls(dtype):
    """{layer: (function, args)} for every forward and backward pass, inputs of `dtype` (big enough that
    the arrays, not Python's own objects, make up the memory a call allocates)."""
    rng = np.random.default_rng(8)

    def arr(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, w, b, cp = arr(8, 4, 32, 32), arr(8, 4, 5, 5), arr(8), {"stride": 2, "pad": 2}
    pp = pool_param(2, 2, 2)
    xa, wa, ba = arr(64, 4, 8, 8), arr(256, 256), arr(256)
    scores, y = arr(4096, 64), rng.integers(0, 64, size=4096)
    conv_out, conv_cache = conv_forward(x, w, b, cp)
    pool_out, pool_cache = max_pool_forward(x, pp)
    affine_out, affine_cache = affine_forward(xa, wa, ba)
    return {
        "conv_forward": (conv_forward, (x, w, b, cp)),
        "conv_backward": (conv_backward, (arr(*conv_out.shape), conv_cache)),
        "max_pool_forward": (max_pool_forward, (x, pp)),
        "max_pool_backward": (max_pool_backward, (arr(*pool_out.shape), pool_cache)),
        "relu_forward": (relu_forward, (x,)),
        "relu_backward": (relu_backward, (arr(*x.shape), x)),
        "affine_forward": (affine_forward, (xa, wa, ba)),
        "affine_backward": (affine_backward, (arr(*affine_out.shape), affine_cache)),
        "softmax_loss": (softmax_loss, (scores, y)),
    }


def arrays_in(value):
    """Every ndarray in a layer's return value (tuples, caches, dicts)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in arrays_in(v)]
    return []


def peak_bytes(fn, args):
    """Peak memory numpy allocated during fn(*args), beyond what was allocated before (tracemalloc)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn(*args)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


LAYERS = list(layer_calls(np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_keeps_the_dtype(layer, dtype):
    fn, args = layer_calls(dtype)[layer]
    returned = fn(*args)
    arrays = [a for a in arrays_in(returned) if a.dtype.kind == "f"]
    assert arrays, layer
    assert all(a.dtype == dtype for a in arrays), (layer, [a.dtype for a in arrays])
    if layer == "softmax_loss":
        assert isinstance(returned[0], float)


@pytest.mark.parametrize("layer", LAYERS)
def test_float32_intermediates(layer):
    """No float64 intermediate inside a float32 pass: the memory a float32 call allocates at its peak is
    about half of what the float64 call allocates (a float64 copy of any big array would push it to 3/4)."""
    fn32, args32 = layer_calls(np.float32)[layer]
    fn64, args64 = layer_calls(np.float64)[layer]
    peak32, peak64 = peak_bytes(fn32, args32), peak_bytes(fn64, args64)
    assert peak64 > 50_000, (layer, peak64)
    assert peak32 <= 0.6 * peak64, f"{layer}: float32 peak {peak32} B, float64 peak {peak64} B"


def test_float32_matches_the_reference():
    rng = np.random.default_rng(8)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 7, 6), (4, 3, 3, 2), (4,)))
    cp = {"stride": 2, "pad": 1}
    assert rel_error(conv_forward(x, w, b, cp)[0], conv_forward_reference(x, w, b, cp)) < 1e-4


def test_conv_matches_torch_forward_and_autograd():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    for case in conv_grid(1):
        s, p = case.stride, case.pad
        out, cache = conv_forward(case.x, case.w, case.b, case.conv_param)
        dout = rng.standard_normal(out.shape)
        xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (case.x, case.w, case.b))
        out_t = F.conv2d(xt, wt, bt, stride=s, padding=p)
        out_t.backward(torch.from_numpy(dout))
        assert rel_error(out, out_t.detach().numpy()) < 1e-10, case.describe()
        for got, want in zip(conv_backward(dout, cache), (xt.grad, wt.grad, bt.grad)):
            assert rel_error(got, want.numpy()) < 1e-10, case.describe()
