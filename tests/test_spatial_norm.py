"""References, checks and the experiment's claims behind the assignment `spatial_norm` (in-process)."""
import numpy as np
import pytest

from autograder import notebook_cells
from autograder.checks import spatial_norm as checks
from autograder.paths import source_notebook
from autograder.references.spatial_norm import (
    batchnorm_statistics,
    spatial_batchnorm_backward_reference,
    spatial_batchnorm_reference,
    spatial_groupnorm_backward_reference,
    spatial_groupnorm_reference,
)
from autograder.solutions import load_solution
from convbook import eval_numerical_gradient_array


@pytest.fixture(scope="module")
def sol():
    return load_solution("spatial_norm")


def test_batchnorm_reference_matches_the_definition_channel_by_channel():
    case = checks.bn_cases(0)[0]
    x, gamma, beta = case["x"], case["gamma"], case["beta"]
    out = spatial_batchnorm_reference(x, gamma, beta, *batchnorm_statistics(x), 1e-3)
    for c in range(x.shape[1]):
        values = x[:, c]
        expected = gamma[c] * (values - values.mean()) / np.sqrt(values.var() + 1e-3) + beta[c]
        assert np.allclose(out[:, c], expected)


def test_groupnorm_reference_is_layer_norm_for_one_group_and_instance_norm_for_c_groups():
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 5)) * 3 + 1
    ones, zeros = np.ones(4), np.zeros(4)
    layer = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(1, 2, 3), keepdims=True) + 1e-5)
    instance = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5)
    assert np.allclose(spatial_groupnorm_reference(x, ones, zeros, 1, 1e-5), layer)
    assert np.allclose(spatial_groupnorm_reference(x, ones, zeros, 4, 1e-5), instance)


@pytest.mark.parametrize("seed", [0, 1])
def test_backward_references_agree_with_numeric_gradients_in_float64(seed):
    for case in checks.bn_cases(seed)[:2]:
        x, gamma, beta, dout, eps = case["x"], case["gamma"], case["beta"], case["dout"], case["param"]["eps"]
        forward = lambda v, g, b: spatial_batchnorm_reference(v, g, b, *batchnorm_statistics(v), eps)
        dx, dgamma, dbeta = spatial_batchnorm_backward_reference(dout, x, gamma, eps)
        assert np.allclose(dx, eval_numerical_gradient_array(lambda v: forward(v, gamma, beta), x.copy(), dout), atol=1e-7)
        assert np.allclose(dgamma, eval_numerical_gradient_array(lambda v: forward(x, v, beta), gamma.copy(), dout), atol=1e-6)
        assert np.allclose(dbeta, eval_numerical_gradient_array(lambda v: forward(x, gamma, v), beta.copy(), dout), atol=1e-6)
    for case in checks.gn_cases(seed)[:3]:
        x, gamma, beta, G, eps, dout = (case[k] for k in ("x", "gamma", "beta", "G", "eps", "dout"))
        dx, dgamma, _ = spatial_groupnorm_backward_reference(dout, x, gamma, G, eps)
        numeric = eval_numerical_gradient_array(lambda v: spatial_groupnorm_reference(v, gamma, beta, G, eps), x.copy(), dout)
        assert np.allclose(dx, numeric, atol=1e-7)
        numeric = eval_numerical_gradient_array(lambda v: spatial_groupnorm_reference(x, v, beta, G, eps), gamma.copy(), dout)
        assert np.allclose(dgamma, numeric, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_solution_passes_every_hidden_check(sol, seed):
    verdicts = [checks.verdict_bn_forward_train(sol.spatial_batchnorm_forward, seed),
                checks.verdict_bn_forward_test(sol.spatial_batchnorm_forward, seed),
                checks.verdict_bn_backward(sol.spatial_batchnorm_backward, seed),
                checks.verdict_gn_forward(sol.spatial_groupnorm_forward, seed),
                checks.verdict_gn_backward(sol.spatial_groupnorm_backward, seed)]
    assert all(v.passed for v in verdicts), [v.message for v in verdicts if not v.passed]


def test_the_running_averages_are_read_back_from_the_students_copy(sol):
    """The training-mode check sees what the function stored in bn_param, and the original is untouched."""
    case = checks.bn_cases(0)[1]
    param = {**case["param"], "mode": "train"}
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in param.items()}
    _, after = checks._with_param_back(sol.spatial_batchnorm_forward)(case["x"], case["gamma"], case["beta"], param)
    assert not np.array_equal(after["running_mean"], before["running_mean"])
    assert all(np.array_equal(param[k], before[k]) for k in before)


