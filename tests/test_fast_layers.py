"""References, hidden checks, the loop rule, the catalogue and every stated number of `fast_layers`."""
import re
import sys

import numpy as np
import pytest

import convbook.layers
from autograder import notebook_cells
from autograder.checks import fast_layers as checks
from autograder.checks.cases import conv_grid
from autograder.checks.core import grading
from autograder.checks.pool_cases import pool_grid, tie_cases
from autograder.checks.pooling import max_backward_variant
from autograder.mistakes import by_name, catalogue, mistakes_for
from autograder.paths import source_notebook
from autograder.references.conv import conv_backward_reference, conv_forward_reference, output_size
from autograder.references.fast import (
    INCEPTION_3A_NAIVE,
    INCEPTION_3A_POOL_PROJECTION,
    INCEPTION_3A_REDUCED,
    col2im_reference,
    conv1x1_reference,
    conv_cost_reference,
    im2col_reference,
    module_cost,
    module_layers,
)
from autograder.references.pooling import max_pool_backward_reference, max_pool_forward_reference
from autograder.solutions import load_solution
from convbook import tracing

ASSIGNMENT = "fast_layers"

# Which hidden check each test cell runs, called on a solution module (the visible cells re-run theirs).
_CHECKS = {
    "im2col": lambda m: checks.check_im2col(m.im2col),
    "col2im": lambda m: checks.check_col2im(m.col2im),
    "forward": lambda m: checks.check_conv_forward_im2col(m.conv_forward_im2col),
    "backward": lambda m: checks.check_conv_backward_im2col(m.conv_backward_im2col),
    "pool_forward": lambda m: checks.check_max_pool_forward_fast(m.max_pool_forward_fast),
    "pool_backward": lambda m: checks.check_max_pool_backward_fast(m.max_pool_backward_fast),
    "ties": lambda m: checks.check_max_pool_fast_ties(m.max_pool_backward_fast),
    "conv1x1": lambda m: checks.check_conv1x1(m.conv1x1_as_matmul),
    "cost": lambda m: checks.check_conv_cost(m.conv_cost),
}
HIDDEN = {
    "test_im2col": _CHECKS["im2col"], "test_im2col_hidden": _CHECKS["im2col"],
    "test_col2im": _CHECKS["col2im"], "test_col2im_hidden": _CHECKS["col2im"],
    "test_conv_forward_im2col": _CHECKS["forward"], "test_conv_forward_im2col_hidden": _CHECKS["forward"],
    "test_conv_backward_im2col": _CHECKS["backward"], "test_conv_backward_im2col_hidden": _CHECKS["backward"],
    "test_max_pool_forward_fast": _CHECKS["pool_forward"],
    "test_max_pool_backward_fast": _CHECKS["pool_backward"], "test_max_pool_backward_fast_hidden": _CHECKS["pool_backward"],
    "test_max_pool_fast_ties": _CHECKS["ties"],
    "test_conv1x1": _CHECKS["conv1x1"],
    "test_conv_cost": _CHECKS["cost"], "test_conv_cost_hidden": _CHECKS["cost"],
}
CHECK_CALLS = {
    "test_im2col": "check_im2col(im2col)", "test_col2im": "check_col2im(col2im)",
    "test_conv_forward_im2col": "check_conv_forward_im2col(conv_forward_im2col)",
    "test_conv_backward_im2col": "check_conv_backward_im2col(conv_backward_im2col)",
    "test_max_pool_forward_fast": "check_max_pool_forward_fast(max_pool_forward_fast)",
    "test_max_pool_backward_fast": "check_max_pool_backward_fast(max_pool_backward_fast)",
    "test_max_pool_fast_ties": "check_max_pool_fast_ties(max_pool_backward_fast)",
    "test_conv1x1": "check_conv1x1(conv1x1_as_matmul)", "test_conv_cost": "check_conv_cost(conv_cost)",
}


@pytest.fixture(scope="module")
def notebook():
    return notebook_cells.read(source_notebook(ASSIGNMENT))


@pytest.fixture(scope="module")
def answers(notebook):
    return notebook_cells.answers(notebook)


@pytest.fixture(scope="module")
def solution():
    return load_solution(ASSIGNMENT)


def message(verdict):
    assert not verdict.passed, "expected a failing verdict"
    return verdict.message


# --- references ---------------------------------------------------------------------------------------
def im2col_by_definition(x, HH, WW, S, P):
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, HH, S, P), output_size(W, WW, S, P)
    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    cols = np.zeros((C * HH * WW, N * Ho * Wo))
    for c, k, l, n, i, j in np.ndindex(C, HH, WW, N, Ho, Wo):
        cols[(c * HH + k) * WW + l, (n * Ho + i) * Wo + j] = x_pad[n, c, i * S + k, j * S + l]
    return cols


@pytest.mark.parametrize("seed", [0, 1])
def test_im2col_reference_matches_the_definition_and_col2im_is_its_adjoint(seed):
    rng = np.random.default_rng(seed)
    for case in conv_grid(seed):
        HH, WW = case.w.shape[2:]
        cols = im2col_reference(case.x, HH, WW, case.stride, case.pad)
        np.testing.assert_array_equal(cols, im2col_by_definition(case.x, HH, WW, case.stride, case.pad))
        c = rng.standard_normal(cols.shape)
        dx = col2im_reference(c, case.x.shape, HH, WW, case.stride, case.pad)
        assert dx.shape == case.x.shape
        assert np.isclose(np.sum(cols * c), np.sum(case.x * dx))          # <im2col(x), c> = <x, col2im(c)>


