r"""Finite-ensemble control: flows of ReLU ridge neurons that move finitely many points exactly.

Given distinct points :math:`x_1,\dots,x_M\in\mathbb R^n` and distinct targets
:math:`y_1,\dots,y_M`, :func:`interpolate` returns a piecewise-constant control of the
:class:`~flowapprox.RidgeReLU` family whose flow map sends every :math:`x_i` to
:math:`y_i` (book, Chapter 7).

* For :math:`n\ge2` it is the book's two-shear construction
  (:prf:ref:`ch7-thm-interpolation`): a *shear neuron*
  :math:`v\,\mathrm{relu}(w\cdot x+b)` with :math:`v\perp w` moves every point along
  :math:`v` by an amount that depends only on :math:`w\cdot x`, which it leaves unchanged,
  so :math:`M-1` shear neurons with kinks at the projections of the points realise any
  piecewise-linear displacement profile. One stage along a direction :math:`u` (chosen so
  that the projections of the points are well separated) makes the projections onto a
  second direction :math:`u'` equal to those of the targets; a second stage along
  :math:`u'` finishes. Every piece has :math:`w\cdot v=0`, so its flow is exact
  (:func:`flowapprox.ridge_flow`) and is integrated exactly by any Runge-Kutta method.
* For :math:`n=1` flow maps are increasing (:prf:ref:`ch7-prop-1d`): order-compatible data
  are fitted by the increasing piecewise-linear interpolant, realised by neurons as in
  Chapter 3; other data raise ``ValueError``.

The counts and time costs are those proved in the book: :math:`2M` pieces, :math:`2(M-1)`
neurons and the bound :attr:`Interpolant.time_cost_bound`.

Examples
--------
>>> import torch
>>> from flowapprox import interpolation, ridge_flow
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.rand(20, 2, generator=g, dtype=torch.float64)
>>> y = torch.rand(20, 2, generator=g, dtype=torch.float64)
>>> fit = interpolation.interpolate(x, y)
>>> fit.num_pieces, fit.num_neurons
(40, 38)
>>> bool((ridge_flow(fit.control, x) - y).abs().max() < 1e-8)
True
>>> fit.time_cost <= fit.time_cost_bound
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._validation import (
    check_choice,
    check_control,
    check_positive_int,
    check_real,
    check_same_dtype,
    check_tensor,
)
from .controls import PiecewiseConstantControl
from .families import ControlFamily, Params, RidgeReLU
from .flows import flow, reference_flow, ridge_flow
from .metrics import max_error
from .training import train

__all__ = [
    "Interpolant",
    "InterpolationError",
    "PinnedRidgeReLU",
    "classification_targets",
    "endpoint_error",
    "interpolate",
    "kappa",
    "lipschitz_cost_lower_bound",
    "order_compatible",
    "projection_gap",
    "separation",
    "separation_lemma_gap",
    "train_interpolant",
    "two_spirals",
]


class InterpolationError(RuntimeError):
    """The constructed control misses a target by more than the requested tolerance."""


@dataclass(frozen=True)
class Interpolant:
    """A control that maps each point to its target, with the quantities of the theorem.

    Attributes
    ----------
    control
        The piecewise-constant control of the :class:`~flowapprox.RidgeReLU` family.
    max_error
        Largest endpoint error :math:`\\max_i|\\varphi(x_i)-y_i|` of its exact flow
        (:func:`flowapprox.ridge_flow`), measured at construction.
    directions
        Shape ``(2, n)``: the unit directions :math:`u` and :math:`u'` of the two stages
        (for :math:`n=1`, ``[[1.0], [1.0]]``).
    gaps
        :math:`(\\gamma_x,\\gamma_y)`: the smallest gaps between the sorted projections
        :math:`u\\cdot x_i` and :math:`u'\\cdot y_i` (for :math:`n=1`, the gaps of the points
        and of the targets).
    sin_angle
        :math:`\\sin\\theta` for the angle :math:`\\theta` between :math:`u` and :math:`u'`.
    displacement
        :math:`\\rho=\\max_i|y_i-x_i|`.
    stage_sizes
        Number of pieces of each stage (two for :math:`n\\ge2`, one for :math:`n=1`).
    offset
        The kink offset :math:`\\lambda` (see :func:`interpolate`).

    Implements :prf:ref:`ch7-thm-interpolation` (its counts and its bound on the time cost).
    """

    control: PiecewiseConstantControl
    max_error: float
    directions: Tensor
    gaps: tuple[float, float]
    sin_angle: float
    displacement: float
    stage_sizes: tuple[int, ...]
    offset: float = 0.0

    @property
    def num_pieces(self) -> int:
        """Number of pieces of the control (:math:`2M` for :math:`n\\ge2`)."""
        return self.control.num_pieces

    @property
    def num_neurons(self) -> int:
        """Number of pieces with :math:`w\\ne0` (the others are free constant fields)."""
        w = self.control.params["w"]
        return int((torch.linalg.vector_norm(w, dim=-1) > 0).sum())

    @property
    def time_cost(self) -> float:
        """The control's time cost :math:`B` (:prf:ref:`ch2-def-time-cost`)."""
        return self.control.time_cost

    @property
    def time_cost_bound(self) -> float:
        r"""The bound of :prf:ref:`ch7-thm-interpolation` on the time cost.

        For :math:`n\ge2` with :math:`M` points,

        .. math:: B \le \frac{4(M-1)\,\rho}{1-2\lambda}\Bigl(\frac{1}{\gamma_x\sin\theta}
                  + \frac{1+1/\sin\theta}{\gamma_y}\Bigr);

        for :math:`n=1` the minimal time cost of Chapter 3 is returned (the construction's cost
        equals it).
        """
        m = self.num_pieces // 2 if self.control.dim >= 2 else None
        if m is None:
            return self.time_cost
        if m <= 1:
            return 0.0
        gx, gy = self.gaps
        s = self.sin_angle
        return (4.0 * (m - 1) * self.displacement / (1.0 - 2.0 * self.offset)
                * (1.0 / (gx * s) + (1.0 + 1.0 / s) / gy))


