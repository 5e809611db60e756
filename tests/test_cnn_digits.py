"""The data split, references, hidden checks, mistake catalogue and claims of the assignment `cnn_digits`.

Fast and in-process, apart from three training runs of a few seconds each (one BLAS thread).
"""
import math
import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from autograder import notebook_cells
from autograder.checks import cnn_digits as checks
from autograder.mistakes import by_name, catalogue, mistakes_for
from autograder.paths import source_notebook
from autograder.references import cnn as cnn_reference
from autograder.solutions import load_solution
from convbook import eval_numerical_gradient, rel_error
from convbook.digits import N_TEST, N_TRAIN, N_VAL, load_digits_split, random_shift

ASSIGNMENT = "cnn_digits"

# Which hidden check stands for which test cell, called on a solution module (and the digits data).
HIDDEN = {
    "test_init_params": lambda m, d, s: checks.verdict_init_params(m.init_params, s, d),
    "test_loss_value": lambda m, d, s: checks.verdict_loss_value(m.cnn_loss, s, d["X_train"]),
    "test_loss_gradients": lambda m, d, s: checks.verdict_loss_gradients(m.cnn_loss, s, d["X_train"]),
    "test_gradient_errors": lambda m, d, s: checks.verdict_gradient_errors(m.gradient_errors, s),
    "test_adam": lambda m, d, s: checks.verdict_adam(m.adam_update, s),
    "test_train": lambda m, d, s: checks.verdict_train(m.train, d),
}


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):   # as the notebook does: tiny matrices
        yield


@pytest.fixture(scope="module")
def data():
    return load_digits_split()


@pytest.fixture(scope="module")
def sol():
    return load_solution(ASSIGNMENT)


@pytest.fixture(scope="module")
def answers():
    return notebook_cells.answers(notebook_cells.read(source_notebook(ASSIGNMENT)))


@pytest.fixture(scope="module")
def notebook():
    return notebook_cells.read(source_notebook(ASSIGNMENT))


@pytest.fixture(scope="module")
def trained(sol, data):
    """The notebook's training run: init_params(seed=0), train with its defaults."""
    return sol.train(sol.init_params(seed=0), data, sol.cnn_loss, sol.adam_update, verbose=False)


def prose(notebook):
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


# ---- the data --------------------------------------------------------------------------------------

