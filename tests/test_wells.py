"""Tests of flowapprox.wells: ReLU wells, their flows, smooth fits, Gronwall bound, plotting."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch

from flowapprox import Box, grid, pl_flow, reference_flow
from flowapprox.plotting import plot_well
from flowapprox.splitting import RidgeSum
from flowapprox.wells import (
    box_well,
    displacement_lower_bound,
    gronwall_bound,
    interval_well,
    least_squares_ridge_sum,
    polytope_well,
    sup_distance,
    well_flow,
)

T = torch.tensor
TRIANGLE = ([[0.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], [0.5, 1.0, 1.0])  # x2 >= -1/2, |x1| <= 1 - x2


def triangle_well(direction=(1.0, -1.0)):
    normals, offsets = TRIANGLE
    return polytope_well(T(normals), T(offsets), T(direction))


def dyadic_plane():
    return grid(Box.cube(2, -2.0, 2.0), 33)  # spacing 1/8: exact arithmetic on the edges


# ------------------------------------------------------------------------ ReLU wells


def test_box_well_vanishes_exactly_on_the_box():
    well = box_well([-1.0, -0.5], [1.0, 0.5], direction=[2.0, -1.0])
    x = dyadic_plane()
    inside = (x[:, 0].abs() <= 1) & (x[:, 1].abs() <= 0.5)
    values = well(x)
    assert torch.equal((values == 0).all(dim=1), inside)
    assert torch.equal((values != 0).all(dim=1), ~inside)  # every component is a well
    assert well.num_neurons == 4


def test_one_dimensional_box_well_is_the_relu_pair():
    x = torch.linspace(-3.0, 3.0, 61)
    expected = torch.relu(x - 1) + torch.relu(-x - 1)
    assert torch.equal(box_well([-1.0], [1.0])(x[:, None])[:, 0], expected)


def test_triangle_well_needs_three_neurons_and_vanishes_on_the_triangle():
    well = triangle_well()
    x = dyadic_plane()
    inside = (x[:, 1] >= -0.5) & (x[:, 1] <= 1 + x[:, 0]) & (x[:, 1] <= 1 - x[:, 0])
    assert well.num_neurons == 3
    assert torch.equal((well(x) == 0).all(dim=1), inside)


def test_interval_well_pulls_points_in_at_unit_rate():
    well = interval_well(-1.0, 2.0)
    x = torch.linspace(-4.0, 5.0, 73)
    moved = pl_flow(well.to_piecewise_linear(), x, 1.5)
    distance = torch.maximum(-1.0 - x, x - 2.0).clamp(min=0)
    after = torch.maximum(-1.0 - moved, moved - 2.0).clamp(min=0)
    assert torch.allclose(after, distance * math.exp(-1.5), atol=1e-14)
    assert torch.equal(moved[distance == 0], x[distance == 0])


@pytest.mark.parametrize(
    ("normals", "offsets", "match"),
    [
        ([[1.0, 0.0]], [1.0], "unbounded"),  # a half-plane
        ([[1.0, 0.0], [-1.0, 0.0]], [1.0, 1.0], "unbounded"),  # a slab
        ([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], [0.0, 0.0, 1.0, 1.0], "empty interior"),
        ([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], [-1.0, -1.0, 1.0, 1.0], "empty interior"),
    ],
)
def test_polytope_well_rejects_sets_that_are_not_wells(normals, offsets, match):
    with pytest.raises(ValueError, match=match):
        polytope_well(T(normals), T(offsets), T([1.0, 1.0]))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((T(TRIANGLE[0]), T(TRIANGLE[1]), T([1.0, 0.0])), ValueError, "no zero entry"),
        ((T(TRIANGLE[0]), T([1.0, 1.0]), T([1.0, 1.0])), ValueError, r"offsets must have shape \(3\)"),
        ((T(TRIANGLE[0]), T(TRIANGLE[1]), T([1.0])), ValueError, r"direction must have shape \(2\)"),
        ((T([[0.0, 0.0], [1.0, 0.0]]), T([1.0, 1.0]), T([1.0, 1.0])), ValueError, "non-zero"),
        ((T([1.0, 0.0]), T([1.0]), T([1.0, 1.0])), ValueError, "normals must have 2 dimension"),
        ((torch.ones(0, 2), T([]), T([1.0, 1.0])), ValueError, "m, n >= 1"),
    ],
)
def test_polytope_well_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        polytope_well(*args)


def test_box_and_interval_wells_reject_bad_bounds():
    with pytest.raises(ValueError, match="lower < upper"):
        box_well([1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="equal length"):
        box_well([0.0], [1.0, 1.0])
    with pytest.raises(TypeError, match="lower must be a non-empty sequence"):
        box_well(0.0, [1.0])
    with pytest.raises(ValueError, match="lower must be below upper"):
        interval_well(1.0, 1.0)


# ------------------------------------------------------------------------ well flows


@pytest.mark.parametrize("make", [lambda: box_well([-1.0, -0.5], [1.0, 0.5], direction=[1.0, 0.5]),
                                  triangle_well])
def test_well_flow_is_exact_and_respects_the_lower_bound(make):
    well = make()
    x = dyadic_plane()[::7]
    moved = well_flow(well, x, 0.8)
    solved = reference_flow(well.control(0.8), x, rtol=1e-12, atol=1e-12)
    assert float((moved - solved).norm(dim=1).max()) < 1e-6
    displacement = (moved - x).norm(dim=1)
    bound = displacement_lower_bound(well, x, 0.8)
    inside = bound == 0
    assert torch.equal(displacement[inside], torch.zeros(int(inside.sum())))
    assert bool((displacement[~inside] >= bound[~inside] * (1 - 1e-12)).all())
    assert bool((bound[~inside] > 0).all())


def test_lower_bound_is_attained_by_a_point_running_into_a_face():
    well = box_well([-1.0, -1.0], [1.0, 1.0], direction=[1.0, 0.5])
    x = T([[-3.0, 0.0]])  # moves along (1, 1/2) towards the left face, which alone is active
    assert torch.allclose((well_flow(well, x, 1.0) - x).norm(dim=1),
                          displacement_lower_bound(well, x, 1.0), atol=1e-14)


def test_lower_bound_without_contraction():
    # kappa = 0: the direction is parallel to the faces; speed is constant along d
    stripe = RidgeSum(T([[0.0, 1.0], [0.0, 1.0]]), T([[1.0, 0.0], [-1.0, 0.0]]), T([-1.0, -1.0]))
    x = T([[3.0, 0.0], [0.5, 0.0]])
    bound = displacement_lower_bound(stripe, x, 2.0)
    assert torch.allclose(bound, T([4.0, 0.0]))
    assert torch.allclose((well_flow(stripe, x, 2.0) - x).norm(dim=1), bound, atol=1e-14)


def _well_flow_point_by_point(well, x, t):
    """The former implementation of well_flow: pl_flow on each point's line, in a loop."""
    d = well.v[0]
    offsets = x @ well.w.T + well.b
    slopes = (well.w @ d)[:, None]
    start = torch.zeros(1, dtype=x.dtype)
    travel = [pl_flow(RidgeSum(torch.ones_like(slopes), slopes, offsets[i], "relu")
                      .to_piecewise_linear(), start, t)[0] for i in range(x.shape[0])]
    return x + torch.stack(travel)[:, None] * d