def test_im2col_makes_the_layer_a_matrix_product():
    for case in conv_grid(3):
        F, C, HH, WW = case.w.shape
        N = case.x.shape[0]
        Ho, Wo = case.out_shape()[2:]
        out_row = case.w.reshape(F, -1) @ im2col_reference(case.x, HH, WW, case.stride, case.pad) + case.b[:, None]
        np.testing.assert_allclose(out_row.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3),
                                   conv_forward_reference(case.x, case.w, case.b, case.conv_param), atol=1e-12)


def test_fixed_im2col_example_and_variants():
    np.testing.assert_array_equal(im2col_reference(checks.FIXED_X, 2, 2, 1, 0), checks.FIXED_COLS)
    for case in conv_grid(4):
        HH, WW = case.w.shape[2:]
        cols = np.random.default_rng(0).standard_normal(im2col_reference(case.x, HH, WW, case.stride, case.pad).shape)
        right = col2im_reference(cols, case.x.shape, HH, WW, case.stride, case.pad)
        np.testing.assert_allclose(checks.col2im_variant(cols, case.x.shape, HH, WW, case.stride, case.pad), right)
        assigned = checks.col2im_variant(cols, case.x.shape, HH, WW, case.stride, case.pad, write="assign")
        assert np.allclose(assigned, right) == (case.stride >= max(HH, WW)), case.describe()


def test_conv1x1_reference_is_a_1x1_convolution():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 4, 5, 2)), rng.standard_normal((6, 4, 1, 1)), rng.standard_normal(6)
    np.testing.assert_allclose(conv1x1_reference(x, w, b), conv_forward_reference(x, w, b, {"stride": 1, "pad": 0}))


def test_conv_cost_reference_counts_what_a_layer_does():
    """Counts from the arrays of an actual layer: out.size, w.size, the im2col matrix."""
    rng = np.random.default_rng(3)
    for H, W, C_in, C_out, k, stride, pad in [(7, 9, 3, 4, 3, 1, None), (8, 6, 2, 5, 2, 2, 1), (9, 7, 4, 2, 5, 3, 0)]:
        p = k // 2 if pad is None else pad
        x, w, b = rng.standard_normal((1, C_in, H, W)), rng.standard_normal((C_out, C_in, k, k)), np.zeros(C_out)
        out = conv_forward_reference(x, w, b, {"stride": stride, "pad": p})
        cost = conv_cost_reference(H, W, C_in, C_out, k, stride, pad)
        assert cost == {"multiply_adds": out.size * C_in * k * k, "params": w.size, "outputs": out.size,
                        "im2col": im2col_reference(x, k, k, stride, p).size}


# --- every number the notebook states -----------------------------------------------------------------
def test_exercise_5_4_numbers():
    plain = conv_cost_reference(100, 100, 256, 256, 3)
    reduce, expand = conv_cost_reference(100, 100, 256, 64, 1), conv_cost_reference(100, 100, 64, 256, 3)
    assert plain == {"multiply_adds": 5_898_240_000, "params": 589_824, "outputs": 2_560_000, "im2col": 23_040_000}
    assert 100 * 100 * 3 * 3 * 256 * 256 == 5_898_240_000 and 256 * 100 * 100 == 2_560_000
    assert (reduce["multiply_adds"], reduce["params"], reduce["outputs"]) == (163_840_000, 16_384, 640_000)
    assert (expand["multiply_adds"], expand["params"], expand["outputs"]) == (1_474_560_000, 147_456, 2_560_000)
    assert reduce["multiply_adds"] + expand["multiply_adds"] == 1_638_400_000
    assert reduce["params"] + expand["params"] == 163_840
    assert reduce["outputs"] + expand["outputs"] == 3_200_000 == 64 * 100 * 100 + 256 * 100 * 100
    assert plain["multiply_adds"] / 1_638_400_000 == 3.6
    # im2col memory
    assert 256 * 3 * 3 == 2_304 and 2_304 * 10_000 == plain["im2col"]
    assert plain["im2col"] == 9 * 100 * 100 * 256 and 100 * 100 * 256 == 2_560_000
    assert plain["im2col"] * 8 == 184_320_000
    assert expand["im2col"] == 5_760_000 and reduce["im2col"] == 100 * 100 * 256   # a 1x1 im2col is the input


