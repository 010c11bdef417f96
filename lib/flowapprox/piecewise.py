r"""Continuous piecewise-linear functions on the line, and the exact flows of their fields.

A continuous piecewise-linear (PL) function is an affine function plus a finite sum of ReLU
kinks, :math:`\psi(x) = a x + b + \sum_i c_i\,\mathrm{relu}(x-k_i)`, i.e. an element of the
span of one-dimensional ReLU neurons. PL fields are the building blocks of the book's
constructions (well functions, zooming, shears; Chapters 2 to 4), and their flows are
known exactly: on each linear piece the field is :math:`v + s(x-k)`, whose flow is an
exponential (or a translation if :math:`s=0`), and a one-dimensional trajectory crosses
each knot at most once. :func:`pl_flow` follows every point from piece to piece and so
computes :math:`\varphi^\psi_t` with no solver error.

:func:`multiwell` builds the book's multi-well contraction field :math:`\psi_{N,\delta}`,
whose flow collapses each of :math:`N` cells onto its centre.

Examples
--------
>>> import torch
>>> from flowapprox import multiwell, pl_flow
>>> psi = multiwell(4, 0.1, dtype=torch.float64)
>>> x = torch.tensor([0.05, 0.3, 0.5, 0.6], dtype=torch.float64)
>>> [round(v, 6) for v in pl_flow(psi, x, 20.0).tolist()]  # cells collapse; 0.5 is unstable
[0.125, 0.375, 0.5, 0.625]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ._validation import check_interval, check_positive_int, check_real, check_tensor


@dataclass(frozen=True)
class PiecewiseLinear:
    r"""The continuous PL function through ``(knots[i], values[i])``, affine beyond the ends.

    Parameters
    ----------
    knots
        Strictly increasing finite tensor of shape ``(m,)``, ``m >= 1``.
    values
        The function's values at the knots, shape ``(m,)``.
    left_slope, right_slope
        Slopes on :math:`(-\infty, k_1]` and :math:`[k_m, \infty)`.
    """

    knots: Tensor
    values: Tensor
    left_slope: float = 0.0
    right_slope: float = 0.0

    def __post_init__(self) -> None:
        knots = check_tensor("knots", self.knots, ndim=1)
        check_tensor("values", self.values, shape=(knots.numel(),))
        if knots.numel() == 0:
            raise ValueError("knots must contain at least one point")
        if knots.numel() > 1 and not bool((knots[1:] > knots[:-1]).all()):
            raise ValueError("knots must be strictly increasing")
        if self.values.dtype != knots.dtype:
            raise TypeError(f"values has dtype {self.values.dtype}, knots {knots.dtype}")
        object.__setattr__(self, "left_slope", check_real("left_slope", self.left_slope))
        object.__setattr__(self, "right_slope", check_real("right_slope", self.right_slope))

    @classmethod
    def from_function(
        cls,
        f: Callable[[Tensor], Tensor],
        knots: Tensor,
        *,
        left_slope: float = 0.0,
        right_slope: float = 0.0,
    ) -> PiecewiseLinear:
        """The PL interpolant of ``f`` at ``knots``."""
        return cls(knots, f(knots), left_slope, right_slope)

    @property
    def slopes(self) -> Tensor:
        """Slopes of the ``m + 1`` linear pieces, left to right."""
        inner = torch.diff(self.values) / torch.diff(self.knots)
        ends = self.knots.new_tensor
        return torch.cat([ends([self.left_slope]), inner, ends([self.right_slope])])

    def __call__(self, x: Tensor) -> Tensor:
        """Evaluate at the points ``x`` (any shape)."""
        x = check_tensor("x", x, floating=True)
        piece = torch.searchsorted(self.knots, x.contiguous(), right=True)  # 0..m
        anchor = (piece - 1).clamp(min=0)  # the piece's left knot (the first knot for piece 0)
        return self.values[anchor] + self.slopes[piece] * (x - self.knots[anchor])

    def relu_expansion(self) -> tuple[float, float, Tensor, Tensor]:
        r"""Coefficients with :math:`\psi(x) = a x + b + \sum_i c_i\,\mathrm{relu}(x - k_i)`.

        Returns ``(a, b, c, k)``; ``c`` holds the slope jumps at the knots ``k`` (zero jumps
        are kept, so ``len(c) == len(knots)``). The number of non-zero ``c`` is the number of
        ReLU neurons needed.
        """
        slopes = self.slopes
        a = float(slopes[0])
        b = float(self.values[0] - slopes[0] * self.knots[0])
        return a, b, torch.diff(slopes), self.knots.clone()

    def total_variation_of_slope(self) -> float:
        r""":math:`\sum_i |c_i|`, the total size of the slope jumps."""
        return float(torch.diff(self.slopes).abs().sum())


def pl_flow(field: PiecewiseLinear, x: Tensor, t: float) -> Tensor:
    r"""The exact time-``t`` flow of :math:`\dot x = \psi(x)` for a PL field :math:`\psi`.

    Each point is moved piece by piece: inside a piece where :math:`\psi(y) = v + s(y-k)`,
    :math:`y(\tau) = z + (y_0 - z)e^{s\tau}` with :math:`z = k - v/s` (or :math:`y_0 + v\tau`
    if :math:`s = 0`), until the point reaches the piece's end or the time is used up. A
    one-dimensional trajectory is monotone, so each point crosses each knot at most once and
    the loop runs at most ``len(knots) + 1`` times. Zeros of :math:`\psi` are never crossed;
    points on them stay put.

    Implements :prf:ref:`ch3-lem-neuron`.

    Parameters
    ----------
    field
        The PL vector field on the line.
    x
        Initial points, any shape, same dtype as the field.
    t
        Time, non-negative and finite.
    """
    if not isinstance(field, PiecewiseLinear):
        raise TypeError(f"field must be a PiecewiseLinear, got {type(field).__name__}")
    x = check_tensor("x", x)
    if x.dtype != field.knots.dtype:
        raise TypeError(f"x has dtype {x.dtype} but the field has dtype {field.knots.dtype}")
    t = check_real("t", t, nonnegative=True)
    if x.numel() > PL_FLOW_BLOCK:  # bounded memory: the same elementwise result, in blocks
        flat = x.reshape(-1)
        blocks = [_pl_flow(field, block, t) for block in flat.split(PL_FLOW_BLOCK)]
        return torch.cat(blocks).reshape(x.shape)
    return _pl_flow(field, x, t)


#: Points per block of :func:`pl_flow` (its temporaries take about 350 bytes per point).
PL_FLOW_BLOCK = 2**15


def _pl_flow(field: PiecewiseLinear, x: Tensor, t: float) -> Tensor:
    """:func:`pl_flow` on one block of points, without checks."""
    knots = field.knots
    bounds = torch.cat([knots.new_tensor([-math.inf]), knots, knots.new_tensor([math.inf])])
    y = x.clone()
    remaining = torch.full_like(y, t)
    for _ in range(knots.numel() + 2):
        velocity = field(y)
        active = (remaining > 0) & (velocity != 0)
        if not bool(active.any()):
            break
        moving_right = velocity > 0
        # The piece the point moves into: at a knot, the one on the side it moves to.
        piece = torch.where(
            moving_right,
            torch.searchsorted(knots, y.contiguous(), right=True),
            torch.searchsorted(knots, y.contiguous(), right=False),
        )
        slope = field.slopes[piece]
        end = torch.where(moving_right, bounds[piece + 1], bounds[piece])
        new_y, step, arrived = affine_step(y, velocity, slope, end, remaining)
        y = torch.where(active, new_y, y)
        if not bool(torch.isfinite(y).all()):
            raise FloatingPointError(
                f"pl_flow overflowed: the exact flow leaves the floating-point range before "
                f"time t={t} (the field grows linearly outside its knots, so points escape "
                "exponentially fast); use a smaller t"
            )
        remaining = torch.where(active, remaining - step, remaining)
        remaining = torch.where(active & ~arrived, torch.zeros_like(remaining), remaining)
    if not bool(torch.isfinite(y).all()):
        raise FloatingPointError("pl_flow: the flow left the floating-point range")
    return y


def affine_step(
    y: Tensor, velocity: Tensor, slope: Tensor, end: Tensor, remaining: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of the exact flow of a field that is affine on the current piece (the step of
    :func:`pl_flow`, shared with :func:`flowapprox.wells.well_flow`; no argument checks).

    A point at ``y`` with velocity ``velocity`` on a piece of slope ``slope`` moves towards
    the piece's end ``end`` (``+-inf`` for an unbounded piece) for at most ``remaining``.
    Returns its new position (``end`` if it arrives), the time used and whether it arrived.
    Every branch is finite wherever ``torch.where`` discards it, so that gradients (the
    arrival time depends on the start) never meet ``0 * inf``; a point on a zero of the
    affine extension stays put even where ``exp`` would overflow.
    """
    flat = slope == 0
    safe_slope = torch.where(flat, torch.ones_like(slope), slope)
    zero = y - velocity / safe_slope  # where the piece's affine extension vanishes
    offset = y - zero
    finite_end = torch.isfinite(end)
    safe_end = torch.where(finite_end, end, y)
    safe_offset = torch.where(offset != 0, offset, torch.ones_like(offset))
    ratio = (safe_end - zero) / safe_offset
    valid = finite_end & (offset != 0) & (ratio > 0) & ~flat
    log_ratio = torch.log(torch.where(valid, ratio, torch.ones_like(ratio)))
    reach_exp = torch.where(valid, log_ratio / safe_slope, math.inf)
    reach_exp = torch.where(reach_exp >= 0, reach_exp, math.inf)
    safe_velocity = torch.where(velocity != 0, velocity, torch.ones_like(velocity))
    reach = torch.where(flat, (safe_end - y) / safe_velocity, reach_exp)
    reach = torch.where(finite_end, reach, torch.full_like(reach, math.inf))
    step = torch.minimum(remaining, reach)
    growth = torch.exp(torch.where(flat, torch.zeros_like(slope), slope) * step)
    grown = torch.where(offset == 0, y, zero + offset * growth)
    moved = torch.where(flat, y + velocity * step, grown)
    arrived = reach <= remaining
    return torch.where(arrived, end, moved), step, arrived


