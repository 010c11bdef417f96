r"""Collapse of cells onto points by the multi-well flow, measured against the step map.

The time-:math:`T` flow :math:`\varphi_T` of the multi-well field :math:`\psi_{N,\delta}`
(:func:`flowapprox.multiwell`) pushes each of the :math:`N` cells of an interval towards its
centre :math:`c_j`, so it approaches the *step map* :math:`S(x) = c_{j(x)}`, a non-decreasing
but non-injective map that no flow map equals (book, Chapter 3). :func:`collapse_curve`
measures, for a list of times and with the exact flow :func:`flowapprox.pl_flow`,

* the :math:`L^1` distance :math:`\|\varphi_T - S\|_{L^1}` (scrambled Sobol rule, whose
  points avoid the measure-zero set of cell boundaries);
* the sup distance on a grid that contains the cell boundaries (the unstable zeros of
  :math:`\psi`, which never move);
* the measure of the unconverged set :math:`\{|\varphi_T - S| > \text{tol}\}`.

:func:`collapse_prefactor` is the constant :math:`A` of the book's formula
:math:`\|\varphi_T-S\|_{L^1}\approx Ae^{-T}`, and :func:`flowapprox.fit_exponential` fits
:math:`y\approx C e^{-\text{rate}\,T}`.

Examples
--------
>>> from flowapprox import collapse
>>> curve = collapse.collapse_curve(4, 0.1, [1.0, 2.0, 3.0, 4.0])
>>> curve.sup.tolist()  # the cell boundaries never move: 1/(2N) for every T
[0.125, 0.125, 0.125, 0.125]
>>> from flowapprox.metrics import fit_exponential
>>> round(fit_exponential(curve.times, curve.l1).rate, 1)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._validation import check_positive_int, check_real, check_tensor
from .metrics import Box, grid, sobol_points
from .piecewise import cell_centres, cell_index, multiwell, pl_flow


def step_map(x: Tensor, cells: int, *, lower: float = 0.0, upper: float = 1.0) -> Tensor:
    """The step map :math:`x\\mapsto c_{j(x)}`: each point to the centre of its cell.

    Cell boundaries belong to the cell on their right (:func:`flowapprox.cell_index`).
    """
    x = check_tensor("x", x)
    centres = cell_centres(cells, lower=lower, upper=upper).to(x.dtype)
    return centres[cell_index(x, cells, lower=lower, upper=upper)]


@dataclass(frozen=True)
class CollapseCurve:
    """Distances between the multi-well flow and the step map, one entry per time."""

    cells: int
    delta: float
    times: np.ndarray
    l1: np.ndarray
    sup: np.ndarray
    unconverged: np.ndarray


def collapse_curve(
    cells: int,
    delta: float,
    times: Sequence[float],
    *,
    n_points: int = 2**14,
    grid_points: int = 1001,
    tol: float = 1e-3,
    seed: int = 0,
) -> CollapseCurve:
    r"""Distances between :math:`\varphi_T` of :math:`\psi_{N,\delta}` on [0, 1] and the step map.

    Implements :prf:ref:`ch3-prop-collapse`.

    Parameters
    ----------
    cells, delta
        :math:`N` and :math:`\delta` of :func:`flowapprox.multiwell`.
    times
        The times :math:`T\ge0`.
    n_points, seed
        The Sobol rule for the :math:`L^1` distance and the unconverged measure.
    grid_points
        Points of the equispaced grid for the sup distance; the :math:`N-1` interior cell
        boundaries are added to it.
    tol
        Threshold of the unconverged set.

    Notes
    -----
    ``pl_flow`` computes :math:`\exp(sT)` for the slope :math:`s=(1-\delta)/\delta` of the
    layers; keep :math:`sT < 700` (float64 range).
    """
    n = check_positive_int("cells", cells)
    delta = check_real("delta", delta, positive=True)
    tol = check_real("tol", tol, positive=True)
    ts = np.asarray(
        [check_real(f"times[{k}]", t, nonnegative=True) for k, t in enumerate(times)], dtype=float
    )
    if ts.size == 0:
        raise ValueError("times must contain at least one time")
    field = multiwell(n, delta, dtype=torch.float64)
    box = Box([0.0], [1.0])
    x = sobol_points(box, n_points, seed=seed, dtype=torch.float64)[:, 0]
    h = 1.0 / n
    boundaries = torch.tensor([k * h for k in range(1, n)], dtype=torch.float64)
    y = torch.cat([grid(box, grid_points, dtype=torch.float64)[:, 0], boundaries])
    target_x, target_y = step_map(x, n), step_map(y, n)
    l1, sup, unconverged = [], [], []
    for t in ts:
        dist = (pl_flow(field, x, float(t)) - target_x).abs()
        l1.append(float(dist.mean()))
        unconverged.append(float((dist > tol).double().mean()))
        sup.append(float((pl_flow(field, y, float(t)) - target_y).abs().max()))
    return CollapseCurve(n, delta, ts, np.asarray(l1), np.asarray(sup), np.asarray(unconverged))


def collapse_prefactor(cells: int, delta: float) -> float:
    r"""The constant :math:`A` with :math:`\|\varphi_T - S\|_{L^1[0,1]} = Ae^{-T} + O(e^{-sT})`.

    With :math:`h = 1/N` and :math:`s=(1-\delta)/\delta` the slope of the layers
    (book, Chapter 3),

    .. math::
        A = \frac{h^2}{4}\bigl[(N-1)(1-\delta)^2 + 1\bigr]
          + \frac{(N-1)\,\delta(1-\delta)^2h^2}{2(1-2\delta)},

    the first term from the linear parts of the cells, the second from the layers. Requires
    :math:`0<\delta<1/2`, so that points leave the layers faster than they contract.

    Implements :prf:ref:`ch3-prop-collapse`.
    """
    n = check_positive_int("cells", cells)
    delta = check_real("delta", delta, positive=True)
    if delta >= 0.5:
        raise ValueError(f"delta must lie in (0, 1/2), got {delta}")
    h = 1.0 / n
    interior = h**2 / 4 * ((n - 1) * (1 - delta) ** 2 + 1)
    layers = (n - 1) * delta * (1 - delta) ** 2 * h**2 / (2 * (1 - 2 * delta))
    return interior + layers
