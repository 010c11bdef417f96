"""Tests of flowapprox.metrics: boxes, point sets, L^p errors, Jacobians, log-log fits."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from flowapprox import (
    Affine,
    Box,
    LogLogFit,
    PiecewiseConstantControl,
    ResidualBlock,
    depth_errors,
    fit_loglog,
    flow,
    gauss_legendre,
    graded_rule,
    grid,
    jacobian_determinants,
    lp_error,
    max_error,
    sobol_points,
)

T = torch.tensor


# ------------------------------------------------------------------ Box


def test_box_properties():
    box = Box([-1, 0.5], [2, 1.0])
    assert box.lower == (-1.0, 0.5) and box.upper == (2.0, 1.0)
    assert all(isinstance(v, float) for v in box.lower + box.upper)
    assert box.dim == 2
    assert box.volume == 1.5
    assert Box((0.0,), (1.0,)) == Box([0], [1])
    cube = Box.cube(3, -1.0, 1.0)
    assert cube.dim == 3 and cube.volume == 8.0
    assert Box.cube(2) == Box([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.lower = (0.0, 0.0)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("lower", "upper", "error", "match"),
    [
        ([0.0], [0.0], ValueError, "each lower bound must be below its upper bound"),
        ([0.0, 2.0], [1.0, 1.0], ValueError, "each lower bound must be below its upper bound"),
        ([0.0], [1.0, 2.0], ValueError, "equal length, got 1 and 2"),
        ([], [], ValueError, "non-empty"),
        ([float("nan")], [1.0], ValueError, r"lower\[0\] must be finite"),
        ([0.0, 0.0], [1.0, float("inf")], ValueError, r"upper\[1\] must be finite"),
        (["0"], [1.0], TypeError, r"lower\[0\] must be a real number"),
        ([True], [2.0], TypeError, r"lower\[0\] must be a real number"),
    ],
)
def test_box_validation(lower, upper, error, match):
    with pytest.raises(error, match=match):
        Box(lower, upper)


def test_box_cube_validation():
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        Box.cube(0)
    with pytest.raises(ValueError, match="each lower bound must be below"):
        Box.cube(2, 1.0, 1.0)


@pytest.mark.parametrize("function", [
    lambda b: grid(b, 3), lambda b: sobol_points(b, 4), lambda b: gauss_legendre(b, 3),
    lambda b: lp_error(lambda x: x, lambda x: x, b),
], ids=["grid", "sobol", "gauss", "lp_error"])
def test_functions_need_a_box(function):
    with pytest.raises(TypeError, match="box must be a flowapprox.Box"):
        function(([0.0], [1.0]))


# ------------------------------------------------------------------ grid


def test_grid_count_corners_and_order():
    box = Box([-1.0, 0.0], [1.0, 2.0])
    g = grid(box, 5)
    assert g.shape == (25, 2) and g.dtype == torch.float64
    rows = {tuple(row) for row in g.tolist()}
    assert {(-1.0, 0.0), (-1.0, 2.0), (1.0, 0.0), (1.0, 2.0), (0.0, 1.0)} <= rows
    assert len(rows) == 25
    # first axis varies slowest
    assert g[:5, 0].tolist() == [-1.0] * 5
    assert g[:5, 1].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert g[::5, 0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]


@pytest.mark.parametrize(("dim", "m"), [(1, 2), (1, 7), (2, 3), (3, 4)])
def test_grid_counts(dim, m):
    g = grid(Box.cube(dim), m, dtype=torch.float32)
    assert g.shape == (m**dim, dim) and g.dtype == torch.float32
    assert len({tuple(row) for row in g.tolist()}) == m**dim
    corners = {tuple(c) for c in itertools.product([0.0, 1.0], repeat=dim)}
    assert corners <= {tuple(row) for row in g.tolist()}


@pytest.mark.parametrize(("m", "match"), [(1, "at least 2"), (0, "positive integer"),
                                          (2.5, "positive integer")])
def test_grid_rejects_bad_counts(m, match):
    with pytest.raises(ValueError, match=match):
        grid(Box.cube(1), m)


def test_grid_stays_inside_the_box_and_hits_the_upper_corner():
    box = Box([-0.1, -1.5744929000211536], [0.3, 0.8159144425575913])
    g = grid(box, 5)
    assert bool((g >= T(box.lower)).all() and (g <= T(box.upper)).all())
    assert tuple(g[-1].tolist()) == box.upper


# ------------------------------------------------------------------ Sobol points


def test_sobol_points_inside_box_and_seeded():
    box = Box([-2.0, 0.5, 10.0], [-1.0, 3.0, 10.5])
    pts = sobol_points(box, 256, seed=3)
    assert pts.shape == (256, 3) and pts.dtype == torch.float64
    assert bool((pts >= T(box.lower)).all() and (pts < T(box.upper)).all())
    assert torch.equal(pts, sobol_points(box, 256, seed=3))
    assert not torch.equal(pts, sobol_points(box, 256, seed=4))
    assert sobol_points(box, 8, dtype=torch.float32).dtype == torch.float32
    assert sobol_points(box, 1).shape == (1, 3)


def test_sobol_points_are_stratified():
    # a scrambled Sobol set of 2^m points is a (0, m, 1)-net in 1-D: one point per cell
    pts = sobol_points(Box.cube(1), 64, seed=7).squeeze(1)
    assert sorted(torch.floor(64 * pts).long().tolist()) == list(range(64))
    # and its first two coordinates form a (0, m, 2)-net: one point per 4 x 4 cell
    pts = sobol_points(Box.cube(2), 16, seed=7)
    cells = {(int(4 * a), int(4 * b)) for a, b in pts.tolist()}
    assert len(cells) == 16


@pytest.mark.parametrize(
    ("n", "match"),
    [(3, "power of two for Sobol points, got 3"), (100, "power of two"),
     (0, "positive integer"), (True, "positive integer")],
)
def test_sobol_points_reject_bad_counts(n, match):
    with pytest.raises(ValueError, match=match):
        sobol_points(Box.cube(2), n)


# ------------------------------------------------------------------ Gauss-Legendre


def test_gauss_legendre_nodes_and_weights():
    box = Box([-1.0, 0.5], [2.0, 3.0])
    nodes, weights = gauss_legendre(box, 5)
    assert nodes.shape == (25, 2) and weights.shape == (25,)
    assert float(weights.sum()) == pytest.approx(box.volume, rel=1e-14)
    assert bool((weights > 0).all())
    assert bool((nodes > T(box.lower)).all() and (nodes < T(box.upper)).all())
    assert gauss_legendre(box, 2, dtype=torch.float32)[1].dtype == torch.float32


@pytest.mark.parametrize("order", [1, 3, 6])
def test_gauss_legendre_integrates_polynomials_exactly(order):
    (a1, a2), (b1, b2) = (-1.0, 0.5), (2.0, 3.0)
    nodes, weights = gauss_legendre(Box([a1, a2], [b1, b2]), order)

    def exact(k, a, b):
        return (b ** (k + 1) - a ** (k + 1)) / (k + 1)

    top = 2 * order - 1
    for i, j in [(0, 0), (top, 0), (0, top), (top, top), (top // 2, 1)]:
        quad = float((weights * nodes[:, 0] ** i * nodes[:, 1] ** j).sum())
        assert quad == pytest.approx(exact(i, a1, b1) * exact(j, a2, b2), rel=1e-12)
    # degree 2 * order is not integrated exactly: the order is per axis
    quad = float((weights * nodes[:, 0] ** (2 * order)).sum())
    assert abs(quad - exact(2 * order, a1, b1) * (b2 - a2)) > 1e-6


# ------------------------------------------------------------------ lp_error

RULES = [{"rule": "gauss", "order": 64}, {"rule": "sobol", "n_points": 2**12}]


def zero(x):
    return torch.zeros(x.shape[0], dtype=x.dtype)


@pytest.mark.parametrize("rule", RULES, ids=["gauss", "sobol"])
def test_lp_error_closed_forms_1d(rule):
    box = Box([-1.0], [1.0])
    sobol = rule["rule"] == "sobol"
    # ||-x - 0||_{L1[-1,1]} = 1 (|x| has a kink: Gauss is only approximately right)
    assert lp_error(lambda x: -x[:, 0], zero, box, p=1, **rule) == pytest.approx(
        1.0, abs=1e-6 if sobol else 1e-3)
    # ||x||_{L2[-1,1]} = sqrt(2/3)
    assert lp_error(lambda x: x[:, 0], zero, box, p=2, **rule) == pytest.approx(
        math.sqrt(2 / 3), abs=1e-4 if sobol else 1e-13)
    # ||x||_{L3[0,2]} = 4^(1/3); the measure is not normalised by the volume
    assert lp_error(lambda x: x[:, 0], zero, Box([0.0], [2.0]), p=3, **rule) == pytest.approx(
        4 ** (1 / 3), abs=1e-3 if sobol else 1e-13)
    assert lp_error(lambda x: 1.0 + 0 * x[:, 0], zero, Box([0.0], [4.0]), p=2,
                    **rule) == pytest.approx(2.0, rel=1e-12)
    # the error of a function against itself is zero; p = 1 and p = 2 are both allowed
    assert lp_error(lambda x: x, lambda x: x, box, p=1, **rule) == 0.0


@pytest.mark.parametrize("rule", RULES, ids=["gauss", "sobol"])
def test_lp_error_vector_valued_uses_euclidean_norm(rule):
    box = Box.cube(2)
    sobol = rule["rule"] == "sobol"
    # ||x||_{L2([0,1]^2)}^2 = int x1^2 + x2^2 = 2/3
    assert lp_error(lambda x: x, lambda x: 0 * x, box, p=2, **rule) == pytest.approx(
        math.sqrt(2 / 3), abs=1e-4 if sobol else 1e-13)
    # int |x| over the unit square = (sqrt 2 + asinh 1) / 3 (not the sum of |x_i|, which is 1)
    assert lp_error(lambda x: x, lambda x: 0 * x, box, p=1, **rule) == pytest.approx(
        (math.sqrt(2) + math.asinh(1.0)) / 3, abs=1e-4 if sobol else 1e-8)
    # f and g both non-zero: f - g = (0, 2 x2), ||.||_{L2}^2 = 4/3
    assert lp_error(lambda x: x, lambda x: x * T([1.0, -1.0]), box, p=2,
                    **rule) == pytest.approx(math.sqrt(4 / 3), abs=1e-4 if sobol else 1e-13)


def test_lp_error_sobol_is_seeded():
    box = Box.cube(2)

    def f(x):
        return torch.sin(3 * x).sum(1)

    a = lp_error(f, zero, box, n_points=64, seed=1)
    assert a == lp_error(f, zero, box, n_points=64, seed=1)
    assert a != lp_error(f, zero, box, n_points=64, seed=2)


def test_lp_error_of_a_flow_against_a_resnet_is_small_and_consistent():
    control = PiecewiseConstantControl.random(ResidualBlock(width=3), 2, pieces=4,
                                              generator=torch.Generator().manual_seed(0))

    def exact(x):
        return flow(control, x, method="rk4", steps_per_piece=8)

    def coarse(x):
        return flow(control, x, method="euler", steps_per_piece=1)

    box = Box.cube(2, -1.0, 1.0)
    gauss = lp_error(exact, coarse, box, rule="gauss", order=8)
    sobol = lp_error(exact, coarse, box, n_points=256)
    assert 0 < gauss < 1
    assert sobol == pytest.approx(gauss, rel=0.02)
    assert max_error(exact, coarse, grid(box, 9)) >= gauss / box.volume**0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"p": 0.5}, ValueError, "p must satisfy 1 <= p <= inf, got 0.5"),
        ({"p": 0.0}, ValueError, "p must satisfy"),
        ({"p": float("nan")}, ValueError, "p must be finite"),
        ({"p": "2"}, TypeError, "p must be a real number"),
        ({"rule": "monte-carlo"}, ValueError, "rule must be one of 'sobol', 'gauss'"),
        ({"n_points": 1000}, ValueError, "power of two"),
        ({"rule": "gauss", "order": 0}, ValueError, "order must be a positive integer"),
    ],
)
def test_lp_error_rejects_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        lp_error(lambda x: x, lambda x: x, Box.cube(1), **kwargs)


@pytest.mark.parametrize(
    ("f", "g", "match"),
    [
        (lambda x: x, lambda x: x[:, 0], "f\\(x\\) and g\\(x\\) must have the same shape"),
        (lambda x: x[:3], lambda x: x[:3], r"f\(x\) must have shape \(batch,\) or \(batch, m\)"),
        (lambda x: x, lambda x: x.unsqueeze(-1), r"g\(x\) must have shape"),
        (lambda x: x / 0.0, lambda x: x, r"f\(x\) must be finite"),
    ],
)
def test_lp_error_and_max_error_reject_bad_values(f, g, match):
    box = Box.cube(2, 0.5, 1.0)
    with pytest.raises(ValueError, match=match):
        lp_error(f, g, box, n_points=16)
    with pytest.raises(ValueError, match=match):
        max_error(f, g, grid(box, 3))


def test_lp_error_rejects_non_tensor_values():
    with pytest.raises(TypeError, match=r"f\(x\) must be a torch.Tensor"):
        lp_error(lambda x: x.numpy(), lambda x: x, Box.cube(1), n_points=4)


# ------------------------------------------------------------------ max_error


def test_max_error():
    x = grid(Box([0.0], [1.0]), 11)
    assert max_error(lambda y: y**2, lambda y: y, x) == 0.25  # |x^2 - x| peaks at 1/2
    assert max_error(lambda y: y[:, 0] ** 2, lambda y: y[:, 0], x[:5]) == pytest.approx(0.24)
    # vector values: Euclidean norm per point, largest over points
    pts = T([[3.0, 4.0], [1.0, 1.0]])
    assert max_error(lambda y: y, lambda y: 0 * y, pts) == 5.0
    assert isinstance(max_error(lambda y: y, lambda y: y, pts), float)
    with pytest.raises(ValueError, match=r"x must have shape"):
        max_error(lambda y: y, lambda y: y, torch.ones(3))


# ------------------------------------------------------------------ Jacobians


def test_jacobian_determinants_of_a_linear_map():
    M = T([[2.0, 1.0, 0.0], [0.5, -1.0, 3.0], [1.0, 0.0, 1.0]])
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    dets = jacobian_determinants(lambda y: y @ M.T + 1.0, x)
    assert dets.shape == (10,)
    torch.testing.assert_close(dets, torch.full((10,), float(torch.linalg.det(M))),
                               rtol=1e-13, atol=1e-13)


def test_jacobian_determinants_of_a_nonlinear_map():
    # F(x) = (x1 x2, x1 + x2^2): det DF = x2 * 2 x2 - x1 * 1
    x = T([[1.0, 2.0], [3.0, 0.5], [-1.0, -1.0], [2.0, 1.0]])
    dets = jacobian_determinants(
        lambda y: torch.stack([y[:, 0] * y[:, 1], y[:, 0] + y[:, 1] ** 2], dim=1), x)
    torch.testing.assert_close(dets, 2 * x[:, 1] ** 2 - x[:, 0], rtol=1e-14, atol=1e-14)
    # a folding map has negative determinants on the folded half
    folds = jacobian_determinants(lambda y: torch.stack([y[:, 0] ** 2, y[:, 1]], dim=1), x)
    assert (folds < 0).tolist() == [False, False, True, False]


def test_jacobian_determinants_of_an_affine_flow_are_exp_of_trace():
    A = T([[[0.5, 1.0], [-2.0, -0.3]], [[-1.0, 0.2], [0.7, 0.4]]])
    durations = T([0.6, 0.9])
    control = PiecewiseConstantControl(Affine(), durations, {"A": A, "b": T([[1.0, 0.0],
                                                                               [0.0, -2.0]])})
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(1))
    dets = jacobian_determinants(lambda y: flow(control, y, method="rk4", steps_per_piece=100), x)
    trace = float(0.6 * (0.5 - 0.3) + 0.9 * (-1.0 + 0.4))
    torch.testing.assert_close(dets, torch.full((6,), math.exp(trace)), rtol=1e-8, atol=0)


def test_jacobian_determinants_of_flows_are_positive():
    control = PiecewiseConstantControl.random(ResidualBlock(width=8, activation="tanh"), 2,
                                              pieces=3, horizon=2.0, scale=3.0,
                                              generator=torch.Generator().manual_seed(2))
    x = grid(Box.cube(2, -2.0, 2.0), 8)
    dets = jacobian_determinants(lambda y: flow(control, y, method="rk4", steps_per_piece=20), x)
    assert dets.shape == (64,)
    assert bool((dets > 0).all())
    assert float(dets.std()) > 0.01  # the map really is nonlinear


def test_jacobian_determinants_validation():
    with pytest.raises(ValueError, match=r"mapping\(x\) must have shape \(4, 2\)"):
        jacobian_determinants(lambda y: y[:, :1], torch.ones(4, 2))
    with pytest.raises(ValueError, match="x must be finite"):
        jacobian_determinants(lambda y: y, T([[float("nan"), 0.0]]))
    # the caller's x is not modified or attached to a graph
    x = torch.ones(3, 2)
    jacobian_determinants(lambda y: 2 * y, x)
    assert not x.requires_grad and x.grad is None


# ------------------------------------------------------------------ depth_errors


def small_control():
    return PiecewiseConstantControl.random(ResidualBlock(width=3, activation="tanh"), 2,
                                           pieces=2, scale=1.5,
                                           generator=torch.Generator().manual_seed(3))


def test_depth_errors_are_max_errors_of_flows_of_that_depth():
    control = small_control()
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(4))
    reference = flow(control, x, method="rk4", steps_per_piece=64)
    errors = depth_errors(control, x, reference, method="heun", depths=[2, 4, 8, 16])
    assert isinstance(errors, np.ndarray) and errors.shape == (4,)
    for depth, error in zip([2, 4, 8, 16], errors):
        image = flow(control, x, method="heun", steps_per_piece=depth // 2)
        assert error == float(torch.linalg.vector_norm(image - reference, dim=1).max())
    assert fit_loglog([2, 4, 8, 16], errors).slope == pytest.approx(-2.0, abs=0.3)
    assert depth_errors(control, x, reference, method="euler", depths=[]).shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"depths": [2, 3]}, ValueError, "each depth must be a multiple of the 2 pieces, got 3"),
        ({"depths": [0]}, ValueError, r"depths\[i\] must be a positive integer"),
        ({"depths": [2.0]}, ValueError, r"depths\[i\] must be a positive integer"),
        ({"method": "rk5"}, ValueError, "method must be one of"),
        ({"reference": lambda: torch.zeros(5, 2)}, ValueError,
         r"reference must have shape \(6, 2\)"),
        ({"x": lambda: torch.zeros(6, 3)}, ValueError, r"x must have shape \(\*, 2\)"),
    ],
)
def test_depth_errors_validation(kwargs, error, match):
    args = {"x": lambda: torch.zeros(6, 2), "reference": lambda: torch.zeros(6, 2)}
    args.update({k: v for k, v in kwargs.items() if k in args})
    options = {"method": "euler", "depths": [2]}
    options.update({k: v for k, v in kwargs.items() if k in options})
    with pytest.raises(error, match=match):
        depth_errors(small_control(), args["x"](), args["reference"](), **options)


# ------------------------------------------------------------------ fit_loglog


def test_fit_loglog_recovers_a_power_law():
    x = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
    fit = fit_loglog(x, 3.0 * x**-2.0)
    assert isinstance(fit, LogLogFit)
    assert fit.slope == pytest.approx(-2.0, abs=1e-12)
    assert fit.intercept == pytest.approx(math.log(3.0), abs=1e-12)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(fit([1.0, 10.0]), [3.0, 0.03], rtol=1e-12)
    fit = fit_loglog([1, 10, 100], [5.0, 50.0, 500.0])  # lists and ints are fine
    assert fit.slope == pytest.approx(1.0, abs=1e-12)


def test_fit_loglog_r_squared_drops_with_noise():
    x = np.arange(1.0, 9.0)
    y = x**1.5 * np.array([1.0, 1.6, 0.7, 1.3, 0.8, 1.2, 0.6, 1.5])
    fit = fit_loglog(x, y)
    assert 0.5 < fit.r_squared < 0.999
    assert fit.slope == pytest.approx(1.5, abs=0.3)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1.0, 2.0], [1.0, 2.0], "equal length >= 3"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "equal length"),
        ([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]], "1-D"),
        ([0.0, 2.0, 3.0], [1.0, 2.0, 3.0], "x must be positive and finite"),
        ([1.0, 2.0, 3.0], [1.0, -2.0, 3.0], "y must be positive and finite"),
        ([1.0, 2.0, 3.0], [1.0, float("nan"), 3.0], "y must be positive and finite"),
        ([1.0, float("inf"), 3.0], [1.0, 2.0, 3.0], "x must be positive and finite"),
    ],
)
def test_fit_loglog_rejects_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_loglog(x, y)


# ------------------------------------------------------------------ graded rule


def test_graded_rule_nodes_weights_and_cells():
    x, w, cell = graded_rule(3, lower=-1.0, upper=2.0, depth=1e-6, dtype=torch.float64)
    assert x.shape == w.shape == cell.shape
    assert bool((torch.diff(x) > 0).all())
    assert math.isclose(float(w.sum()), 3.0, rel_tol=1e-13)
    assert torch.equal(cell, torch.floor(x + 1.0).long())  # cells of width 1 from -1
    assert float((x - torch.round(x)).abs().min()) > 0  # no node on an edge
    assert float((x - torch.round(x)).abs().min()) < 1e-6  # but nodes below the depth


@pytest.mark.parametrize("a", [0.5, 2 / 3])
def test_graded_rule_integrates_edge_singularities(a):
    # int over N cells of (distance to the nearest edge of the cell)^(-a) = 2N (h/2)^(1-a)/(1-a).
    # On each geometric piece t^(-a) has the same shape, integrated by 4 Gauss nodes to a
    # relative 1e-4 (measured 4e-5 and 1e-4 for the two a); the last piece [0, depth] is not
    # resolved and carries a share depth^(1-a) of the integral.
    cells, depth = 4, 1e-12
    x, w, cell = graded_rule(cells, depth=depth, dtype=torch.float64)
    h = 1.0 / cells
    distance = torch.minimum(x - cell * h, (cell + 1) * h - x)
    exact = 2 * cells * (h / 2) ** (1 - a) / (1 - a)
    assert abs(float((w * distance ** (-a)).sum()) - exact) <= exact * (2e-4 + depth ** (1 - a))


def test_graded_rule_is_exact_for_polynomials_per_piece():
    x, w, _ = graded_rule(2, depth=1e-3, order=3, dtype=torch.float64)
    assert math.isclose(float((w * x**5).sum()), 1 / 6, rel_tol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cells": 0}, "cells"),
        ({"cells": 2, "depth": 1.5}, "depth"),
        ({"cells": 2, "depth": 0.0}, "depth"),
        ({"cells": 2, "ratio": 1.0}, "ratio"),
        ({"cells": 2, "order": 0}, "order"),
        ({"cells": 2, "lower": 1.0, "upper": 0.0}, "lower"),
    ],
)
def test_graded_rule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        graded_rule(**kwargs)
