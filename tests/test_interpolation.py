"""Tests of flowapprox.interpolation: exact finite-ensemble control (book, Chapter 7)."""

from __future__ import annotations

import math

import pytest
import torch

import flowapprox as fa
from flowapprox import interpolation as ip


def _rand(shape, seed):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("m", [1, 2, 7, 60])
def test_exact_interpolation_counts_and_bound(dim, m):
    x, y = _rand((m, dim), 1), 3.0 * _rand((m, dim), 2) - 1.0
    fit = ip.interpolate(x, y)
    assert fit.num_pieces == 2 * m
    assert fit.num_neurons == 2 * (m - 1)
    assert fit.max_error <= 1e-10
    assert float((fa.ridge_flow(fit.control, x) - y).norm(dim=1).max()) <= 1e-10
    assert float((fa.flow(fit.control, x) - y).norm(dim=1).max()) <= 1e-8
    assert fit.time_cost <= fit.time_cost_bound * (1 + 1e-12) + 1e-12
    if m > 1:
        delta_x, delta_y = ip.separation(x), ip.separation(y)
        assert fit.gaps[0] >= ip.separation_lemma_gap(delta_x, m, dim)
        assert fit.gaps[1] >= ip.separation_lemma_gap(delta_y, m, dim) / 2
        assert fit.sin_angle >= 1 / (4 * ip.kappa(dim))
        assert fit.time_cost >= ip.lipschitz_cost_lower_bound(x, y) - 1e-9


def test_every_piece_is_a_shear_or_a_constant():
    x, y = _rand((30, 2), 3), _rand((30, 2), 4)
    params = ip.interpolate(x, y).control.params
    dots = (params["v"] * params["w"]).sum(dim=1)
    assert float(dots.abs().max()) == 0.0  # axis-aligned stages: exactly perpendicular


def test_generic_directions_when_coordinates_repeat():
    # a grid: coordinates coincide, so the stages use random directions
    g = torch.linspace(0.0, 1.0, 4, dtype=torch.float64)
    x = torch.cartesian_prod(g, g)
    y = x.flip(0) * 0.5 + 0.1
    fit = ip.interpolate(x, y)
    assert fit.max_error <= 1e-10
    assert fit.time_cost <= fit.time_cost_bound
    assert float((fa.flow(fit.control, x) - y).norm(dim=1).max()) <= 1e-8


def test_interpolation_is_deterministic_and_generator_changes_only_directions():
    x, y = _rand((12, 2), 5), _rand((12, 2), 6)
    a, b = ip.interpolate(x, y), ip.interpolate(x, y)
    assert torch.equal(a.control.params["v"], b.control.params["v"])
    c = ip.interpolate(x, y, generator=torch.Generator().manual_seed(7))
    assert c.max_error <= 1e-10


def test_offset_zero_puts_kinks_on_points_and_bound_scales():
    x, y = _rand((15, 2), 8), _rand((15, 2), 9)
    a = ip.interpolate(x, y, offset=0.0)
    b = ip.interpolate(x, y, offset=0.25)
    assert a.max_error <= 1e-10 and b.max_error <= 1e-10
    assert b.time_cost_bound == pytest.approx(2.0 * a.time_cost_bound)


def test_one_dimension_order_compatible_fitted_exactly():
    x = torch.tensor([[0.3], [-1.0], [2.0], [0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0], [-5.0], [1.5], [0.2]], dtype=torch.float64)
    assert ip.order_compatible(x, y)
    fit = ip.interpolate(x, y)
    assert float((fa.ridge_flow(fit.control, x) - y).abs().max()) <= 1e-12
    assert fit.num_pieces == 4 and fit.num_neurons == 3
    # the cost is the Chapter 3 budget: |log s_1| + sum |jumps of log-slopes|
    xs, ys = torch.sort(x[:, 0]).values, torch.sort(y[:, 0]).values
    u = torch.log(torch.diff(ys) / torch.diff(xs))
    budget = float(u[0].abs() + torch.diff(u).abs().sum())
    assert fit.time_cost == pytest.approx(budget, rel=1e-12)