def multiwell(
    cells: int,
    delta: float,
    *,
    lower: float = 0.0,
    upper: float = 1.0,
    dtype: torch.dtype | None = None,
) -> PiecewiseLinear:
    r"""The multi-well contraction field :math:`\psi_{N,\delta}` on ``[lower, upper]``.

    The interval is cut into ``cells`` equal cells with centres :math:`c_j`. Inside cell
    :math:`j`, :math:`\psi(x) = -(x - c_j)`; in a layer of half-width
    :math:`\delta h/2` (:math:`h` the cell width) around each interior cell boundary
    :math:`u_k`, :math:`\psi` is the straight line through :math:`(u_k, 0)` joining the
    neighbouring pieces (slope :math:`(1-\delta)/\delta`). Outside the interval it continues
    with slope :math:`-1`. The centres are stable zeros (rate 1) and the boundaries unstable
    ones, so the flow collapses each cell, minus its layers, onto its centre:
    :math:`|\varphi_T(x) - c_j| = e^{-T}|x - c_j|` in the interior of cell :math:`j`.

    Implements :prf:ref:`ch4-lem-zoom`.
    """
    n = check_positive_int("cells", cells)
    delta = check_real("delta", delta, positive=True)
    if delta >= 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    lower, upper = check_interval(lower, upper)
    dtype = dtype or torch.get_default_dtype()
    h = (upper - lower) / n
    if n == 1:
        centre = lower + h / 2
        return PiecewiseLinear(torch.tensor([centre], dtype=dtype), torch.zeros(1, dtype=dtype),
                               -1.0, -1.0)
    knots, values = [], []
    for k in range(1, n):
        u = lower + k * h
        knots += [u - delta * h / 2, u + delta * h / 2]
        values += [-(1 - delta) * h / 2, (1 - delta) * h / 2]
    return PiecewiseLinear(
        torch.tensor(knots, dtype=dtype), torch.tensor(values, dtype=dtype), -1.0, -1.0
    )


def cell_centres(cells: int, *, lower: float = 0.0, upper: float = 1.0) -> Tensor:
    """Centres of ``cells`` equal cells of ``[lower, upper]``."""
    n = check_positive_int("cells", cells)
    lower, upper = check_interval(lower, upper)
    h = (upper - lower) / n
    return lower + h * (torch.arange(n, dtype=torch.get_default_dtype()) + 0.5)


def cell_index(x: Tensor, cells: int, *, lower: float = 0.0, upper: float = 1.0) -> Tensor:
    """Index of the cell of each point (points on a boundary go to the right cell; clamped)."""
    x = check_tensor("x", x)
    n = check_positive_int("cells", cells)
    lower, upper = check_interval(lower, upper)
    return torch.floor((x - lower) / (upper - lower) * n).long().clamp(0, n - 1)