def _random_well(generator, m, n):
    """A ReLU sum d * sum_j relu(w_j.x + b_j) with random data (its zero set may be unbounded)."""
    normals = torch.randn(m, n, generator=generator, dtype=torch.float64)
    offsets = torch.randn(m, generator=generator, dtype=torch.float64)
    direction = torch.randn(n, generator=generator, dtype=torch.float64)
    return RidgeSum(direction.expand(m, n).clone(), normals, offsets, "relu")


@pytest.mark.parametrize("seed", range(6))
def test_well_flow_equals_the_point_by_point_solution(seed):
    """Vectorised well_flow = pl_flow point by point, to round-off, on random wells."""
    generator = torch.Generator().manual_seed(seed)
    m, n = [(1, 1), (2, 2), (3, 2), (4, 2), (6, 3), (5, 4)][seed]
    well = _random_well(generator, m, n)
    x = 3 * torch.randn(300, n, generator=generator, dtype=torch.float64)
    # Points on the faces w_j.x + b_j = 0 (moved there along w_j) and on a kink's line.
    j = torch.arange(40) % m
    w, b = well.w[j], well.b[j]
    face = x[:40] - ((x[:40] * w).sum(1) + b)[:, None] * w / (w * w).sum(1)[:, None]
    x = torch.cat([x, face])
    for t in (0.0, 0.3, 2.0):
        expected = _well_flow_point_by_point(well, x, t)
        got = well_flow(well, x, t)
        assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12), (t, (got - expected).abs().max())
    assert torch.equal(well_flow(well, x, 0.0), x)