def test_one_dimension_single_point_is_a_translation():
    fit = ip.interpolate(torch.tensor([[1.0]], dtype=torch.float64),
                         torch.tensor([[-2.0]], dtype=torch.float64))
    assert fit.num_neurons == 0 and fit.time_cost == 0.0 and fit.max_error == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_one_dimension_property_reject_iff_incompatible(seed):
    gen = torch.Generator().manual_seed(100 + seed)
    m = int(torch.randint(2, 7, (1,), generator=gen))
    x = torch.randn(m, 1, generator=gen, dtype=torch.float64)
    y = torch.randn(m, 1, generator=gen, dtype=torch.float64)
    if ip.order_compatible(x, y):
        fit = ip.interpolate(x, y)
        assert float((fa.ridge_flow(fit.control, x) - y).abs().max()) <= 1e-12
    else:
        with pytest.raises(ValueError, match="targets"):
            ip.interpolate(x, y)


def test_one_dimension_decreasing_rejected_with_indices():
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"targets.*order-compatible.*points\[0\]"):
        ip.interpolate(x, -x)


D = torch.float64


def _t(values):
    return torch.tensor(values, dtype=D)


@pytest.mark.parametrize(
    ("points", "targets", "name", "error"),
    [
        ([[0.0, 0.0], [1.0, 1.0]], torch.zeros(2, 2, dtype=D), "points", TypeError),
        (torch.zeros(2, 2, dtype=torch.int64), torch.zeros(2, 2, dtype=D), "points", TypeError),
        (torch.zeros(3, dtype=D), torch.zeros(3, dtype=D), "points", ValueError),
        (_t([[0.0, 1.0], [1.0, 0.0]]), torch.zeros(3, 2, dtype=D), "targets", ValueError),
        (_t([[0.0, 1.0], [1.0, 0.0]]), torch.zeros(2, 2, dtype=torch.float32), "targets",
         TypeError),
        (_t([[0.0, math.nan], [1.0, 1.0]]), _t([[0.0, 1.0], [1.0, 0.0]]), "points", ValueError),
        (_t([[0.0, 1.0], [1.0, 0.0]]), _t([[0.0, math.inf], [1.0, 1.0]]), "targets", ValueError),
        (_t([[0.5, 0.5], [0.1, 0.2], [0.5, 0.5]]), _t([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]),
         "points", ValueError),
        (_t([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), _t([[0.5, 0.5], [0.1, 0.2], [0.1, 0.2]]),
         "targets", ValueError),
    ],
)
def test_bad_input_names_the_argument(points, targets, name, error):
    with pytest.raises(error, match=name):
        ip.interpolate(points, targets)


def test_coincident_points_message_gives_indices():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"points\[0\] and points\[2\] coincide"):
        ip.interpolate(x, _rand((3, 2), 0))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"tol": 0.0}, "tol"), ({"tol": math.nan}, "tol"), ({"candidates": 0}, "candidates"),
     ({"offset": 0.5}, "offset"), ({"offset": -0.1}, "offset"), ({"generator": 3}, "generator")],
)
def test_bad_options_name_the_argument(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        ip.interpolate(_rand((3, 2), 0), _rand((3, 2), 1), **kwargs)


def test_tolerance_violation_raises_interpolation_error():
    x, y = _rand((200, 2), 10), _rand((200, 2), 11)
    with pytest.raises(ip.InterpolationError, match="tol"):
        ip.interpolate(x, y, tol=1e-300)


def test_helpers_validate_and_compute():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    assert ip.separation(x) == 5.0
    assert ip.projection_gap(x, torch.tensor([1.0, 0.0], dtype=torch.float64)) == 3.0
    assert ip.kappa(2) == 1.0 and ip.kappa(3) == pytest.approx(max(1.0, math.sqrt(4 / math.pi)))
    assert ip.separation_lemma_gap(1.0, 3, 2) == pytest.approx(1 / 6)
    assert ip.lipschitz_cost_lower_bound(x, 2 * x) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="direction"):
        ip.projection_gap(x, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="delta"):
        ip.separation_lemma_gap(0.0, 3, 2)
    with pytest.raises(ValueError, match="points"):
        ip.order_compatible(x, x)


