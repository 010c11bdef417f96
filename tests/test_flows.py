"""Tests of flowapprox.flows: integrator orders, ResNets, closed forms, gradients, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from flowapprox import (
    METHODS,
    Affine,
    FlowBlowUpError,
    PiecewiseConstantControl,
    ResidualBlock,
    RidgeReLU,
    fit_loglog,
    flow,
    reference_flow,
    resnet,
    ridge_flow,
)

T = torch.tensor


def random_control(family, dim, *, pieces=2, horizon=1.0, scale=1.0, seed=0):
    return PiecewiseConstantControl.random(
        family, dim, pieces=pieces, horizon=horizon, scale=scale,
        generator=torch.Generator().manual_seed(seed), dtype=torch.float64,
    )


def tanh_control(seed=0, *, dim=2, pieces=2, width=4, horizon=1.0, scale=1.5):
    return random_control(ResidualBlock(width=width, activation="tanh"), dim, pieces=pieces,
                          horizon=horizon, scale=scale, seed=seed)


def points(n, dim, seed=0, scale=1.0):
    return scale * torch.randn(n, dim, generator=torch.Generator().manual_seed(100 + seed),
                               dtype=torch.float64)


def sub_control(control, start, stop=None):
    stop = start + 1 if stop is None else stop
    return PiecewiseConstantControl(
        control.family, control.durations[start:stop],
        {key: value[start:stop] for key, value in control.params.items()},
    )


def affine_control(As, bs, durations):
    return PiecewiseConstantControl(
        Affine(), T(durations), {"A": T(As), "b": T(bs)}
    )


def affine_closed_form(A, b, t, x):
    """x(t) = e^{tA} x + A^{-1} (e^{tA} - I) b for invertible A (NumPy, rows of x)."""
    E = scipy.linalg.expm(t * A)
    return x @ E.T + np.linalg.solve(A, (E - np.eye(len(b))) @ b)


def ridge_exact_1piece(v, w, b, t, x):
    """Hand-coded closed form of one ridge piece with Python floats (math.expm1)."""
    out = []
    a = sum(vi * wi for vi, wi in zip(v, w))
    for row in x:
        s0 = sum(wi * xi for wi, xi in zip(w, row)) + b
        if s0 <= 0:
            out.append(list(row))
            continue
        ratio = t if a == 0 else math.expm1(a * t) / a
        out.append([xi + vi * s0 * ratio for xi, vi in zip(row, v)])
    return T(out)


# ------------------------------------------------------------------ orders


def test_methods_and_their_orders():
    assert {name: order for name, (_, order) in METHODS.items()} == {
        "euler": 1, "heun": 2, "rk4": 4}


STEPS = {"euler": [8, 16, 32, 64, 128], "heun": [8, 16, 32, 64, 128], "rk4": [4, 8, 16, 32]}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_observed_order_matches_classical_order(method, seed):
    control = tanh_control(seed)
    x = points(8, 2, seed)
    reference = reference_flow(control, x)
    steps = STEPS[method]
    errors = [float(torch.linalg.vector_norm(
        flow(control, x, method=method, steps_per_piece=s) - reference, dim=1).max())
        for s in steps]
    assert errors[-1] > 1e-9  # still far above the reference's own error
    fit = fit_loglog(steps, errors)
    assert -fit.slope == pytest.approx(METHODS[method][1], abs=0.15)
    assert fit.r_squared > 0.99


def test_reference_flow_methods_agree():
    control = tanh_control(3, pieces=3)
    x = points(6, 2, 3)
    dopri5 = reference_flow(control, x)
    rk38 = reference_flow(control, x, method="rk4", steps_per_piece=300)  # the 3/8 rule
    torch.testing.assert_close(rk38, dopri5, rtol=0, atol=1e-9)
    ours = flow(control, x, method="rk4", steps_per_piece=300)  # classical RK4
    torch.testing.assert_close(ours, dopri5, rtol=0, atol=1e-9)
    assert not torch.equal(ours, rk38)  # two different schemes, one flow
    # a loose tolerance is honoured (and is worse)
    loose = reference_flow(control, x, rtol=1e-3, atol=1e-3)
    assert float((loose - ours).abs().max()) > 100 * float((dopri5 - ours).abs().max())


# ------------------------------------------------------------------ ResNet


@pytest.mark.parametrize(
    "family", [ResidualBlock(width=5, activation="relu"), RidgeReLU(), Affine()],
    ids=lambda f: f.name,
)
def test_resnet_is_one_euler_step_per_piece(family):
    control = random_control(family, 3, pieces=4, horizon=2.0, seed=5)
    x = points(7, 3, 5)
    out = resnet(control, x)
    assert torch.equal(out, flow(control, x, method="euler", steps_per_piece=1))
    assert torch.equal(out, flow(control, x, method="euler"))  # the default
    # layer by layer: x_{j+1} = x_j + t_j f(x_j; theta_j)
    y = x
    for j in range(control.num_pieces):
        y = y + control.durations[j] * family.field(y, control.piece(j))
        assert torch.equal(flow(sub_control(control, 0, j + 1), x, method="euler"), y)
    assert torch.equal(out, y)
    assert not torch.allclose(out, flow(control, x, method="rk4", steps_per_piece=4))


def test_default_method_is_rk4():
    control = tanh_control(1)
    x = points(3, 2)
    assert torch.equal(flow(control, x, steps_per_piece=3),
                       flow(control, x, method="rk4", steps_per_piece=3))


# ------------------------------------------------------------------ closed forms


def test_ridge_flow_matches_solvers_on_random_controls():
    control = random_control(RidgeReLU(), 3, pieces=3, horizon=1.0, seed=1)
    x = points(64, 3, 1)
    exact = ridge_flow(control, x)
    assert float((exact - x).abs().max()) > 0.1  # the flow really moves points
    reference = reference_flow(control, x)
    torch.testing.assert_close(exact, reference, rtol=0, atol=1e-9)
    rk4 = flow(control, x, method="rk4", steps_per_piece=200)
    torch.testing.assert_close(exact, rk4, rtol=0, atol=1e-9)


def test_ridge_flow_single_piece_matches_hand_formula():
    v, w, b, t = [0.5, -1.0], [2.0, 1.0], -0.5, 0.8  # a = w.v = 0
    v2 = [0.5, 1.0]  # a = 2
    x = points(20, 2, 2)
    for vv in (v, v2):
        control = PiecewiseConstantControl(
            RidgeReLU(), T([t]), {"v": T([vv]), "w": T([w]), "b": T([b])})
        expected = ridge_exact_1piece(vv, w, b, t, x.tolist())
        torch.testing.assert_close(ridge_flow(control, x), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("a", [0.0, 1e-12, -1e-9, 3e-7, 9.9e-7, 1.01e-6, 1e-3, -2.0])
def test_ridge_flow_near_zero_growth_rate(a):
    # v = (1, a) and w = (0, 1): a = w . v; the series branch is used for |a t| < 1e-6
    t, b = 0.9, 0.25
    v, w = [1.0, a], [0.0, 1.0]
    control = PiecewiseConstantControl(
        RidgeReLU(), T([t]), {"v": T([v]), "w": T([w]), "b": T([b])})
    x = T([[0.3, 0.5], [-1.0, 2.0], [0.0, -0.1]])
    expected = ridge_exact_1piece(v, w, b, t, x.tolist())
    out = ridge_flow(control, x)
    torch.testing.assert_close(out, expected, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(out, reference_flow(control, x), rtol=0, atol=1e-9)
    torch.testing.assert_close(out, flow(control, x, method="rk4", steps_per_piece=200),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("method", ["ridge", "euler", "heun", "rk4", "dopri5"])
def test_points_on_the_inactive_side_do_not_move(method):
    # w . x + b <= 0 (including exactly 0): the field vanishes along the whole trajectory
    control = PiecewiseConstantControl(
        RidgeReLU(), T([1.3]), {"v": T([[2.0, -1.0]]), "w": T([[1.0, 0.0]]), "b": T([-0.5])})
    x = T([[0.5, 3.0], [0.5, -7.0], [-2.0, 1.0], [0.25, 0.0], [0.5000001, 0.0]])
    if method == "ridge":
        out = ridge_flow(control, x)
    elif method == "dopri5":
        out = reference_flow(control, x)
    else:
        out = flow(control, x, method=method, steps_per_piece=7)
    assert torch.equal(out[:4], x[:4])
    assert not torch.equal(out[4], x[4])  # just on the active side: it moves


def test_affine_flow_matches_matrix_exponential():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    A += 2.0 * np.eye(3)  # keep it safely invertible
    assert abs(np.linalg.det(A)) > 0.5
    b = rng.normal(size=3)
    t = 0.7
    x = points(10, 3, 4)
    expected = T(affine_closed_form(A, b, t, x.numpy()))
    control = affine_control([A.tolist()], [b.tolist()], [t])
    torch.testing.assert_close(reference_flow(control, x), expected, rtol=0, atol=1e-9)
    torch.testing.assert_close(flow(control, x, method="rk4", steps_per_piece=400), expected,
                               rtol=0, atol=1e-9)
    # Heun and Euler converge to the same map, with their orders' accuracy
    heun = flow(control, x, method="heun", steps_per_piece=400)
    torch.testing.assert_close(heun, expected, rtol=0, atol=1e-3)


def test_affine_two_pieces_matches_composed_closed_form():
    rng = np.random.default_rng(1)
    A1, A2 = rng.normal(size=(2, 2)) + np.eye(2), rng.normal(size=(2, 2)) - np.eye(2)
    b1, b2 = rng.normal(size=2), rng.normal(size=2)
    t1, t2 = 0.4, 0.9
    x = points(5, 2, 6)
    expected = affine_closed_form(A2, b2, t2, affine_closed_form(A1, b1, t1, x.numpy()))
    control = affine_control([A1.tolist(), A2.tolist()], [b1.tolist(), b2.tolist()], [t1, t2])
    torch.testing.assert_close(reference_flow(control, x), T(expected), rtol=0, atol=1e-9)
    torch.testing.assert_close(flow(control, x, method="rk4", steps_per_piece=100), T(expected),
                               rtol=0, atol=1e-9)


def test_piece_order_matters_composition_is_last_piece_outermost():
    # nilpotent, non-commuting shears: every method is exact (e^{hA} = I + hA)
    shear_x, shear_y = [[0.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]]
    control = affine_control([shear_x, shear_y], [[0.0, 0.0], [0.0, 0.0]], [1.0, 1.0])
    x = points(6, 2, 7)
    phi2_phi1 = x @ T([[1.0, 1.0], [1.0, 2.0]]).T  # e^{A2} e^{A1}
    phi1_phi2 = x @ T([[2.0, 1.0], [1.0, 1.0]]).T  # the wrong order
    assert float((phi2_phi1 - phi1_phi2).abs().max()) > 0.1
    for method in METHODS:
        torch.testing.assert_close(flow(control, x, method=method, steps_per_piece=3),
                                   phi2_phi1, rtol=0, atol=1e-14)
    torch.testing.assert_close(resnet(control, x), phi2_phi1, rtol=0, atol=1e-14)
    torch.testing.assert_close(reference_flow(control, x), phi2_phi1, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_flow_is_the_composition_of_single_piece_flows(method):
    control = tanh_control(4, pieces=3)
    x = points(5, 2, 8)
    y = x
    for j in range(3):
        y = flow(sub_control(control, j), y, method=method, steps_per_piece=4)
    assert torch.equal(flow(control, x, method=method, steps_per_piece=4), y)
    # the reversed order is a different map
    z = x
    for j in reversed(range(3)):
        z = flow(sub_control(control, j), z, method=method, steps_per_piece=4)
    assert float((z - y).abs().max()) > 1e-3


def test_ridge_and_reference_flow_compose_pieces_in_order():
    control = random_control(RidgeReLU(), 2, pieces=3, horizon=1.5, scale=1.5, seed=9)
    x = points(30, 2, 9)
    y = x
    for j in range(3):
        y = ridge_flow(sub_control(control, j), y)
    torch.testing.assert_close(ridge_flow(control, x), y, rtol=0, atol=1e-15)
    z = x
    for j in reversed(range(3)):
        z = ridge_flow(sub_control(control, j), z)
    assert float((z - y).abs().max()) > 1e-3


def test_zero_duration_piece_is_the_identity():
    for family in (ResidualBlock(width=3), RidgeReLU(), Affine()):
        control = random_control(family, 2, pieces=1, horizon=0.0, scale=3.0, seed=2)
        x = points(9, 2, 10)
        for method in METHODS:
            assert torch.equal(flow(control, x, method=method, steps_per_piece=3), x)
        assert torch.equal(reference_flow(control, x), x)
    ridge = random_control(RidgeReLU(), 2, pieces=1, horizon=0.0, seed=3)
    assert torch.equal(ridge_flow(ridge, x), x)


def test_zero_duration_middle_piece_can_be_dropped():
    control = tanh_control(5, pieces=3)
    durations = control.durations.clone()
    durations[1] = 0.0
    with_zero = PiecewiseConstantControl(control.family, durations, control.params)
    keep = [0, 2]
    without = PiecewiseConstantControl(
        control.family, durations[keep], {k: v[keep] for k, v in control.params.items()})
    x = points(4, 2, 11)
    for method in METHODS:
        assert torch.equal(flow(with_zero, x, method=method, steps_per_piece=2),
                           flow(without, x, method=method, steps_per_piece=2))
    torch.testing.assert_close(reference_flow(with_zero, x), reference_flow(without, x),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_save_steps_path(method):
    control = tanh_control(6, pieces=3)
    x = points(4, 2, 12)
    path = flow(control, x, method=method, steps_per_piece=5, save_steps=True)
    assert path.shape == (3 * 5 + 1, 4, 2)
    assert torch.equal(path[0], x)
    assert torch.equal(path[-1], flow(control, x, method=method, steps_per_piece=5))
    assert torch.equal(path[5], flow(sub_control(control, 0), x, method=method,
                                     steps_per_piece=5))
    assert torch.equal(path[10], flow(sub_control(control, 0, 2), x, method=method,
                                      steps_per_piece=5))
    # every saved state is distinct (the path really is the trajectory)
    assert bool((path[1:] - path[:-1]).abs().amax(dim=(1, 2)).gt(0).all())


def test_flow_does_not_modify_inputs():
    control = tanh_control(7)
    x = points(4, 2, 13)
    x_copy, d_copy = x.clone(), control.durations.clone()
    flow(control, x, steps_per_piece=2)
    reference_flow(control, x)
    assert torch.equal(x, x_copy) and torch.equal(control.durations, d_copy)


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_gradcheck_wrt_points(method):
    control = tanh_control(8, pieces=2, width=3)
    x = points(3, 2, 14).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda y: flow(control, y, method=method, steps_per_piece=3), (x,))


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_gradcheck_wrt_durations_and_params(method):
    base = tanh_control(9, pieces=2, width=3)
    x = points(3, 2, 15)
    durations = base.durations.clone().requires_grad_(True)
    W, A, b = (base.params[k].clone().requires_grad_(True) for k in ("W", "A", "b"))

    def run(durations, W, A, b):
        control = PiecewiseConstantControl(base.family, durations, {"W": W, "A": A, "b": b})
        return flow(control, x, method=method, steps_per_piece=2)

    assert torch.autograd.gradcheck(run, (durations, W, A, b))


def test_resnet_gradient_is_the_gradient_of_the_discrete_map():
    # one Euler layer of an affine field: y = x + t (A x + b), so dy/dt = A x + b exactly
    control = affine_control([[[1.0, 2.0], [0.0, -1.0]]], [[0.5, 0.0]], [0.3])
    durations = control.durations.clone().requires_grad_(True)
    x = T([[1.0, 1.0]])
    y = resnet(PiecewiseConstantControl(Affine(), durations, control.params), x)
    (grad,) = torch.autograd.grad(y.sum(), durations)
    assert float(grad) == (1.0 + 2.0 + 0.5) + (-1.0)


def test_gradcheck_ridge_flow():
    base = random_control(RidgeReLU(), 2, pieces=2, horizon=1.0, seed=4)
    x = T([[0.3, -0.2], [1.0, 1.5], [-0.7, 0.4]])
    s = x @ base.params["w"][0] + base.params["b"][0]
    assert float(s.abs().min()) > 0.05  # away from the hinge, where the map is smooth
    durations = base.durations.clone().requires_grad_(True)
    v, w, b = (base.params[k].clone().requires_grad_(True) for k in ("v", "w", "b"))

    def run(y, durations, v, w, b):
        control = PiecewiseConstantControl(RidgeReLU(), durations, {"v": v, "w": w, "b": b})
        return ridge_flow(control, y)

    assert torch.autograd.gradcheck(run, (x.clone().requires_grad_(True), durations, v, w, b))


# ------------------------------------------------------------------ 1-D monotonicity


ONE_D_FAMILIES = [
    ResidualBlock(width=6, activation="tanh"),
    ResidualBlock(width=6, activation="relu"),
    ResidualBlock(width=6, activation="sigmoid"),
    RidgeReLU(),
    Affine(),
]


@pytest.mark.parametrize("family", ONE_D_FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize("seed", range(4))
def test_1d_flows_preserve_order(family, seed):
    # A 1-D flow map is increasing; a one-step method with h * Lip < 1 is too.
    control = random_control(family, 1, pieces=3, horizon=2.0, scale=2.0, seed=seed)
    lip_h = float((control.lipschitz_bounds() * control.durations).max())
    steps = max(1, math.ceil(lip_h / 0.2))
    x = torch.linspace(-3.0, 3.0, 200).unsqueeze(1)
    for method in METHODS:
        out = flow(control, x, method=method, steps_per_piece=steps).squeeze(1)
        assert bool((out[1:] > out[:-1]).all()), method
    if getattr(family, "activation", None) != "relu":  # dopri5 is slow across ReLU kinks
        out = reference_flow(control, x).squeeze(1)
        assert bool((out[1:] > out[:-1]).all())


@pytest.mark.parametrize("seed", range(6))
def test_1d_exact_ridge_flow_is_strictly_increasing(seed):
    control = random_control(RidgeReLU(), 1, pieces=4, horizon=2.0, scale=1.5, seed=seed)
    x = torch.sort(points(300, 1, seed, scale=3.0).squeeze(1)).values.unsqueeze(1)
    out = ridge_flow(control, x).squeeze(1)
    assert bool((out[1:] > out[:-1]).all())


def test_large_euler_steps_can_fold_the_line():
    # sanity check of the property above: it is not vacuous
    control = affine_control([[[-3.0]]], [[0.0]], [1.0])
    x = T([[0.0], [1.0]])
    out = resnet(control, x).squeeze(1)  # x + 1 * (-3 x) = -2 x reverses the order
    assert float(out[1]) < float(out[0])


# ------------------------------------------------------------------ blow-up


def test_blow_up_names_piece_and_step():
    # piece 0: mild growth (Euler, 4 steps: x -> 1.25^4 x); piece 1: A = 1e200 I
    # step 0 of piece 1 gives ~6e199, step 1 overflows
    control = affine_control([[[1.0, 0.0], [0.0, 1.0]], [[1e200, 0.0], [0.0, 1e200]]],
                             [[0.0, 0.0], [0.0, 0.0]], [1.0, 1.0])
    with pytest.raises(FlowBlowUpError, match=r"piece 1, step 1\b") as info:
        flow(control, torch.ones(3, 2), method="euler", steps_per_piece=4)
    assert info.value.piece == 1 and info.value.step == 1
    assert isinstance(info.value, FloatingPointError)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_blow_up_in_second_piece_of_a_residual_block(method):
    base = tanh_control(10, pieces=3, width=3)
    W = base.params["W"].clone()
    W[1] = 1e300
    durations = T([0.5, 1e10, 0.5])
    control = PiecewiseConstantControl(base.family, durations, {**base.params, "W": W})
    x = points(4, 2, 16)
    with pytest.raises(FlowBlowUpError, match="piece 1, step 0") as info:
        flow(control, x, method=method, steps_per_piece=2)
    assert (info.value.piece, info.value.step) == (1, 0)
    # the first piece alone is fine
    assert bool(torch.isfinite(flow(sub_control(control, 0), x, method=method)).all())


def test_blow_up_with_save_steps_still_raises():
    control = affine_control([[[1e200]]], [[0.0]], [1.0])
    with pytest.raises(FlowBlowUpError, match="piece 0"):
        flow(control, torch.ones(2, 1), method="rk4", steps_per_piece=3, save_steps=True)


def test_ridge_flow_blow_up_names_the_piece():
    # piece 1 has a = w . v = 1000 for t = 1: e^{1000} overflows
    control = PiecewiseConstantControl(
        RidgeReLU(), T([0.5, 1.0]),
        {"v": T([[0.1], [1000.0]]), "w": T([[1.0], [1.0]]), "b": T([0.0, 0.0])})
    with pytest.raises(FlowBlowUpError, match=r"in piece 1$") as info:
        ridge_flow(control, T([[1.0], [2.0]]))
    assert info.value.piece == 1 and info.value.step is None


def test_reference_flow_fixed_grid_blow_up_names_the_piece():
    control = affine_control([[[1.0]], [[1e200]]], [[0.0], [0.0]], [1.0, 1.0])
    with pytest.raises(FlowBlowUpError, match="piece 1") as info:
        reference_flow(control, torch.ones(2, 1), method="euler", steps_per_piece=4)
    assert info.value.piece == 1


def test_reference_flow_adaptive_blow_up_raises_flow_blow_up_error():
    control = affine_control([[[1.0]], [[1e200]]], [[0.0], [0.0]], [1.0, 1.0])
    with pytest.raises(FlowBlowUpError, match="piece 1"):
        reference_flow(control, torch.ones(2, 1))


def test_ridge_flow_inactive_points_survive_an_overflowing_growth_factor():
    control = PiecewiseConstantControl(
        RidgeReLU(), T([1.0]), {"v": T([[1000.0]]), "w": T([[1.0]]), "b": T([0.0])})
    x = T([[-1.0], [-2.0], [0.0]])  # all inactive: the exact flow is the identity
    assert torch.equal(ridge_flow(control, x), x)


# ------------------------------------------------------------------ bad inputs


def _ones(*shape, **kwargs):
    return lambda: torch.ones(*shape, **kwargs)


BAD_POINTS = [
    (_ones(2), ValueError, r"x must have shape \(\*, 2\), got \(2,\)"),
    (_ones(1, 4, 2), ValueError, r"x must have shape \(\*, 2\)"),
    (_ones(4, 3), ValueError, r"x must have shape \(\*, 2\), got \(4, 3\)"),
    (_ones(4, 2, dtype=torch.int64), TypeError, "x must have a floating dtype"),
    (lambda: T([[0.0, float("nan")]]), ValueError, "x must be finite"),
    (lambda: T([[0.0, float("-inf")]]), ValueError, "x must be finite"),
    (_ones(4, 2, dtype=torch.float32), TypeError,
     "x has dtype torch.float32 but the control has dtype torch.float64"),
    (lambda: [[0.0, 1.0]], TypeError, "x must be a torch.Tensor"),
]


@pytest.mark.parametrize(("x", "error", "match"), BAD_POINTS)
@pytest.mark.parametrize("function", ["flow", "resnet", "reference_flow", "ridge_flow"])
def test_bad_points_are_rejected(function, x, error, match):
    control = random_control(RidgeReLU(), 2)
    fn = {"flow": flow, "resnet": resnet, "reference_flow": reference_flow,
          "ridge_flow": ridge_flow}[function]
    with pytest.raises(error, match=match):
        fn(control, x())


@pytest.mark.parametrize("function", [flow, resnet, reference_flow, ridge_flow])
def test_control_must_be_a_control(function):
    with pytest.raises(TypeError, match="control must be a PiecewiseConstantControl"):
        function(RidgeReLU(), torch.ones(2, 2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "rk45"}, "method must be one of 'euler', 'heun', 'rk4'; got 'rk45'"),
        ({"method": "dopri5"}, "method must be one of"),
        ({"steps_per_piece": 0}, "steps_per_piece must be a positive integer, got 0"),
        ({"steps_per_piece": -3}, "steps_per_piece must be a positive integer"),
        ({"steps_per_piece": True}, "steps_per_piece must be a positive integer, got True"),
        ({"steps_per_piece": 1.5}, "steps_per_piece must be a positive integer, got 1.5"),
        ({"steps_per_piece": 2.0}, "steps_per_piece must be a positive integer"),
        ({"steps_per_piece": "2"}, "steps_per_piece must be a positive integer"),
    ],
)
def test_flow_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        flow(tanh_control(), torch.ones(2, 2), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "heun"}, ValueError, "method must be one of"),
        ({"method": "rk45"}, ValueError, "method must be one of"),
        ({"rtol": 0.0}, ValueError, "rtol must be positive"),
        ({"atol": -1e-9}, ValueError, "atol must be positive"),
        ({"rtol": float("nan")}, ValueError, "rtol must be finite"),
        ({"atol": "small"}, TypeError, "atol must be a real number"),
        ({"method": "rk4", "steps_per_piece": 0}, ValueError,
         "steps_per_piece must be a positive integer"),
    ],
)
def test_reference_flow_rejects_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        reference_flow(tanh_control(), torch.ones(2, 2), **kwargs)


@pytest.mark.parametrize("family", [ResidualBlock(width=2), Affine()], ids=lambda f: f.name)
def test_ridge_flow_needs_a_ridge_control(family):
    with pytest.raises(TypeError, match="ridge_flow needs a control of the RidgeReLU family"):
        ridge_flow(random_control(family, 2), torch.ones(2, 2))


def test_solver_is_flow_with_fixed_settings():
    from flowapprox import Solver

    control = PiecewiseConstantControl.random(
        ResidualBlock(3, "tanh"), 2, pieces=2, generator=torch.Generator().manual_seed(0),
        dtype=torch.float64)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    solver = Solver("heun", 3)
    assert torch.equal(solver(control, x), flow(control, x, method="heun", steps_per_piece=3))
    assert solver.refined(4) == Solver("heun", 12)
    with pytest.raises(ValueError, match="method must be one of"):
        Solver("leapfrog", 1)
    with pytest.raises(ValueError, match="steps_per_piece must be a positive integer"):
        Solver("rk4", 0)
    with pytest.raises(ValueError, match="factor must be a positive integer"):
        solver.refined(0)