def test_split_sizes_shapes_and_dtypes(data):
    assert (N_TRAIN, N_VAL, N_TEST) == (1257, 180, 360)
    for part, n in (("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST)):
        X, y = data[f"X_{part}"], data[f"y_{part}"]
        assert X.shape == (n, 1, 8, 8) and X.dtype == np.float64 and X.flags["C_CONTIGUOUS"]
        assert y.shape == (n,) and y.dtype == np.int64 and set(np.unique(y)) == set(range(10))


def test_split_is_stratified_disjoint_complete_and_seeded(data):
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts = np.bincount(digits.target)
    assert len(digits.target) == 1797 and counts.min() == 174 and counts.max() == 183
    for part, n in (("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST)):
        # every digit in the proportion of the whole set, to within one image
        assert np.all(np.abs(np.bincount(data[f"y_{part}"], minlength=10) - n * counts / counts.sum()) < 1), part
    assert set(np.bincount(data["y_test"])) == {35, 36, 37}           # "the 35-37 test images of that digit"
    # the three parts together are the 1,797 images, each once
    pixels = np.concatenate([data[f"X_{p}"] for p in ("train", "val", "test")]) * data["std"] + data["mean"]
    ours = np.round(pixels.reshape(1797, 64) * 16).astype(int)
    theirs = digits.images.reshape(1797, 64).astype(int)
    assert sorted(map(tuple, ours)) == sorted(map(tuple, theirs))
    again = load_digits_split()
    assert all(np.array_equal(data[k], again[k]) for k in data)
    other = load_digits_split(seed=1)
    assert not np.array_equal(data["y_test"], other["y_test"])


def test_standardisation_uses_the_training_pixels(data):
    X = data["X_train"]
    assert abs(X.mean()) < 1e-12 and abs(X.std() - 1) < 1e-12
    background = (0.0 - data["mean"]) / data["std"]
    assert X.min() == pytest.approx(background) and round(background, 2) == -0.81     # "about -0.81"
    for part in ("train", "val", "test"):
        assert np.allclose(data[f"X_{part}"].min(axis=(1, 2, 3)), background)     # every image has background


def test_random_shift_moves_each_image_by_at_most_one_pixel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2, 5, 6))
    X_before = X.copy()
    shifted = random_shift(X, np.random.default_rng(1))
    assert np.array_equal(X, X_before) and shifted.shape == X.shape
    seen = set()
    for n in range(len(X)):
        low = X[n].min()
        matches = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                moved = np.full_like(X[n], low)
                src = X[n][:, max(0, -dy):5 - max(0, dy), max(0, -dx):6 - max(0, dx)]
                moved[:, max(0, dy):5 - max(0, -dy), max(0, dx):6 - max(0, -dx)] = src
                if np.array_equal(moved, shifted[n]):
                    matches.append((dy, dx))
        assert len(matches) == 1, n
        seen.add(matches[0])
    assert len(seen) == 9, "all nine shifts occur"
    assert np.array_equal(random_shift(X, np.random.default_rng(1)), shifted), "seeded"


# ---- the references ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_reference_network_equals_the_solution(sol, data, seed):
    cases, large = checks.loss_cases(seed, data["X_train"])
    for case in cases + [large]:
        assert np.allclose(sol.cnn_loss(case.params, case.X), checks.reference_loss(case.params, case.X))
        loss, grads = sol.cnn_loss(case.params, case.X, case.y, case.reg)
        ref_loss, ref_grads = checks.reference_loss(case.params, case.X, case.y, case.reg)
        assert loss == pytest.approx(ref_loss, rel=1e-12)
        for k in checks.KEYS:
            assert np.allclose(grads[k], ref_grads[k], rtol=1e-10, atol=1e-14), k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_gradients_agree_with_numeric_ones(data, seed):
    case = checks.gradcheck_case(seed, data["X_train"])
    errors = checks.reference_gradient_errors(checks.reference_loss, case.params, case.X, case.y, case.reg)
    assert max(errors.values()) < checks.GRADIENT_TOLERANCE / 30
    # a non-square, two-channel network, on random images: no kinks to avoid
    rng = np.random.default_rng(seed)
    params = checks.reference_init(3, 5, 4, 6, (2, 6, 10), 0.4, seed, bias_scale=0.3)
    X, y = rng.standard_normal((2, 2, 6, 10)), rng.integers(0, 6, size=2)
    errors = checks.reference_gradient_errors(checks.reference_loss, params, X, y, 0.05)
    assert max(errors.values()) < 1e-6, errors


# Seeds on which, when cases were kept on the reference's own score only, a loss that rounds differently
# (an unshifted softmax: right for these moderate scores) scored 2.6e-7 and 1.8e-7 against the tolerance
# of 1e-6, through a gradient entry of 4e-5; rarely over 1e-6 (none of 2,000 sampled seeds, but CI hit one).
@pytest.mark.parametrize("seed", [1339565912, 1429271108, 0])
def test_the_grader_gradient_check_does_not_depend_on_how_a_right_loss_rounds(data, answers, seed):
    unshifted = load_solution(ASSIGNMENT, by_name(ASSIGNMENT, "softmax_not_shifted").apply(answers))
    case = checks.gradcheck_case(seed, data["X_train"])
    for loss in (unshifted.cnn_loss, checks.reference_loss):
        errors = checks.student_gradient_errors(loss, case)
        assert max(errors.values()) < checks.GRADIENT_TOLERANCE / 20, errors


@pytest.mark.parametrize("h", [1e-6, 1e-4])
def test_the_gradient_errors_check_holds_for_any_step_a_student_may_pick(h):
    """The docstring asks for h = 1e-5; a gradient_errors with h from 1e-6 to 1e-4 is right too, and its
    hidden case has no kink within 1e-4 (seed 31393587 had one for h = 1e-4 before cases were screened so)."""
    def gradient_errors(loss_fn, params, X, y, reg=0.0):
        params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        X = np.array(X, dtype=np.float64)
        _, grads = loss_fn(params, X, y, reg)
        return {k: rel_error(grads[k], eval_numerical_gradient(lambda _: loss_fn(params, X, y, reg)[0], params[k], h))
                for k in params}
    for seed in (31393587, 0, 1):
        assert checks.verdict_gradient_errors(gradient_errors, seed).passed, seed


def test_reference_adam_matches_the_equations():
    rng = np.random.default_rng(3)
    w, state = rng.standard_normal(5), {}
    m = v = np.zeros(5)
    for t in range(1, 6):
        g = rng.standard_normal(5)
        w_next, state = checks.reference_adam(w, g, state, 0.01)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        expected = w - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        assert np.allclose(w_next, expected, rtol=1e-13) and state["t"] == t
        w = w_next


def test_every_diagnosis_variant_changes_the_answer(data):
    cases, _ = checks.loss_cases(5, data["X_train"])
    case = cases[1]                                        # reg > 0, two channels, 5x5 filters
    ref_loss, ref_grads = checks.reference_loss(case.params, case.X, case.y, case.reg)
    for variant, _ in checks.LOSS_VARIANTS:
        assert not checks._close(checks.reference_loss(case.params, case.X, case.y, case.reg, variant)[0],
                                 ref_loss, rtol=1e-8), variant
    for variant, _ in checks.GRAD_VARIANTS:
        assert not checks._grads_match(checks.reference_loss(case.params, case.X, case.y, case.reg, variant)[1],
                                       ref_grads), variant
    w, g, m = np.random.default_rng(1).standard_normal((3, 3, 4))
    state = {"m": m, "v": g ** 2 + 0.1, "t": 3}      # after the first step, where the betas matter
    ref, _ = checks.reference_adam(w, g, state, 0.01, eps=0.1)   # an eps that matters: where eps goes does
    for variant, _ in checks.ADAM_VARIANTS:
        got, _ = checks.reference_adam(w, g, state, 0.01, eps=0.1, variant=variant)
        assert not (np.all(np.isfinite(got)) and np.allclose(got, ref)), variant


@pytest.mark.parametrize("seed", range(10))
def test_huge_case_overflows_an_unshifted_softmax(data, seed):
    _, large = checks.loss_cases(seed, data["X_train"])
    scores = checks.reference_loss(large.params, large.X)
    assert scores.max() >= 2000 - 1e-9        # np.exp overflows above 709
    with np.errstate(over="ignore", invalid="ignore"):
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert not np.all(np.isfinite(probs))


def test_weight_statistics_accept_right_draws_and_reject_wrong_ones():
    rng = np.random.default_rng(0)
    shapes = [(32, 1, 3, 3), (512, 128), (128, 10), (5, 2, 5, 5), (60, 17), (17, 4)]
    for _ in range(500):
        for shape in shapes:
            assert checks.looks_normal(0.1 * rng.standard_normal(shape), 0.1), shape
    for shape in shapes:
        assert not checks.looks_normal(rng.standard_normal(shape), 0.1)          # not scaled
        assert not checks.looks_normal(0.1 * rng.random(shape), 0.1)              # uniform on [0, 0.1)
        assert not checks.looks_normal(0.5 * rng.standard_normal(shape), 0.1)


def test_reference_init_draws_what_init_params_draws(sol):
    for seed in (0, 5):
        ours, theirs = checks.reference_init(**checks.NETWORK, seed=seed), sol.init_params(seed=seed)
        assert all(np.array_equal(ours[k], theirs[k]) for k in checks.KEYS)


def test_initial_loss_of_the_reference_is_near_log10(data):
    losses = np.array([checks._initial_loss(checks.reference_init(**checks.NETWORK, seed=s), data)
                       for s in range(100)])
    assert np.max(np.abs(losses - math.log(10))) < 0.6 * checks.INITIAL_LOSS_TOLERANCE
    # the prose: seed 0 gives 2.302; other seeds between about 2.28 and 2.33; 2.305 on average over 100 seeds
    assert round(losses[0], 3) == 2.302
    assert 2.28 < losses.min() < 2.295 and 2.31 < losses.max() < 2.33
    assert round(losses.mean(), 3) == 2.305 and losses.mean() > math.log(10)


# ---- the hidden checks pass the solution and fail hand-made mistakes --------------------------------

@pytest.mark.parametrize("cell", sorted(HIDDEN))
def test_solution_passes_the_hidden_checks(sol, data, cell):
    verdict = HIDDEN[cell](sol, data, 123)
    assert verdict.passed, verdict.message


def loss_with(*variant):
    return lambda params, X, y=None, reg=0.0: checks.reference_loss(params, X, y, reg, variant)


@pytest.mark.parametrize("variant, phrase, which", [
    (("summed",), "not averaged over the batch", "value"),
    (("reg_twice_loss",), "counts the L2 penalty twice", "value"),
    (("reg_missing_loss",), "has no L2 penalty", "value"),
    (("reg_on_biases",), "includes the biases", "value"),
    (("nhwc_flatten",), "another order than W2 expects", "value"),
    (("reg_missing_grad",), "leave out the penalty", "gradients"),
    (("reg_twice_grad",), "count the penalty twice", "gradients"),
    (("relu1_dout",), "dout > 0", "gradients"),
    (("relu2_dout",), "dout > 0", "gradients"),
])
def test_loss_diagnoses(data, variant, phrase, which):
    verdict = (checks.verdict_loss_value if which == "value" else checks.verdict_loss_gradients)(
        loss_with(*variant), 7, data["X_train"])
    assert not verdict.passed and phrase in verdict.message, verdict.message


def test_relu_mask_from_the_output_is_right(data, monkeypatch):
    def by_output(params, X, y=None, reg=0.0):
        with monkeypatch.context() as m:     # mask by the ReLU's output: the same places as its input
            m.setattr(cnn_reference, "relu_backward", lambda dout, x: np.where(np.maximum(x, 0) > 0, dout, 0.0))
            return checks.reference_loss(params, X, y, reg)
    assert checks.verdict_loss_gradients(by_output, 7, data["X_train"]).passed


def test_loss_that_modifies_params_in_place_is_caught(data):
    def scaling(params, X, y=None, reg=0.0):
        params["W3"] *= 1.0 + 1e-3
        return checks.reference_loss(params, X, y, reg)
    verdict = checks.verdict_loss_value(scaling, 0, data["X_train"])
    assert not verdict.passed and "in place" in verdict.message


def test_grader_gradient_check_catches_a_loss_inconsistent_with_its_gradients(data):
    def loss_twice_penalised(params, X, y=None, reg=0.0):
        out = checks.reference_loss(params, X, y, reg)
        if y is None:
            return out
        return out[0] + 0.5 * reg * sum(np.sum(params[k] ** 2) for k in checks.WEIGHTS), out[1]
    verdict = checks.verdict_loss_gradients(loss_twice_penalised, 3, data["X_train"])
    assert not verdict.passed and "own gradient check" in verdict.message


@pytest.mark.parametrize("variant, phrase", [(v, s[:25]) for v, s in checks.ADAM_VARIANTS])
def test_adam_diagnoses(variant, phrase):
    def wrong(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        return checks.reference_adam(w, dw, state, lr, beta1, beta2, eps, variant=variant)
    verdict = checks.verdict_adam(wrong, 11)
    assert not verdict.passed and phrase in verdict.message, verdict.message


def test_adam_state_may_be_updated_in_place_but_not_w():
    def in_place_state(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        next_w, new = checks.reference_adam(w, dw, state, lr, beta1, beta2, eps)
        state.update(new)
        return next_w, state
    assert checks.verdict_adam(in_place_state, 2).passed

    def in_place_w(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        next_w, new = checks.reference_adam(w, dw, state, lr, beta1, beta2, eps)
        w[...] = next_w
        return w, new
    verdict = checks.verdict_adam(in_place_w, 2)
    assert not verdict.passed and "in place" in verdict.message

    def forgetful(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        return checks.reference_adam(w, dw, {}, lr, beta1, beta2, eps)[0], {}
    verdict = checks.verdict_adam(forgetful, 2)
    assert not verdict.passed and "not carried" in verdict.message

    def fixed_betas(w, dw, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        return checks.reference_adam(w, dw, state, lr)
    verdict = checks.verdict_adam(fixed_betas, 2)
    assert not verdict.passed and "you are given" in verdict.message


def test_gradient_errors_diagnoses():
    def float32_check(loss_fn, params, X, y, reg=0.0):      # no cast to float64
        params = {k: v.copy() for k, v in params.items()}
        _, grads = loss_fn(params, X, y, reg)
        return {k: rel_error(grads[k], eval_numerical_gradient(lambda _: loss_fn(params, X, y, reg)[0], params[k]))
                for k in params}
    verdict = checks.verdict_gradient_errors(float32_check, 1)
    assert not verdict.passed and "ran in float32" in verdict.message

    def numeric_without_reg(loss_fn, params, X, y, reg=0.0):
        params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        _, grads = loss_fn(params, X, y, reg)
        return {k: rel_error(grads[k], eval_numerical_gradient(lambda _: loss_fn(params, X, y)[0], params[k]))
                for k in params}
    verdict = checks.verdict_gradient_errors(numeric_without_reg, 1)
    assert not verdict.passed and "pass the same reg" in verdict.message

    def all_fine(loss_fn, params, X, y, reg=0.0):
        return {k: 0.0 for k in params}
    verdict = checks.verdict_gradient_errors(all_fine, 1)
    assert not verdict.passed and "did not notice wrong gradients" in verdict.message


def test_train_check_rejects_a_made_up_history(sol, data):
    def fake_history(params, data, loss_fn, update_fn, **settings):
        trained, history = sol.train(params, data, loss_fn, update_fn, **settings)
        history["val_acc"][-1] = 1.0
        return trained, history
    verdict = checks.verdict_train(fake_history, data)
    assert not verdict.passed and "record the accuracy" in verdict.message


# ---- the catalogue of mistakes -------------------------------------------------------------------------

def test_catalogue_is_complete(answers):
    names = [m.name for m in mistakes_for(ASSIGNMENT)]
    assert len(names) >= 5 and len(names) == len(set(names))
    module = catalogue(ASSIGNMENT)
    demo = [by_name(ASSIGNMENT, n) for n in module.DEMO_MISTAKES]
    assert 2 <= len(demo) <= 3 and len({m.cell for m in demo}) == len(demo), "demo mistakes in different exercises"
    assert module.CRASH_CELL in answers
    for mistake in mistakes_for(ASSIGNMENT):
        mistake.apply(answers)                   # the edited text occurs exactly once
        assert set(mistake.fails) <= set(HIDDEN) and mistake.diagnosis


@pytest.mark.parametrize("mistake", mistakes_for(ASSIGNMENT), ids=lambda m: m.name)
def test_each_mistake_fails_its_hidden_checks_with_its_diagnosis(mistake, answers, data):
    module = load_solution(ASSIGNMENT, mistake.apply(answers))
    messages = []
    for cell in mistake.fails:
        verdict = HIDDEN[cell](module, data, 9)
        assert not verdict.passed, f"{mistake.name} passes {cell}"
        messages.append(verdict.message)
    assert mistake.diagnosis in "\n".join(messages)


def test_crash_cell_has_no_graded_dependants(notebook):
    """Only ungraded cells call the function of the crash cell, so the later tests are still graded."""
    crash = catalogue(ASSIGNMENT).CRASH_CELL
    cell = next(c for c in notebook.cells if notebook_cells.grade_id(c) == crash)
    name = re.search(r"^def (\w+)\(", cell.source, re.M).group(1)
    users = [notebook_cells.grade_id(c) for c in notebook.cells if c.cell_type == "code" and c is not cell
             and re.search(rf"\b{name}\(", c.source)]
    assert [u for u in users if u] == ["test_gradient_errors"], users


# ---- the notebook ------------------------------------------------------------------------------------

def test_points_and_hidden_regions(notebook):
    tests = {notebook_cells.grade_id(c): c for c in notebook.cells if notebook_cells.is_test(c)}
    assert {k: notebook_cells.points(c) for k, c in tests.items()} == {
        "test_init_params": 2, "test_loss_value": 3, "test_gradient_errors": 2, "test_loss_gradients": 3,
        "test_adam": 3, "test_train": 3, "test_run_time": 1}
    for grade_id, cell in tests.items():
        hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        calls = re.findall(r"(check_\w+)\((\w+)\)", hidden[0])
        assert len(calls) == 1, grade_id                       # one check, one student function
    imports = notebook.cells[1]
    assert "imports" in imports.metadata["tags"] and notebook_cells.nbgrader_meta(imports)["locked"]
    assert "NOTEBOOK_START = time.perf_counter()" in imports.source
    assert notebook_cells.grade_id(notebook.cells[-1]) == "test_run_time"


def test_default_hyperparameters_are_the_graded_ones(sol):
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(sol.train).parameters.items()
                if v.default is not inspect.Parameter.empty}
    assert {k: defaults[k] for k in checks.TRAINING} == checks.TRAINING
    defaults = {k: v.default for k, v in inspect.signature(sol.init_params).parameters.items()}
    assert {k: defaults[k] for k in checks.NETWORK} == checks.NETWORK


def test_reference_training_reaches_the_accuracy(sol, data, trained):
    params, history = trained
    scores = sol.cnn_loss(params, data["X_test"])
    accuracy = sol.accuracy(scores, data["y_test"])
    assert accuracy >= 0.98 >= checks.ACCURACY_THRESHOLD                     # "about 98%" / 98-99%
    mistakes = [(int(t), int(p)) for t, p in zip(data["y_test"], scores.argmax(axis=1)) if t != p]
    assert 3 <= len(mistakes) <= 8                                            # "between 3 and 8"
    assert (2, 1) in mistakes                                                 # the slanted 2 read as a 1
    assert len(history["loss"]) == 240                                        # "240 steps"
    assert history["loss"][0] == pytest.approx(math.log(10), abs=0.1)        # "starts near log 10"
    assert history["train_acc"][-1] > history["val_acc"][-1]
    assert 1 / 360 == pytest.approx(0.0028, abs=5e-5)                         # "0.28 percentage points"


def test_without_shifts_the_network_fits_the_training_set_but_tests_worse(sol, data, answers):
    unshifted = load_solution(ASSIGNMENT, answers)
    unshifted.random_shift = lambda X, rng: X
    params, history = unshifted.train(unshifted.init_params(seed=0), data, unshifted.cnn_loss,
                                      unshifted.adam_update, verbose=False)
    assert history["train_acc"][-1] >= 0.998                                  # "99.9% after 12 epochs"
    test = unshifted.accuracy(unshifted.cnn_loss(params, data["X_test"]), data["y_test"])
    assert 0.97 <= test <= 0.978                                              # "about 97.5%"


def test_numbers_in_the_prose(sol, data, notebook):
    text = prose(notebook)
    params = sol.init_params(seed=0)
    sizes = {k: v.size for k, v in params.items()}
    assert sum(sizes.values()) == 67274 and "67,274 parameters" in text
    assert sizes["W2"] == 65536 and round(100 * 65536 / 67274) == 97
    assert sizes["W1"] + sizes["b1"] == 320 == 32 * 9 + 32
    assert 2 * 67274 == 134548 and "134,548" in text
    small = sol.init_params(num_filters=2, hidden_dim=5, seed=1)
    assert sum(v.size for v in small.values()) == 245 and "245 parameters" in text
    assert 12 * math.ceil(1257 / 64) == 240
    assert 1e-2 * 0.75 ** 11 == pytest.approx(4e-4, rel=0.1)                 # the learning rate of epoch 12
    assert 0.1 / math.sqrt(0.001) == pytest.approx(3.2, abs=0.05)
    assert math.log(10) == pytest.approx(2.303, abs=5e-4) and math.log(100) == pytest.approx(4.605, abs=5e-4)
    # weights of standard deviation 1: scores of about a thousand, a loss in the hundreds
    big = sol.init_params(weight_scale=1.0, seed=0)
    X, y = data["X_train"][:300], data["y_train"][:300]
    assert 500 < np.abs(sol.cnn_loss(big, X)).max() < 2000
    assert 100 <= sol.cnn_loss(big, X, y)[0] < 1000
    # small weights: scores spread by a few hundredths
    assert 0.01 < sol.cnn_loss(params, X).std() < 0.1
    # at initialisation the gradient of W1 is about ten times larger than that of W2
    _, grads = sol.cnn_loss(params, data["X_train"][:64], data["y_train"][:64], 1e-3)
    rms = {k: np.sqrt(np.mean(v ** 2)) for k, v in grads.items()}
    assert 7 < rms["W1"] / rms["W2"] < 15


def test_gradient_check_cells_show_what_the_prose_says(sol, data):
    # the float32 demonstration (cell "What float32 would do")
    rng = np.random.default_rng(23)
    demo = {name: 0.5 * rng.standard_normal(shape) for name, shape in
            {"W1": (2, 1, 3, 3), "b1": (2,), "W2": (32, 5), "b2": (5,), "W3": (5, 10), "b3": (10,)}.items()}
    X_demo, y_demo = data["X_train"][:3], data["y_train"][:3]
    errors = {}
    for dtype in (np.float64, np.float32):
        p = {k: v.astype(dtype) for k, v in demo.items()}
        X_d = X_demo.astype(dtype)
        _, grads = sol.cnn_loss(p, X_d, y_demo)
        numeric = eval_numerical_gradient(lambda _: sol.cnn_loss(p, X_d, y_demo)[0], p["b3"])
        errors[dtype] = rel_error(grads["b3"], numeric)
    assert errors[np.float64] < 1e-8 and 1e-2 <= errors[np.float32] <= 1e-1   # "between 1e-2 and 1e-1"
    # the check of the student's own small network: "below 1e-7 or so"
    rng = np.random.default_rng(24)
    small = sol.init_params(num_filters=2, hidden_dim=5, weight_scale=0.5, seed=1)
    for name in ("b1", "b2", "b3"):
        small[name] = 0.5 * rng.standard_normal(small[name].shape)
    errors = sol.gradient_errors(sol.cnn_loss, small, data["X_train"][:3], data["y_train"][:3], reg=0.1)
    assert max(errors.values()) < 1e-7


def test_linear_classifier_of_the_train_test(sol, data):
    from convbook.layers import affine_backward, affine_forward, softmax_loss

    def linear_loss(params, X, y=None, reg=0.0):
        scores, cache = affine_forward(X, params["W"], params["b"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        _, dW, db = affine_backward(dscores, cache)
        return loss, {"W": dW, "b": db}

    params, history = sol.train({"W": np.zeros((64, 10)), "b": np.zeros(10)}, data, linear_loss,
                                lambda w, dw, state, lr: (w - lr * dw, state), epochs=2, batch_size=100, lr=0.1,
                                lr_decay=1.0, reg=0.0, seed=0, verbose=False)
    assert 0.75 <= history["val_acc"][-1] <= 0.85                              # "about 80%"
