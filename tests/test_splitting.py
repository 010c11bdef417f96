"""Tests of flowapprox.splitting: ridge sums, exact neuron flows, splitting, time rescaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from flowapprox import (
    Affine,
    Box,
    PiecewiseConstantControl,
    ResidualBlock,
    RidgeReLU,
    fit_loglog,
    flow,
    grid,
    pl_flow,
    reference_flow,
    ridge_flow,
)
from flowapprox.splitting import (
    RidgeSum,
    hyperplane_points,
    neuron_flow,
    rescale_time,
    splitting_control,
    switching_flow,
)

T = torch.tensor
SIGMA = {"tanh": np.tanh, "sigmoid": lambda s: 1.0 / (1.0 + np.exp(-s))}


def scipy_neuron_flow(x, v, w, b, t, activation):
    """The neuron flow by a tight DOP853 solve of the ODE itself (one point at a time)."""
    sigma = SIGMA[activation]
    out = []
    for x0 in x.numpy():
        sol = solve_ivp(lambda _, y: v.numpy() * sigma(w.numpy() @ y + b), (0.0, t), x0,
                        method="DOP853", rtol=1e-13, atol=1e-13)
        out.append(sol.y[:, -1])
    return torch.as_tensor(np.array(out))


def random_sum(n_neurons=4, dim=2, activation="tanh", seed=0, scale=1.0):
    return RidgeSum.random(n_neurons, dim, activation=activation, scale=scale,
                           generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------- RidgeSum


def test_ridge_sum_evaluates_the_sum_of_neurons(gen):
    field = random_sum(5, 3, "sigmoid")
    x = torch.randn(7, 3, generator=gen)
    expected = sum(torch.sigmoid(x @ field.w[i] + field.b[i])[:, None] * field.v[i] for i in range(5))
    assert torch.allclose(field(x), expected, atol=1e-14)
    assert (field.num_neurons, field.dim) == (5, 3)


def test_ridge_sum_control_integrates_the_sum(gen):
    field = random_sum(3, 2, "relu")
    x = torch.randn(6, 2, generator=gen)
    control = field.control(0.5)
    assert control.horizon == 0.5 and control.family == ResidualBlock(3, "relu")
    assert torch.allclose(control.family.field(x, control.piece(0)), field(x), atol=1e-14)


def test_lipschitz_bound_bounds_difference_quotients(gen):
    field = random_sum(6, 2, "tanh", scale=2.0)
    x, y = torch.randn(500, 2, generator=gen), torch.randn(500, 2, generator=gen)
    quotients = (field(x) - field(y)).norm(dim=1) / (x - y).norm(dim=1)
    assert float(quotients.max()) <= field.lipschitz_bound()


def test_to_piecewise_linear_matches_the_field_and_gives_exact_flows():
    field = RidgeSum(T([[1.0], [-2.0], [0.5], [3.0]]), T([[1.0], [-1.0], [2.0], [0.0]]),
                     T([0.0, 1.0, -1.0, 0.25]))
    pl = field.to_piecewise_linear()
    x = torch.linspace(-4.0, 4.0, 401)
    assert torch.allclose(pl(x), field(x[:, None])[:, 0], atol=1e-14)
    exact = pl_flow(pl, x, 0.3)
    solved = reference_flow(field.control(0.3), x[:, None], rtol=1e-12, atol=1e-12)[:, 0]
    assert float((exact - solved).abs().max()) < 1e-7


def test_to_piecewise_linear_without_kinks():
    pl = RidgeSum(T([[2.0]]), T([[0.0]]), T([1.5])).to_piecewise_linear()
    assert torch.allclose(pl(T([-3.0, 0.0, 5.0])), T([3.0, 3.0, 3.0]))


def test_random_is_reproducible():
    a, b = random_sum(seed=3), random_sum(seed=3)
    assert torch.equal(a.v, b.v) and torch.equal(a.w, b.w) and torch.equal(a.b, b.b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"v": torch.ones(3)}, ValueError, "v must have 2 dimension"),
        ({"v": torch.ones(0, 2)}, ValueError, "at least one neuron"),
        ({"w": torch.ones(3, 3)}, ValueError, r"w must have shape \(3, 2\)"),
        ({"b": torch.ones(2)}, ValueError, r"b must have shape \(3\)"),
        ({"b": torch.ones(3, dtype=torch.float32)}, TypeError, "b has dtype"),
        ({"activation": "gelu"}, ValueError, "activation must be one of"),
        ({"w": torch.full((3, 2), math.nan)}, ValueError, "w must be finite"),
    ],
)
def test_ridge_sum_rejects_bad_input(kwargs, error, match):
    args = {"v": torch.ones(3, 2), "w": torch.ones(3, 2), "b": torch.zeros(3), "activation": "relu"}
    with pytest.raises(error, match=match):
        RidgeSum(**{**args, **kwargs})


def test_ridge_sum_methods_reject_bad_input():
    field = random_sum(2, 2, "relu")
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\)"):
        field(torch.ones(3, 3))
    with pytest.raises(TypeError, match="x has dtype"):
        field(torch.ones(3, 2, dtype=torch.float32))
    with pytest.raises(ValueError, match="t must be non-negative"):
        field.control(-1.0)
    with pytest.raises(ValueError, match="one-dimensional ReLU sum"):
        field.to_piecewise_linear()
    with pytest.raises(ValueError, match="num_neurons must be a positive integer"):
        RidgeSum.random(0, 2)


# ----------------------------------------------------------------------- neuron_flow


def test_relu_neuron_flow_is_the_library_ridge_flow(gen):
    control = PiecewiseConstantControl.random(RidgeReLU(), 2, pieces=1, horizon=1.3, generator=gen)
    x = torch.randn(50, 2, generator=gen)
    v, w, b = (control.params[k][0] for k in ("v", "w", "b"))
    assert torch.equal(neuron_flow(x, v, w, b, 1.3), ridge_flow(control, x))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("t", [0.7, -0.9, 3.0])
def test_smooth_neuron_flows_match_an_ode_solver(activation, t, gen):
    v, w = T([1.2, -0.7]), T([0.9, 1.4])
    x = torch.cat([torch.randn(6, 2, generator=gen) * 3, T([[8.0, 6.0], [-9.0, -5.0]])])
    exact = neuron_flow(x, v, w, 0.3, t, activation=activation)
    assert torch.allclose(exact, scipy_neuron_flow(x, v, w, 0.3, t, activation), atol=1e-11)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_neuron_flow_has_the_group_property(activation, gen):
    v, w, b = T([0.4, -1.1]), T([-0.8, 0.6]), T(0.2)
    x = torch.randn(20, 2, generator=gen) * 2
    twice = neuron_flow(neuron_flow(x, v, w, b, 0.4, activation=activation), v, w, b, 0.9,
                        activation=activation)
    assert torch.allclose(twice, neuron_flow(x, v, w, b, 1.3, activation=activation), atol=1e-12)
    back = neuron_flow(neuron_flow(x, v, w, b, 1.3, activation=activation), v, w, b, -1.3,
                       activation=activation)
    assert torch.allclose(back, x, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_neuron_flow_is_continuous_at_a_equal_zero(activation):
    x = T([[0.3, -0.2], [1.5, 2.0], [-2.0, 0.1]])
    w = T([1.0, 0.5])
    perpendicular = T([-0.5, 1.0])  # a = w . v = 0: constant speed sigma(s0) along v
    sigma = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    expected = x + 2.0 * sigma(x @ w + 0.1)[:, None] * perpendicular
    assert torch.allclose(neuron_flow(x, perpendicular, w, 0.1, 2.0, activation=activation),
                          expected, atol=1e-15)
    for tilt in (1e-13, 1e-9, 1e-6):  # the small-|at| series joins the closed form smoothly
        nearly = neuron_flow(x, perpendicular + tilt * w, w, 0.1, 2.0, activation=activation)
        assert torch.allclose(nearly, expected, atol=10 * tilt)


def test_sigmoid_flow_is_accurate_deep_in_the_saturated_region():
    # s0 = -30: the point creeps with speed ~ e^-30; relative accuracy of the motion matters
    x, v, w = T([[-30.0]]), T([1.0]), T([1.0])
    moved = neuron_flow(x, v, w, 0.0, 2.0, activation="sigmoid") - x
    expected = -math.log(math.exp(30.0) - 2.0) + 30.0  # s - e^-s = s0 - e^-s0 + t, s ~ -30
    assert float(moved) == pytest.approx(expected, rel=1e-9)


def test_tanh_flow_beyond_the_range_of_sinh():
    # sinh s(t) = sinh(s0) e^800 overflows float64, the answer does not: s ~ 800 + log(2 sinh s0)
    x = T([[1.0], [1e-200], [0.0], [-3.0]])
    moved = neuron_flow(x, T([1.0]), T([1.0]), 0.0, 800.0, activation="tanh")[:, 0]
    expected = [800 + math.log(2 * math.sinh(1.0)), 800 + math.log(2e-200), 0.0,
                -800 - math.log(2 * math.sinh(3.0))]
    assert torch.allclose(moved, T(expected), rtol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": torch.ones(3)}, ValueError, r"x must have shape \(\*, \*\)"),
        ({"v": torch.ones(3)}, ValueError, r"v must have shape \(2\)"),
        ({"w": torch.ones(2, dtype=torch.float32)}, TypeError, "w has dtype"),
        ({"b": torch.ones(2)}, ValueError, r"b must have shape \(\)"),
        ({"b": "1"}, TypeError, "b must be a real number"),
        ({"t": math.inf}, ValueError, "t must be finite"),
        ({"activation": "elu"}, ValueError, "activation must be one of"),
    ],
)
def test_neuron_flow_rejects_bad_input(kwargs, error, match):
    args = {"x": torch.ones(3, 2), "v": torch.ones(2), "w": torch.ones(2), "b": 0.0, "t": 1.0}
    with pytest.raises(error, match=match):
        neuron_flow(**{**args, **kwargs})


def test_neuron_flow_reports_blow_up():
    with pytest.raises(FloatingPointError, match="non-finite"):
        neuron_flow(T([[1.0]]), T([1.0]), T([1.0]), 0.0, 800.0)


# -------------------------------------------------------------- switching and splitting


def test_switching_flow_accepts_ridge_relu_controls(gen):
    control = PiecewiseConstantControl.random(RidgeReLU(), 2, pieces=5, generator=gen)
    x = torch.randn(30, 2, generator=gen)
    assert torch.equal(switching_flow(control, x), ridge_flow(control, x))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_switching_flow_matches_the_reference_solver(activation, gen):
    control = PiecewiseConstantControl.random(ResidualBlock(1, activation), 2, pieces=4,
                                              scale=2.0, generator=gen)
    x = torch.randn(25, 2, generator=gen)
    solved = reference_flow(control, x, rtol=1e-12, atol=1e-12)
    assert torch.allclose(switching_flow(control, x), solved, atol=1e-9)


def test_switching_flow_rejects_bad_input(gen):
    wide = PiecewiseConstantControl.random(ResidualBlock(2), 2, pieces=2, generator=gen)
    with pytest.raises(TypeError, match="single neurons"):
        switching_flow(wide, torch.ones(3, 2))
    with pytest.raises(TypeError, match="control must be a PiecewiseConstantControl"):
        switching_flow("control", torch.ones(3, 2))
    single = PiecewiseConstantControl.random(ResidualBlock(1), 2, pieces=2, generator=gen)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\)"):
        switching_flow(single, torch.ones(3, 1))


def test_splitting_controls_have_the_expected_pieces():
    field = random_sum(4, 2)
    lie = splitting_control(field, 2.0, 10)
    strang = splitting_control(field, 2.0, 10, scheme="strang")
    assert lie.num_pieces == 40 and lie.horizon == pytest.approx(8.0)
    assert strang.num_pieces == 10 * (2 * 4 - 2) + 1 and strang.horizon == pytest.approx(8.0)
    assert lie.family == ResidualBlock(1, "tanh")


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_splitting_of_a_single_neuron_is_exact(activation):
    field = random_sum(1, 2, activation)
    x = grid(Box.cube(2, -1.0, 1.0), 5)
    exact = neuron_flow(x, field.v[0], field.w[0], field.b[0], 1.0, activation=activation)
    for scheme in ("lie", "strang"):
        split = switching_flow(splitting_control(field, 1.0, 7, scheme=scheme), x)
        assert torch.allclose(split, exact, atol=1e-13)


def test_splitting_orders_for_a_smooth_sum():
    field = random_sum(3, 2, "tanh")
    x = grid(Box.cube(2, -1.0, 1.0), 4)
    exact = reference_flow(field.control(1.0), x, rtol=1e-13, atol=1e-13)
    rounds = [8, 16, 32, 64]
    for scheme, order in (("lie", 1.0), ("strang", 2.0)):
        errors = [float((switching_flow(splitting_control(field, 1.0, k, scheme=scheme), x)
                         - exact).abs().max()) for k in rounds]
        assert -fit_loglog(rounds, errors).slope == pytest.approx(order, abs=0.05)


def test_convex_weights_give_the_same_map_with_horizon_t():
    field = random_sum(3, 2, "sigmoid")
    x = grid(Box.cube(2, -1.0, 1.0), 4)
    weights = T([0.2, 0.3, 0.5])
    plain = splitting_control(field, 1.0, 16)
    convex = splitting_control(field, 1.0, 16, weights=weights)
    assert convex.horizon == pytest.approx(1.0) and plain.horizon == pytest.approx(3.0)
    assert torch.allclose(switching_flow(plain, x), switching_flow(convex, x), atol=1e-13)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"field": "f"}, TypeError, "field must be a RidgeSum"),
        ({"t": -1.0}, ValueError, "t must be non-negative"),
        ({"rounds": 0}, ValueError, "rounds must be a positive integer"),
        ({"scheme": "yoshida"}, ValueError, "scheme must be one of"),
        ({"weights": T([1.0, 0.0], dtype=torch.float64)}, ValueError, "weights must be positive"),
        ({"weights": T([1.0])}, ValueError, r"weights must have shape \(2\)"),
    ],
)
def test_splitting_control_rejects_bad_input(kwargs, error, match):
    args = {"field": random_sum(2, 2), "t": 1.0, "rounds": 4}
    with pytest.raises(error, match=match):
        splitting_control(**{**args, **kwargs})


def test_hyperplane_points_lie_on_and_near_the_hyperplanes():
    field = random_sum(3, 2, "relu")
    box = Box.cube(2, -1.0, 1.0)
    base = grid(box, 5)
    points = hyperplane_points(field, base, offsets=(0.0, 0.1))
    assert points.shape == (3 * 2 * 25, 2)
    signed = (points @ field.w.T + field.b) / field.w.norm(dim=1)
    for i in range(3):
        block = signed[i * 50:(i + 1) * 50, i]
        assert torch.allclose(block[:25], torch.zeros(25), atol=1e-14)
        assert torch.allclose(block[25:], torch.full((25,), 0.1), atol=1e-14)
    inside = hyperplane_points(field, base, box=box)
    assert bool((inside.abs() <= 1.0).all()) and len(inside) <= 75


def test_hyperplane_points_reject_bad_input():
    field = random_sum(2, 2, "relu")
    with pytest.raises(TypeError, match="box must be a flowapprox.Box"):
        hyperplane_points(field, torch.ones(3, 2), box=(0, 1))
    flat = RidgeSum(torch.ones(1, 2), torch.zeros(1, 2), torch.zeros(1))
    with pytest.raises(ValueError, match="w != 0"):
        hyperplane_points(flat, torch.ones(3, 2))
    with pytest.raises(TypeError, match="field must be a RidgeSum"):
        hyperplane_points(None, torch.ones(3, 2))


# ------------------------------------------------------------------- time rescaling


@pytest.mark.parametrize(
    ("family", "flow_map"),
    [
        (RidgeReLU(), ridge_flow),
        (ResidualBlock(4, "tanh"), lambda c, x: flow(c, x, method="rk4", steps_per_piece=16)),
        (Affine(), lambda c, x: flow(c, x, method="rk4", steps_per_piece=16)),
    ],
)
def test_rescaling_time_keeps_the_flow_map(family, flow_map, gen):
    control = PiecewiseConstantControl.random(family, 2, pieces=3, generator=gen)
    x = torch.randn(40, 2, generator=gen)
    for factor in (1e-3, 0.5, 7.0, 1e3):
        scaled = rescale_time(control, factor)
        assert scaled.horizon == pytest.approx(control.horizon / factor)
        assert torch.allclose(flow_map(scaled, x), flow_map(control, x), atol=1e-12)
        assert scaled.time_cost == pytest.approx(control.time_cost, rel=1e-12)


def test_time_cost_of_ridge_controls(gen):
    control = PiecewiseConstantControl.random(RidgeReLU(), 3, pieces=4, horizon=2.0, generator=gen)
    v, w = control.params["v"], control.params["w"]
    expected = float((0.5 * v.norm(dim=1) * w.norm(dim=1)).sum())
    assert control.time_cost == pytest.approx(expected, rel=1e-14)


def test_rescaling_rejects_bad_input(gen):
    control = PiecewiseConstantControl.random(RidgeReLU(), 2, pieces=2, generator=gen)
    with pytest.raises(ValueError, match="factor must be positive"):
        rescale_time(control, -2.0)
    with pytest.raises(TypeError, match="control must be a PiecewiseConstantControl"):
        rescale_time("control", 2.0)

    class Other(RidgeReLU):
        name = "another ridge family"

    other = PiecewiseConstantControl(Other(), control.durations, control.params)
    with pytest.raises(TypeError, match="rescale_time supports"):
        rescale_time(other, 2.0)


def test_splitting_errors_match_the_loop_and_have_the_orders(gen):
    from flowapprox import fit_loglog
    from flowapprox.splitting import splitting_errors

    field = RidgeSum.random(3, 2, generator=gen, activation="tanh", dtype=torch.float64)
    x = torch.randn(20, 2, generator=gen, dtype=torch.float64)
    reference = reference_flow(field.control(1.0), x, rtol=1e-12, atol=1e-12)
    rounds = [8, 16, 32, 64]
    lie = splitting_errors(field, 1.0, x, reference, rounds)
    strang = splitting_errors(field, 1.0, x, reference, rounds, scheme="strang")
    assert lie.shape == (4,)
    direct = float((switching_flow(splitting_control(field, 1.0, 8), x) - reference).norm(dim=1).max())
    assert lie[0] == direct
    assert fit_loglog(rounds, lie).order == pytest.approx(1.0, abs=0.15)
    assert fit_loglog(rounds, strang).order == pytest.approx(2.0, abs=0.2)
    with pytest.raises(ValueError, match="reference must have shape"):
        splitting_errors(field, 1.0, x, reference[:3], rounds)
