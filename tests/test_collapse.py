"""Tests of flowapprox.collapse: multi-well collapse onto the step map, exponential fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowapprox.collapse import (
    collapse_curve,
    collapse_prefactor,
    step_map,
)
from flowapprox.metrics import ExponentialFit, fit_exponential

T = torch.tensor


def test_step_map_sends_points_to_cell_centres():
    x = T([0.0, 0.1, 0.25, 0.49, 0.5, 0.99, 1.0])
    assert step_map(x, 2).tolist() == [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75]
    assert step_map(T([-1.0, 1.0]), 4, lower=-1.0, upper=1.0).tolist() == [-0.75, 0.75]


@pytest.mark.parametrize(("cells", "delta"), [(2, 0.02), (4, 0.1), (8, 0.05)])
def test_collapse_curve_rate_prefactor_and_sup(cells, delta):
    times = [0.0, 2.0, 4.0, 6.0, 8.0]
    curve = collapse_curve(cells, delta, times, n_points=2**12)
    assert curve.times.tolist() == times
    assert math.isclose(curve.l1[0], 1.0 / (4 * cells), rel_tol=1e-3)  # mean |x - c| = h/4
    assert np.all(np.diff(curve.l1) < 0)
    np.testing.assert_array_equal(curve.sup, np.full(len(times), 0.5 / cells))
    fit = fit_exponential(curve.times[1:], curve.l1[1:])
    assert abs(fit.rate - 1.0) < 0.01
    assert abs(fit.prefactor / collapse_prefactor(cells, delta) - 1.0) < 0.01
    assert curve.unconverged[0] > 0.9 and curve.unconverged[-1] < 1e-3


def test_prefactor_formula():
    # One cell: no layers, L1 = e^{-T} * 2 * (1/2)^2 / 2 = e^{-T} / 4.
    assert math.isclose(collapse_prefactor(1, 0.1), 0.25)
    # As delta -> 0 the prefactor tends to the layer-free value 1 / (4N).
    assert math.isclose(collapse_prefactor(4, 1e-9), 1.0 / 16.0, rel_tol=1e-6)


def test_fit_exponential_recovers_rate():
    t = np.linspace(0.0, 5.0, 6)
    fit = fit_exponential(t, 3.0 * np.exp(-0.7 * t))
    assert isinstance(fit, ExponentialFit)
    assert math.isclose(fit.rate, 0.7) and math.isclose(fit.prefactor, 3.0)
    assert math.isclose(fit.r_squared, 1.0)
    np.testing.assert_allclose(fit(t), 3.0 * np.exp(-0.7 * t))


@pytest.mark.parametrize(
    ("t", "y", "match"),
    [
        ([0.0, 1.0], [1.0, 0.5], "equal length >= 3"),
        ([0.0, 1.0, 2.0], [1.0, 0.0, 0.5], "positive and finite"),
        ([0.0, np.nan, 2.0], [1.0, 0.5, 0.2], "t must be finite"),
    ],
)
def test_fit_exponential_bad_inputs(t, y, match):
    with pytest.raises(ValueError, match=match):
        fit_exponential(t, y)


def test_collapse_bad_inputs():
    with pytest.raises(ValueError, match="cells must be a positive integer"):
        collapse_curve(0, 0.1, [1.0])
    with pytest.raises(ValueError, match="delta must be positive"):
        collapse_curve(2, 0.0, [1.0])
    with pytest.raises(ValueError, match="delta must lie in"):
        collapse_prefactor(2, 0.5)
    with pytest.raises(ValueError, match=r"times\[0\] must be non-negative"):
        collapse_curve(2, 0.1, [-1.0])
    with pytest.raises(ValueError, match="at least one time"):
        collapse_curve(2, 0.1, [])
    with pytest.raises(ValueError, match="tol must be positive"):
        collapse_curve(2, 0.1, [1.0], tol=0.0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        step_map([0.1], 2)