@pytest.mark.parametrize("make", [lambda: box_well([-1.0, -0.5], [1.0, 0.5], direction=[1.0, 0.5]),
                                  triangle_well,
                                  lambda: box_well([-1.0, -1.0], [1.0, 1.0], direction=[-1.0, -0.5])])
def test_well_flow_on_a_grid_with_its_edges_equals_the_point_by_point_solution(make):
    """Dyadic grid: points exactly on the well's boundary and on the kinks of the lines."""
    well, x = make(), dyadic_plane()
    for t in (0.0, 0.5, 1.0, 4.0):
        assert torch.allclose(well_flow(well, x, t), _well_flow_point_by_point(well, x, t),
                              rtol=1e-12, atol=1e-12)
    inside = displacement_lower_bound(well, x, 1.0) == 0  # in the well or on its boundary
    assert bool(inside.any())
    assert torch.equal(well_flow(well, x, 1.0)[inside], x[inside])


def test_well_flow_of_no_points():
    assert well_flow(triangle_well(), torch.zeros(0, 2, dtype=torch.float64), 1.0).shape == (0, 2)


def test_well_flow_and_bound_reject_bad_input():
    with pytest.raises(ValueError, match="share one direction"):
        displacement_lower_bound(interval_well(-1.0, 1.0), torch.zeros(2, 1), 1.0)
    with pytest.raises(ValueError, match="share one direction"):
        well_flow(RidgeSum(torch.ones(2, 2), torch.ones(2, 2), torch.zeros(2), "tanh"),
                  torch.zeros(2, 2), 1.0)
    with pytest.raises(TypeError, match="well must be a RidgeSum"):
        well_flow("well", torch.zeros(2, 2), 1.0)
    well = triangle_well()
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\)"):
        well_flow(well, torch.zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match="t must be non-negative"):
        displacement_lower_bound(well, torch.zeros(2, 2), -1.0)


# ---------------------------------------------------------- smooth sums and Gronwall


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_least_squares_sums_converge_to_a_relu_well(activation):
    psi = interval_well(-1.0, 1.0).to_piecewise_linear()
    x = torch.linspace(-3.0, 3.0, 2001)
    errors = []
    for m in (16, 64):
        fit = least_squares_ridge_sum(psi, -4.0, 4.0, m, activation=activation)
        assert fit.activation == activation and fit.num_neurons == m
        errors.append(float((fit(x[:, None])[:, 0] - psi(x)).abs().max()))
    assert errors[1] < errors[0] / 3 and errors[1] < 0.03


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target": 3.0}, TypeError, "target must be callable"),
        ({"lower": 2.0}, ValueError, "lower must be below upper"),
        ({"num_neurons": 1}, ValueError, "at least 2"),
        ({"activation": "relu"}, ValueError, "activation must be one of"),
        ({"steepness": 0.0}, ValueError, "steepness must be positive"),
        ({"target": lambda x: x[:-1]}, ValueError, "target\\(x\\) must have shape"),
    ],
)
def test_least_squares_rejects_bad_input(kwargs, error, match):
    args = {"target": torch.abs, "lower": -1.0, "upper": 1.0, "num_neurons": 8}
    with pytest.raises(error, match=match):
        least_squares_ridge_sum(**{**args, **kwargs})


