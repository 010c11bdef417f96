"""Tests of flowapprox.profiles: the construction from sigmoid, tanh or well units."""

from __future__ import annotations

import math

import pytest
import torch

from flowapprox import Box, lp_error, reference_flow, sobol_points
from flowapprox.construction import construct_cube
from flowapprox.profiles import (
    ProfileConstruction,
    RidgeProfile,
    Well,
    WellBlock,
    construct_from_profiles,
    profile_zoom_time,
    ramp_well,
    square_wave,
    staircase,
)

F64 = torch.float64
UNIT = Box.cube(2)
RAMP = Well(ramp_well, 1.0, name="ramp well")


def target(x):
    return torch.sin(2 * x[:, 0]) * torch.cos(x[:, 1]) + (x**2).sum(1)


def slope(profile, s):
    s = torch.tensor([s], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(profile(s).sum(), s)
    return float(grad)


@pytest.mark.parametrize("family", ["sigmoid", "tanh", RAMP])
def test_square_wave_zeros_slopes_and_plateaus(family):
    n, kappa, lam = 4, 8.0, 2.0
    psi = square_wave(n, lower=-1.0, upper=1.0, rate=kappa, escape=lam, activation=family)
    h = 2.0 / n
    centres = -1 + h * (torch.arange(n, dtype=F64) + 0.5)
    edges = -1 + h * torch.arange(1, n, dtype=F64)
    # zeros at the centres and edges up to tails 3 h e^{-2 kappa}
    assert float(psi(centres).abs().max()) < 3 * h * math.exp(-2 * kappa)
    assert float(psi(edges).abs().max()) < 3 * h * math.exp(-2 * kappa)
    # plateaus +h/2 and -h/2 at the quarter points
    assert torch.allclose(psi(centres - h / 4), torch.full((n,), h / 2, dtype=F64), atol=1e-3)
    assert torch.allclose(psi(centres + h / 4), torch.full((n,), -h / 2, dtype=F64), atol=1e-3)
    # stable zeros (slope -kappa), unstable zeros (slope lambda kappa)
    for c in centres.tolist():
        assert slope(psi, c) == pytest.approx(-kappa, rel=1e-4)
    for u in edges.tolist():
        assert slope(psi, u) == pytest.approx(lam * kappa, rel=1e-4)
    # the slope bound bounds the slope on a fine grid
    s = torch.linspace(-1, 1, 4001, dtype=F64, requires_grad=True)
    (grads,) = torch.autograd.grad(psi(s).sum(), s)
    assert float(grads.abs().max()) <= psi.slope_bound


def test_sigmoid_and_tanh_units_give_the_same_functions():
    s = torch.linspace(-0.2, 1.2, 301, dtype=F64)
    a, b = square_wave(8, rate=6.0), square_wave(8, rate=6.0, activation="tanh")
    assert float((a(s) - b(s)).abs().max()) < 1e-14
    assert a.time_rate == pytest.approx(b.time_rate)
    pts, vals = torch.tensor([0.3, -1.0, 2.0]), torch.tensor([1.0, 4.0, -2.0])
    sa, sb = staircase(pts, vals), staircase(pts, vals, activation="tanh")
    assert float((sa(s) - sb(s)).abs().max()) < 1e-14


@pytest.mark.parametrize("family", ["sigmoid", "tanh", RAMP])
def test_staircase_values_and_flatness_at_points(family):
    g = torch.Generator().manual_seed(0)
    pts = torch.sort(torch.rand(40, generator=g, dtype=F64)).values
    pts = pts + 0.01 * torch.arange(40, dtype=F64)  # distinct, gaps at least 0.01
    vals = torch.randn(40, generator=g, dtype=F64)
    kappa = 20.0
    phi = staircase(pts, vals, sharpness=kappa, activation=family)
    jumps = vals.diff().abs()
    tail = 2 * float(jumps.max()) * math.exp(-kappa) + float(jumps.sum()) * math.exp(-kappa)
    assert float((phi(pts) - vals).abs().max()) <= 5 * tail + 1e-12
    # flat around the points: within a tenth of the smaller gap the value changes little
    gap = torch.minimum(torch.cat([pts.diff(), pts.diff()[-1:]]),
                        torch.cat([pts.diff()[:1], pts.diff()]))
    near = pts + 0.1 * gap
    assert float((phi(near) - vals).abs().max()) < 1e-4


def test_block_params_reproduce_the_profile_as_a_field():
    from flowapprox import ResidualBlock

    psi = square_wave(3, rate=5.0, activation="tanh")
    p = psi.block_params(axis=1, source=0, dim=3)
    x = torch.rand(50, 3, dtype=F64)
    field = ResidualBlock(p["b"].numel(), "tanh").field(x, p)
    assert torch.allclose(field[:, 1], psi(x[:, 0]), atol=1e-14)
    assert float(field[:, [0, 2]].abs().max()) == 0.0
    wp = staircase(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0]), activation=RAMP)
    q = wp.block_params(axis=0, source=1, dim=2)
    y = torch.rand(20, 2, dtype=F64)
    assert torch.allclose(WellBlock(q["b"].numel(), RAMP).field(y, q)[:, 0], wp(y[:, 1]),
                          atol=1e-13)


