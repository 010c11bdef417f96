r"""Non-examples: the best approximations by families that do not mix coordinates (Chapter 4).

Two control families fail the hypotheses of the main theorem, and their error floors can
be computed directly, without training:

* **affine fields** :math:`f(x) = Ax+b`: their flows are affine maps, and an affine map
  followed by an affine readout is affine, so the best :math:`L^2` error is that of the
  least-squares affine fit (:func:`best_affine`);
* **coordinate-wise fields** :math:`f_i(x) = v_i\sigma(w_ix_i+b_i)`: their flows are product
  maps :math:`(\varphi_1(x_1),\varphi_2(x_2))` of increasing homeomorphisms, and with an affine
  readout :math:`u_1\varphi_1(x_1)+u_2\varphi_2(x_2)+\beta` they give sums of monotone
  functions of one coordinate each (increasing or decreasing according to the signs of
  :math:`u`). Increasing 1-D flows approximate every increasing map (Chapter 3), so the
  :math:`L^2` closure is the set of sums :math:`f_1(x_1)+f_2(x_2)` of monotone functions, and
  :func:`best_monotone_additive` computes the best one on a fine grid. :func:`best_additive`
  drops the monotonicity: its error (the norm of the interaction part of the target in the
  analysis-of-variance decomposition) is a lower bound for every additive model.

Examples
--------
>>> import torch
>>> from flowapprox import Box
>>> from flowapprox.baselines import best_affine, best_monotone_additive
>>> x = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> fit = best_affine(x, 3 * x[:, 0] - x[:, 1] + 2)
>>> [round(v, 6) for v in fit.matrix.tolist()], round(float(fit.offset), 6)
([3.0, -1.0], 2.0)
>>> fit = best_monotone_additive(lambda x: x[:, 0] * x[:, 1], Box.cube(2), resolution=32)
>>> fit.increasing
(True, True)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from scipy.optimize import isotonic_regression
from torch import Tensor

from ._types import Target
from ._validation import (
    check_box,
    check_callable,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .metrics import Box
from .piecewise import cell_centres, cell_index


@dataclass(frozen=True)
class AffineMap:
    """The affine map :math:`x\\mapsto Mx + c` (``matrix`` of shape ``(m, n)``, or ``(n,)``
    for a scalar map with ``offset`` of shape ``()``)."""

    matrix: Tensor
    offset: Tensor

    def __call__(self, x: Tensor) -> Tensor:
        """Evaluate at points of shape ``(batch, n)``."""
        x = check_points("x", x, self.matrix.shape[-1])
        matrix = self.matrix if self.matrix.ndim == 1 else self.matrix.T
        return x @ matrix + self.offset


def best_affine(x: Tensor, y: Tensor, weights: Tensor | None = None) -> AffineMap:
    r"""The least-squares affine fit :math:`\min_{M,c}\sum_i w_i|y_i - Mx_i - c|^2`.

    Solved by ``torch.linalg.lstsq`` (driver ``gelsd``, robust to rank deficiency).

    Implements :prf:ref:`ch4-prop-non-examples`.

    Parameters
    ----------
    x
        Points, shape ``(batch, n)``.
    y
        Values, shape ``(batch,)`` (scalar fit) or ``(batch, m)``.
    weights
        Optional positive quadrature weights, shape ``(batch,)`` (e.g. Gauss-Legendre); with
        uniform or quasi-random points leave it out.
    """
    x = check_points("x", x)
    y = check_tensor("y", y)
    if y.shape[0] != x.shape[0] or y.ndim > 2:
        raise ValueError(f"y must have shape ({x.shape[0]},) or ({x.shape[0]}, m), got "
                         f"{tuple(y.shape)}")
    design = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    rhs = y.reshape(x.shape[0], -1)
    if weights is not None:
        weights = check_tensor("weights", weights, shape=(x.shape[0],))
        if bool((weights <= 0).any()):
            raise ValueError("weights must be positive")
        root = weights.sqrt().unsqueeze(1)
        design, rhs = design * root, rhs * root
    solution = torch.linalg.lstsq(design, rhs, driver="gelsd").solution  # (n + 1, m)
    matrix, offset = solution[:-1].T, solution[-1]
    if y.ndim == 1:
        matrix, offset = matrix[0], offset[0]
    return AffineMap(matrix, offset)


@dataclass(frozen=True)
class AdditiveFit:
    r"""A sum :math:`f_1(x_1) + f_2(x_2)` of step functions on a grid of a 2-D box.

    ``f1[i]`` (``f2[j]``) is the value on the ``i``-th (``j``-th) of ``len(f1)`` (``len(f2)``)
    equal cells of the box's first (second) side; ``increasing`` records the directions of
    monotonicity, ``None`` if unconstrained.
    """

    box: Box
    f1: Tensor
    f2: Tensor
    increasing: tuple[bool, bool] | None

    def __call__(self, x: Tensor) -> Tensor:
        """Evaluate at points of shape ``(batch, 2)``."""
        x = check_points("x", x, 2)
        (a1, a2), (b1, b2) = self.box.lower, self.box.upper
        i = cell_index(x[:, 0], len(self.f1), lower=a1, upper=b1)
        j = cell_index(x[:, 1], len(self.f2), lower=a2, upper=b2)
        return self.f1[i] + self.f2[j]


def _grid_values(target: Target, box: Box, resolution: int) -> Tensor:
    """The target at the midpoints of a ``resolution x resolution`` grid, shape ``(M, M)``."""
    check_callable("target", target)
    check_box("box", box, 2)
    m = check_positive_int("resolution", resolution)
    (a1, a2), (b1, b2) = box.lower, box.upper
    c1 = cell_centres(m, lower=a1, upper=b1).to(torch.float64)
    c2 = cell_centres(m, lower=a2, upper=b2).to(torch.float64)
    points = torch.stack(torch.meshgrid(c1, c2, indexing="ij"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        values = check_tensor("target(points)", target(points), shape=(m * m,))
    return values.to(torch.float64).reshape(m, m)


def best_additive(target: Target, box: Box, resolution: int = 256) -> AdditiveFit:
    r"""The best :math:`L^2` approximation by :math:`f_1(x_1)+f_2(x_2)`, on a midpoint grid.

    On a tensor grid with equal weights this is exact: row means plus column means minus
    the overall mean. Its error is the norm of the target's interaction part, a lower bound
    for :func:`best_monotone_additive`.

    Implements :prf:ref:`ch4-prop-non-examples`.
    """
    values = _grid_values(target, box, resolution)
    mean = values.mean()
    return AdditiveFit(box, values.mean(dim=1) - mean, values.mean(dim=0), None)


def _backfit(
    values: np.ndarray, increasing: tuple[bool, bool], tol: float, max_sweeps: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """Backfitting for fixed directions; returns (mean squared residual, f1, f2)."""
    f1, f2 = np.zeros(values.shape[0]), np.zeros(values.shape[1])
    loss = np.inf
    for _ in range(max_sweeps):
        f1 = isotonic_regression((values - f2).mean(axis=1), increasing=increasing[0]).x
        f2 = isotonic_regression((values - f1[:, None]).mean(axis=0), increasing=increasing[1]).x
        new_loss = float(((values - f1[:, None] - f2) ** 2).mean())
        if loss - new_loss < tol:
            break
        loss = new_loss
    return new_loss, f1, f2


def best_monotone_additive(
    target: Target,
    box: Box,
    resolution: int = 256,
    *,
    tol: float = 1e-12,
    max_sweeps: int = 10_000,
) -> AdditiveFit:
    r"""The best :math:`L^2` approximation by :math:`f_1(x_1)+f_2(x_2)` with monotone :math:`f_i`.

    The target is sampled at the midpoints of a ``resolution x resolution`` grid. For each
    of the four choices of directions (increasing or decreasing :math:`f_1`, :math:`f_2`)
    the convex least-squares problem is solved by backfitting, i.e. block coordinate descent
    with exact block minimisations: alternately, :math:`f_1` is the isotonic regression
    (``scipy.optimize.isotonic_regression``) of the row means of :math:`F - f_2`, and
    :math:`f_2` that of the column means of :math:`F - f_1` (exact because the grid has equal
    weights). Sweeps stop when the mean squared residual decreases by less than ``tol``. The
    best of the four fits is returned.

    Implements :prf:ref:`ch4-prop-non-examples`.
    """
    values = _grid_values(target, box, resolution).numpy()
    tol = check_real("tol", tol, positive=True)
    max_sweeps = check_positive_int("max_sweeps", max_sweeps)
    fits = {
        directions: _backfit(values, cast(tuple[bool, bool], directions), tol, max_sweeps)
        for directions in itertools.product((True, False), repeat=2)
    }
    directions = cast(tuple[bool, bool], min(fits, key=lambda d: fits[d][0]))
    _, f1, f2 = fits[directions]
    return AdditiveFit(box, torch.tensor(f1.copy()), torch.tensor(f2.copy()), directions)
