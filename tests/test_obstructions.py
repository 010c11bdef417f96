"""Tests of flowapprox.obstructions: certified degree and maximum-principle bounds."""

from __future__ import annotations

import math

import pytest
import torch

from flowapprox import (
    Box,
    PiecewiseConstantControl,
    ResidualBlock,
    flow,
    metrics,
    obstructions,
    plotting,
)
from flowapprox.construction import construct


def reflection(x):
    return torch.stack([1 - x[:, 0], x[:, 1]], dim=1)


def mirror(x):
    return torch.stack([-x[:, 0], x[:, 1]], dim=1)


def square(x):  # z -> z^2 in complex notation: degree 2
    return torch.stack([x[:, 0] ** 2 - x[:, 1] ** 2, 2 * x[:, 0] * x[:, 1]], dim=1)


def chord(radius, n):
    return 2 * radius * math.sin(math.pi / (2 * n))


# ----------------------------------------------------------------------------- degree


@pytest.mark.parametrize(
    ("target", "lipschitz", "winding", "bound"),
    [
        (mirror, 1.0, -1, 1.0),  # orientation reversing: the radius
        (lambda x: x, 1.0, 1, 0.0),  # a flow map: no bound
        (lambda x: -x, 1.0, 1, 0.0),  # rotation by pi preserves orientation
        (square, 2.0, 2, 1.0),  # degree 2 around 0 = square(0)
    ],
)
def test_degree_bound_by_hand_on_the_unit_disk(target, lipschitz, winding, bound):
    cert = obstructions.degree_bound(target, (0.0, 0.0), 1.0, lipschitz=lipschitz, n_points=2048)
    assert cert.winding == winding
    assert cert.correction == pytest.approx(lipschitz * chord(1.0, 2048), rel=1e-12)
    expected = 0.0 if bound == 0 else bound - cert.correction
    assert cert.bound == pytest.approx(expected, abs=1e-12)
    assert cert.bound <= bound  # conservative


def test_degree_bound_of_the_book_reflection_is_half():
    cert = obstructions.degree_bound(reflection, (0.5, 0.5), 0.5, lipschitz=1.0)
    assert cert.winding == -1 and cert.point == (0.5, 0.5)
    assert 0.5 - 1e-3 < cert.bound <= 0.5


def test_degree_bound_with_a_point_outside_the_image_gives_nothing():
    cert = obstructions.degree_bound(mirror, (0.0, 0.0), 1.0, lipschitz=1.0, point=(3.0, 0.0))
    assert cert.winding == 0 and cert.bound == 0.0
    assert cert.distance == pytest.approx(2.0 - cert.correction)


def test_degree_bound_holds_for_random_flows_and_is_attained_by_contractions(gen):
    cert = obstructions.degree_bound(reflection, (0.5, 0.5), 0.5, lipschitz=1.0)
    circle = metrics.circle((0.5, 0.5), 0.5, 4096)
    for _ in range(5):
        control = PiecewiseConstantControl.random(ResidualBlock(8, "tanh"), 2, pieces=3,
                                                  scale=2.0, generator=gen)
        image = flow(control, circle, steps_per_piece=20)
        assert float((image - reflection(circle)).norm(dim=1).max()) >= cert.bound
    # the flow of -(x - c) for time T contracts onto c: sup error (1 + e^-T)/2 on the circle
    contraction = 0.5 + math.exp(-8.0) * (circle - 0.5)
    sup = float((contraction - reflection(circle)).norm(dim=1).max())
    assert sup == pytest.approx((1 + math.exp(-8.0)) / 2, abs=1e-6)


def test_degree_bound_asks_for_more_points_when_the_curve_is_too_close():
    with pytest.raises(ValueError, match="n_points=3 is too small"):
        obstructions.degree_bound(square, (0.0, 0.0), 1.0, lipschitz=2.0, n_points=3)


# -------------------------------------------------------------------- maximum principle


def test_max_principle_bound_of_a_paraboloid_by_hand():
    cert = obstructions.max_principle_bound(lambda x: -(x**2).sum(1), (0.0, 0.0), 1.0,
                                            lipschitz=0.0, n_points=64)
    assert cert.kind == "max" and cert.value_at_centre == 0.0
    assert cert.kappa == pytest.approx(1.0, abs=1e-12) and cert.bound == pytest.approx(0.5)
    with_l = obstructions.max_principle_bound(lambda x: -(x**2).sum(1), (0.0, 0.0), 1.0,
                                              lipschitz=2.0, n_points=64)
    assert with_l.correction == pytest.approx(2.0 * chord(1.0, 64))
    assert with_l.kappa == pytest.approx(1.0 - with_l.correction, abs=1e-12)