@pytest.mark.parametrize("family", ["sigmoid", "tanh", RAMP])
def test_construction_converges_to_the_piecewise_constant_floor(family):
    errors, floors = [], []
    for n in (4, 8):
        c = construct_cube(target, UNIT, n, family=family)
        assert isinstance(c, ProfileConstruction)
        errors.append(lp_error(target, c, UNIT, p=2, n_points=2048, seed=0))
        floors.append(lp_error(target, c.approximant, UNIT, p=2, n_points=2048, seed=0))
    assert errors[1] / errors[0] == pytest.approx(0.5, abs=0.05)
    assert errors[1] / floors[1] == pytest.approx(1.0, abs=0.01)


def test_rk4_agrees_with_dopri5_and_the_control_reproduces_the_flow():
    c = construct_from_profiles(target, UNIT, 4)
    x = sobol_points(UNIT, 256, seed=3).to(F64)
    rk4 = c.flow_map(x)
    dopri = c.flow_map(x, reference=True)
    assert float((rk4 - dopri).abs().max()) < 1e-5
    whole = reference_flow(c.control(), x)
    assert float((whole - dopri).abs().max()) < 1e-7
    assert c.control().time_cost == pytest.approx(c.time_cost)
    assert c.neurons == sum(stage.profile.units for stage in c.stages)


def test_three_dimensions_and_time_cost_by_hand():
    c = construct_from_profiles(lambda z: z.sum(1), Box.cube(3), 2)
    assert len(c.stages) == 3 + 2 + 1
    z = sobol_points(Box.cube(3), 512, seed=1).to(F64)
    assert float((c(z) - c.approximant(z)).abs().mean()) < 1e-3
    # zoom: (N-1) edge steps of height h and steepness lambda beta_c, N centre steps, Lip 1/4
    n, kappa, lam, h = 2, 8.0, 2.0, 0.5
    beta_c = 4 * kappa / h
    rate = 0.25 * h * ((n - 1) * lam * beta_c + n * beta_c)
    assert c.stages[0].profile.time_rate == pytest.approx(rate)
    assert c.stages[0].duration == pytest.approx(profile_zoom_time(2, 3))


def test_relu_family_is_unchanged():
    x = sobol_points(UNIT, 256, seed=0).to(F64)
    a = construct_cube(target, UNIT, 4, 8.0)
    b = construct_cube(target, UNIT, 4, 8.0, family="relu")
    assert torch.equal(a(x), b(x))
    default = construct_cube(target, UNIT, 4)
    assert default.horizon == pytest.approx(2 * (3 + 2 * math.log(4)) + 2)


def test_the_well_step_has_sigmoid_tails():
    z = torch.linspace(-25, 25, 50_001, dtype=F64)
    gap = (RAMP.step(z) - (z > 0).to(F64)).abs()
    assert float((gap * z.abs().exp()).max()) <= 1.0
    assert float(RAMP.step(torch.zeros(1, dtype=F64))) == pytest.approx(0.5, abs=1e-15)


