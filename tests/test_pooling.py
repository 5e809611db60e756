"""References, checks and the tie rule behind the assignment `pooling` (fast, in-process)."""
import inspect

import numpy as np
import pytest

from autograder import notebook_cells
from autograder.checks import pooling as checks
from autograder.checks.pool_cases import pool_grid, tie_cases
from autograder.paths import source_notebook
from autograder.references.pooling import (
    avg_pool_backward_reference,
    avg_pool_forward_reference,
    global_avg_pool_backward_reference,
    global_avg_pool_forward_reference,
    max_backward_variant,
    max_pool_backward_reference,
    max_pool_backward_upsampled,
    max_pool_forward_reference,
)
from autograder.solutions import load_solution
from convbook import eval_numerical_gradient_array


@pytest.fixture(scope="module")
def sol():
    return load_solution("pooling")


def brute_force_max_pool(x, pool_param):
    """The definition, window by window, with Python's max over the window's values."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = (H - ph) // s + 1, (W - pw) // s + 1
    out = np.zeros((N, C, Ho, Wo))
    for n, c, i, j in np.ndindex(N, C, Ho, Wo):
        out[n, c, i, j] = max(x[n, c, i * s + m, j * s + l] for m in range(ph) for l in range(pw))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_forward_references_match_the_definition(seed):
    for case in pool_grid(seed):
        ph, pw, s = case.params
        assert np.array_equal(max_pool_forward_reference(case.x, case.pool_param),
                              brute_force_max_pool(case.x, case.pool_param))
        # the mean of a window is the max of nothing: compare with the windows' sums directly
        windows = np.lib.stride_tricks.sliding_window_view(case.x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
        assert np.allclose(avg_pool_forward_reference(case.x, case.pool_param), windows.sum(axis=(4, 5)) / (ph * pw))


@pytest.mark.parametrize("seed", [0, 1])
def test_backward_references_agree_with_numeric_gradients(seed):
    for case in pool_grid(seed):
        pp = case.pool_param
        num = eval_numerical_gradient_array(lambda x: max_pool_forward_reference(x, pp), case.x.copy(), case.dout)
        assert np.allclose(max_pool_backward_reference(case.dout, case.x, pp), num, atol=1e-8), case.describe()
        num = eval_numerical_gradient_array(lambda x: avg_pool_forward_reference(x, pp), case.x.copy(), case.dout)
        assert np.allclose(avg_pool_backward_reference(case.dout, case.x, pp), num, atol=1e-8), case.describe()
    x = np.random.default_rng(seed).standard_normal((2, 3, 4, 5))
    dout = np.random.default_rng(seed + 9).standard_normal((2, 3))
    num = eval_numerical_gradient_array(global_avg_pool_forward_reference, x.copy(), dout)
    assert np.allclose(global_avg_pool_backward_reference(dout, x), num, atol=1e-8)


def test_tie_rule_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    dx = max_pool_backward_reference(np.array([[[[5.0]]]]), x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert np.array_equal(dx[0, 0], [[0.0, 5.0], [0.0, 0.0]])
    flat = np.full((1, 1, 2, 3), 4.0)                                   # every pixel tied
    dx = max_pool_backward_reference(np.array([[[[2.0]]]]), flat, {"pool_height": 2, "pool_width": 3, "stride": 1})
    assert np.array_equal(dx[0, 0], [[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_tie_cases_have_ties_and_tile(sol):
    for case in tie_cases(3):
        ph, pw, s = case.params
        assert ph == pw == s
        windows = np.lib.stride_tricks.sliding_window_view(case.x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
        assert np.any((windows == windows.max(axis=(4, 5), keepdims=True)).sum(axis=(4, 5)) > 1)
    # the first case separates row-major from column-major order
    first = tie_cases(3)[0]
    right = max_pool_backward_reference(first.dout, first.x, first.pool_param)
    column_major = max_backward_variant(first.x, first.dout, 2, 2, 2, 2, ties="column-major")
    assert not np.allclose(right, column_major)


def test_overlapping_windows_accumulate():
    x = np.array([[[[0.0, 1.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]])   # 9 wins all four windows
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = max_pool_backward_reference(dout, x, {"pool_height": 2, "pool_width": 2, "stride": 1})
    assert dx[0, 0, 1, 1] == 10.0 and np.count_nonzero(dx) == 1


def test_hidden_grid_covers_the_required_shapes():
    cases = pool_grid(123)
    relations = set()
    for case in cases:
        N, C, H, W = case.x.shape
        ph, pw, s = case.params
        assert N > 1 and C > 1 and H != W and case.x.dtype == np.float64
        relations.add("<" if s < max(ph, pw) else "=" if s == ph == pw else ">")
    assert relations == {"<", "=", ">"}
    features = [c.features() for c in cases]
    for key in ("window is square", "windows reach the last row and column", "stride is 1"):
        assert {f[key] for f in features} == {True, False}, key
    assert [c.x.shape for c in pool_grid(5)] == [c.x.shape for c in pool_grid(5)], "seeded"


def test_solutions_pass_the_hidden_checks(sol):
    checks.check_max_pool_forward(sol.max_pool_forward_naive)
    checks.check_max_pool_backward(sol.max_pool_backward_naive)
    checks.check_max_pool_ties(sol.max_pool_backward_naive)
    checks.check_avg_pool_forward(sol.avg_pool_forward_naive)
    checks.check_avg_pool_backward(sol.avg_pool_backward_naive)
    checks.check_global_avg_pool(sol.global_avg_pool_forward, sol.global_avg_pool_backward)
    checks.check_failing_input(sol.make_failing_input)


def test_the_notebook_shows_the_same_buggy_function():
    nb = notebook_cells.read(source_notebook("pooling"))
    cell = next(c for c in nb.cells if notebook_cells.grade_id(c) == "buggy_backward")
    ours = inspect.getsource(max_pool_backward_upsampled)
    body = lambda src: [line for line in src.splitlines() if '"""' not in line]
    assert body(cell.source) == body(ours)