def test_max_principle_bound_for_a_minimum():
    cert = obstructions.max_principle_bound(lambda x: 3 * (x**2).sum(1), (1.0, 2.0), 0.5,
                                            lipschitz=17.0, kind="min")
    # F(x) = 3|x|^2 has no minimum at (1, 2): the circle's minimum is below F(1, 2)
    assert cert.kappa < 0 and cert.bound == 0.0
    cert = obstructions.max_principle_bound(lambda x: 3 * ((x - 1) ** 2).sum(1), (1.0, 1.0), 0.5,
                                            lipschitz=0.0, kind="min")
    assert cert.kappa == pytest.approx(0.75) and cert.bound == pytest.approx(0.375)


def test_max_principle_bound_of_the_oscillation_matches_the_closed_form():
    def oscillation(x):
        return torch.sin(2 * math.pi * x[:, 0]) * torch.cos(2 * math.pi * x[:, 1])

    cert = obstructions.max_principle_bound(oscillation, (0.75, 0.5), 0.25,
                                            lipschitz=2 * math.pi, n_points=1000)
    exact = 1 - math.cos(math.pi / (2 * math.sqrt(2))) ** 2  # the circle's maximum is diagonal
    assert exact - cert.correction - 1e-12 <= cert.kappa <= exact


@pytest.mark.parametrize("seed", range(5))
def test_max_principle_certificate_is_conservative(seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, generator=g, dtype=torch.float64) * 0.4 - 0.2
    r, d = 1.0, float(a.norm())
    cert = obstructions.max_principle_bound(lambda x: -((x - a) ** 2).sum(1), (0.0, 0.0), r,
                                            lipschitz=2 * (r + d), n_points=50)
    exact = r * r - 2 * r * d  # F(0) - max over the circle of -|x - a|^2
    assert exact - 2 * cert.correction <= cert.kappa <= exact


def test_max_principle_bound_holds_for_random_flows_with_linear_readouts(gen):
    def target(x):
        return -((x - 0.5) ** 2).sum(1)

    cert = obstructions.max_principle_bound(target, (0.5, 0.5), 0.5, lipschitz=1.0)
    points = torch.cat([torch.tensor([[0.5, 0.5]]), metrics.circle((0.5, 0.5), 0.5, 4096)])
    for _ in range(5):
        control = PiecewiseConstantControl.random(ResidualBlock(8, "tanh"), 2, pieces=2,
                                                  scale=2.0, generator=gen)
        u = torch.randn(2, generator=gen, dtype=torch.float64)
        h = flow(control, points, steps_per_piece=20) @ u + torch.randn(1, generator=gen,
                                                                        dtype=torch.float64)
        assert float((h - target(points)).abs().max()) >= cert.bound


def test_the_construction_never_beats_the_certificates():
    box = Box.cube(2)
    degree = obstructions.degree_bound(reflection, (0.5, 0.5), 0.5, lipschitz=1.0)
    approximant = construct(reflection, box, 4, 10.0, readout="identity")
    points = metrics.ball_points(metrics.edge_grid(box, 4), (0.5, 0.5), 0.5)
    errors = metrics.pointwise_error(reflection, approximant, points)
    assert float(errors.max()) >= degree.bound

    def paraboloid(x):
        return -((x - 0.5) ** 2).sum(1)

    cert = obstructions.max_principle_bound(paraboloid, (0.5, 0.5), 0.5, lipschitz=1.0)
    approximant = construct(paraboloid, box, 4, 5.0)
    assert float(metrics.pointwise_error(paraboloid, approximant, points).max()) >= cert.bound


# ------------------------------------------------------------------------------ helpers


def test_circle_points():
    pts = metrics.circle((1.0, -1.0), 2.0, 8)
    assert pts.shape == (8, 2) and pts.dtype == torch.float64
    assert torch.allclose((pts - torch.tensor([1.0, -1.0])).norm(dim=1), torch.full((8,), 2.0))
    assert torch.allclose(pts[0], torch.tensor([3.0, -1.0]))
    quarter = metrics.circle(torch.tensor([0.0, 0.0]), 1.0, 4)
    assert torch.allclose(quarter[1], torch.tensor([0.0, 1.0]))