def test_inception_3a_numbers():
    naive, reduced = module_layers(INCEPTION_3A_NAIVE), module_layers(INCEPTION_3A_REDUCED)
    weights = lambda layers: [k * k * c_in * c_out for _, k, c_in, c_out in layers]
    assert weights(naive) == [12_288, 221_184, 153_600]
    assert weights(reduced) == [12_288, 18_432, 110_592, 3_072, 12_800]
    assert module_cost(INCEPTION_3A_NAIVE)["params"] == 387_072
    assert module_cost(INCEPTION_3A_REDUCED)["params"] == 157_184
    projection = module_cost(INCEPTION_3A_POOL_PROJECTION)["params"]
    assert projection == 6_144 and 157_184 + projection == 163_328
    assert module_cost({**INCEPTION_3A_REDUCED, **INCEPTION_3A_POOL_PROJECTION})["params"] == 163_328
    # the two quoted totals come out only as weights without biases and without the pool projection
    biases = lambda layers: sum(c_out for *_, c_out in layers)
    assert 387_072 + biases(naive) != 387_072 and 157_184 + biases(reduced) != 157_184
    assert round(100 * 157_184 / 387_072) == 41 and abs(157_184 / 387_072 - 1 / 3) > 0.07
    assert 28 * 28 == 784
    assert module_cost(INCEPTION_3A_NAIVE)["multiply_adds"] == 784 * 387_072 == 303_464_448
    assert module_cost(INCEPTION_3A_REDUCED)["multiply_adds"] == 784 * 157_184 == 123_232_256


