"""Tests of flowapprox.monotone: isotonic lower bounds, log-slope time costs, exact representation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowapprox import (
    Box,
    PiecewiseConstantControl,
    PiecewiseLinear,
    RidgeReLU,
    lp_error,
    monotone,
    ridge_flow,
)
from flowapprox.monotone import (
    LogSlopeTimeCosts,
    best_increasing_fit,
    increasing_lower_bound,
    interpolate_increasing,
    log_slope_time_costs,
    minimal_time_cost_lp,
    random_increasing_pl,
    represent_increasing_pl,
    ridge_flow_as_pl,
)

T = torch.tensor
BOX = Box([-1.0], [1.0])


def random_pl(seed: int, knots: int = 6, spread: float = 1.0) -> PiecewiseLinear:
    return random_increasing_pl(knots, log_slope=spread,
                                generator=torch.Generator().manual_seed(seed))


def test_random_increasing_pl():
    g = torch.Generator().manual_seed(0)
    target = random_increasing_pl(7, lower=0.0, upper=2.0, log_slope=0.5, generator=g)
    assert target.knots.numel() == 7 and target.knots.dtype == torch.float64
    assert bool((target.knots > 0.1 - 1e-12).all() and (target.knots < 1.9 + 1e-12).all())
    slopes = target.slopes
    assert bool((slopes > 0).all()) and float(slopes.log().abs().max()) <= 0.5 + 1e-12
    assert 0.0 <= float(target(torch.tensor([0.0], dtype=torch.float64))) <= 2.0
    with pytest.raises(ValueError, match="knots must be a positive integer"):
        random_increasing_pl(0)
    with pytest.raises(ValueError, match="log_slope must be non-negative"):
        random_increasing_pl(3, log_slope=-1.0)


def test_best_increasing_fit_is_identity_on_increasing_data():
    y = T([-1.0, 0.0, 0.5, 2.0])
    for p in (1, 2):
        fit = best_increasing_fit(y, p=p)
        assert torch.allclose(fit.values, y, atol=1e-9) and fit.error < 1e-9


def test_best_increasing_fit_of_decreasing_data_is_the_mean_or_a_median():
    y = T([3.0, 2.0, 1.0, 0.0])
    fit2 = best_increasing_fit(y, p=2)
    assert torch.allclose(fit2.values, torch.full((4,), 1.5))
    assert math.isclose(fit2.error, math.sqrt(5.0))
    fit1 = best_increasing_fit(y, p=1)
    assert math.isclose(fit1.error, 4.0, abs_tol=1e-9)  # any constant in [1, 2]
    assert bool((torch.diff(fit1.values) >= 0).all())


def test_l1_fit_beats_random_increasing_sequences():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(40, generator=g)
    w = torch.rand(40, generator=g) + 0.5
    fit = best_increasing_fit(y, weights=w, p=1)
    assert bool((torch.diff(fit.values) >= -1e-12).all())
    for _ in range(200):
        z = torch.sort(torch.randn(40, generator=g)).values
        assert float((w * (y - z).abs()).sum()) >= fit.error - 1e-9
    # The L2 fit's L1 error is no better than the L1 optimum.
    fit2 = best_increasing_fit(y, weights=w, p=2)
    assert float((w * (y - fit2.values).abs()).sum()) >= fit.error - 1e-9


def test_lower_bound_for_minus_x_and_certificate():
    for p, exact in ((1, 1.0), (2, math.sqrt(2.0 / 3.0))):
        bound = increasing_lower_bound(lambda x: -x, BOX, p=p, n_points=512)
        assert abs(bound.error - exact) < 5e-3
        assert bool((torch.diff(bound.points) > 0).all())
        # Any increasing map has at least this lp_error on the same rule.
        for phi in (lambda x: 0.3 * x, lambda x: torch.tanh(5 * x) * 0.01, lambda x: 0 * x):
            err = lp_error(lambda x: -x, phi, BOX, p=p, n_points=512)
            assert err >= bound.error - 1e-9


def test_best_increasing_fit_bad_inputs():
    with pytest.raises(TypeError, match="target must be a torch.Tensor"):
        best_increasing_fit([1.0, 2.0])
    with pytest.raises(ValueError, match="target must have 1 dimension"):
        best_increasing_fit(torch.ones(2, 2))
    with pytest.raises(ValueError, match="at least one value"):
        best_increasing_fit(torch.ones(0))
    with pytest.raises(ValueError, match="weights must be positive"):
        best_increasing_fit(torch.ones(3), weights=T([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"weights must have shape \(3\)"):
        best_increasing_fit(torch.ones(3), weights=torch.ones(4))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        best_increasing_fit(torch.ones(3), p=3)
    with pytest.raises(ValueError, match="points must be in non-decreasing order"):
        best_increasing_fit(torch.ones(3), points=T([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="must be finite"):
        best_increasing_fit(T([1.0, float("nan")]))


def test_increasing_lower_bound_bad_inputs():
    with pytest.raises(TypeError, match="box must be a flowapprox.Box"):
        increasing_lower_bound(lambda x: x, (-1.0, 1.0))
    with pytest.raises(ValueError, match="box must be one-dimensional"):
        increasing_lower_bound(lambda x: x, Box.cube(2))
    with pytest.raises(ValueError, match=r"target\(x\) must have shape"):
        increasing_lower_bound(lambda x: torch.ones(3), BOX, n_points=8)
    with pytest.raises(ValueError, match="power of two"):
        increasing_lower_bound(lambda x: x, BOX, n_points=10)


# ------------------------------------------------------------------ costs


def test_time_cost_formulas_on_examples():
    b = LogSlopeTimeCosts.from_log_slopes(np.array([3.0, 1.0]))
    assert (b.total_variation, b.one_sided, b.minimal) == (2.0, 5.0, 3.0)
    b = LogSlopeTimeCosts.from_log_slopes(np.array([1.0, 3.0, 1.0]))
    assert (b.one_sided, b.minimal) == (5.0, 4.0)
    b = LogSlopeTimeCosts.from_log_slopes(T([math.log(2.0)]))
    assert math.isclose(b.minimal, math.log(2.0)) and math.isclose(b.one_sided, math.log(2.0))
    assert LogSlopeTimeCosts.from_log_slopes(np.zeros(4)).minimal == 0.0


@pytest.mark.parametrize("seed", range(12))
def test_closed_form_minimum_equals_lp(seed):
    target = random_pl(seed, knots=3 + seed % 8, spread=1.5)
    costs = log_slope_time_costs(target, -1.0, 1.0)
    assert abs(minimal_time_cost_lp(target, -1.0, 1.0) - costs.minimal) < 1e-9
    assert costs.minimal <= costs.one_sided + 1e-15


def test_costs_bad_inputs():
    target = random_pl(0)
    with pytest.raises(ValueError, match="lower must be below upper"):
        log_slope_time_costs(target, 1.0, -1.0)
    with pytest.raises(TypeError, match="target must be a PiecewiseLinear"):
        log_slope_time_costs(lambda x: x, -1.0, 1.0)
    decreasing = PiecewiseLinear(T([0.0]), T([0.0]), -1.0, -1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        minimal_time_cost_lp(decreasing, -1.0, 1.0)
    with pytest.raises(ValueError, match="non-empty 1-D array"):
        LogSlopeTimeCosts.from_log_slopes(np.array([]))
    with pytest.raises(ValueError, match="finite"):
        LogSlopeTimeCosts.from_log_slopes(np.array([0.0, np.inf]))


# ------------------------------------------------------------ exact representation


@pytest.mark.parametrize("strategy", ["minimal", "one-sided"])
@pytest.mark.parametrize("seed", range(8))
def test_representation_is_exact_and_attains_its_time_cost(seed, strategy):
    target = random_pl(seed, knots=3 + seed)
    rep = represent_increasing_pl(target, -1.0, 1.0, strategy=strategy)
    x = torch.cat([torch.linspace(-1.0, 1.0, 1001), target.knots])
    x = x[(x >= -1) & (x <= 1)]
    assert float((rep(x) - target(x)).abs().max()) < 1e-12
    costs = log_slope_time_costs(target, -1.0, 1.0)
    expected = costs.minimal if strategy == "minimal" else costs.one_sided
    assert abs(rep.time_cost - expected) < 1e-12
    assert math.isclose(rep.time_cost, rep.control.time_cost, abs_tol=1e-15)
    assert rep.neurons <= 2 + 2 * 3 + seed  # at most two neurons per knot plus one outside


def test_representation_neuron_counts_and_translation():
    # Right-active neurons only and a fixed left end: no translation is needed.
    target = PiecewiseLinear(T([0.0]), T([0.0]), 1.0, 2.0)
    rep = represent_increasing_pl(target, -1.0, 1.0, strategy="one-sided")
    assert rep.neurons == 1 and rep.translation == 0.0
    assert math.isclose(rep.time_cost, math.log(2.0))
    # A translation is free (time cost 0).
    shifted = PiecewiseLinear(T([0.0]), T([0.5]), 1.0, 1.0)
    rep = represent_increasing_pl(shifted, -1.0, 1.0)
    assert rep.neurons == 0 and rep.time_cost == 0.0 and math.isclose(rep.translation, 0.5)
    assert float((rep(T([-1.0, 0.3])) - T([-0.5, 0.8])).abs().max()) < 1e-15
    # The identity: no pieces of positive duration.
    identity = represent_increasing_pl(PiecewiseLinear(T([0.0]), T([0.0]), 1.0, 1.0), -1, 1)
    assert identity.neurons == 0 and identity.control.horizon == 0.0


def test_minimal_beats_one_sided_when_the_slope_falls():
    # Log-slopes (3, 1): one-sided 5, minimal 3 (the brief's formula is not minimal).
    target = PiecewiseLinear(T([0.0]), T([0.0]), math.exp(3.0), math.exp(1.0))
    one = represent_increasing_pl(target, -1.0, 1.0, strategy="one-sided")
    best = represent_increasing_pl(target, -1.0, 1.0)
    assert math.isclose(one.time_cost, 5.0) and math.isclose(best.time_cost, 3.0)


def test_representation_bad_inputs():
    target = random_pl(1)
    with pytest.raises(ValueError, match="strategy must be one of"):
        represent_increasing_pl(target, -1.0, 1.0, strategy="greedy")
    with pytest.raises(TypeError, match="target must be a PiecewiseLinear"):
        represent_increasing_pl(torch.ones(3), -1.0, 1.0)
    flat = PiecewiseLinear(T([0.0, 0.5]), T([0.0, 0.0]), 1.0, 1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        represent_increasing_pl(flat, -1.0, 1.0)
    with pytest.raises(TypeError, match="lower must be a real number"):
        represent_increasing_pl(target, "a", 1.0)


# ---------------------------------------------------- flow maps of ridge controls


def random_ridge_control(seed: int, pieces: int = 6) -> PiecewiseConstantControl:
    return PiecewiseConstantControl.random(RidgeReLU(), 1, pieces=pieces, horizon=2.0,
                                           generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", range(20))
def test_flow_as_pl_is_exact_and_time_cost_is_a_lower_bound(seed):
    control = random_ridge_control(seed)
    pl = ridge_flow_as_pl(control, -1.0, 1.0)
    x = torch.linspace(-1.0, 1.0, 2001)
    assert float((pl(x) - ridge_flow(control, x.unsqueeze(1))[:, 0]).abs().max()) < 1e-12
    # No control represents a map more cheaply than the minimal time cost.
    assert control.time_cost >= log_slope_time_costs(pl, -1.0, 1.0).minimal - 1e-12


def test_flow_as_pl_with_constant_pieces_and_far_kinks():
    params = {"v": T([[1.0], [0.5], [2.0]]), "w": T([[0.0], [1.0], [-1.0]]),
              "b": T([1.0, 5.0, 0.0])}
    control = PiecewiseConstantControl(RidgeReLU(), T([0.3, 0.2, 0.1]), params)
    pl = ridge_flow_as_pl(control, -1.0, 1.0)
    x = torch.linspace(-1.0, 1.0, 101)
    assert float((pl(x) - ridge_flow(control, x.unsqueeze(1))[:, 0]).abs().max()) < 1e-12
    assert pl.knots.numel() == 3  # the ends and the one kink inside


def test_flow_as_pl_bad_inputs():
    with pytest.raises(TypeError, match="RidgeReLU family"):
        ridge_flow_as_pl("control", -1.0, 1.0)
    control2d = PiecewiseConstantControl.random(RidgeReLU(), 2, pieces=2)
    with pytest.raises(ValueError, match="must act on the line"):
        ridge_flow_as_pl(control2d, -1.0, 1.0)
    with pytest.raises(ValueError, match="lower must be below upper"):
        ridge_flow_as_pl(random_ridge_control(0), 0.0, 0.0)


# ------------------------------------------------------------------ interpolation


def test_interpolation_error_is_second_order():
    f = lambda x: x + torch.sin(math.pi * x) / 4  # noqa: E731
    x = torch.linspace(-1.0, 1.0, 4097)
    errors = []
    for pieces in (16, 32, 64):
        pl = interpolate_increasing(f, -1.0, 1.0, pieces)
        assert pl.knots.numel() == pieces + 1
        errors.append(float((pl(x) - f(x)).abs().max()))
        h = 2.0 / pieces
        assert errors[-1] <= h**2 * (math.pi**2 / 4) / 8 + 1e-12
    assert all(1.9 < math.log2(a / b) < 2.1 for a, b in zip(errors, errors[1:]))


def test_interpolation_bad_inputs():
    with pytest.raises(ValueError, match="pieces must be a positive integer"):
        interpolate_increasing(torch.exp, -1.0, 1.0, 0)
    with pytest.raises(ValueError, match="strictly increasing"):
        interpolate_increasing(lambda x: -x, -1.0, 1.0, 4)
    with pytest.raises(ValueError, match=r"f\(knots\) must have shape"):
        interpolate_increasing(lambda x: x[:2], -1.0, 1.0, 4)
    with pytest.raises(ValueError, match="lower must be below upper"):
        interpolate_increasing(torch.exp, 1.0, 1.0, 4)


def test_adversarial_time_cost_never_beats_the_minimum_of_what_it_produces():
    gen = torch.Generator().manual_seed(0)
    target = monotone.random_increasing_pl(3, generator=gen)
    result = monotone.adversarial_time_cost(target, -1.0, 1.0, pieces=4, steps=60,
                                            generator=gen)
    assert result.time_cost >= result.produced_minimal - 1e-9
    assert result.target_minimal == pytest.approx(
        monotone.log_slope_time_costs(target, -1.0, 1.0).minimal)
    assert result.control.num_pieces == 5 and result.misfit >= 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"pieces": 0}, "pieces"), ({"steps": -1}, "steps"), ({"penalty": 0.0}, "penalty"),
     ({"lr": -1.0}, "lr"), ({"n_points": 0}, "n_points")],
)
def test_adversarial_time_cost_validates(kwargs, name):
    target = monotone.random_increasing_pl(3, generator=torch.Generator().manual_seed(0))
    args = {"pieces": 2, "steps": 2} | kwargs
    with pytest.raises((TypeError, ValueError), match=name):
        monotone.adversarial_time_cost(target, -1.0, 1.0, **args)
