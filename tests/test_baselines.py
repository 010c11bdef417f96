"""Tests of flowapprox.baselines: affine and monotone-additive error floors."""

from __future__ import annotations

import math

import pytest
import torch

from flowapprox import Box, gauss_legendre, lp_error, sobol_points
from flowapprox.baselines import AffineMap, best_additive, best_affine, best_monotone_additive

UNIT = Box.cube(2)


def sincos(x):
    return torch.sin(2 * math.pi * x[:, 0]) * torch.cos(2 * math.pi * x[:, 1])


def test_best_affine_recovers_affine_data_scalar_and_vector(gen):
    x = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    matrix = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    offset = torch.tensor([1.0, -2.0], dtype=torch.float64)
    fit = best_affine(x, x @ matrix.T + offset)
    assert torch.allclose(fit.matrix, matrix) and torch.allclose(fit.offset, offset)
    scalar = best_affine(x, x @ matrix[0] + 3.0)
    assert scalar.matrix.shape == (3,) and scalar.offset.shape == ()
    assert torch.allclose(scalar(x), x @ matrix[0] + 3.0)


def test_best_affine_is_the_l2_projection():
    # sin(2 pi x1) cos(2 pi x2) is orthogonal to 1, x1, x2 on the unit square
    x, w = gauss_legendre(UNIT, 32)
    fit = best_affine(x, sincos(x), weights=w)
    assert fit.matrix.abs().max() < 1e-12 and abs(float(fit.offset)) < 1e-12
    bump = lambda x: torch.exp(-((x - 0.3) ** 2).sum(1) / 0.1)  # noqa: E731
    fit = best_affine(x, bump(x), weights=w)
    residual = bump(x) - fit(x)
    design = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    assert (design.T @ (w * residual)).abs().max() < 1e-12  # normal equations


def test_best_affine_with_sobol_points_matches_the_exact_floor():
    x = sobol_points(UNIT, 2**14)
    fit = best_affine(x, sincos(x))
    assert lp_error(sincos, fit, UNIT, p=2) == pytest.approx(0.5, rel=1e-2)


def test_additive_fits_are_exact_for_additive_targets():
    target = lambda x: torch.exp(x[:, 0]) - x[:, 1] ** 3  # noqa: E731 - monotone in each
    for fit in (best_additive(target, UNIT, 64), best_monotone_additive(target, UNIT, 64)):
        # step functions at resolution 64 of an additive smooth target
        assert lp_error(target, fit, UNIT, n_points=2**10) < 0.02
        assert fit.f1.shape == (64,) and fit.f2.shape == (64,)
    mono = best_monotone_additive(target, UNIT, 64)
    assert mono.increasing == (True, False)
    assert bool((torch.diff(mono.f1) >= 0).all()) and bool((torch.diff(mono.f2) <= 0).all())


def test_monotone_additive_floor_bounds():
    # sin cos has no additive part at all: both floors equal ||F|| = 1/2
    for fit in (best_additive(sincos, UNIT, 128), best_monotone_additive(sincos, UNIT, 128)):
        assert lp_error(sincos, fit, UNIT, p=2) == pytest.approx(0.5, rel=1e-2)
    cone = lambda x: torch.linalg.vector_norm(x - 0.5, dim=1)  # noqa: E731
    additive = lp_error(cone, best_additive(cone, UNIT, 128), UNIT, p=2)
    monotone = best_monotone_additive(cone, UNIT, 128)
    assert lp_error(cone, monotone, UNIT, p=2) > additive > 0.01
    for f in (monotone.f1, monotone.f2):
        steps = torch.diff(f)
        assert bool((steps >= -1e-12).all()) or bool((steps <= 1e-12).all())


def test_bad_input():
    x = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="y must have shape"):
        best_affine(x, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="weights must be positive"):
        best_affine(x, torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="weights must have shape"):
        best_affine(x, torch.zeros(4, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        best_affine([[0.0]], torch.zeros(1, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must have shape"):
        AffineMap(torch.ones(2), torch.tensor(0.0))(torch.ones(3, 3))
    with pytest.raises(TypeError, match="target must be callable"):
        best_monotone_additive(None, UNIT)
    with pytest.raises(ValueError, match="box must be a 2-D"):
        best_additive(sincos, Box.cube(3))
    with pytest.raises(ValueError, match="resolution must be a positive integer"):
        best_additive(sincos, UNIT, 0)
    with pytest.raises(ValueError, match="target\\(points\\) must have shape"):
        best_additive(lambda x: x, UNIT, 4)
    with pytest.raises(ValueError, match="tol must be positive"):
        best_monotone_additive(sincos, UNIT, 4, tol=0.0)