def test_edge_grid_contains_every_cell_edge_and_ball_points_filters():
    x = metrics.edge_grid(Box.cube(2), 4, per_cell=2)
    assert x.shape == (81, 2)
    values = set(x[:, 0].tolist())
    assert {0.0, 0.25, 0.5, 0.75, 1.0} <= values
    inside = metrics.ball_points(x, (0.5, 0.5), 0.5)
    assert bool(((inside - 0.5).norm(dim=1) <= 0.5).all())
    assert torch.tensor([1.0, 0.5]).tolist() in inside.tolist()  # the boundary is included
    assert len(inside) < len(x)


def test_pointwise_error_scalar_and_vector():
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert metrics.pointwise_error(lambda z: z, lambda z: 0 * z, x).tolist() == [
        0.0, math.sqrt(2)]
    assert metrics.pointwise_error(lambda z: z[:, 0], lambda z: -z[:, 0], x).tolist() == [
        0.0, 2.0]


def test_plot_map_draws_one_pixel_per_grid_point():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plotting.plot_map(ax, lambda x: x[:, 0] + 10 * x[:, 1], Box.cube(2), 5, log=True,
                          label="log", cmap="viridis")
    image = ax.get_images()[0].get_array()
    assert image.shape == (5, 5)
    assert image[4, 0] == pytest.approx(1.0)  # row = x2 = 1, column = x1 = 0: log10(10)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: obstructions.degree_bound(3, (0, 0), 1.0, lipschitz=1.0), TypeError,
         "target must be callable"),
        (lambda: obstructions.degree_bound(mirror, (0, 0, 0), 1.0, lipschitz=1.0), ValueError,
         "centre must be a point of the plane"),
        (lambda: obstructions.degree_bound(mirror, (0, 0), 0.0, lipschitz=1.0), ValueError,
         "radius must be positive"),
        (lambda: obstructions.degree_bound(mirror, (0, 0), 1.0, lipschitz=-1.0), ValueError,
         "lipschitz must be non-negative"),
        (lambda: obstructions.degree_bound(mirror, (0, 0), 1.0, lipschitz=1.0, n_points=2),
         ValueError, "n_points must be at least 3"),
        (lambda: obstructions.degree_bound(lambda x: x[:, 0], (0, 0), 1.0, lipschitz=1.0),
         ValueError, r"target\(centre\) must have shape \(1, 2\)"),
        (lambda: obstructions.degree_bound(mirror, (0, 0), 1.0, lipschitz=1.0, point="p"),
         ValueError, "point must be a point of the plane"),
        (lambda: obstructions.max_principle_bound(mirror, (0, 0), 1.0, lipschitz=1.0),
         ValueError, r"target\(centre\) must have shape \(1\)"),
        (lambda: obstructions.max_principle_bound(lambda x: x[:, 0], (0, 0), 1.0, lipschitz=1.0,
                                                  kind="maximum"), ValueError,
         "kind must be one of"),
        (lambda: obstructions.max_principle_bound(lambda x: x[:, 0], (0, 0), 1.0,
                                                  lipschitz="1"), TypeError,
         "lipschitz must be a real number"),
        (lambda: metrics.circle((0, 0), 1.0, 0), ValueError,
         "n_points must be a positive integer"),
        (lambda: metrics.edge_grid(Box.cube(2), 0), ValueError,
         "cells must be a positive integer"),
        (lambda: metrics.edge_grid((0, 1), 2), TypeError, "box must be a flowapprox.Box"),
        (lambda: metrics.ball_points(torch.zeros(3, 3), (0, 0), 1.0), ValueError,
         r"x must have shape \(\*, 2\)"),
        (lambda: metrics.pointwise_error(mirror, mirror, [[0.0, 0.0]]), TypeError,
         "x must be a torch.Tensor"),
        (lambda: plotting.plot_map(None, mirror, Box.cube(3), 4), ValueError,
         "box must be a 2-D flowapprox.Box"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_exceedance_fraction_counts_points_above_threshold():
    x = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    zero = lambda z: torch.zeros_like(z[:, 0])  # noqa: E731
    ramp = lambda z: z[:, 0]  # noqa: E731
    # |x| > 0.5 on 50 of the 101 points
    assert obstructions.exceedance_fraction(zero, ramp, x, 0.5) == pytest.approx(50 / 101)
    assert obstructions.exceedance_fraction(zero, ramp, x, 1.0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"threshold": -1.0}, "threshold"), ({"points": torch.zeros(3)}, "points"),
     ({"target": 1.0}, "target")],
)
def test_exceedance_fraction_validates(kwargs, name):
    args = {"target": lambda z: z, "approximant": lambda z: z,
            "points": torch.zeros(3, 2, dtype=torch.float64), "threshold": 0.1}
    args.update(kwargs)
    with pytest.raises((TypeError, ValueError), match=name):
        obstructions.exceedance_fraction(**args)