# --------------------------------------------------------------------------- validation


def _check_pair(points: object, targets: object) -> tuple[Tensor, Tensor]:
    points = check_tensor("points", points, ndim=2)
    if points.shape[0] < 1 or points.shape[1] < 1:
        raise ValueError(f"points must have shape (M, n) with M, n >= 1, got {tuple(points.shape)}")
    targets = check_tensor("targets", targets, ndim=2)
    if targets.shape != points.shape:
        raise ValueError(
            f"targets must have the shape of points {tuple(points.shape)}, "
            f"got {tuple(targets.shape)}"
        )
    check_same_dtype("targets", targets, points, "points")
    return points, targets


def _check_distinct(name: str, x: Tensor) -> float:
    """Raise if two rows of ``x`` coincide; return the smallest pairwise distance."""
    m = x.shape[0]
    if m < 2:
        return math.inf
    dist = torch.cdist(x, x)
    dist.fill_diagonal_(math.inf)
    flat = int(torch.argmin(dist))
    i, j = divmod(flat, m)
    value = float(dist[i, j])
    if value == 0.0:
        i, j = min(i, j), max(i, j)
        raise ValueError(
            f"{name} must be pairwise distinct, but {name}[{i}] and {name}[{j}] coincide"
        )
    return value


def separation(points: Tensor) -> float:
    r"""The separation :math:`\delta=\min_{i\ne j}|x_i-x_j|` (``inf`` for one point).

    Raises ``ValueError`` naming ``points`` if two points coincide.
    """
    points = check_tensor("points", points, ndim=2)
    return _check_distinct("points", points)


def projection_gap(points: Tensor, direction: Tensor) -> float:
    r"""The smallest gap :math:`\min_{i\ne j}|u\cdot(x_i-x_j)|` of the projections.

    ``direction`` is the vector :math:`u` of shape ``(n,)``.
    """
    points = check_tensor("points", points, ndim=2)
    direction = check_tensor("direction", direction, shape=(points.shape[1],))
    return _gap(points @ direction)


def _gap(p: Tensor) -> float:
    if p.numel() < 2:
        return math.inf
    return float(torch.diff(torch.sort(p).values).min())


def kappa(dim: int) -> float:
    r"""The constant :math:`\kappa_n=\max\{1,\sqrt{2(n-1)/\pi}\}` of :prf:ref:`ch7-lem-direction`.

    For a uniformly random unit vector :math:`u` and any :math:`a\ne0`,
    :math:`P(|u\cdot a|\le s|a|)\le\kappa_n s`.

    Implements :prf:ref:`ch7-lem-direction`.
    """
    dim = check_positive_int("dim", dim)
    return max(1.0, math.sqrt(2.0 * (dim - 1) / math.pi))


