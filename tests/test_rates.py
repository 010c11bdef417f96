"""Tests of flowapprox.rates: certified time-cost bounds and measured rates (Chapter 6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import flowapprox as fa
from flowapprox import rates
from flowapprox.splitting import RidgeSum

F64 = torch.float64


def step(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)


# ---------------------------------------------------------------- bounds


def test_lipschitz_from_time_cost() -> None:
    assert rates.lipschitz_from_time_cost(0.0) == 1.0
    assert rates.lipschitz_from_time_cost(2.0, 3.0) == pytest.approx(3 * math.e**2)
    assert rates.lipschitz_from_time_cost(1e4) == math.inf


def test_step_bound_closed_form_and_pairing_agree() -> None:
    for m in (0.2, 0.5, 3.0, 100.0):
        assert rates.pairing_lower_bound(step, m) == pytest.approx(
            rates.step_lower_bound(m), rel=1e-6
        )
    assert rates.step_lower_bound(100.0) == pytest.approx(0.0025)
    assert rates.step_lower_bound(0.25) == pytest.approx(1 - 0.25)  # R J - M R^2


def test_step_bound_attained_by_ramp() -> None:
    m = 10.0
    ramp = lambda x: torch.clamp(m * x + 0.5, 0.0, 1.0)  # noqa: E731
    err = rates.l1_error_1d(step, ramp, -1.0, 1.0, breakpoints=[-0.05, 0.0, 0.05])
    assert err == pytest.approx(rates.step_lower_bound(m), rel=1e-10)


def test_pairing_bound_is_below_errors_of_lipschitz_maps() -> None:
    g = torch.Generator().manual_seed(0)
    target = rates.kink_target(20.0)
    for _ in range(5):
        # random PL map with slopes in [-M, M]
        knots = torch.sort(torch.rand(6, generator=g, dtype=F64) * 2 - 1).values
        values = torch.cumsum(torch.randn(6, generator=g, dtype=F64), 0)
        pl = fa.PiecewiseLinear(knots, values)
        m = float(pl.slopes.abs().max())
        err = rates.l1_error_1d(target, pl, -1.0, 1.0,
                                breakpoints=[*knots.tolist(), *target.knots.tolist()])
        assert err >= rates.pairing_lower_bound(target, m) - 1e-9


def test_kink_approximants_attain_pairing_bound() -> None:
    target = rates.kink_target(20.0)
    for s in (2.0, 5.0, 12.0):
        g = rates.kink_approximant(20.0, s)
        err = rates.l1_error_1d(target, g, -1, 1, breakpoints=[*g.knots.tolist(),
                                                              *target.knots.tolist()])
        assert err == pytest.approx(rates.pairing_lower_bound(target, s), rel=1e-6)


def test_disk_bound_formula() -> None:
    r, m = 0.25, 50.0
    closed = 2 * math.pi * (r / (4 * m) - 1 / (24 * m**2))
    assert rates.disk_lower_bound(m, r) == pytest.approx(closed)
    assert rates.disk_lower_bound(m, r) >= (2 * math.pi * r) / (6 * m)
    # monotone in M
    values = [rates.disk_lower_bound(m, r) for m in (0.5, 1.0, 2.0, 10.0, 100.0)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_disk_bound_below_error_of_a_lipschitz_profile() -> None:
    r, m = 0.25, 20.0
    c = torch.tensor([0.5, 0.5], dtype=F64)
    disk = lambda x: (torch.linalg.vector_norm(x - c, dim=1) < r).to(x.dtype)  # noqa: E731
    profile = lambda x: torch.clamp(  # noqa: E731
        0.5 - m * (torch.linalg.vector_norm(x - c, dim=1) - r), 0.0, 1.0)
    err = fa.lp_error(disk, profile, fa.Box.cube(2), p=1, n_points=2**16)
    assert err >= rates.disk_lower_bound(m, r)
    assert err <= 1.2 * rates.disk_lower_bound(m, r)  # the radial ramp is nearly optimal


def test_minimal_time_cost_inverts_bounds() -> None:
    b = rates.minimal_time_cost(rates.step_lower_bound, 1e-3)
    assert b == pytest.approx(math.log(1 / (4e-3)))
    b2 = rates.minimal_time_cost(rates.step_lower_bound, 1e-3, readout_lipschitz=2.0)
    assert b2 == pytest.approx(b - math.log(2.0))
    assert rates.minimal_time_cost(rates.step_lower_bound, 10.0) == 0.0
    with pytest.raises(ValueError, match="error"):
        rates.minimal_time_cost(lambda m: 1.0, 0.5)


# ---------------------------------------------------------------- Jacobians


def test_aligned_neuron_attains_bound() -> None:
    control = rates.aligned_neuron_control(2, 1.5)
    assert control.time_cost == pytest.approx(1.5)
    x = torch.tensor([[0.3, -0.2], [2.0, 1.0]], dtype=F64)
    assert torch.allclose(rates.jacobian_log_norms(control, x), torch.full((2,), 1.5, dtype=F64))


def test_adversarial_respects_bound() -> None:
    res = rates.adversarial_jacobian(fa.ResidualBlock(2, "tanh"), 2, pieces=2, time_cost=1.0,
                                     steps=10, generator=torch.Generator().manual_seed(0))
    assert res.time_cost == pytest.approx(1.0)
    assert res.ratio <= 1.0
    assert res.history.shape == (11,)


def test_random_controls_respect_bound() -> None:
    g = torch.Generator().manual_seed(1)
    control = fa.PiecewiseConstantControl.random(fa.ResidualBlock(3, "relu"), 2, pieces=3,
                                                 horizon=1.0, generator=g, dtype=F64)
    x = torch.randn(64, 2, generator=g, dtype=F64)
    for method in ("euler", "rk4"):
        norms = rates.jacobian_log_norms(control, x, method=method)
        assert float(norms.max()) <= control.time_cost + 1e-12


# ---------------------------------------------------------------- sweeps


def test_step_approximant_cost_and_error() -> None:
    sweep = rates.monotone_sweep(step, [rates.step_approximant(b) for b in (8.0, 16.0)],
                                 breakpoints=[0.0])
    assert np.allclose(sweep.time_cost, [8.0, 16.0])
    q = np.exp(-np.array([8.0, 16.0]) / 4)
    assert np.allclose(sweep.error, q / 2 + q * (1 - q) ** 2 / 2, rtol=1e-8)


def test_kink_exact_representation() -> None:
    target = rates.kink_target(20.0)
    sweep = rates.monotone_sweep(target, [target], breakpoints=target.knots.tolist())
    assert sweep.error[0] < 1e-12
    assert sweep.time_cost[0] == pytest.approx(2 * math.log(20.0))


def test_construction_sweep_shapes() -> None:
    sweep = rates.construction_sweep(lambda x: x[:, 0] * x[:, 1], fa.Box.cube(2), [2, 4],
                                     [2.0, 3.0], n_points=2**10)
    assert sweep.error.shape == (2,) and np.all(sweep.time_cost > 0)
    assert np.allclose(sweep.horizon, [2 * 2.0 + 2, 2 * 3.0 + 2])


def test_splitting_sweep_first_order_and_bound() -> None:
    field = RidgeSum.random(3, 2, activation="tanh", generator=torch.Generator().manual_seed(0),
                            dtype=F64)
    x = fa.sobol_points(fa.Box.cube(2, -1, 1), 32, seed=0)
    ks = [8, 16, 32, 64]
    sweep = rates.splitting_sweep(field, x, 1.0, ks)
    assert fa.fit_loglog(ks, sweep.error).slope == pytest.approx(-1.0, abs=0.1)
    assert np.allclose(sweep.time_cost, field.control(1.0).time_cost)
    for k, e in zip(ks, sweep.error):
        assert e <= rates.lie_trotter_bound(field, x, 1.0, k)


def test_pareto_front() -> None:
    costs, sizes, errors = [1, 2, 3, 1, 5], [5, 3, 1, 6, 1], [0.1, 0.1, 0.1, 0.1, 0.5]
    assert rates.pareto_front(costs, sizes, errors, 0.2).tolist() == [0, 1, 2]


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: rates.lipschitz_from_time_cost(-1.0), ValueError, "time_cost"),
        (lambda: rates.lipschitz_from_time_cost(1.0, 0.0), ValueError, "readout_lipschitz"),
        (lambda: rates.lipschitz_from_time_cost(float("nan")), ValueError, "time_cost"),
        (lambda: rates.step_lower_bound(0.0), ValueError, "lipschitz"),
        (lambda: rates.step_lower_bound("a"), TypeError, "lipschitz"),
        (lambda: rates.step_lower_bound(1.0, radius=-1.0), ValueError, "radius"),
        (lambda: rates.disk_lower_bound(1.0, 0.0), ValueError, "radius"),
        (lambda: rates.disk_lower_bound(1.0, 0.2, room=-0.1), ValueError, "room"),
        (lambda: rates.pairing_lower_bound(3, 1.0), TypeError, "target"),
        (lambda: rates.pairing_lower_bound(step, 1.0, panels=0), ValueError, "panels"),
        (lambda: rates.minimal_time_cost(None, 0.1), TypeError, "lower_bound"),
        (lambda: rates.minimal_time_cost(rates.step_lower_bound, -0.1), ValueError, "error"),
        (lambda: rates.step_approximant(1.0), ValueError, "time_cost"),
        (lambda: rates.kink_target(0.5), ValueError, "steepness"),
        (lambda: rates.kink_approximant(20.0, 30.0), ValueError, "slope"),
        (lambda: rates.l1_error_1d(step, step, 1.0, 0.0), ValueError, "lower"),
        (lambda: rates.l1_error_1d(step, step, 0.0, 1.0, panels=0), ValueError, "panels"),
        (lambda: rates.aligned_neuron_control(0, 1.0), ValueError, "dim"),
        (lambda: rates.adversarial_jacobian(fa.Affine(), 2, pieces=1, time_cost=1.0),
         TypeError, "family"),
        (lambda: rates.adversarial_jacobian(fa.RidgeReLU(), 2, pieces=1, time_cost=0.0),
         ValueError, "time_cost"),
        (lambda: rates.adversarial_jacobian(fa.RidgeReLU(), 2, pieces=1, time_cost=1.0,
                                            method="rk45"), ValueError, "method"),
        (lambda: rates.jacobian_log_norms("c", torch.zeros(1, 2)), TypeError, "control"),
        (lambda: rates.jacobian_log_norms(rates.aligned_neuron_control(2, 1.0),
                                          torch.zeros(1, 3, dtype=F64)), ValueError, "x"),
        (lambda: rates.monotone_sweep(step, []), ValueError, "approximants"),
        (lambda: rates.monotone_sweep(step, [1.0]), TypeError, "approximants"),
        (lambda: rates.monotone_sweep(step, [rates.step_approximant(8.0)], parameters=[1, 2]),
         ValueError, "parameters"),
        (lambda: rates.construction_sweep(step, fa.Box.cube(2), [2], []), ValueError, "cells"),
        (lambda: rates.pareto_front([1.0], [1.0], [0.1], 0.0), ValueError, "tolerance"),
        (lambda: rates.pareto_front([1.0], [1.0, 2.0], [0.1], 0.1), ValueError, "costs"),
        (lambda: rates.pareto_front([np.nan], [1.0], [0.1], 0.1), ValueError, "costs"),
        (lambda: rates.lie_trotter_bound("f", torch.zeros(1, 2), 1.0, 1), TypeError, "field"),
        (lambda: rates.splitting_sweep(
            RidgeSum.random(2, 2, dtype=F64), torch.zeros(1, 2, dtype=F64), 1.0, [0]),
         ValueError, "rounds"),
        (lambda: rates.splitting_sweep(
            RidgeSum.random(2, 2, dtype=F64), torch.zeros(1, 2, dtype=F64), 1.0, [2],
            scheme="yoshida"), ValueError, "scheme"),
    ],
)
def test_bad_inputs(call, error, name) -> None:
    with pytest.raises(error, match=name):
        call()


# ---------------------------------------------------------------- identities (moved from the notebook)


def test_disk_minimal_time_is_at_least_the_closed_form() -> None:
    """The inverted exact integral is never below log(1/eps) - log(6 L / (J^2 Per))."""
    r = room = 0.25
    per = 2 * math.pi * r
    bound = lambda m: rates.disk_lower_bound(m, r, room=room)  # noqa: E731
    m0 = 1 / (2 * min(r, room))
    for eps in (0.2, 0.1, 3e-2, 1e-2, 1e-3, 1e-4, 1e-6):
        if eps < per / (6 * m0):  # the range where the closed form is proved
            assert rates.minimal_time_cost(bound, eps) >= math.log(1 / eps) - math.log(6 / per)


def test_kink_representation_costs_twice_log_lambda() -> None:
    for lam in (3.0, 20.0, 100.0):
        target = rates.kink_target(lam)
        sweep = rates.monotone_sweep(target, [target], breakpoints=target.knots.tolist())
        assert abs(sweep.time_cost[0] - 2 * math.log(lam)) <= 1e-9


def test_certified_error_inverts_minimal_time_cost() -> None:
    b = rates.minimal_time_cost(rates.step_lower_bound, 1e-3)
    assert rates.certified_error(rates.step_lower_bound, b) == pytest.approx(1e-3)
    assert rates.certified_error(rates.step_lower_bound, 0.0) == rates.step_lower_bound(1.0)
    assert rates.certified_error(rates.step_lower_bound, 800.0) == 0.0
    half = rates.certified_error(rates.step_lower_bound, b, readout_lipschitz=2.0)
    assert half == pytest.approx(5e-4)


def test_disk_cut_cell_bound() -> None:
    r = 0.25
    for n in (4, 8, 32):
        h = 1 / n
        expected = math.pi * ((r + math.sqrt(2) * h) ** 2 - max(r - math.sqrt(2) * h, 0) ** 2)
        assert rates.disk_cut_cell_bound(r, n) == pytest.approx(expected)
    # larger than the area of the ring of width 2 sqrt(2) h that it describes for small h
    assert rates.disk_cut_cell_bound(r, 64) == pytest.approx(
        4 * math.sqrt(2) * math.pi * r / 64, rel=1e-12)
    # the piecewise-constant approximant of the disk respects it
    c = torch.tensor([0.5, 0.5], dtype=F64)
    disk = lambda x: (torch.linalg.vector_norm(x - c, dim=1) < r).to(x.dtype)  # noqa: E731
    n = 8
    pc = lambda x: disk((torch.floor(x * n).clamp(max=n - 1) + 0.5) / n)  # noqa: E731
    assert fa.lp_error(disk, pc, fa.Box.cube(2), p=1, n_points=2**14) <= rates.disk_cut_cell_bound(r, n)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: rates.certified_error(None, 1.0), TypeError, "lower_bound"),
        (lambda: rates.certified_error(rates.step_lower_bound, -1.0), ValueError, "time_cost"),
        (lambda: rates.disk_cut_cell_bound(0.0, 4), ValueError, "radius"),
        (lambda: rates.disk_cut_cell_bound(0.25, 0), ValueError, "cells"),
        (lambda: rates.construction_sweep(step, "box", [2], [1.0]), TypeError, "box"),
    ],
)
def test_bad_inputs_of_the_new_helpers(call, error, name) -> None:
    with pytest.raises(error, match=name):
        call()