def test_sup_distance_is_an_upper_bound():
    # |sin - 0| has sup 1 on [0, 3]; every grid gives at least 1
    for n in (7, 31, 1001):
        bound = sup_distance(torch.sin, torch.zeros_like, 0.0, 3.0, lipschitz=1.0, num_points=n)
        assert bound >= 1.0
    assert sup_distance(torch.sin, torch.zeros_like, 0.0, 3.0, lipschitz=1.0,
                        num_points=100_001) == pytest.approx(1.0, abs=2e-5)


def test_sup_distance_rejects_bad_input():
    with pytest.raises(TypeError, match="must be callable"):
        sup_distance(torch.sin, None, 0.0, 1.0, lipschitz=1.0)
    with pytest.raises(ValueError, match="lipschitz must be non-negative"):
        sup_distance(torch.sin, torch.cos, 0.0, 1.0, lipschitz=-1.0)
    with pytest.raises(ValueError, match="at least 2"):
        sup_distance(torch.sin, torch.cos, 0.0, 1.0, lipschitz=1.0, num_points=1)
    with pytest.raises(ValueError, match="f\\(x\\) - g\\(x\\) must have shape"):
        sup_distance(torch.sin, lambda x: x[:, None], 0.0, 1.0, lipschitz=1.0, num_points=5)


def test_gronwall_bound_formula_and_sharpness():
    assert gronwall_bound(0.5, 0.0, 3.0) == 1.5
    assert gronwall_bound(1e-3, 2.0, 1.0) == pytest.approx(1e-3 * (math.exp(2.0) - 1) / 2)
    # f = x and g = x + eps: the flows differ by eps (e^t - 1), the bound is attained
    eps, t = 1e-2, 1.5
    gap = eps * (math.exp(t) - 1)
    assert gronwall_bound(eps, 1.0, t) == pytest.approx(gap, rel=1e-14)


def test_gronwall_bound_holds_for_a_smooth_fit():
    psi = interval_well(-1.0, 1.0).to_piecewise_linear()
    fit = least_squares_ridge_sum(psi, -4.0, 4.0, 24)
    eps = sup_distance(psi, lambda x: fit(x[:, None])[:, 0], -3.0, 3.0,
                       lipschitz=1.0 + fit.lipschitz_bound(), num_points=20_001)
    x = torch.linspace(-3.0, 3.0, 41)
    smooth = reference_flow(fit.control(2.0), x[:, None], rtol=1e-11, atol=1e-11)[:, 0]
    assert float((smooth - pl_flow(psi, x, 2.0)).abs().max()) <= gronwall_bound(eps, 1.0, 2.0)


@pytest.mark.parametrize(("args", "match"), [((-1.0, 1.0, 1.0), "field_error must be non-negative"),
                                             ((1.0, -1.0, 1.0), "lipschitz must be non-negative"),
                                             ((1.0, 1.0, math.nan), "t must be finite")])
def test_gronwall_bound_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        gronwall_bound(*args)


# ---------------------------------------------------------------------- plotting


def test_plot_well_draws_and_rejects_bad_input():
    fig, ax = plt.subplots()
    assert plot_well(ax, triangle_well(), Box.cube(2, -2.0, 2.0), resolution=21, title="t") is ax
    assert ax.get_title() == "t"
    with pytest.raises(ValueError, match="on the plane"):
        plot_well(ax, interval_well(-1.0, 1.0), Box.cube(2))
    with pytest.raises(ValueError, match="2-D flowapprox.Box"):
        plot_well(ax, triangle_well(), Box.cube(3))