def test_non_even_wells_are_symmetrised():
    well = Well(lambda u: ramp_well(u) * (1 + 0.5 * (u > 0)), 1.5)
    assert not well.even and RAMP.even
    z = torch.linspace(-30, 30, 61, dtype=F64)
    assert float((well.step(z) - RAMP.step(z)).abs().max()) < 1e-12
    assert RAMP.max_slope == pytest.approx(0.25, rel=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [({"function": lambda u: u**2, "lipschitz": 1.0}, ValueError, "function"),
     ({"function": lambda u: 0 * u, "lipschitz": 1.0}, ValueError, "function"),
     ({"function": "eta", "lipschitz": 1.0}, TypeError, "function"),
     ({"function": ramp_well, "lipschitz": -1.0}, ValueError, "lipschitz"),
     ({"function": ramp_well, "lipschitz": 1.0, "shift": 0.5}, ValueError, "shift"),
     ({"function": lambda u: torch.relu(u.abs() - 1) ** 2, "lipschitz": 1.0}, ValueError,
      "function")],
)
def test_well_validates(kwargs, error, match):
    with pytest.raises(error, match=match):
        Well(**kwargs)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [(lambda: square_wave(0), ValueError, "cells"),
     (lambda: square_wave(4, rate=-1.0), ValueError, "rate"),
     (lambda: square_wave(4, escape=0.5), ValueError, "escape"),
     (lambda: square_wave(4, lower=1.0, upper=0.0), ValueError, "lower"),
     (lambda: square_wave(4, activation="relu"), ValueError, "activation"),
     (lambda: staircase(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0])), ValueError,
      "points"),
     (lambda: staircase(torch.tensor([0.0, 1.0]), torch.tensor([1.0])), ValueError, "values"),
     (lambda: staircase(torch.tensor([0.0]), torch.tensor([1.0]), sharpness=0.0), ValueError,
      "sharpness"),
     (lambda: construct_cube(target, UNIT, 4, family="softplus"), ValueError, "family"),
     (lambda: construct_from_profiles(target, Box.cube(1), 4), ValueError, "box"),
     (lambda: construct_from_profiles(target, UNIT, 4, -1.0), ValueError, "zoom_time"),
     (lambda: construct_from_profiles("f", UNIT, 4), TypeError, "target"),
     (lambda: RidgeProfile("sigmoid", torch.ones(2), torch.ones(3), torch.ones(2)), ValueError,
      "scales"),
     (lambda: profile_zoom_time(4, 2, rate=0.0), ValueError, "rate")],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_evaluation_rejects_bad_points():
    c = construct_from_profiles(target, UNIT, 2)
    with pytest.raises(ValueError, match="x"):
        c(torch.zeros(3, 3, dtype=F64))


@pytest.mark.parametrize("family", ["sigmoid", RAMP])
@pytest.mark.parametrize(("cells", "kappa", "lam"), [(4, 4.0, 1.0), (6, 4.0, 3.0), (8, 8.0, 2.0)])
def test_square_wave_meets_the_constants_of_its_lemma(cells, kappa, lam, family):
    """ch4-lem-square-wave: 2N-1 zeros near centres and edges, secant bounds kappa/2 and
    lambda kappa/2 on the neighbourhoods h/(4 kappa), h/(4 lambda kappa), crossing time 6/5
    (proved for the sigmoid; checked here for the well's step too)."""
    psi = square_wave(cells, rate=kappa, escape=lam, activation=family)
    h = 1.0 / cells
    s = torch.linspace(0, 1, 200_001, dtype=F64)
    v = psi(s)
    left = torch.nonzero(v[1:] * v[:-1] <= 0).flatten()
    lo, hi = s[left].clone(), s[left + 1].clone()
    for _ in range(50):  # bisection, all zeros at once
        mid = (lo + hi) / 2
        same = psi(lo) * psi(mid) > 0
        lo, hi = torch.where(same, mid, lo), torch.where(same, hi, mid)
    zeros = torch.unique(torch.round((lo + hi) / 2, decimals=11))  # a zero on the grid: twice
    assert zeros.numel() == 2 * cells - 1
    stable, unstable = zeros[0::2], zeros[1::2]
    centres = h * (torch.arange(cells, dtype=F64) + 0.5)
    edges = h * torch.arange(1, cells, dtype=F64)
    tail = math.exp(-2 * kappa)
    assert float((stable - centres).abs().max()) <= 8 * h * tail / kappa + 1e-15
    assert float((unstable - edges).abs().max()) <= 8 * h * tail / (lam * kappa) + 1e-15
    unit = torch.linspace(-1, 1, 401, dtype=F64)
    unit = unit[unit.abs() > 1e-3]
    for z in stable.tolist():
        d = unit * h / (4 * kappa)
        assert float((psi(z + d).abs() / d.abs()).min()) >= kappa / 2
    for z in unstable.tolist():
        d = unit * h / (4 * lam * kappa)
        assert float((psi(z + d).abs() / d.abs()).min()) >= lam * kappa / 2
    # crossing time from distance w_u of an unstable zero to distance w_c of the next centre
    x = torch.linspace(float(unstable[0]) + h / (4 * lam * kappa),
                       float(stable[1]) - h / (4 * kappa), 200_001, dtype=F64)
    assert float(torch.trapezoid(1 / psi(x).abs(), x)) <= 1.2
