"""Fast in-process tests of the conv_backward references, hidden checks and mistake catalogue."""
import numpy as np
import pytest
from scipy import signal

from autograder import notebook_cells
from autograder.checks import conv_backward as checks
from autograder.checks.cases import ConvCase
from autograder.mistakes import by_name, mistakes_for
from autograder.mistakes.conv_backward import BACKWARD_TESTS
from autograder.paths import source_notebook
from autograder.references import worked_example as example
from autograder.references.conv import (
    conv_backward_reference,
    conv_forward_reference,
    conv_matrix_reference,
    dilate,
    pooled_deltas_reference,
    unpool_reference,
)
from autograder.solutions import load_solution
from convbook import eval_numerical_gradient_array, rel_error
from convbook.layers import conv_forward

ASSIGNMENT = "conv_backward"

# Which hidden check stands for which test cell, called on a solution module.
HIDDEN = {
    "test_pooled_deltas": lambda m: checks.check_pooled_deltas(m.fc_weights, m.pooled_deltas),
    "test_kernel_gradient_2d": lambda m: checks.check_kernel_gradient_2d(m.kernel_gradient_2d),
    "test_pool_conv_backward_2d": lambda m: checks.check_pool_conv_backward_2d(m.pool_conv_backward_2d),
    "test_two_conv_backward": lambda m: checks.check_two_conv_backward(m.two_conv_backward),
    "test_multichannel_kernel_gradient":
        lambda m: checks.check_multichannel_kernel_gradient(m.multichannel_kernel_gradient),
    **{cell: lambda m, requirement=requirement: checks.check_conv_backward_naive(m.conv_backward_naive,
                                                                                  requirement=requirement)
       for cell, requirement in zip(BACKWARD_TESTS, ("plain", *checks.BACKWARD_REQUIREMENTS))},   # one per requirement
    "test_conv_matrix": lambda m: checks.check_conv_matrix(m.conv_matrix),
}


@pytest.fixture(scope="module")
def answers():
    return notebook_cells.answers(notebook_cells.read(source_notebook(ASSIGNMENT)))


@pytest.fixture(scope="module")
def solution():
    return load_solution(ASSIGNMENT)


# --- the worked example's numbers ---------------------------------------------------------------------
def test_restored_signs_reproduce_the_stated_deltas():
    got = pooled_deltas_reference(example.DELTA_H, example.FC_WEIGHTS, example.SIGMOID_OUT)
    np.testing.assert_allclose(got, example.STATED_POOLED_DELTAS, rtol=1e-12)
    unsigned = pooled_deltas_reference(example.DELTA_H, np.abs(example.FC_WEIGHTS), example.SIGMOID_OUT)
    assert not np.allclose(unsigned, example.STATED_POOLED_DELTAS)


def test_answer_gradient_is_correlation_of_o_with_d():
    np.testing.assert_allclose(signal.correlate2d(example.O_SEED, example.D_ANSWER, mode="valid"),
                               example.ANSWER_GRADIENT, atol=1e-12)
    # the thread's own formula: convolve the rotated delta map with o
    np.testing.assert_allclose(signal.convolve2d(np.rot90(example.D_ANSWER, 2), example.O_SEED, mode="valid"),
                               example.ANSWER_GRADIENT, atol=1e-12)


def test_sign_slip_and_corrected_gradient():
    d = unpool_reference(example.STATED_POOLED_DELTAS, example.max_mask())
    assert d[3, 3] > 0 > example.D_ANSWER[3, 3]
    # the thread's map carries the deltas truncated to 4 decimals, apart from the sign at (3, 3)
    np.testing.assert_allclose(np.trunc(d * 1e4) / 1e4, np.abs(example.D_ANSWER), atol=1e-12)
    np.testing.assert_allclose(example.corrected_seed_gradient(),
                               [[0.14005255, 0.10639221], [0.03444097, 0.14604471]], atol=1e-8)
    four_digit = np.abs(example.D_ANSWER)
    np.testing.assert_allclose(signal.correlate2d(example.O_SEED, four_digit, mode="valid"),
                               [[0.139946, 0.106319], [0.034416, 0.145922]], atol=1e-12)


