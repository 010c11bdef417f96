r"""Certified lower bounds on the sup error of flows: degree and maximum principle.

A flow map :math:`\varphi` is an orientation-preserving homeomorphism of the plane
(book, Chapter 1), and with a linear readout :math:`g`, :math:`g\circ\varphi` is an open
map. Both facts bound the *uniform* error of every flow from below, by a number that
depends on the target only (book, Chapter 5). This module computes the two bounds from the
target's values on a discretised circle :math:`\partial B_r(x_0)` in the plane, and makes
them conservative with a Lipschitz correction for the part of the circle between the
points:

* :func:`degree_bound`: if the winding number of the closed curve
  :math:`F(\partial B)` around a point :math:`p` is neither 0 nor 1, every
  orientation-preserving homeomorphism :math:`\varphi` satisfies
  :math:`\sup_{\partial B}|\varphi - F| \ge \operatorname{dist}(p, F(\partial B))`
  (for the reflection :math:`(1-x_1, x_2)` on the disk of radius :math:`\tfrac12` about
  :math:`(\tfrac12,\tfrac12)`: winding number :math:`-1`, bound :math:`\tfrac12`);
* :func:`max_principle_bound`: if :math:`\kappa = F(x_0) - \max_{\partial B}F > 0`, every
  open map :math:`h` (e.g. :math:`g\circ\varphi`) satisfies
  :math:`\sup_{\{x_0\}\cup\partial B}|F-h|\ge\kappa/2` (``kind="min"``: the same for an
  interior minimum).

Sup errors of approximants concentrate on sets of tiny measure (the cell edges of the
book's construction), which random points miss: measure them on :func:`flowapprox.edge_grid`,
restricted to the disk with :func:`flowapprox.ball_points`.

Examples
--------
>>> import torch
>>> from flowapprox import obstructions
>>> def reflection(x):
...     return torch.stack([1 - x[:, 0], x[:, 1]], dim=1)
>>> cert = obstructions.degree_bound(reflection, (0.5, 0.5), 0.5, lipschitz=1.0)
>>> cert.winding, round(cert.bound, 3)
(-1, 0.5)
>>> cert = obstructions.max_principle_bound(lambda x: -(x**2).sum(1), (0.0, 0.0), 1.0,
...                                         lipschitz=2.0)  # |grad F| <= 2 on the circle
>>> round(cert.kappa, 4), round(cert.bound, 4)  # exactly 1 and 1/2, less the correction
(0.9985, 0.4992)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._types import Target
from ._validation import (
    check_callable,
    check_choice,
    check_planar_point,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .metrics import circle, max_error, pointwise_error

#: Kinds of interior extremum of :func:`max_principle_bound`.
KINDS = ("max", "min")


def _chord(radius: float, n_points: int, fraction: float) -> float:
    """Chord of the arc ``fraction`` of the spacing :math:`2\\pi r/n` (at most the arc)."""
    return 2.0 * radius * math.sin(math.pi * fraction / n_points)


def _check_common(radius: object, lipschitz: object, n_points: object) -> tuple[float, float, int]:
    radius = check_real("radius", radius, positive=True)
    lipschitz = check_real("lipschitz", lipschitz, nonnegative=True)
    n = check_positive_int("n_points", n_points)
    if n < 3:
        raise ValueError(f"n_points must be at least 3, got {n}")
    return radius, lipschitz, n


def _check_lipschitz_consistent(
    lipschitz: float, radius: float, n: int, values: Tensor
) -> None:
    """Refuse a Lipschitz constant that the sampled values already contradict.

    The certificates are certified only if ``lipschitz`` really bounds the target's
    Lipschitz constant; that cannot be verified from samples, but an understated one is
    often visible: the difference quotients between neighbouring circle points (distance
    ``2r sin(pi/n)``) must not exceed it. One pass over the values already computed.
    """
    if values.ndim == 1:
        values = values.unsqueeze(-1)
    step = torch.linalg.vector_norm(torch.roll(values, -1, 0) - values, dim=-1).max()
    chord = _chord(radius, n, 1.0)
    observed = float(step) / chord
    roundoff = 64 * torch.finfo(values.dtype).eps * float(values.abs().max())
    if float(step) > lipschitz * chord * (1.0 + 1e-9) + roundoff:
        raise ValueError(
            f"lipschitz={lipschitz:.6g} is understated: the target's values on the circle "
            f"change at rate {observed:.6g} between sampled points, so the bound would not "
            "be certified; pass a true Lipschitz constant of the target on the disk"
        )


@dataclass(frozen=True)
class DegreeCertificate:
    r"""The degree bound of :func:`degree_bound` for one disk :math:`B` and point :math:`p`.

    Attributes
    ----------
    winding
        :math:`\deg(F, B, p)`, the winding number of :math:`F(\partial B)` around :math:`p`.
    distance
        A lower bound on :math:`\operatorname{dist}(p, F(\partial B))`: the smallest
        distance at the circle's points minus the Lipschitz correction.
    correction
        That correction, :math:`L\cdot 2r\sin(\pi/2n)`.
    point
        The point :math:`p`.
    """

    winding: int
    distance: float
    correction: float
    point: tuple[float, float]

    @property
    def bound(self) -> float:
        r"""Certified lower bound on :math:`\sup_{\partial B}|\varphi - F|` for every
        orientation-preserving homeomorphism :math:`\varphi`: ``distance`` if ``winding`` is
        not 0 or 1, else 0."""
        return self.distance if self.winding not in (0, 1) else 0.0


def degree_bound(
    target: Target,
    centre: Sequence[float] | Tensor,
    radius: float,
    *,
    lipschitz: float,
    n_points: int = 4096,
    point: Sequence[float] | Tensor | None = None,
) -> DegreeCertificate:
    r"""Certified lower bound on :math:`\sup_{\partial B}|\varphi - F|` over orientation-preserving
    homeomorphisms :math:`\varphi` of the plane, by the degree argument (book, Chapter 5).

    The winding number of the closed polygon through :math:`F(x_k) - p` at the circle's
    points :math:`x_k` is the sum of the angles between consecutive vectors. It equals
    :math:`\deg(F,B,p)` when the polygon and the curve :math:`F(\partial B)` are homotopic
    in the plane minus :math:`p`, which holds if :math:`L s <` ``distance``, with
    :math:`s = 2r\sin(\pi/n)` the spacing of the points and :math:`L` the Lipschitz
    constant of :math:`F` on the circle; otherwise a ``ValueError`` asks for more points.

    Implements :prf:ref:`ch5-prop-degree` and :prf:ref:`ch5-cor-reflection`.

    Parameters
    ----------
    target
        The map :math:`F`, from points of shape ``(batch, 2)`` to values ``(batch, 2)``.
    centre, radius
        The disk :math:`B = \bar B_r(x_0)`.
    lipschitz
        A Lipschitz constant of :math:`F` on the circle :math:`\partial B`.
    n_points
        Number of equally spaced points on the circle.
    point
        The point :math:`p` (default :math:`F(x_0)`).
    """
    check_callable("target", target)
    radius, lipschitz, n = _check_common(radius, lipschitz, n_points)
    x0 = check_planar_point(centre)
    dtype = torch.float64
    boundary = circle(x0, radius, n, dtype=dtype)
    with torch.no_grad():
        if point is None:
            p = target(torch.tensor([x0], dtype=dtype))
            p = check_tensor("target(centre)", p, shape=(1, 2))
            p_xy = (float(p[0, 0]), float(p[0, 1]))
        else:
            p_xy = check_planar_point(point, "point")
        values = check_tensor("target(circle)", target(boundary), shape=(n, 2)).to(dtype)
        _check_lipschitz_consistent(lipschitz, radius, n, values)
    z = (values[:, 0] - p_xy[0]).numpy() + 1j * (values[:, 1] - p_xy[1]).numpy()
    correction = lipschitz * _chord(radius, n, 0.5)
    distance = float(np.abs(z).min()) - correction
    if not lipschitz * _chord(radius, n, 1.0) < distance:
        raise ValueError(
            f"n_points={n} is too small to certify the winding number: the image of the circle "
            f"comes within {max(distance, 0.0):.3g} of the point; use more points"
        )
    turns = np.angle(np.roll(z, -1) / z).sum() / (2.0 * math.pi)
    return DegreeCertificate(int(round(turns)), distance, correction, p_xy)


@dataclass(frozen=True)
class MaxPrincipleCertificate:
    r"""The maximum-principle bound of :func:`max_principle_bound`.

    Attributes
    ----------
    kind
        ``"max"`` (interior maximum) or ``"min"`` (interior minimum).
    value_at_centre
        :math:`F(x_0)`.
    boundary_extreme
        The largest (``"max"``) or smallest (``"min"``) value of :math:`F` at the circle's
        points.
    correction
        The Lipschitz correction :math:`L\cdot 2r\sin(\pi/2n)` for the rest of the circle.
    kappa
        The certified gap: :math:`F(x_0) - \text{boundary\_extreme} - \text{correction}`
        (``"max"``) or :math:`\text{boundary\_extreme} - \text{correction} - F(x_0)`
        (``"min"``); at most the exact :math:`\kappa`.
    """

    kind: str
    value_at_centre: float
    boundary_extreme: float
    correction: float
    kappa: float

    @property
    def bound(self) -> float:
        r"""Certified lower bound on :math:`\sup_{\{x_0\}\cup\partial B}|F-h|` for every open
        map :math:`h`: :math:`\max(\kappa, 0)/2`."""
        return max(self.kappa, 0.0) / 2.0


def max_principle_bound(
    target: Target,
    centre: Sequence[float] | Tensor,
    radius: float,
    *,
    lipschitz: float,
    n_points: int = 4096,
    kind: str = "max",
) -> MaxPrincipleCertificate:
    r"""Certified lower bound :math:`\kappa/2` on the sup error of flows with a linear readout.

    For ``kind="max"``, :math:`\kappa = F(x_0) - \max_{\partial B}F` with
    :math:`B=\bar B_r(x_0)`; every open map :math:`h`, in particular :math:`g\circ\varphi`
    with :math:`\varphi` a flow map and :math:`g` linear and onto, has
    :math:`h(x_0)\le\max_{\partial B}h` and hence
    :math:`\sup_{\{x_0\}\cup\partial B}|F-h|\ge\kappa/2` (book, Chapter 5). The maximum over
    the circle is estimated from ``n_points`` equally spaced points; every point of the
    circle lies within :math:`2r\sin(\pi/2n)` of one of them, so adding
    :math:`L\cdot 2r\sin(\pi/2n)` gives an upper bound and the returned :math:`\kappa` is
    never larger than the exact one. ``kind="min"`` treats an interior minimum.

    The bound is certified *given* that ``lipschitz`` bounds the Lipschitz constant of
    :math:`F` on the circle: the code verifies the arithmetic, and refuses a constant that
    the sampled values contradict (difference quotients between neighbouring circle
    points), but it cannot prove a Lipschitz constant from
    samples.

    Implements :prf:ref:`ch5-prop-max-principle`.

    Parameters
    ----------
    target
        The scalar target :math:`F`, from points ``(batch, 2)`` to values ``(batch,)``.
    centre, radius
        The disk; it must lie in the domain where the sup error is taken.
    lipschitz
        A Lipschitz constant of :math:`F` on the circle (0 if :math:`F` is constant there).
    n_points
        Number of equally spaced points on the circle.
    kind
        ``"max"`` or ``"min"``.
    """
    check_callable("target", target)
    radius, lipschitz, n = _check_common(radius, lipschitz, n_points)
    kind = check_choice("kind", kind, KINDS)
    x0 = check_planar_point(centre)
    dtype = torch.float64
    with torch.no_grad():
        at_centre = check_tensor("target(centre)", target(torch.tensor([x0], dtype=dtype)),
                                 shape=(1,))
        values = check_tensor("target(circle)", target(circle(x0, radius, n, dtype=dtype)),
                              shape=(n,))
        _check_lipschitz_consistent(lipschitz, radius, n, values.to(dtype))
    correction = lipschitz * _chord(radius, n, 0.5)
    f0 = float(at_centre[0])
    if kind == "max":
        extreme = float(values.max())
        kappa = f0 - extreme - correction
    else:
        extreme = float(values.min())
        kappa = extreme - correction - f0
    return MaxPrincipleCertificate(kind, f0, extreme, correction, kappa)


def error_table(
    target: Target,
    build: Callable[[int], Target],
    cells: Sequence[int],
    *,
    l2: Callable[[Target], float],
    sup_points: Callable[[int], Tensor],
    naive_points: Tensor,
) -> dict[int, dict[str, float]]:
    r"""The errors of a family of approximants, one row per grid size (book, Chapter 5).

    For each ``n`` in ``cells`` the approximant ``build(n)`` gets a row with its ``"l2"``
    error (``l2(approximant)``), its sup error ``"sup"`` on ``sup_points(n)`` (e.g. a
    :func:`flowapprox.edge_grid` restricted to a disk or to the data's support,
    which contains the cell edges where the construction's error concentrates) and its
    ``"naive"`` sup error on the fixed ``naive_points`` (random points, which miss the edges).
    The gap between ``"sup"`` and ``"naive"`` is what the certificates of this module are for.
    """
    check_callable("target", target)
    check_callable("build", build)
    check_callable("l2", l2)
    check_callable("sup_points", sup_points)
    naive_points = check_points("naive_points", naive_points)
    rows: dict[int, dict[str, float]] = {}
    for n in cells:
        n = check_positive_int("cells[i]", n)
        approximant = check_callable("build(n)", build(n))
        rows[n] = {
            "l2": float(l2(approximant)),
            "sup": max_error(target, approximant, sup_points(n)),
            "naive": max_error(target, approximant, naive_points),
        }
    return rows


def exceedance_fraction(
    target: Target, approximant: Target, points: Tensor, threshold: float
) -> float:
    r"""Fraction of ``points`` where the approximant's error exceeds ``threshold``.

    With ``points`` uniform (or quasi-uniform, e.g. Sobol) in a set :math:`B`, this estimates
    :math:`|\{x\in B: |F(x)-h(x)| > \text{threshold}\}|/|B|`, the relative measure of the
    set where an approximant :math:`h` violates a certified sup-norm bound. The certificates
    of this module say the set is never empty for a flow; the book measures how fast its
    measure shrinks with the zoom time of the construction (book, Chapter 5).

    Implements :prf:ref:`ch5-prop-degree` (measurement of its exceptional set).

    Parameters
    ----------
    target, approximant
        Maps from points ``(batch, 2)`` to values of equal shape.
    points
        Points of :math:`B`, shape ``(batch, n)``, at least one.
    threshold
        The bound, a non-negative real.
    """
    check_callable("target", target)
    check_callable("approximant", approximant)
    points = check_points("points", points)
    threshold = check_real("threshold", threshold, nonnegative=True)
    errors = pointwise_error(target, approximant, points)
    return float((errors > threshold).double().mean())
