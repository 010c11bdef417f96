"""Tests of flowapprox.piecewise: PL functions, their exact 1-D flows, multi-well fields."""

from __future__ import annotations

import math

import pytest
import torch
from torchdiffeq import odeint

from flowapprox import PiecewiseLinear, cell_centres, cell_index, multiwell, pl_flow

F64 = torch.float64


def T(values):
    return torch.tensor(values, dtype=F64)


def random_field(seed: int, knots: int = 6) -> PiecewiseLinear:
    g = torch.Generator().manual_seed(seed)
    k = torch.sort(torch.rand(knots, generator=g, dtype=F64) * 4 - 2).values
    v = torch.randn(knots, generator=g, dtype=F64)
    return PiecewiseLinear(k, v, float(torch.randn(1, generator=g)), float(torch.randn(1, generator=g)))


def test_evaluation_slopes_and_relu_expansion_agree():
    field = random_field(0)
    x = torch.linspace(-4, 4, 1001, dtype=F64)
    a, b, c, k = field.relu_expansion()
    expansion = a * x + b + (c[None, :] * torch.relu(x[:, None] - k[None, :])).sum(1)
    assert torch.allclose(field(x), expansion, atol=1e-12)
    assert field.slopes.numel() == field.knots.numel() + 1
    assert field.total_variation_of_slope() == pytest.approx(float(c.abs().sum()))
    assert torch.allclose(field(field.knots), field.values)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("t", [0.0, 2.0])
def test_pl_flow_matches_an_accurate_solver(seed, t):
    """The exact flow equals dopri5 on the same field (written as a 1-D control's field)."""
    field = random_field(seed)
    x = torch.linspace(-3, 3, 61, dtype=F64)
    exact = pl_flow(field, x, t)
    numeric = odeint(lambda s, y: field(y), x, torch.tensor([0.0, t], dtype=F64),
                     rtol=1e-11, atol=1e-12)[-1] if t > 0 else x
    assert (exact - numeric).abs().max() < 1e-6  # dopri5 steps across the kinks


def test_pl_flow_is_a_semigroup_and_fixes_zeros():
    field = multiwell(4, 0.1, dtype=F64)
    x = torch.linspace(0.01, 0.99, 301, dtype=F64)
    assert torch.allclose(pl_flow(field, pl_flow(field, x, 0.7), 1.3), pl_flow(field, x, 2.0),
                          atol=1e-12)
    centres = cell_centres(4).to(F64)
    assert torch.allclose(pl_flow(field, centres, 5.0), centres, atol=1e-15, rtol=0)


def test_pl_flow_gradient_is_the_flow_derivative():
    """d phi_t / dx = psi(phi_t(x)) / psi(x) in one dimension, also across knots."""
    field = multiwell(4, 0.1, dtype=F64)
    x = torch.linspace(0.01, 0.99, 397, dtype=F64).requires_grad_(True)
    y = pl_flow(field, x, 2.0)
    (grad,) = torch.autograd.grad(y.sum(), x)
    moving = field(x.detach()).abs() > 1e-9
    expected = field(y.detach()) / field(x.detach())
    assert bool(torch.isfinite(grad).all())
    assert ((grad - expected)[moving] / expected[moving]).abs().max() < 1e-9


def test_multiwell_contracts_cell_interiors_at_rate_one():
    n, delta, t = 4, 0.1, 3.0
    field = multiwell(n, delta, dtype=F64)
    centres = cell_centres(n).to(F64)
    x = centres + 0.2 / n  # inside each cell, outside the layers
    assert torch.allclose(pl_flow(field, x, t) - centres, (x - centres) * math.exp(-t),
                          atol=1e-14)


def test_cell_helpers():
    assert torch.allclose(cell_centres(4, lower=-1.0, upper=1.0),
                          torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    x = torch.tensor([-0.5, 0.0, 0.25, 0.5, 1.0, 2.0])
    assert cell_index(x, 4).tolist() == [0, 0, 1, 2, 3, 3]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: PiecewiseLinear(T([1.0, 0.0]), T([0.0, 0.0])), ValueError, "strictly increasing"),
        (lambda: PiecewiseLinear(T([0.0, 1.0]), T([0.0])), ValueError, "values must have shape"),
        (lambda: PiecewiseLinear(T([]), T([])), ValueError, "knots"),
        (lambda: PiecewiseLinear(T([0.0]), T([0.0]), left_slope=math.inf), ValueError,
         "left_slope must be finite"),
        (lambda: pl_flow("field", T([0.0]), 1.0), TypeError, "field must be a PiecewiseLinear"),
        (lambda: pl_flow(multiwell(2, 0.1, dtype=F64), T([0.0]), -1.0), ValueError,
         "t must be non-negative"),
        (lambda: pl_flow(multiwell(2, 0.1, dtype=F64), torch.zeros(2, dtype=torch.float32), 1.0),
         TypeError, "dtype"),
        (lambda: multiwell(0, 0.1), ValueError, "cells must be a positive integer"),
        (lambda: multiwell(2, 1.5), ValueError, "delta must lie in"),
        (lambda: multiwell(2, 0.1, lower=1.0, upper=0.0), ValueError, "lower must be below upper"),
        (lambda: cell_centres(3, lower=1.0, upper=1.0), ValueError, "lower must be below upper"),
        (lambda: cell_index(torch.zeros(2), 0), ValueError, "cells must be a positive integer"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