# --- references against numeric gradients -------------------------------------------------------------
def test_dilate():
    np.testing.assert_array_equal(dilate(np.array([[1.0, 2], [3, 4]]), 2),
                                  [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    np.testing.assert_array_equal(dilate(np.ones((2, 3)), 1), np.ones((2, 3)))


@pytest.mark.parametrize("index", [0, 3, 7, 10, 13])
def test_backward_reference_matches_numeric_gradient(index):
    case = checks.backward_cases(5)[index]
    x, w, b, cp = case.x, case.w, case.b, case.conv_param
    dout = np.random.default_rng(index).standard_normal(case.out_shape())
    dx, dw, db = conv_backward_reference(dout, x, w, b, cp)
    numeric = [eval_numerical_gradient_array(lambda v: conv_forward_reference(v, w, b, cp), x.copy(), dout),
               eval_numerical_gradient_array(lambda v: conv_forward_reference(x, v, b, cp), w.copy(), dout),
               eval_numerical_gradient_array(lambda v: conv_forward_reference(x, w, v, cp), b.copy(), dout)]
    for got, expected in zip((dx, dw, db), numeric):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_conv_matrix_reference_and_transpose():
    rng = np.random.default_rng(0)
    k, x = rng.standard_normal((2, 3)), rng.standard_normal((5, 4))
    T = conv_matrix_reference(k, 5, 4)
    np.testing.assert_allclose(T @ x.ravel(), signal.correlate2d(x, k, mode="valid").ravel())
    dout = rng.standard_normal((4, 2))
    np.testing.assert_allclose(T.T @ dout.ravel(), signal.convolve2d(dout, k, mode="full").ravel())


def test_backward_cases_cover_the_grid():
    cases = checks.backward_cases(123)
    assert {c.pad for c in cases} == {0, 1, 2} and {c.stride for c in cases} == {1, 2, 3}
    assert any(c.x.shape[0] > 1 and c.x.shape[1] != c.w.shape[0] and c.x.shape[2] != c.x.shape[3]
               and c.w.shape[2] != c.w.shape[3] for c in cases)



# --- one check per requirement of conv_backward_naive ---------------------------------------------------
def exercised(case):
    """The requirements of conv_backward_naive (beyond the plain one) that a ConvCase exercises."""
    return frozenset(r for r, holds in checks.BACKWARD_REQUIREMENTS.items() if holds(checks.backward_features(case)))


@pytest.fixture(scope="module")
def visible_helper():
    """The names the notebook's locked check-helper cell defines (its visible cases and reference)."""
    cell = next(c for c in notebook_cells.read(source_notebook(ASSIGNMENT)).cells
                if notebook_cells.grade_id(c) == "conv_backward_check_helper")
    names = {"np": np, "signal": signal, "dilate": dilate, "conv_forward": conv_forward}
    exec(cell.source, names)
    return names


def test_each_visible_case_is_the_plain_case_plus_its_requirement(visible_helper):
    cases = visible_helper["BACKWARD_CASES"]
    assert set(cases) == {"plain", *checks.BACKWARD_REQUIREMENTS}
    for requirement, specs in cases.items():
        for x_shape, w_shape, stride, pad, _ in specs:
            case = ConvCase(np.zeros(x_shape), np.zeros(w_shape), np.zeros(w_shape[0]), {"stride": stride, "pad": pad})
            assert exercised(case) == {requirement} - {"plain"}, (requirement, x_shape, w_shape, stride, pad)


def test_the_visible_reference_is_the_layer_gradient_and_the_stated_rows_get_none(visible_helper):
    for specs in visible_helper["BACKWARD_CASES"].values():
        for spec in specs:
            dout, (x, w, b, conv_param) = visible_helper["backward_case"](*spec)
            got = visible_helper["conv_backward_convolution_form"](dout, x, w, conv_param["stride"], conv_param["pad"])
            for mine, reference in zip(got, conv_backward_reference(dout, x, w, b, conv_param)):
                np.testing.assert_allclose(mine, reference, rtol=1e-12, atol=1e-12)
    # the stride check's claims: with stride 3 > the 2x2 kernel on 7x7, rows (and columns) 2, 5, 6 get no
    # gradient and the others do; (8 - 3) / 2 is not whole
    gaps, overlap = visible_helper["BACKWARD_CASES"]["stride"]
    dout, (x, w, b, conv_param) = visible_helper["backward_case"](*gaps)
    dx = conv_backward_reference(dout, x, w, b, conv_param)[0][0, 0]
    assert [r for r in range(7) if not dx[r].any()] == [2, 5, 6] == [c for c in range(7) if not dx[:, c].any()]
    assert (overlap[0][2] - overlap[1][2]) % overlap[2] != 0


def test_the_plain_checks_numeric_gradient_errors_are_as_stated(visible_helper):
    """The notebook: centred differences give relative errors of 1e-11 to 1e-9 on the plain case."""
    dout, (x, w, b, conv_param) = visible_helper["backward_case"](*visible_helper["BACKWARD_CASES"]["plain"][0])
    numeric = [eval_numerical_gradient_array(lambda v: conv_forward(v, w, b, conv_param)[0], x, dout),
               eval_numerical_gradient_array(lambda v: conv_forward(x, v, b, conv_param)[0], w, dout),
               eval_numerical_gradient_array(lambda v: conv_forward(x, w, v, conv_param)[0], b, dout)]
    for got, expected in zip(numeric, conv_backward_reference(dout, x, w, b, conv_param)):
        assert 1e-11 <= rel_error(got, expected) <= 1e-9

def test_the_hidden_grid_pins_the_plain_case_and_each_requirement_alone():
    for seed in range(3):
        found = {exercised(case) for case in checks.naive_backward_cases(seed)}
        assert frozenset() in found
        assert all(frozenset({requirement}) in found for requirement in checks.BACKWARD_REQUIREMENTS)


# --- the checks on the reference solution and on each mistake -----------------------------------------
@pytest.mark.parametrize("cell", sorted(HIDDEN))
def test_hidden_checks_pass_on_the_solution(solution, cell, capsys):
    HIDDEN[cell](solution)
    out = capsys.readouterr().out
    assert "pass" in out or "nothing here fails" in out, out


@pytest.mark.parametrize("name", [m.name for m in mistakes_for(ASSIGNMENT)])
def test_each_mistake_is_caught_with_its_diagnosis(answers, name):
    mistake = by_name(ASSIGNMENT, name)
    module = load_solution(ASSIGNMENT, mistake.apply(answers))
    hidden_failing = [cell for cell in mistake.fails if cell in HIDDEN]
    assert hidden_failing, f"{name}: no hidden check among {mistake.fails}"
    messages = []
    for cell in hidden_failing:
        with pytest.raises(AssertionError) as exc:
            HIDDEN[cell](module)
        messages.append(str(exc.value))
    assert any(mistake.diagnosis in m for m in messages), f"{name}: {mistake.diagnosis!r} not in {messages}"
    for cell in set(HIDDEN) - set(mistake.fails):
        HIDDEN[cell](module)  # every other hidden check still passes


def _wrong_backward(kind):
    """Hand-made wrong conv_backward_naive implementations, written independently of the catalogue."""
    def backward(dout, cache):
        x, w, b, cp = cache
        dx, dw, db = conv_backward_reference(dout, x, w, b, cp)
        if kind == "db_spatial_only":
            db = dout.sum(axis=(2, 3))
        elif kind == "dw_mean":
            dw = dw / x.shape[0]
        elif kind == "dx_padded":
            pad = cp["pad"]
            dx = np.pad(dx, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        elif kind == "dw_rotated":
            dw = dw[:, :, ::-1, ::-1]
        elif kind == "dout_modified":
            dout *= 2
        return dx, dw, db
    return backward


@pytest.mark.parametrize("kind, phrase", [
    ("db_spatial_only", "db is summed over the wrong axes"),
    ("dw_mean", "dw is divided by the batch size N"),
    ("dx_padded", "dx still has the padding"),
    ("dw_rotated", "Your dw is the right one rotated by 180 degrees"),
    ("dout_modified", "modified its input (dout) in place"),
])
def test_hand_made_wrong_backward_is_diagnosed(kind, phrase):
    """Each hand-made mistake fails the hidden check of exactly one requirement, which names it."""
    messages = []
    for requirement in ("plain", *checks.BACKWARD_REQUIREMENTS):
        try:
            checks.check_conv_backward_naive(_wrong_backward(kind), requirement=requirement)
        except AssertionError as exc:
            messages.append(str(exc))
    assert len(messages) == 1 and phrase in messages[0], messages