def separation_lemma_gap(delta: float, num_points: int, dim: int) -> float:
    r"""The gap :math:`\delta/(\kappa_n M(M-1))` of :prf:ref:`ch7-lem-direction`.

    A uniformly random direction beats it with probability at least 1/2.

    Implements :prf:ref:`ch7-lem-direction`.
    """
    delta = check_real("delta", delta, positive=True)
    m = check_positive_int("num_points", num_points)
    if m < 2:
        return math.inf
    return delta / (kappa(dim) * m * (m - 1))


def order_compatible(points: Tensor, targets: Tensor) -> bool:
    """Whether 1-D targets are strictly increasing in the order of the (distinct) points.

    Exactly these data can be interpolated by flows on the line.

    Implements :prf:ref:`ch7-prop-1d` (its condition).
    """
    points, targets = _check_pair(points, targets)
    if points.shape[1] != 1:
        raise ValueError(
            f"points must have shape (M, 1) in one dimension, got {tuple(points.shape)}"
        )
    _check_distinct("points", points)
    order = torch.argsort(points[:, 0])
    return bool((torch.diff(targets[order, 0]) > 0).all())


# --------------------------------------------------------------------------- construction


def _unit_candidates(
    count: int, dim: int, generator: torch.Generator, dtype: torch.dtype
) -> Tensor:
    z = torch.randn(count, dim, generator=generator, dtype=dtype)
    return z / torch.linalg.vector_norm(z, dim=1, keepdim=True)


def _expm1_ratio(a: Tensor, t: Tensor) -> Tensor:
    """(e^{at}-1)/a, continuous at a = 0, evaluated as :func:`flowapprox.ridge_flow` does."""
    at = a * t
    small = at.abs() < 1e-6
    safe_a = torch.where(small, torch.ones_like(a), a)
    series = t * (1.0 + at / 2.0 + at * at / 6.0)
    return torch.where(small, series, torch.expm1(at) / safe_a)