def test_classification_targets_and_spirals():
    x, y = ip.two_spirals(torch.Generator().manual_seed(0), num_per_class=50)
    assert x.shape == (100, 2) and int((y == 1).sum()) == 50
    t = ip.classification_targets(x, y)
    fit = ip.interpolate(x, t)
    out = fa.ridge_flow(fit.control, x)[:, 0]
    assert bool((torch.sign(out) == y).all())
    with pytest.raises(ValueError, match="labels"):
        ip.classification_targets(x, torch.zeros(100, dtype=torch.float64))
    with pytest.raises(ValueError, match="points"):
        ip.classification_targets(x[:, :1], y)
    with pytest.raises(TypeError, match="generator"):
        ip.two_spirals(0)
    with pytest.raises(ValueError, match="turns"):
        ip.two_spirals(torch.Generator(), turns=0.0)


def test_shear_flows_preserve_volume():
    x, y = _rand((8, 2), 12), _rand((8, 2), 13)
    control = ip.interpolate(x, y).control
    pts = _rand((5, 2), 14)
    dets = fa.jacobian_determinants(lambda z: fa.ridge_flow(control, z), pts)
    assert float((dets - 1.0).abs().max()) < 1e-6


def test_train_interpolant_decreases_loss():
    x, y = _rand((4, 2), 15), _rand((4, 2), 16)
    control, losses = ip.train_interpolant(x, y, pieces=4, steps=30, lr=0.05,
                                           generator=torch.Generator().manual_seed(0),
                                           progress=False)
    assert control.num_pieces == 4 and losses.shape == (30,)
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="pieces"):
        ip.train_interpolant(x, y, pieces=0, steps=1)


def test_pinned_family_fixes_the_origin_and_approaches_the_ridge_flow():
    base = fa.PiecewiseConstantControl.random(fa.RidgeReLU(), 2, pieces=3, horizon=2.0,
                                              generator=torch.Generator().manual_seed(1))
    x = _rand((64, 2), 17) * 2 - 1
    exact = fa.ridge_flow(base, x)
    dists = []
    for eps in (0.4, 0.1):
        pinned = fa.PiecewiseConstantControl(ip.PinnedRidgeReLU(eps), base.durations, base.params)
        assert float(fa.flow(pinned, torch.zeros(1, 2, dtype=torch.float64),
                             steps_per_piece=20).abs().max()) == 0.0
        dists.append(float((fa.flow(pinned, x, steps_per_piece=50) - exact).norm(dim=1).mean()))
        lip = pinned.family.lipschitz_bound(pinned.piece(0))
        assert lip >= base.family.lipschitz_bound(base.piece(0))
    assert dists[1] < dists[0]
    with pytest.raises(ValueError, match="eps"):
        ip.PinnedRidgeReLU(0.0)


def test_counts_are_exactly_2m_pieces_and_2m_minus_2_neurons():
    """The counts of the theorem hold by construction: a unit test, not a claim."""
    sizes = [3, 10, 30]
    for dim in (2, 3):
        fits = [ip.interpolate(_rand((m, dim), 5), _rand((m, dim), 6)) for m in sizes]
        assert [f.num_pieces for f in fits] == [2 * m for m in sizes]
        assert [f.num_neurons for f in fits] == [2 * (m - 1) for m in sizes]
        assert [f.stage_sizes for f in fits] == [(m, m) for m in sizes]


@pytest.mark.parametrize("method", ["exact", "rk4", "dopri5"])
def test_endpoint_error(method):
    x, y = _rand((12, 2), 7), _rand((12, 2), 8)
    fit = ip.interpolate(x, y)
    assert ip.endpoint_error(fit.control, x, y, method=method) <= 1e-8
    moved = ip.endpoint_error(fit.control, x, y + torch.tensor([3.0, 4.0], dtype=torch.float64))
    assert moved == pytest.approx(5.0, abs=1e-8)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "name"),
    [
        (("c", _rand((3, 2), 1), _rand((3, 2), 2)), {}, TypeError, "control"),
        ((None, _rand((3, 2), 1), _rand((3, 3), 2)), {}, ValueError, "targets"),
        ((None, _rand((3, 2), 1), _rand((3, 2), 2)), {"method": "euler"}, ValueError, "method"),
    ],
)
def test_endpoint_error_bad_input_names_the_argument(args, kwargs, error, name):
    control = ip.interpolate(_rand((3, 2), 1), _rand((3, 2), 2)).control
    args = tuple(control if a is None else a for a in args)
    with pytest.raises(error, match=name):
        ip.endpoint_error(*args, **kwargs)