def test_buggy_function_is_right_exactly_when_stride_equals_window():
    for case in pool_grid(4):
        ph, pw, s = case.params
        buggy = max_pool_backward_upsampled(case.dout, case.cache)
        right = max_pool_backward_reference(case.dout, case.x, case.pool_param)
        assert np.allclose(buggy, right) == (s == ph == pw), case.describe()


# ---- each diagnosis fires on a hand-made wrong implementation -------------------------------------

def grid():
    return pool_grid(11)


def message(verdict):
    assert not verdict.passed
    return verdict.message


def wrong_max_forward(step=None, swap=False, size_offset=0):
    def forward(x, pool_param):
        ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        if swap:
            ph, pw = pw, ph
        start = s if step is None else step
        Ho, Wo = (x.shape[2] - ph) // s + 1 + size_offset, (x.shape[3] - pw) // s + 1
        out = np.zeros(x.shape[:2] + (Ho, Wo))
        for i in range(Ho):
            for j in range(Wo):
                out[:, :, i, j] = x[:, :, i * start:i * start + ph, j * start:j * start + pw].max(axis=(2, 3))
        return out, (x, pool_param)
    return forward


@pytest.mark.parametrize("kwargs, phrase", [
    ({"size_offset": -1}, "off by one"),
    ({"swap": True}, "pool_height and pool_width swapped"),
    ({"step": 1}, "ignores the stride"),
])
def test_max_forward_diagnoses(kwargs, phrase):
    assert phrase in message(checks.verdict_max_pool_forward(wrong_max_forward(**kwargs), grid()))


def as_backward(**variant):
    def backward(dout, cache):
        x, pool_param = cache
        ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        return max_backward_variant(x, dout, ph, pw, s, s, **variant)
    return backward


def test_assign_instead_of_accumulate_is_diagnosed():
    text = message(checks.verdict_max_pool_backward(as_backward(write="window"), grid()))
    assert "instead of accumulating with +=" in text
    text = message(checks.verdict_max_pool_backward(as_backward(write="point"), grid()))
    assert "instead of accumulating with +=" in text


def test_tie_diagnoses():
    for ties, phrase in (("all", "every tied maximum"), ("split", "split equally"),
                         ("last", "last tied maximum"), ("column-major", "column-major")):
        verdict = checks.verdict_max_pool_ties(as_backward(ties=ties), tie_cases(11))
        assert phrase in message(verdict), ties
        # random float inputs have no ties: the same code passes the grid
        assert checks.verdict_max_pool_backward(as_backward(ties=ties), grid()).passed


def test_seed_002_bug_only_works_when_stride_equals_window():
    def tiled(dout, cache):                       # window (i, j) placed at (i*ph, j*pw)
        x, pp = cache
        return max_backward_variant(x, dout, pp["pool_height"], pp["pool_width"],
                                           pp["pool_height"], pp["pool_width"])
    assert "only works when the stride equals the window size" in message(
        checks.verdict_max_pool_backward(tiled, grid()))
    # the forum code of the notebook (upsampling with np.repeat) gets the same diagnosis from the pattern
    assert "only works when the stride equals the window size" in message(
        checks.verdict_max_pool_backward(max_pool_backward_upsampled, grid()))


def test_avg_not_divided_and_in_place_are_diagnosed():
    def summed(x, pool_param):
        out = avg_pool_forward_reference(x, pool_param)
        return out * pool_param["pool_height"] * pool_param["pool_width"], (x, pool_param)
    assert "not divided by the window size" in message(checks.verdict_avg_pool_forward(summed, grid()))

    def in_place(dout, cache):
        x, pool_param = cache
        dout /= pool_param["pool_height"] * pool_param["pool_width"]
        return avg_pool_backward_reference(dout, x, pool_param) * pool_param["pool_height"] * pool_param["pool_width"]
    assert "in place" in message(checks.verdict_avg_pool_backward(in_place, grid()))

    def mutates_x(x, pool_param):
        out = max_pool_forward_reference(x, pool_param)
        x[...] = 0.0
        return out, (x, pool_param)
    assert "in place" in message(checks.verdict_max_pool_forward(mutates_x, grid()))


def test_failing_input_check():
    def tiles():
        return np.arange(16.0).reshape(1, 1, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}

    def ties():
        return np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 1}

    def gaps():
        return np.arange(30.0).reshape(1, 1, 5, 6), {"pool_height": 1, "pool_width": 2, "stride": 3}
    assert "does not expose the bug" in message(checks.verdict_failing_input(tiles, 0))
    assert "tied maximum" in message(checks.verdict_failing_input(ties, 0))
    assert checks.verdict_failing_input(gaps, 0).passed
    integers = lambda: (np.arange(30).reshape(1, 1, 5, 6), {"pool_height": 1, "pool_width": 2, "stride": 3})
    assert checks.verdict_failing_input(integers, 0).passed   # an integer x is as good an input


def test_global_avg_pool_diagnoses():
    assert "Divide by H * W" in message(checks.verdict_global_avg_pool(
        global_avg_pool_forward_reference_pair, lambda dout, x: np.broadcast_to(dout[:, :, None, None], x.shape) * 1.0, 0))
    assert "(N, C, 1, 1)" in message(checks.verdict_global_avg_pool(
        lambda x: (x.mean(axis=(2, 3), keepdims=True), x), global_avg_pool_backward_reference, 0))


def global_avg_pool_forward_reference_pair(x):
    return global_avg_pool_forward_reference(x), x