def _apply_piece(x: Tensor, v: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """One piece of duration one, with exactly the arithmetic of :func:`flowapprox.ridge_flow`."""
    s0 = x @ w + b
    active = s0 > 0
    shift = torch.where(active, s0, 0.0) * _expm1_ratio(w @ v, torch.ones((), dtype=x.dtype))
    return x + torch.where(active, shift, 0.0).unsqueeze(-1) * v


def _shear_stage(
    positions: Tensor,
    displacements: Tensor,
    direction: Tensor,
    offset: float,
    axis: int | None = None,
) -> tuple[dict[str, Tensor], Tensor]:
    r"""A constant field, then M - 1 shear neurons along ``direction``, each of duration one.

    The composed flow adds to each point the piecewise-linear interpolant, in the projection
    ``p = direction . x``, of the displacements (perpendicular to ``direction``) with kinks
    ``q_k = p_k + offset * min(gap_{k-1}, gap_k)`` (:prf:ref:`ch7-thm-interpolation`). The
    jumps are computed by forward substitution on the actual floating-point positions, so
    each point lands on its target up to the round-off of its own last update. Returns the
    pieces and the images of ``positions``. If ``direction`` is the coordinate axis
    ``axis``, the jumps get an exact zero in that coordinate, so that :math:`w\cdot v=0`
    holds in floating point and every Runge-Kutta method integrates the pieces exactly.
    """
    dtype = positions.dtype
    m, n = positions.shape
    goal = positions + displacements
    p = positions @ direction
    order = torch.argsort(p)
    gaps = torch.diff(p[order])
    first = order[0]
    vs = [displacements[first]]
    ws = [torch.zeros(n, dtype=dtype)]
    bs = [torch.ones((), dtype=dtype)]
    cur = _apply_piece(positions, vs[0], ws[0], bs[0])
    one = torch.ones((), dtype=dtype)
    for k in range(m - 1):
        proj = cur @ direction
        left = gaps[k - 1] if k > 0 else gaps[k]
        kink = proj[order[k]] + offset * torch.minimum(left, gaps[k])
        i = order[k + 1]
        need = goal[i] - cur[i]
        if axis is None:
            need = need - (need @ direction) * direction
        else:  # exactly perpendicular: the projections never change in floating point
            need = need.clone()
            need[axis] = 0.0
        s = proj[i] - kink
        v = need / s
        for _ in range(2):  # w.v is round-off, not zero: divide by the flow's actual factor
            v = need / (s * _expm1_ratio(direction @ v, one))
        vs.append(v)
        ws.append(direction)
        bs.append(-kink)
        cur = _apply_piece(cur, v, direction, -kink)
    params = {"v": torch.stack(vs), "w": torch.stack(ws), "b": torch.stack(bs)}
    return params, cur


def _axis_pair(
    points: Tensor, targets: Tensor, need_x: float, need_y: float
) -> tuple[int, int] | None:
    """Coordinate axes (a, b), a != b, whose gaps reach the separation lemma's guarantees.

    Axis-aligned stages are exact in floating point (a projection onto a coordinate axis
    ignores the other coordinates, however large); among the admissible pairs the one with
    the largest smaller ratio of gap to guarantee is returned (None if there is none).
    """
    n = points.shape[1]
    gx = [_gap(points[:, a]) / need_x for a in range(n)]
    gy = [_gap(targets[:, b]) / need_y for b in range(n)]
    best, pair = 1.0, None
    for a in range(n):
        for b in range(n):
            if a != b and min(gx[a], gy[b]) >= best:
                best, pair = min(gx[a], gy[b]), (a, b)
    return pair


def _concat(stages: list[dict[str, Tensor]]) -> PiecewiseConstantControl:
    params = {key: torch.cat([s[key] for s in stages]) for key in ("v", "w", "b")}
    durations = torch.ones(params["b"].shape[0], dtype=params["b"].dtype)
    return PiecewiseConstantControl(RidgeReLU(), durations, params)


def _interpolate_1d(
    points: Tensor, targets: Tensor
) -> tuple[PiecewiseConstantControl, float, float]:
    """The increasing piecewise-linear interpolant as neuron flows (Chapter 3's construction)."""
    dtype = points.dtype
    order = torch.argsort(points[:, 0])
    x, y = points[order, 0], targets[order, 0]
    if not bool((torch.diff(y) > 0).all()):
        k = int(torch.nonzero(torch.diff(y) <= 0)[0])
        i, j = int(order[k]), int(order[k + 1])
        raise ValueError(
            "targets must be order-compatible in one dimension (flow maps on the line are "
            f"increasing): points[{i}] < points[{j}] but targets[{i}] >= targets[{j}]"
        )
    m = x.numel()
    gaps = (_gap(x), _gap(y))
    if m == 1:
        params = {"v": (y - x).reshape(1, 1), "w": torch.zeros(1, 1, dtype=dtype),
                  "b": torch.ones(1, dtype=dtype)}
        return _concat([params]), *gaps
    log_slopes = torch.log(torch.diff(y) / torch.diff(x))
    rates = torch.cat([log_slopes[:1], torch.diff(log_slopes)])
    # first neuron: kink one unit left of the data, log-slope log s_1 on everything to its right
    kinks = [float(x[0]) - 1.0]
    image = x.clone()
    image = kinks[0] + (image - kinks[0]) * torch.exp(rates[0])
    for k in range(1, m - 1):
        kinks.append(float(image[k]))
        right = image > image[k]
        image = torch.where(right, image[k] + (image - image[k]) * torch.exp(rates[k]), image)
    v = torch.cat([rates[: m - 1], (y[:1] - image[:1])]).reshape(-1, 1)
    w = torch.cat([torch.ones(m - 1, dtype=dtype), torch.zeros(1, dtype=dtype)]).reshape(-1, 1)
    b = torch.cat([-torch.tensor(kinks, dtype=dtype), torch.ones(1, dtype=dtype)])
    # the translation is computed from the exact flow of the neurons, so it absorbs round-off
    moved = ridge_flow(_concat([{"v": v[:-1], "w": w[:-1], "b": b[:-1]}]), x.reshape(-1, 1))
    v = v.clone()
    v[-1, 0] = y[0] - moved[0, 0]
    return _concat([{"v": v, "w": w, "b": b}]), *gaps


def interpolate(
    points: Tensor,
    targets: Tensor,
    *,
    tol: float = 1e-8,
    candidates: int = 64,
    offset: float = 0.1,
    generator: torch.Generator | None = None,
) -> Interpolant:
    r"""A ReLU ridge control whose flow maps every ``points[i]`` to ``targets[i]``.

    Implements :prf:ref:`ch7-thm-interpolation` (:math:`n\ge2`) and :prf:ref:`ch7-prop-1d`
    (:math:`n=1`).

    Parameters
    ----------
    points, targets
        Tensors of shape ``(M, n)`` and one floating dtype; the rows of each must be pairwise
        distinct (a flow map is injective). In one dimension the targets must be in the
        order of the points.
    tol
        Largest endpoint error accepted, measured with the exact flow
        (:func:`flowapprox.ridge_flow`); the construction is exact in exact arithmetic, so
        only round-off remains.
    candidates
        Number of random unit directions among which :math:`u` and :math:`u'` are chosen
        (:math:`n\ge2`); each fails the separation lemma with probability at most 1/2.
    offset
        :math:`\lambda\in[0,\tfrac12)`: each kink sits this fraction of the smaller
        neighbouring gap to the right of its point, so that no point lies on a kink
        (:math:`\lambda=0` puts the kinks on the points); the bound grows by
        :math:`1/(1-2\lambda)`.
    generator
        Source of the random directions (default: a generator seeded with 0).

    Returns
    -------
    Interpolant
        The control with its piece and neuron counts, time cost and proved bound.

    Raises
    ------
    ValueError
        Bad shapes, non-finite values, coincident points or targets (the message names the
        argument and the indices), order-incompatible targets in one dimension.
    TypeError
        Non-tensor or non-floating input, or different dtypes.
    InterpolationError
        If round-off pushes the endpoint error above ``tol``.
    """
    points, targets = _check_pair(points, targets)
    tol = check_real("tol", tol, positive=True)
    candidates = check_positive_int("candidates", candidates)
    offset = check_real("offset", offset, nonnegative=True)
    if not offset < 0.5:
        raise ValueError(f"offset must be in [0, 0.5), got {offset}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    m, n = points.shape
    dtype = points.dtype
    delta_x = _check_distinct("points", points)
    delta_y = _check_distinct("targets", targets)
    rho = float(torch.linalg.vector_norm(targets - points, dim=1).max())
    if n == 1:
        control, gx, gy = _interpolate_1d(points, targets)
        directions = torch.ones(2, 1, dtype=dtype)
        sizes: tuple[int, ...] = (control.num_pieces,)
        sin_angle = 1.0
    else:
        cands = _unit_candidates(candidates, n, generator, dtype)
        gaps_x = [_gap(points @ c) for c in cands]
        u = cands[int(np.argmax(gaps_x))]
        cands2 = _unit_candidates(candidates, n, generator, dtype)
        sines = torch.sqrt((1.0 - (cands2 @ u) ** 2).clamp_min(0.0))
        gaps_y = np.array([_gap(targets @ c) for c in cands2])
        admissible = (sines >= 1.0 / (4.0 * kappa(n))).numpy()
        if admissible.any():
            choice = int(np.argmax(np.where(admissible, gaps_y, -np.inf)))
        else:  # pragma: no cover - probability at most 4^-candidates
            choice = int(np.argmax(gaps_y * sines.numpy()))
        u2 = cands2[choice]
        if m == 1:
            axes: tuple[int, int] | None = (0, 1)
        else:
            axes = _axis_pair(points, targets, separation_lemma_gap(delta_x, m, n),
                              separation_lemma_gap(delta_y, m, n) / 2.0)
        if axes is not None:
            eye = torch.eye(n, dtype=dtype)
            u, u2 = eye[axes[0]], eye[axes[1]]
        sin_angle = float(torch.sqrt((1.0 - (u2 @ u) ** 2).clamp_min(0.0)))
        gx, gy = _gap(points @ u), _gap(targets @ u2)
        if gx == 0.0 or gy == 0.0 or sin_angle == 0.0:  # pragma: no cover - probability zero
            raise InterpolationError("no separating direction found; increase candidates")
        e = u2 - (u2 @ u) * u
        e = e / torch.linalg.vector_norm(e)
        alpha = ((targets - points) @ u2) / (u2 @ e)
        a_axis, b_axis = axes if axes is not None else (None, None)
        stage1, middle = _shear_stage(points, alpha.unsqueeze(-1) * e, u, offset, a_axis)
        stage2, _ = _shear_stage(middle, targets - middle, u2, offset, b_axis)
        control = _concat([stage1, stage2])
        directions = torch.stack([u, u2])
        sizes = (m, m)
    error = float(torch.linalg.vector_norm(ridge_flow(control, points) - targets, dim=1).max())
    if not error <= tol:
        raise InterpolationError(
            f"the constructed flow misses a target by {error:.3g} > tol = {tol:g} (round-off); "
            "increase tol or rescale the data"
        )
    return Interpolant(control, error, directions, (gx, gy), sin_angle, rho, sizes, offset)


def endpoint_error(
    control: PiecewiseConstantControl,
    points: Tensor,
    targets: Tensor,
    *,
    method: str = "exact",
) -> float:
    r"""Largest endpoint error :math:`\max_i|\varphi(x_i)-y_i|` of a control's flow map.

    ``method`` selects how the flow is computed: ``"exact"`` (:func:`flowapprox.ridge_flow`,
    ridge controls only), ``"rk4"`` (:func:`flowapprox.flow`, classical RK4 with one step
    per piece, which integrates shear neurons exactly) or ``"dopri5"``
    (:func:`flowapprox.reference_flow`, ``torchdiffeq`` at its default tolerances). The
    maximum is :func:`flowapprox.max_error`.
    """
    control = check_control("control", control)
    points, targets = _check_pair(points, targets)
    method = check_choice("method", method, ("exact", "rk4", "dopri5"))
    if method == "exact":
        mapped = ridge_flow(control, points)
    elif method == "rk4":
        mapped = flow(control, points, method="rk4")
    else:
        mapped = reference_flow(control, points)
    return max_error(lambda _: mapped, lambda _: targets, points)


# --------------------------------------------------------------------------- classification


def classification_targets(points: Tensor, labels: Tensor) -> Tensor:
    r"""Targets :math:`y_i=(\ell_i, x_{i,2},\dots,x_{i,n})` for labels :math:`\ell_i\in\{-1,+1\}`.

    The readout :math:`\mathrm{sign}(y_1)` then classifies every training point correctly
    with margin one. The targets are distinct when the points have distinct last
    :math:`n-1` coordinates within each class (checked by :func:`interpolate`).
    """
    points = check_tensor("points", points, ndim=2)
    if points.shape[1] < 2:
        raise ValueError(f"points must have at least two columns, got shape {tuple(points.shape)}")
    labels = check_tensor("labels", labels, shape=(points.shape[0],))
    if not bool(((labels == 1) | (labels == -1)).all()):
        raise ValueError("labels must be -1 or +1")
    return torch.cat([labels.to(points.dtype).unsqueeze(-1), points[:, 1:]], dim=1)


def lipschitz_cost_lower_bound(points: Tensor, targets: Tensor) -> float:
    r"""A lower bound on the time cost of *every* flow map sending the points to the targets.

    A flow of time cost :math:`B` (:prf:ref:`ch2-def-time-cost`) is :math:`e^B`-Lipschitz
    (:prf:ref:`ch6-thm-apriori`), so :math:`B\ge\log\max_{i\ne j}|y_i-y_j|/|x_i-x_j|` (and
    :math:`B\ge0`).

    Implements :prf:ref:`ch7-prop-cost-lower`.
    """
    points, targets = _check_pair(points, targets)
    _check_distinct("points", points)
    dx = torch.cdist(points, points)
    dy = torch.cdist(targets, targets)
    dx.fill_diagonal_(math.inf)
    return max(0.0, float(torch.log((dy / dx).max())))


def two_spirals(
    generator: torch.Generator,
    *,
    num_per_class: int = 200,
    turns: float = 1.5,
    noise: float = 0.0,
) -> tuple[Tensor, Tensor]:
    r"""Two interleaved spirals in the plane, labels :math:`-1` and :math:`+1`.

    Class :math:`\pm1` is :math:`\pm r(\cos(2\pi\tau r), \sin(2\pi\tau r))` with
    :math:`r=\sqrt{U}` for :math:`U` uniform on :math:`(0,1)` and :math:`\tau` = ``turns``,
    plus Gaussian noise of standard deviation ``noise``. Returns ``x`` of shape
    ``(2 * num_per_class, 2)`` and labels, float64.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    count = check_positive_int("num_per_class", num_per_class)
    turns = check_real("turns", turns, positive=True)
    noise = check_real("noise", noise, nonnegative=True)
    xs, ys = [], []
    for label in (-1.0, 1.0):
        r = torch.rand(count, generator=generator, dtype=torch.float64).sqrt()
        angle = 2.0 * math.pi * turns * r
        arm = label * r.unsqueeze(-1) * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        arm = arm + noise * torch.randn(count, 2, generator=generator, dtype=torch.float64)
        xs.append(arm)
        ys.append(torch.full((count,), label, dtype=torch.float64))
    return torch.cat(xs), torch.cat(ys)


# --------------------------------------------------------------------------- pinned family


@dataclass(frozen=True)
class PinnedRidgeReLU(ControlFamily):
    r"""Ridge neurons damped near the origin.

    The field is :math:`\rho_\varepsilon(x)\,v\,\mathrm{relu}(w\cdot x+b)` with
    :math:`\rho_\varepsilon(x)=\min\{1,|x|/\varepsilon\}`. Every field vanishes at the origin,
    so every flow fixes it and the family cannot interpolate; as
    :math:`\varepsilon\to0` its flows converge in :math:`L^p` to those of
    :class:`~flowapprox.RidgeReLU` (:prf:ref:`ch7-prop-pinned`). Parameters as for
    :class:`~flowapprox.RidgeReLU`; ``eps`` is the radius :math:`\varepsilon>0`.

    Implements the family :math:`\mathcal F^0` of :prf:ref:`ch7-prop-pinned`.
    """

    eps: float = 0.1
    dim_param = "w"

    def __post_init__(self) -> None:
        check_real("eps", self.eps, positive=True)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"pinned ReLU ridge (eps {self.eps:g})"

    def param_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        return {"v": (dim,), "w": (dim,), "b": ()}

    def field(self, x: Tensor, theta: Params) -> Tensor:
        damp = (torch.linalg.vector_norm(x, dim=-1) / self.eps).clamp(max=1.0)
        return (damp * torch.relu(x @ theta["w"] + theta["b"])).unsqueeze(-1) * theta["v"]

    def lipschitz_bound(self, theta: Params) -> float:
        v = float(torch.linalg.vector_norm(theta["v"]))
        w = float(torch.linalg.vector_norm(theta["w"]))
        return 2.0 * v * w + v * abs(float(theta["b"])) / self.eps


# --------------------------------------------------------------------------- training


def train_interpolant(
    points: Tensor,
    targets: Tensor,
    *,
    pieces: int,
    steps: int,
    lr: float = 1e-2,
    rk4_steps: int = 2,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> tuple[PiecewiseConstantControl, np.ndarray]:
    r"""Fit the same family by gradient descent: Adam on the mean squared endpoint error.

    The control has ``pieces`` pieces of the :class:`~flowapprox.RidgeReLU` family, each of
    duration one, random initial weights (:meth:`~flowapprox.ControlFamily.random_params`),
    and the loss :math:`\frac1M\sum_i|\varphi(x_i)-y_i|^2` is computed with
    :func:`flowapprox.flow` (classical RK4, ``rk4_steps`` steps per piece) and minimised by
    :func:`flowapprox.train`. Returns the trained control and the loss after each step.
    """
    points, targets = _check_pair(points, targets)
    pieces = check_positive_int("pieces", pieces)
    steps = check_positive_int("steps", steps)
    rk4_steps = check_positive_int("rk4_steps", rk4_steps)
    family = RidgeReLU()
    init = family.random_params(points.shape[1], pieces=pieces, scale=0.5, generator=generator,
                                dtype=points.dtype)
    params = {key: value.clone().requires_grad_(True) for key, value in init.items()}
    durations = torch.ones(pieces, dtype=points.dtype)

    def loss() -> Tensor:
        control = PiecewiseConstantControl(family, durations, params)
        end = flow(control, points, method="rk4", steps_per_piece=rk4_steps)
        return ((end - targets) ** 2).sum(dim=1).mean()

    history = train(params, loss, steps=steps, lr=lr, progress=progress,
                    description="interpolation by Adam")
    trained = {key: value.detach().clone() for key, value in params.items()}
    return PiecewiseConstantControl(family, durations, trained), history