def test_a_function_that_raises_gets_a_message_not_a_crash():
    def broken(*args):
        raise NotImplementedError()
    for verdict in (checks.verdict_bn_forward_train(broken, 0), checks.verdict_bn_backward(broken, 0),
                    checks.verdict_gn_forward(broken, 0)):
        assert not verdict.passed and "NotImplementedError" in verdict.message


def test_hidden_cases_cover_non_square_maps_defaults_and_groups():
    cases = checks.bn_cases(0)
    assert any(c["x"].shape[2] != c["x"].shape[3] for c in cases)
    assert any("running_mean" not in c["param"] for c in cases) and any("running_mean" in c["param"] for c in cases)
    groups = [(c["G"], c["x"].shape[1]) for c in checks.gn_cases(0)]
    assert any(G == 1 for G, _ in groups) and any(G == C for G, C in groups) and any(1 < G < C for G, C in groups)


def _experiment_namespace(sol):
    """The notebook's experiment code (its plain, non-test code cells after the answers) with the solutions."""
    namespace = dict(vars(sol))
    nb = notebook_cells.read(source_notebook("spatial_norm"))
    source = next(c.source for c in nb.cells if c.cell_type == "code" and "def train_net" in c.source)
    exec(compile(source, "<experiment>", "exec"), namespace)
    return namespace


def test_the_experiment_shows_what_the_notebook_says(sol):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        ns = _experiment_namespace(sol)
        runs = {(lr, norm): ns["train_net"](norm, lr) for lr in (0.1, 1.0) for norm in (None, "batch")}
        small = {norm: ns["train_net"](norm, 0.05, batch_size=2, epochs=1) for norm in ("batch", "group")}
    # lr 0.1: both about 95% and close to each other
    assert all(0.93 <= runs[0.1, norm][1][-1] <= 0.98 for norm in (None, "batch"))
    # lr 1.0: without normalisation the loss stays near log 10 and accuracy at chance; batch norm learns
    assert abs(np.mean(runs[1.0, None][0][-10:]) - np.log(10)) < 0.05 and runs[1.0, None][1][-1] <= 0.12
    assert runs[1.0, "batch"][1][-1] >= 0.6
    # batch size 2: similar accuracy
    assert abs(small["batch"][1][0] - small["group"][1][0]) < 0.05 and min(small[n][1][0] for n in small) > 0.9


def test_an_images_output_depends_on_its_partner_under_batch_norm_only(sol):
    """The notebook's spread: training-mode batch norm mixes the two images of a batch; group norm never does."""
    rng = np.random.default_rng(5)
    image, partners = rng.standard_normal((1, 4, 4, 4)), rng.standard_normal((5, 1, 4, 4, 4))
    gamma, beta = np.ones(4), np.zeros(4)
    bn = [sol.spatial_batchnorm_forward(np.concatenate([image, p]), gamma, beta, {"mode": "train"})[0][0] for p in partners]
    gn = [sol.spatial_groupnorm_forward(np.concatenate([image, p]), gamma, beta, 2, {})[0][0] for p in partners]
    assert np.ptp(np.array(bn), axis=0).max() > 0.1
    assert np.ptp(np.array(gn), axis=0).max() == 0.0