def test_same_padding_facts():
    fractional_pad = lambda H, S, k: ((H - 1) * S - H + k) / 2   # one source's "same" padding
    assert fractional_pad(28, 1, 4) == 1.5 and fractional_pad(28, 2, 3) == 14.5
    for k in (1, 3, 5, 7):
        assert output_size(28, k, 1, k // 2) == 28
    for k in (2, 4):
        assert output_size(28, k, 1, k // 2) == 29
    assert 3 * 3 * 3 == 27 and 3 * 3 == 9


def test_coverage_counts_of_the_col2im_figures():
    ones = np.ones((1, 1, 6, 6))
    counts = col2im_reference(im2col_reference(ones, 3, 3, 1, 1), ones.shape, 3, 3, 1, 1)[0, 0]
    assert counts[2, 2] == 9 and counts[0, 2] == 6 and counts[0, 0] == 4 and set(np.unique(counts)) == {4, 6, 9}
    counts = col2im_reference(im2col_reference(ones, 3, 3, 2, 1), ones.shape, 3, 3, 2, 1)[0, 0]
    assert set(np.unique(counts)) == {1, 2, 4}
    counts = col2im_reference(np.ones((9, 2 * 4 * 5)), (2, 1, 6, 7), 3, 3, 1, 0)
    assert counts.max() == 9 and counts[0, 0, 0, 0] == 1


THOUSANDS = re.compile(r"\d{1,3}(?:\{,\}\d{3}|,\d{3})+")


def test_every_large_number_in_the_notebook_is_one_asserted_here(notebook):
    stated = set()
    for cell in notebook.cells:
        if cell.cell_type == "markdown" or notebook_cells.is_test(cell):
            stated |= {int(m.replace("{,}", "").replace(",", "")) for m in THOUSANDS.findall(cell.source)}
    asserted = {5_898_240_000, 589_824, 2_560_000, 163_840_000, 16_384, 640_000, 1_474_560_000, 147_456,
                1_638_400_000, 163_840, 3_200_000, 2_304, 10_000, 23_040_000, 184_320_000, 5_760_000, 12_288,
                221_184, 153_600, 18_432, 110_592, 3_072, 12_800, 387_072, 157_184, 6_144, 163_328, 303_464_448,
                123_232_256, 100_000, 262_144}
    assert stated and stated <= asserted, stated - asserted
    text = " ".join(" ".join(c.source for c in notebook.cells).split())
    for phrase in ("3.6 times fewer", "about 41%", "$28 \\cdot 28 = 784$", "$1.5$ for $k = 4$", "$14.5$",
                   "$H' = H + 1$", "9 times for a $3 \\times 3$ kernel", "covered 9 times, edges 6 and corners 4"):
        assert phrase in text, phrase


def test_fancy_indexing_demo_shows_the_source_bug():
    max_index, grad = np.array([2, 0, 3]), np.array([1.0, 2.0, 3.0])
    wrong, right = np.zeros((3, 4)), np.zeros((3, 4))
    wrong[:, max_index] = grad
    right[np.arange(3), max_index] = grad
    assert np.count_nonzero(wrong) == 9 and np.count_nonzero(right) == 3


# --- the hidden checks on the solution, and on each catalogued mistake ---------------------------------
def test_hidden_grids_cover_the_required_shapes():
    cases = conv_grid(123)
    assert {c.pad for c in cases} == {0, 1, 2} and {c.stride for c in cases} == {1, 2, 3}
    assert any(c.x.shape[0] > 1 and c.x.shape[1] != c.w.shape[0] and c.x.shape[2] != c.x.shape[3]
               and c.w.shape[2] != c.w.shape[3] for c in cases)
    assert {c.features()["windows overlap"] for c in cases} == {True, False}
    configs = checks.cost_cases(5)
    assert set(checks.KNOWN_COSTS) <= set(configs)
    assert {c[5] for c in configs} == {1, 2, 3} and None in {c[6] for c in configs}
    assert any(isinstance(c[6], int) for c in configs) and all(c[2] != c[3] for c in configs[len(checks.KNOWN_COSTS):])


@pytest.mark.parametrize("name", sorted(_CHECKS))
def test_hidden_checks_pass_on_the_solution(solution, name, capsys):
    _CHECKS[name](solution)
    out = capsys.readouterr().out
    assert "pass" in out or "counted right" in out


def test_every_test_cell_runs_the_hidden_check_of_its_exercise(notebook):
    tests = {notebook_cells.grade_id(c): c.source for c in notebook.cells if notebook_cells.is_test(c)}
    assert set(tests) == set(HIDDEN)
    for cell, source in tests.items():
        region = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.S)
        assert region, cell
        call = CHECK_CALLS.get(cell) or CHECK_CALLS[cell.removesuffix("_hidden")]
        assert call in region.group(1), cell


@pytest.mark.parametrize("name", [m.name for m in mistakes_for(ASSIGNMENT)])
def test_each_mistake_is_caught_with_its_diagnosis(answers, name):
    """The hidden checks that fail are those of cells in `fails`, one of them names the mistake, and every
    other hidden check passes (a cell in `fails` may fail on its visible asserts only)."""
    mistake = by_name(ASSIGNMENT, name)
    module = load_solution(ASSIGNMENT, mistake.apply(answers))
    messages = {}
    for cell, check in HIDDEN.items():
        try:
            check(module)
        except AssertionError as exc:
            messages[cell] = str(exc)
    assert messages, f"{name}: no hidden check fails"
    assert set(messages) <= set(mistake.fails), f"{name}: {sorted(set(messages) - set(mistake.fails))} fail too"
    assert any(mistake.diagnosis in m for m in messages.values()), f"{name}: {mistake.diagnosis!r} not in {messages}"


def test_catalogue_shape(notebook):
    module = catalogue(ASSIGNMENT)
    mistakes = mistakes_for(ASSIGNMENT)
    assert len(mistakes) >= 6
    answer_cells = [notebook_cells.grade_id(c) for c in notebook.cells
                    if notebook_cells.is_answer(c) and c.cell_type == "code"]
    assert len({m.cell for m in mistakes}) >= 6
    demo = [by_name(ASSIGNMENT, n) for n in module.DEMO_MISTAKES]
    assert 2 <= len(demo) <= 3 and len({m.cell for m in demo}) == len(demo)
    fails = [set(m.fails) for m in demo]
    assert all(a.isdisjoint(b) for i, a in enumerate(fails) for b in fails[i + 1:])
    assert module.CRASH_CELL in answer_cells[1:-1]


# --- the loop rule ------------------------------------------------------------------------------------
# Implementations defined in this module (their globals are this module's, as a notebook's are the kernel's).
def im2col_position_loop(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C * HH * WW, N, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            cols[:, :, i, j] = window.transpose(1, 2, 3, 0).reshape(-1, N)
    return cols.reshape(C * HH * WW, -1)


def im2col_image_loop(x, HH, WW, stride, pad):
    return np.concatenate([im2col_reference(x[n:n + 1], HH, WW, stride, pad) for n in range(x.shape[0])], axis=1)


def im2col_channel_and_offset_loops(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C, HH, WW, N, Ho, Wo))
    for c in range(C):
        for k in range(HH):
            for l in range(WW):
                cols[c, k, l] = x_pad[:, c, k:k + stride * Ho:stride, l:l + stride * Wo:stride]
    return cols.reshape(C * HH * WW, -1)


def conv1x1_image_comprehension(x, w, b):
    F, C = w.shape[:2]
    return np.stack([w.reshape(F, C) @ x[n].reshape(C, -1) for n in range(x.shape[0])]).reshape(
        (x.shape[0], F) + x.shape[2:]) + b[None, :, None, None]


def conv_forward_calls_reference(x, w, b, conv_param):
    out, cache = convbook.layers.conv_forward(x, w, b, conv_param)
    return out, cache + (None,)


def pool_backward_position_loop(dout, cache):
    x, pool_param = cache
    return max_pool_backward_reference(dout, x, pool_param) + 0 * sum(1.0 for _ in np.ndindex(dout.shape[2:]))


def test_loop_rule_fails_loops_over_positions_and_images():
    grid = conv_grid(0)
    for wrong in (im2col_position_loop, im2col_image_loop):
        text = message(checks.verdict_im2col(wrong, grid, 0))
        assert checks.LOOP_RULE in text and "N * H' * W' = 72" in text and "7744" in text, text
    text = message(checks.verdict_conv1x1(conv1x1_image_comprehension, checks.conv1x1_cases(0), 0))
    assert checks.LOOP_RULE in text and "<listcomp>" in text
    text = message(checks.verdict_max_pool_backward_fast(pool_backward_position_loop, pool_grid(0), 0))
    assert checks.LOOP_RULE in text and "<genexpr>" in text


def test_the_time_probe_is_the_one_the_notebook_states():
    """One channel, one filter, 4 * 256 * 256 = 262,144 positions, as the visible loop checks build it."""
    for kind in ("conv", "pool", "1x1"):
        probe = checks._time_probe(0, kind)
        assert probe["positions"] == 4 * 256 * 256 == 262_144 and probe["x"].shape[:2] == (4, 1)
        assert probe["dout"].shape == (4, 1, 256, 256)
    conv, pool = checks._time_probe(0, "conv"), checks._time_probe(0, "pool")
    assert conv["x"].shape == (4, 1, 255, 254) and (conv["HH"], conv["WW"], conv["pad"]) == (2, 1, 1)
    assert pool["x"].shape == (4, 1, 257, 256) and pool["pool_param"] == {"pool_height": 2, "pool_width": 1, "stride": 1}
    assert checks._time_probe(0, "1x1")["x"].shape == (4, 1, 256, 256)


def test_a_loop_driven_from_c_fails_the_time_measure_for_the_student_as_for_the_grader(solution):
    """A position loop made of C calls only runs no line per position: the time measure fails it, in the
    student's check_no_position_loops as in the hidden check, with the same sentence; the answer passes."""
    from test_engine_redteam import MAPPED_IN_C

    namespace = {"np": np}
    exec(compile(MAPPED_IN_C, "<cell>", "exec"), namespace)
    small, large = checks._probe_inputs(0, "conv")
    many = checks._time_probe(0, "conv")
    probes = [(p["x"], p["HH"], p["WW"], p["stride"], p["pad"]) for p in (small, large, many)]
    with pytest.raises(AssertionError, match="copying its input once") as failure:
        tracing.check_no_position_loops(namespace["im2col"], *probes, positions=(72, 7744, 262144))
    assert tracing.LOOP_RULE in str(failure.value) and "N * H' * W' = 262144" in str(failure.value)
    text = message(checks.verdict_im2col(namespace["im2col"], conv_grid(0), 0))
    assert tracing.LOOP_RULE in text and "copying its input once" in text and "N * H' * W' = 262144" in text
    tracing.check_no_position_loops(solution.im2col, *probes, positions=(72, 7744, 262144))


def test_loop_rule_passes_vectorized_code_and_loops_over_offsets_and_channels(solution):
    assert checks.verdict_im2col(im2col_channel_and_offset_loops, conv_grid(0), 0).passed
    assert checks.verdict_im2col(solution.im2col, conv_grid(0), 0).passed
    small, large = checks._probe_inputs(0, "conv")
    counts = [checks.count_student_lines(solution.im2col, (p["x"], 2, 3, 1, 1)) for p in (small, large)]
    assert counts[0]["total"] == counts[1]["total"] > 0     # the same lines, whatever N, H', W'


def test_layer_checks_do_not_count_the_helpers_again(answers):
    """A loop in im2col costs the im2col cell only (its own check, which runs first, found it); a loop in
    the layer itself costs the layer. A loop im2col's own check did not find counts in the layer."""
    looping = load_solution(ASSIGNMENT, by_name(ASSIGNMENT, "im2col_loops_over_positions").apply(answers))
    with grading(seed=0):   # the layer graded alone: nothing excuses the loop it calls
        assert not checks.verdict_conv_forward_im2col(looping.conv_forward_im2col, checks.conv_cases(0), 0).passed
    with grading(seed=0):   # one grading run: im2col's own check found the loop first
        assert checks.LOOP_RULE in message(checks.verdict_im2col(looping.im2col, checks.conv_cases(0), 0))
        assert checks.verdict_conv_forward_im2col(looping.conv_forward_im2col, checks.conv_cases(0), 0).passed
    with grading(seed=0):   # what a run found ends with it
        assert not checks.verdict_conv_forward_im2col(looping.conv_forward_im2col, checks.conv_cases(0), 0).passed
    source = answers["conv_forward_im2col"].replace(
        "out = out_row.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3)",
        "out = np.stack([out_row.reshape(F, N, H_out, W_out)[:, n] for n in range(N)])")
    module = load_solution(ASSIGNMENT, {**answers, "conv_forward_im2col": source})
    assert checks.LOOP_RULE in message(checks.verdict_conv_forward_im2col(module.conv_forward_im2col,
                                                                          checks.conv_cases(0), 0))


def test_a_loop_in_a_function_the_helper_calls_is_billed_to_the_helper_once(answers):
    """im2col's loop, moved into another function of the student's that im2col calls, costs im2col's cell
    and not again the layer that calls im2col: its lines are billed to im2col, by the call they run in."""
    looping = by_name(ASSIGNMENT, "im2col_loops_over_positions").apply(answers)
    looping["im2col"] = (looping["im2col"].replace("def im2col(", "def _by_position(", 1)
                         + "\n\ndef im2col(x, HH, WW, stride, pad):\n    return _by_position(x, HH, WW, stride, pad)\n")
    module = load_solution(ASSIGNMENT, looping)
    with grading(seed=0):   # the layer graded alone: the loop it calls is counted, and named as im2col's
        text = message(checks.verdict_conv_forward_im2col(module.conv_forward_im2col, checks.conv_cases(0), 0))
        assert "of _by_position (called by your im2col)" in text and "that is your im2col" in text
    with grading(seed=0):   # one grading run: im2col's own check found the loop first
        assert "of _by_position" in message(checks.verdict_im2col(module.im2col, checks.conv_cases(0), 0))
        assert checks.verdict_conv_forward_im2col(module.conv_forward_im2col, checks.conv_cases(0), 0).passed


def test_loop_rule_catches_the_reference_layers():
    text = message(checks.verdict_conv_forward_im2col(conv_forward_calls_reference, checks.conv_cases(0), 0))
    assert "calls convbook.layers.conv_forward" in text


def test_tracing_is_restored_even_when_the_student_raises():
    def tracer(frame, event, arg):
        return None

    def broken(*args):
        raise ValueError("boom")

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        with pytest.raises(ValueError):
            checks.count_student_lines(broken, (1,))
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


def test_loop_rule_uses_a_proxy_hook_and_otherwise_passes_with_a_note():
    class Proxy:
        """A function running elsewhere, as the grading engine's proxies do."""

        def __init__(self, totals):
            self.totals = list(totals)

        def __call__(self, *args):
            return im2col_reference(*args)

        def count_lines(self, args, skip):
            return {"total": self.totals.pop(0), "per_line": {("im2col", 9): 1}, "reference_calls": []}

    pair = ((np.zeros((1, 1, 3, 3)), 1, 1, 1, 0), 9)
    assert LOOP_RULE_IN(checks.verdict_loop_rule(Proxy([10, 500]), "im2col", pair, pair))
    assert checks.verdict_loop_rule(Proxy([10, 12]), "im2col", pair, pair).passed
    note = checks.verdict_loop_rule(lambda *a: None, "im2col", pair, pair)
    assert note.passed
    plain_callable = type("Callable", (), {"__call__": lambda self, *a: None})()
    verdict = checks.verdict_loop_rule(plain_callable, "im2col", pair, pair)
    assert verdict.passed and "could not be checked" in verdict.message


def LOOP_RULE_IN(verdict):
    return not verdict.passed and checks.LOOP_RULE in verdict.message


# --- diagnoses of hand-made wrong answers -------------------------------------------------------------
def _im2col_variant(transform):
    def wrong(x, HH, WW, stride, pad):
        return transform(im2col_reference(x, HH, WW, stride, pad), x, HH, WW, stride, pad)
    return wrong


def _six(cols, x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    return cols.reshape(C, HH, WW, N, output_size(H, HH, stride, pad), output_size(W, WW, stride, pad))


@pytest.mark.parametrize("transform, phrase", [
    (lambda c, *a: c.T, "Your cols is transposed"),
    (lambda c, *a: _six(c, *a).transpose(0, 1, 2, 4, 5, 3).reshape(c.shape), "order (i, j, n)"),
    (lambda c, *a: _six(c, *a).transpose(0, 1, 2, 3, 5, 4).reshape(c.shape), "order (n, j, i)"),
    (lambda c, *a: _six(c, *a).transpose(1, 2, 0, 3, 4, 5).reshape(c.shape), "order (k, l, c)"),
    (lambda c, *a: _six(c, *a)[:, ::-1, ::-1].reshape(c.shape), "Your windows are flipped"),
    (lambda c, x, HH, WW, s, p: im2col_reference(x, HH, WW, s, 0), "ignores the padding"),
    (lambda c, x, HH, WW, s, p: im2col_reference(x, HH, WW, 1, p), "ignores the stride"),
    (lambda c, *a: _six(c, *a)[..., :-1, :].reshape(c.shape[0], -1), "off by one"),
    (lambda c, *a: _six(c, *a), "Return a 2-D array"),
])
def test_im2col_diagnoses(transform, phrase):
    assert phrase in message(checks.verdict_im2col(_im2col_variant(transform), conv_grid(1), 1))


def test_col2im_diagnoses():
    grid = checks.col2im_cases(2)

    def assign(cols, x_shape, HH, WW, stride, pad):
        return checks.col2im_variant(cols, x_shape, HH, WW, stride, pad, write="assign")

    def uncropped(cols, x_shape, HH, WW, stride, pad):
        dx = col2im_reference(cols, x_shape, HH, WW, stride, pad)
        return np.pad(dx, ((0, 0), (0, 0), (pad, pad), (pad, pad)))

    def crop_minus_pad(cols, x_shape, HH, WW, stride, pad):
        return np.pad(col2im_reference(cols, x_shape, HH, WW, stride, pad), ((0, 0), (0, 0), (pad, pad), (pad, pad)))[
            :, :, pad:-pad, pad:-pad]

    def no_stride(cols, x_shape, HH, WW, stride, pad):
        return checks.col2im_variant(cols, x_shape, HH, WW, stride, pad, step=1)

    def modifies(cols, x_shape, HH, WW, stride, pad):
        dx = col2im_reference(cols, x_shape, HH, WW, stride, pad)
        cols *= 0
        return dx

    assert checks.ASSIGNED in message(checks.verdict_col2im(assign, grid, 2))
    assert "dx still has the padding" in message(checks.verdict_col2im(uncropped, grid, 2))
    assert "with pad = 0 the crop" in message(checks.verdict_col2im(crop_minus_pad, grid, 2))
    assert "ignores the stride" in message(checks.verdict_col2im(no_stride, grid, 2))
    assert "modified its input (cols) in place" in message(checks.verdict_col2im(modifies, grid, 2))


def _forward(kind):
    def forward(x, w, b, conv_param):
        stride, pad = conv_param["stride"], conv_param["pad"]
        if kind == "flipped":
            w = w[:, :, ::-1, ::-1]
        out = conv_forward_reference(x, w, b if kind != "no_bias" else 0 * b,
                                     {"stride": 1 if kind == "stride" else stride, "pad": pad})
        Ho, Wo = output_size(x.shape[2], w.shape[2], stride, pad), output_size(x.shape[3], w.shape[3], stride, pad)
        if kind == "stride":
            out = out[:, :, :Ho, :Wo]
        elif kind == "off_by_one":
            out = out[:, :, :-1]
        elif kind == "hw_swapped":
            out = out.transpose(0, 1, 3, 2)
        elif kind == "in_place":
            x *= 2
        elif kind == "short_cache":
            return out, (x, w, b, conv_param)
        return out, (x, w, b, conv_param, None)
    return forward


@pytest.mark.parametrize("kind, phrase", [
    ("flipped", "you computed convolution, not cross-correlation"),
    ("stride", "ignores the stride"),
    ("off_by_one", "off by one"),
    ("hw_swapped", "height and width swapped"),
    ("no_bias", "missing the bias"),
    ("in_place", "modified its input (x) in place"),
    ("short_cache", "cache = (x, w, b, conv_param, cols)"),
])
def test_forward_diagnoses(kind, phrase):
    assert phrase in message(checks.verdict_conv_forward_im2col(_forward(kind), checks.conv_cases(3), 3))


def _backward(kind):
    def backward(dout, cache):
        x, w, b, conv_param, cols = cache
        dx, dw, db = conv_backward_reference(dout, x, w, b, conv_param)
        pad = conv_param["pad"]
        if kind == "db_spatial_only":
            db = dout.sum(axis=(2, 3))
        elif kind == "dw_rotated":
            dw = dw[:, :, ::-1, ::-1]
        elif kind == "crop_at_pad_0":
            dx = np.pad(dx, ((0, 0), (0, 0), (pad, pad), (pad, pad)))[:, :, pad:-pad, pad:-pad]
        elif kind == "assign":
            F = w.shape[0]
            dcols = w.reshape(F, -1).T @ dout.transpose(1, 0, 2, 3).reshape(F, -1)
            dx = checks.col2im_variant(dcols, x.shape, w.shape[2], w.shape[3], conv_param["stride"], pad, write="assign")
        elif kind == "cols_modified":
            cols[...] = 0
        return dx, dw, db
    return backward


@pytest.mark.parametrize("kind, phrase", [
    ("db_spatial_only", "db is summed over the wrong axes"),
    ("dw_rotated", "rotated by 180 degrees"),
    ("crop_at_pad_0", "with pad = 0 the crop"),
    ("assign", "assigns with = instead of accumulating with +="),
    ("cols_modified", "modified its input (cols in the cache) in place"),
])
def test_backward_diagnoses(kind, phrase):
    cases = checks.backward_cases(4)
    assert phrase in message(checks.verdict_conv_backward_im2col(_backward(kind), cases, 4))


def test_a_helper_mistake_is_named_in_the_layer_check(answers):
    module = load_solution(ASSIGNMENT, by_name(ASSIGNMENT, "col2im_assign_not_accumulate").apply(answers))
    text = message(checks.verdict_conv_backward_im2col(module.conv_backward_im2col, checks.backward_cases(5), 5))
    assert "the mistake is in your col2im" in text
    module = load_solution(ASSIGNMENT, by_name(ASSIGNMENT, "im2col_stride_ignored").apply(answers))
    text = message(checks.verdict_conv_forward_im2col(module.conv_forward_im2col, checks.conv_cases(5), 5))
    assert "the mistake is in your im2col" in text
    assert module.im2col is not checks.im2col_reference        # the reference was swapped in and out again


def test_pool_diagnoses():
    def assign(dout, cache):
        x, pp = cache
        return checks.max_backward_offsets_assigned(x, dout, pp["pool_height"], pp["pool_width"], pp["stride"])

    def every_tie(dout, cache):
        x, pp = cache
        s = pp["stride"]
        return max_backward_variant(x, dout, pp["pool_height"], pp["pool_width"], s, s, ties="all")

    def swapped(x, pool_param):
        return max_pool_forward_reference(x, {**pool_param, "pool_height": pool_param["pool_width"],
                                              "pool_width": pool_param["pool_height"]}), (x, pool_param)

    assert "instead of accumulating with +=" in message(checks.verdict_max_pool_backward_fast(assign, pool_grid(6), 6))
    assert "every tied maximum" in message(checks.verdict_max_pool_fast_ties(every_tie, tie_cases(6)))
    verdict = checks.verdict_max_pool_backward_fast(every_tie, pool_grid(6), 6)   # random floats have no ties: its
    assert not verdict.passed and "copying its input once" in verdict.message    # values pass, its position loop not
    assert "pool_height and pool_width swapped" in message(checks.verdict_max_pool_forward_fast(swapped, pool_grid(6), 6))


def test_conv1x1_diagnoses():
    cases = checks.conv1x1_cases(7)

    def mixed(x, w, b):
        N, C, H, W = x.shape
        return (w.reshape(-1, C) @ x.reshape(C, -1) + b[:, None]).reshape(N, -1, H, W)

    def no_bias(x, w, b):
        return conv1x1_reference(x, w, 0 * b)

    def nhwf(x, w, b):
        return conv1x1_reference(x, w, b).transpose(0, 2, 3, 1)

    assert checks.MIXED_N_C in message(checks.verdict_conv1x1(mixed, cases, 7))
    assert checks.BIAS_MISSING in message(checks.verdict_conv1x1(no_bias, cases, 7))
    assert checks.OUT_NHWF in message(checks.verdict_conv1x1(nhwf, cases, 7))


def _cost(change):
    def cost(H, W, C_in, C_out, k, stride=1, pad=None):
        return change(dict(conv_cost_reference(H, W, C_in, C_out, k, stride, pad)), H, W, C_in, C_out, k, stride, pad)
    return cost


def _positions(H, W, k, stride, pad):
    p = k // 2 if pad is None else pad
    return output_size(H, k, stride, p) * output_size(W, k, stride, p)


@pytest.mark.parametrize("change, phrase", [
    (lambda c, H, W, ci, co, k, s, p: {**c, "multiply_adds": c["multiply_adds"] // (k * k)}, "forgets the kernel area"),
    (lambda c, H, W, ci, co, k, s, p: {**c, "multiply_adds": H * W * co * ci * k * k}, "one window per input pixel"),
    (lambda c, H, W, ci, co, k, s, p: {**c, "params": co * k * k}, "params forgets C_in"),
    (lambda c, H, W, ci, co, k, s, p: {**c, "outputs": ci * _positions(H, W, k, s, p)}, "counts the input channels"),
    (lambda c, H, W, ci, co, k, s, p: {**c, "im2col": ci * k * k * H * W}, "one column per output position"),
    (lambda c, H, W, ci, co, k, s, p: {**c, "im2col": c["multiply_adds"]}, "not the multiply-adds"),
    (lambda c, H, W, ci, co, k, s, p: {**c, "outputs": c["outputs"] + 0.5}, "should be a whole number"),
    (lambda c, *a: {k: v for k, v in c.items() if k != "im2col"}, "exactly the keys"),
])
def test_cost_diagnoses(change, phrase):
    assert phrase in message(checks.verdict_conv_cost(_cost(change), checks.cost_cases(8)))


def test_whole_counts_held_in_floats_are_right():   # np.floor gives float64: the count is still right
    as_floats = _cost(lambda c, *a: {k: np.float64(v) for k, v in c.items()})
    assert checks.verdict_conv_cost(as_floats, checks.cost_cases(8)).passed


# --- the notebook itself ------------------------------------------------------------------------------
def test_notebook_structure(notebook):
    assert notebook.cells[0].source.startswith(
        "# Assignment 4 · Fast layers: im2col, 1x1 convolutions and what they cost")
    headings = [c.source.splitlines()[0] for c in notebook.cells
                if c.cell_type == "markdown" and c.source.startswith("## ") and c.source[3].isdigit()]
    assert [h.split(" ")[1] for h in headings] == [str(i) for i in range(1, 8)]
    points = {notebook_cells.grade_id(c): notebook_cells.points(c) for c in notebook.cells
              if notebook_cells.nbgrader_meta(c).get("grade")}
    assert all(p > 0 for p in points.values()) and sum(points.values()) == 26
    written = [c for c in notebook.cells if notebook_cells.is_answer(c) and c.cell_type == "markdown"]
    assert [notebook_cells.grade_id(c) for c in written] == ["one_by_one"]
    for cell in notebook.cells:
        if cell.cell_type == "code" and not notebook_cells.is_test(cell):
            assert "autograder" not in cell.source, "visible code must not import the autograder"


def test_visible_timing_uses_the_helpers_it_names(notebook):
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    for needed in ("median_time", "layers.conv_forward", "layers.conv_backward", "conv_forward_loops",
                   "conv_backward_loops", 'set_yscale("log")'):
        assert needed in text, needed


def test_forbidden_libraries_for_the_grading_engine():
    """Every fast layer is graded where convbook.layers and the other banned libraries do not exist
    (tests/test_engine_bans.py grades real submissions); words such as "correlate" are not modules."""
    from autograder.engine.rules import bans

    rules = bans(ASSIGNMENT)
    assert set(rules) == set(checks.FORBIDDEN) == {
        "im2col", "col2im", "conv_forward_im2col", "conv_backward_im2col", "max_pool_forward_fast",
        "max_pool_backward_fast", "conv1x1_as_matmul"}
    assert all("convbook.layers" in modules for modules, _ in rules.values())
    # the layers run the student's im2col, which may use scipy.sparse: scipy's convolutions are what they may not use
    assert rules["conv_forward_im2col"][0] == ("convbook.layers", "scipy.fft", "scipy.fftpack", "scipy.ndimage",
                                               "scipy.signal", "torch")
    assert rules["im2col"][0] == ("convbook.layers", "skimage", "torch")


def test_the_note_when_the_loop_rule_cannot_run():
    plain_callable = type("Remote", (), {"__call__": lambda self, *a: im2col_reference(*a)})()
    verdict = checks.verdict_im2col(plain_callable, conv_grid(9), 9)
    assert verdict.passed and f"all {len(conv_grid(9)) + 1} hidden cases pass" in verdict.message
    assert "could not be checked" in verdict.message


@pytest.mark.parametrize("ratios, measured, least", [
    ([40], 1, 40),                      # within the limit: measured once
    ([300, 250, 240], 3, 240),          # just over: measured again, the least counts
    ([300, 100], 2, 100),               # noise the second run does not repeat
    ([3 * tracing.TIME_LIMIT + 1], 1, 3 * tracing.TIME_LIMIT + 1),   # far over: no noise explains it
])
def test_the_time_measure_retries_only_calls_just_over_the_limit(ratios, measured, least):
    calls = iter(ratios)
    replies = []

    def measure():
        replies.append({"cpu_ns": next(calls), "unit_ns": 1})
        return replies[-1]

    assert tracing.time_ratio(tracing.least_ratio(measure)) == least and len(replies) == measured
