r"""Increasing maps of the line: the order obstruction and exact representation by neuron flows.

One-dimensional flow maps are strictly increasing (book, Chapter 3). This module makes the
two sides of that fact computable.

*The obstruction.* :func:`best_increasing_fit` is the best increasing approximation of
given values in a weighted :math:`\ell^p` sense (isotonic regression: SciPy's
``isotonic_regression`` for :math:`p=2`, a linear program solved by ``linprog`` for
:math:`p=1`). :func:`increasing_lower_bound` applies it on the scrambled Sobol rule of
:func:`flowapprox.lp_error`, so its error is the smallest value that ``lp_error`` can report
for *any* increasing map, in particular for any 1-D flow map.

*Exact representation.* A single ReLU neuron :math:`v\,\mathrm{relu}(wx+b)` flowed for time
:math:`t` is the identity on one side of :math:`x^*=-b/w` and the affine map
:math:`x\mapsto x^*+(x-x^*)e^{wvt}` on the other. :func:`represent_increasing_pl` composes
such flows, plus one constant field (:math:`w=0`), into a control of the
:class:`~flowapprox.RidgeReLU` family whose flow map equals a given increasing
piecewise-linear (PL) map on an interval; its cost is the control's time cost
:attr:`~flowapprox.PiecewiseConstantControl.time_cost`
:math:`\sum_j|v_jw_j|\,t_j` (book, :prf:ref:`ch2-def-time-cost`; the translation is free). The
time cost of a PL map with log-slopes :math:`u_0,\dots,u_m` (:func:`log_slope_time_costs`) is
:math:`|u_0|+\mathrm{TV}` for the one-sided construction and
:math:`\max\bigl(\mathrm{TV},\tfrac12(|u_0|+\mathrm{TV}+|u_m|)\bigr)` at the minimum, which
:func:`minimal_time_cost_lp` confirms by a linear program over all step decompositions.

Examples
--------
>>> import torch
>>> from flowapprox import Box, PiecewiseLinear, monotone
>>> bound = monotone.increasing_lower_bound(lambda x: -x, Box([-1.0], [1.0]), p=2,
...                                         n_points=1024)
>>> round(bound.error, 3)  # sqrt(2/3) = 0.8165, up to quadrature error
0.816
>>> f64 = torch.float64
>>> target = PiecewiseLinear(torch.tensor([-0.5, 0.2], dtype=f64),
...                          torch.tensor([-0.8, 0.6], dtype=f64), 0.5, 3.0)
>>> rep = monotone.represent_increasing_pl(target, -1.0, 1.0)
>>> x = torch.linspace(-1.0, 1.0, 101, dtype=f64)
>>> bool((rep(x) - target(x)).abs().max() < 1e-12), rep.neurons, round(rep.time_cost, 4)
(True, 3, 1.7918)
>>> costs = monotone.log_slope_time_costs(target, -1.0, 1.0)  # log 6 and log 12
>>> round(costs.minimal, 4), round(costs.one_sided, 4)
(1.7918, 2.4849)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import isotonic_regression, linprog
from torch import Tensor

from ._validation import (
    check_box,
    check_choice,
    check_interval,
    check_positive_int,
    check_real,
    check_tensor,
)
from .controls import PiecewiseConstantControl
from .families import RidgeReLU
from .flows import ridge_flow
from .metrics import Box, sobol_points
from .piecewise import PiecewiseLinear

# ----------------------------------------------------------------------------- isotonic fits


@dataclass(frozen=True)
class IsotonicFit:
    r"""The best increasing approximation of values at ordered points.

    Attributes
    ----------
    points
        The points in increasing order, shape ``(n,)`` (``None`` if only values were given).
    values
        The best non-decreasing sequence :math:`z_1\le\dots\le z_n`.
    p
        The exponent.
    error
        :math:`\bigl(\sum_i w_i |y_i - z_i|^p\bigr)^{1/p}`, the smallest such error of any
        non-decreasing sequence.
    """

    points: Tensor | None
    values: Tensor
    p: int
    error: float


def _l1_isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted L1 isotonic regression as a sparse linear program (``scipy.optimize.linprog``).

    SciPy's ``isotonic_regression`` solves the least-squares problem only. Variables are
    ``z`` (free) and the positive and negative parts ``e+``, ``e-`` of ``y - z``: minimise
    ``w.(e+ + e-)`` subject to ``z + e+ - e- = y`` and ``z_i <= z_{i+1}``.
    """
    n = y.size
    eye = sparse.identity(n, format="csr")
    a_eq = sparse.hstack([eye, eye, -eye], format="csr")
    order = sparse.diags([np.ones(n - 1), -np.ones(n - 1)], [0, 1], shape=(n - 1, n))
    a_ub = sparse.hstack([order, sparse.csr_matrix((n - 1, 2 * n))], format="csr")
    cost = np.concatenate([np.zeros(n), w, w])
    bounds = [(None, None)] * n + [(0, None)] * (2 * n)
    result = linprog(cost, A_ub=a_ub, b_ub=np.zeros(n - 1), A_eq=a_eq, b_eq=y, bounds=bounds,
                     method="highs")
    if result.status != 0:  # pragma: no cover - the problem is always feasible and bounded
        raise RuntimeError(f"linprog failed on the L1 isotonic problem: {result.message}")
    z = result.x[:n]
    return np.maximum.accumulate(z)  # remove round-off violations of the order


def best_increasing_fit(
    target: Tensor, *, weights: Tensor | None = None, p: int = 2, points: Tensor | None = None
) -> IsotonicFit:
    r"""The non-decreasing sequence closest to ``target`` in the weighted :math:`\ell^p` norm.

    Solves :math:`\min_{z_1\le\dots\le z_n}\sum_i w_i|y_i-z_i|^p` exactly: for ``p=2`` with
    ``scipy.optimize.isotonic_regression`` (pool-adjacent-violators), for ``p=1`` as a linear
    program with ``scipy.optimize.linprog`` (HiGHS; about half a second for 4096 values,
    growing faster than linearly).

    Parameters
    ----------
    target
        Values :math:`y_i`, shape ``(n,)``, listed in the order of increasing points.
    weights
        Positive weights :math:`w_i`, shape ``(n,)``; default all ones.
    p
        ``1`` or ``2``.
    points
        Optional increasing points the values belong to (stored in the result only).

    Examples
    --------
    >>> import torch
    >>> fit = best_increasing_fit(torch.tensor([1.0, 3.0, 2.0, 4.0]))
    >>> fit.values.tolist(), round(fit.error**2, 12)
    ([1.0, 2.5, 2.5, 4.0], 0.5)
    """
    y = check_tensor("target", target, ndim=1)
    n = y.numel()
    if n == 0:
        raise ValueError("target must contain at least one value")
    if weights is None:
        weights = torch.ones_like(y)
    w = check_tensor("weights", weights, shape=(n,))
    if bool((w <= 0).any()):
        raise ValueError("weights must be positive")
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    if points is not None:
        check_tensor("points", points, shape=(n,))
        if n > 1 and not bool((points[1:] >= points[:-1]).all()):
            raise ValueError("points must be in non-decreasing order")
    y_np, w_np = y.detach().cpu().numpy(), w.detach().cpu().numpy()
    if p == 2:
        z_np = isotonic_regression(y_np, weights=w_np).x
    else:
        z_np = _l1_isotonic(y_np, w_np) if n > 1 else y_np.copy()
    z = torch.as_tensor(z_np, dtype=y.dtype)
    error = float((w * (y - z).abs() ** p).sum()) ** (1.0 / p)
    return IsotonicFit(points, z, p, error)


def increasing_lower_bound(
    target: Callable[[Tensor], Tensor],
    box: Box,
    *,
    p: int = 2,
    n_points: int = 2**12,
    seed: int = 0,
) -> IsotonicFit:
    r"""The smallest :func:`~flowapprox.lp_error` of ``target`` that any increasing map can have.

    ``lp_error(target, phi, box, p=p, n_points=n_points, seed=seed)`` is the weighted
    :math:`\ell^p` distance of the values at ``n_points`` scrambled Sobol points (weights
    ``box.volume / n_points``). For an increasing ``phi`` those values are non-decreasing in
    the point order, so the error is at least that of :func:`best_increasing_fit` on the same
    points and weights: a certified lower bound for every 1-D flow map, with no quadrature
    tolerance. It approximates the continuous bound
    :math:`\inf_\varphi\|F-\varphi\|_{L^p}` up to the quadrature error of the rule.

    Implements :prf:ref:`ch3-prop-obstruction`.

    Parameters
    ----------
    target
        Maps points of shape ``(n, 1)`` to values of shape ``(n,)`` or ``(n, 1)``.
    box
        A one-dimensional :class:`~flowapprox.Box`.
    p, n_points, seed
        The exponent (``1`` or ``2``) and the Sobol rule, as in :func:`~flowapprox.lp_error`.
    """
    check_box("box", box)
    if box.dim != 1:
        raise ValueError(f"box must be one-dimensional, got dimension {box.dim}")
    x = sobol_points(box, n_points, seed=seed)[:, 0]
    order = torch.argsort(x)
    x = x[order]
    with torch.no_grad():
        y = target(x.unsqueeze(1))
    y = check_tensor("target(x)", y)
    if y.shape not in ((x.numel(),), (x.numel(), 1)):
        raise ValueError(f"target(x) must have shape (n,) or (n, 1), got {tuple(y.shape)}")
    weights = torch.full_like(x, box.volume / x.numel())
    return best_increasing_fit(y.reshape(-1), weights=weights, p=p, points=x)


# -------------------------------------------------------------------- log-slope time costs


@dataclass(frozen=True)
class LogSlopeTimeCosts:
    r"""Time costs of an increasing PL map with log-slopes :math:`u_0,\dots,u_m` on an interval.

    Attributes
    ----------
    total_variation
        :math:`\mathrm{TV}=\sum_{i=1}^m |u_i-u_{i-1}|`, the log-slope jumps at interior knots.
    first, last
        :math:`u_0` and :math:`u_m`, the log-slopes of the end pieces.

    The properties :attr:`one_sided` and :attr:`minimal` give the time cost of the
    construction with right-active neurons only, and the smallest time cost of any ridge
    control that represents the map on the interval (book, :prf:ref:`ch3-thm-budget`).
    """

    total_variation: float
    first: float
    last: float

    @property
    def one_sided(self) -> float:
        r""":math:`|u_0|+\mathrm{TV}`."""
        return abs(self.first) + self.total_variation

    @property
    def minimal(self) -> float:
        r""":math:`\max(\mathrm{TV}, (|u_0|+\mathrm{TV}+|u_m|)/2)`."""
        tv = self.total_variation
        return max(tv, 0.5 * (abs(self.first) + tv + abs(self.last)))

    @classmethod
    def from_log_slopes(cls, log_slopes: Tensor | np.ndarray) -> LogSlopeTimeCosts:
        """Time costs from the sequence :math:`u_0,\\dots,u_m` (finite, at least one value).

        Applied to samples of :math:`\\log F'` of a smooth increasing ``F`` on a fine grid
        (containing the extrema of :math:`\\log F'`), this gives the continuous time costs.
        """
        u = np.asarray(log_slopes.detach().cpu() if isinstance(log_slopes, Tensor)
                       else log_slopes, dtype=float)
        if u.ndim != 1 or u.size == 0 or not np.all(np.isfinite(u)):
            raise ValueError("log_slopes must be a non-empty 1-D array of finite numbers")
        return cls(float(np.abs(np.diff(u)).sum()), float(u[0]), float(u[-1]))


def _breakpoints(target: object, lower: float, upper: float) -> tuple[Tensor, Tensor]:
    """The interval's ends and the interior knots, and the log-slopes of the pieces between."""
    if not isinstance(target, PiecewiseLinear):
        raise TypeError(f"target must be a PiecewiseLinear, got {type(target).__name__}")
    knots = target.knots
    inner = knots[(knots > lower) & (knots < upper)]
    points = torch.cat([knots.new_tensor([lower]), inner, knots.new_tensor([upper])])
    slopes = torch.diff(target(points)) / torch.diff(points)
    if not bool((slopes > 0).all()):
        raise ValueError(
            f"target must be strictly increasing on [{lower}, {upper}]; its slopes there are "
            f"{slopes.tolist()}"
        )
    return points, torch.log(slopes)


def log_slope_time_costs(
    target: PiecewiseLinear, lower: float, upper: float
) -> LogSlopeTimeCosts:
    """The :class:`LogSlopeTimeCosts` of the restriction of ``target`` to ``[lower, upper]``.

    Raises ``ValueError`` unless ``target`` is strictly increasing on the interval.

    Implements :prf:ref:`ch3-thm-budget`.
    """
    lower, upper = check_interval(lower, upper)
    return LogSlopeTimeCosts.from_log_slopes(_breakpoints(target, lower, upper)[1])


def minimal_time_cost_lp(target: PiecewiseLinear, lower: float, upper: float) -> float:
    r"""The minimal time cost by linear programming over all decompositions into neuron steps.

    The log-derivative of a composition of 1-D ridge flows is a sum of steps: a neuron
    active on the right of its kink adds :math:`r\,\mathbf 1\{x>k\}`, one active on the left
    adds :math:`r\,\mathbf 1\{x<k\}`, each at cost :math:`|r|` (book, Chapter 3). On the
    interval this leaves a constant :math:`C` (from kinks outside it) and at each interior
    knot a right step :math:`R_i` and a left step :math:`L_i`, with
    :math:`C+\sum_i L_i=u_0` and :math:`R_i-L_i=u_i-u_{i-1}`. This function minimises
    :math:`|C|+\sum_i(|R_i|+|L_i|)` with ``scipy.optimize.linprog``, independently of the
    closed form :attr:`LogSlopeTimeCosts.minimal`.

    Implements :prf:ref:`ch3-thm-budget`.
    """
    lower, upper = check_interval(lower, upper)
    u = _breakpoints(target, lower, upper)[1].numpy()
    m = u.size - 1
    # Variables: C, R_1..R_m, L_1..L_m, each as positive minus negative part.
    k = 1 + 2 * m
    a_eq = np.zeros((1 + m, k))
    a_eq[0, 0] = 1.0
    a_eq[0, 1 + m:] = 1.0
    for i in range(m):
        a_eq[1 + i, 1 + i], a_eq[1 + i, 1 + m + i] = 1.0, -1.0
    b_eq = np.concatenate([[u[0]], np.diff(u)])
    result = linprog(np.ones(2 * k), A_eq=np.hstack([a_eq, -a_eq]), b_eq=b_eq,
                     bounds=(0, None), method="highs")
    if result.status != 0:  # pragma: no cover - always feasible and bounded
        raise RuntimeError(f"linprog failed: {result.message}")
    return float(result.fun)


# ------------------------------------------------------------------ exact representation


@dataclass(frozen=True)
class RidgeRepresentation:
    r"""A control of the 1-D :class:`~flowapprox.RidgeReLU` family representing a PL map.

    Attributes
    ----------
    control
        The pieces: one neuron per piece with :math:`|v|=|w|=1` and duration :math:`|r|`
        (its log-slope jump), then, if needed, a constant field (:math:`w=0`, :math:`b=1`,
        :math:`v=\tau`) for time 1.
    neurons
        The number of neuron pieces (:math:`w\ne0`).
    translation
        :math:`|\tau|`, the distance moved by the final constant field (time cost 0).

    The time cost :attr:`time_cost` is the control's, :math:`\sum_j |v_jw_j|\,t_j`.
    """

    control: PiecewiseConstantControl
    neurons: int
    translation: float

    @property
    def time_cost(self) -> float:
        """The control's time cost (:attr:`flowapprox.PiecewiseConstantControl.time_cost`)."""
        return self.control.time_cost

    @property
    def horizon(self) -> float:
        """The control's horizon :math:`T`."""
        return self.control.horizon

    def __call__(self, x: Tensor) -> Tensor:
        """The flow map at points ``x`` of any shape (exact, :func:`~flowapprox.ridge_flow`)."""
        x = check_tensor("x", x)
        return ridge_flow(self.control, x.reshape(-1, 1)).reshape(x.shape)


def _neuron(kink: float, rate: float, right: bool) -> tuple[float, float, float, float]:
    """(v, w, b, t) of the unit neuron with log-slope jump ``rate`` on one side of ``kink``."""
    w = 1.0 if right else -1.0
    return math.copysign(1.0, rate) * w, w, -w * kink, abs(rate)


def _step_decomposition(u: np.ndarray, strategy: str) -> tuple[float, np.ndarray, np.ndarray]:
    """The constant ``C`` and the steps ``R``, ``L`` of :func:`represent_increasing_pl`."""
    d = np.diff(u)
    if strategy == "one-sided":
        return float(u[0]), d.copy(), np.zeros_like(d)
    pos, neg = float(d[d > 0].sum()), float(-d[d < 0].sum())
    total_left = min(max(float(u[0]), -pos), neg)  # u_0 projected onto [-P, N]
    left = np.zeros_like(d)
    remaining = abs(total_left)
    for i in range(d.size):  # greedy: left steps cancel jumps of the sign opposite to S
        if remaining <= 0:
            break
        if (total_left > 0 and d[i] < 0) or (total_left < 0 and d[i] > 0):
            take = min(abs(d[i]), remaining)
            left[i] = math.copysign(take, total_left)
            remaining -= take
    return float(u[0]) - total_left, d + left, left


def represent_increasing_pl(
    target: PiecewiseLinear, lower: float, upper: float, *, strategy: str = "minimal"
) -> RidgeRepresentation:
    r"""A finite composition of 1-D ReLU ridge flows equal to ``target`` on ``[lower, upper]``.

    Let the target have interior knots :math:`k_1<\dots<k_m` and log-slopes
    :math:`u_0,\dots,u_m` on the interval. The algorithm chooses a constant :math:`C` and
    steps :math:`R_i, L_i` with :math:`C+\sum L_i=u_0` and :math:`R_i-L_i=u_i-u_{i-1}`, then
    composes, keeping track of the current image :math:`y` of each knot,

    1. a neuron active right of :math:`y(\text{lower})` with log-slope jump :math:`C`;
    2. for each knot, a neuron active right of :math:`y(k_i)` with jump :math:`R_i` and one
       active left of it with jump :math:`L_i`;
    3. a constant field for time 1 that translates :math:`y(\text{lower})` onto
       :math:`F(\text{lower})`.

    After step 2 the log-derivative equals :math:`\log F'` on the interval, so step 3 makes
    the map equal to ``target`` there. Neurons with zero jump are omitted.

    Implements :prf:ref:`ch3-thm-exact`.

    Parameters
    ----------
    target
        A PL map, strictly increasing on ``[lower, upper]``.
    lower, upper
        The interval.
    strategy
        ``"one-sided"``: :math:`C=u_0`, :math:`R_i=u_i-u_{i-1}`, :math:`L_i=0`, time cost
        :math:`|u_0|+\mathrm{TV}`. ``"minimal"``: :math:`\sum L_i` is :math:`u_0` projected
        onto :math:`[-P,N]` (:math:`P, N` the sums of the positive and negative jumps), which
        attains the minimal time cost :attr:`LogSlopeTimeCosts.minimal` with at most one knot
        carrying two neurons.
    """
    lower, upper = check_interval(lower, upper)
    strategy = check_choice("strategy", strategy, ("minimal", "one-sided"))
    points, log_slopes = _breakpoints(target, lower, upper)
    constant, right, left = _step_decomposition(log_slopes.numpy(), strategy)
    steps = [(0, constant, True)]
    for i in range(right.size):
        steps += [(i + 1, right[i], True), (i + 1, left[i], False)]
    images = points.clone()
    pieces: list[tuple[float, float, float, float]] = []
    for index, rate, is_right in steps:
        if rate == 0.0:
            continue
        pieces.append(_neuron(float(images[index]), float(rate), is_right))
        images = ridge_flow(_control(pieces[-1:], images.dtype), images.unsqueeze(1))[:, 0]
    shift = float(target(points[:1])[0] - images[0])
    neurons = len(pieces)
    if shift != 0.0:
        pieces.append((shift, 0.0, 1.0, 1.0))
    if not pieces:  # the identity: one piece of zero duration
        pieces.append((0.0, 0.0, 1.0, 0.0))
    control = _control(pieces, points.dtype)
    return RidgeRepresentation(control, neurons, abs(shift))


def _control(
    pieces: list[tuple[float, float, float, float]], dtype: torch.dtype
) -> PiecewiseConstantControl:
    """The ridge control with one piece per ``(v, w, b, t)``."""
    table = torch.tensor(pieces, dtype=dtype)
    params = {"v": table[:, :1], "w": table[:, 1:2], "b": table[:, 2]}
    return PiecewiseConstantControl(RidgeReLU(), table[:, 3].contiguous(), params)


# -------------------------------------------------------------- PL maps of ridge controls


def ridge_flow_as_pl(
    control: PiecewiseConstantControl, lower: float, upper: float
) -> PiecewiseLinear:
    r"""The flow map of a 1-D ridge control on ``[lower, upper]``, as an exact PL function.

    Piece :math:`j` has its kink at :math:`y_j=-b_j/w_j` in the coordinates reached after
    pieces :math:`1,\dots,j-1`; its knot in the original coordinate is the image of
    :math:`y_j` under the inverse of those pieces, i.e. the flow of the reversed control with
    :math:`v\mapsto -v`. The returned function interpolates the flow map at the ends and at
    the knots inside the interval (its end slopes are those of the first and last pieces).
    """
    if not isinstance(control, PiecewiseConstantControl) or not isinstance(
        control.family, RidgeReLU
    ):
        raise TypeError("control must be a PiecewiseConstantControl of the RidgeReLU family")
    if control.dim != 1:
        raise ValueError(f"control must act on the line, got dimension {control.dim}")
    lower, upper = check_interval(lower, upper)
    v, w, b = control.params["v"][:, 0], control.params["w"][:, 0], control.params["b"]
    knots = []
    for j in range(control.num_pieces):
        if float(w[j]) == 0.0 or float(v[j] * w[j] * control.durations[j]) == 0.0:
            continue
        kink = (-b[j] / w[j]).reshape(1, 1)
        if j > 0:
            back = PiecewiseConstantControl(
                control.family, control.durations[:j].flip(0),
                {"v": -control.params["v"][:j].flip(0), "w": control.params["w"][:j].flip(0),
                 "b": b[:j].flip(0)},
            )
            kink = ridge_flow(back, kink)
        knots.append(float(kink))
    inner = sorted({k for k in knots if lower < k < upper})
    points = torch.tensor([lower, *inner, upper], dtype=control.durations.dtype)
    values = ridge_flow(control, points.unsqueeze(1))[:, 0]
    slopes = torch.diff(values) / torch.diff(points)
    return PiecewiseLinear(points, values, float(slopes[0]), float(slopes[-1]))


# ------------------------------------------------------------------ targets


def random_increasing_pl(
    knots: int,
    *,
    lower: float = -1.0,
    upper: float = 1.0,
    log_slope: float = 1.0,
    generator: torch.Generator | None = None,
) -> PiecewiseLinear:
    r"""A random increasing PL map with ``knots`` interior knots in ``(lower, upper)``.

    Knots are uniform in the middle 90% of the interval (sorted), the log-slopes of the
    ``knots + 1`` pieces uniform in ``[-log_slope, log_slope]`` and the value at ``lower``
    uniform in ``[lower, upper]``; float64.
    """
    knots = check_positive_int("knots", knots)
    lower, upper = check_interval(lower, upper)
    log_slope = check_real("log_slope", log_slope, nonnegative=True)
    f64 = torch.float64
    margin = 0.05 * (upper - lower)
    k = torch.rand(knots, generator=generator, dtype=f64) * (upper - lower - 2 * margin)
    k = torch.sort(k).values + lower + margin
    slopes = torch.exp((2 * torch.rand(knots + 1, generator=generator, dtype=f64) - 1) * log_slope)
    start = lower + (upper - lower) * torch.rand(1, generator=generator, dtype=f64)
    values = start + slopes[0] * (k[0] - lower) + torch.cat(
        [k.new_zeros(1), torch.cumsum(slopes[1:-1] * torch.diff(k), 0)]
    )
    return PiecewiseLinear(k, values, float(slopes[0]), float(slopes[-1]))




def interpolate_increasing(
    f: Callable[[Tensor], Tensor], lower: float, upper: float, pieces: int
) -> PiecewiseLinear:
    """The PL interpolant of ``f`` at ``pieces + 1`` equispaced knots of ``[lower, upper]``.

    ``f`` maps a 1-D tensor to values of the same shape and must be strictly increasing on
    the knots (else ``ValueError``). For :math:`f\\in C^2` the interpolant's sup error is at
    most :math:`h^2\\max|f''|/8` with :math:`h=(\\text{upper}-\\text{lower})/\\text{pieces}`.

    Implements :prf:ref:`ch3-cor-smooth`.
    """
    lower, upper = check_interval(lower, upper)
    pieces = check_positive_int("pieces", pieces)
    knots = torch.linspace(lower, upper, pieces + 1, dtype=torch.float64)
    values = check_tensor("f(knots)", f(knots), shape=(pieces + 1,))
    if not bool((torch.diff(values) > 0).all()):
        raise ValueError("f must be strictly increasing on the interpolation knots")
    slopes = torch.diff(values) / torch.diff(knots)
    return PiecewiseLinear(knots, values, float(slopes[0]), float(slopes[-1]))


# ------------------------------------------------------ adversarial search for cheap controls


@dataclass(frozen=True)
class AdversarialSearch:
    r"""The result of :func:`adversarial_time_cost`.

    Attributes
    ----------
    control
        The optimised ridge control (its last piece is a free translation).
    time_cost
        Its time cost :math:`\sum_j |v_j||w_j|\,t_j`.
    produced_minimal
        The minimal time cost (:prf:ref:`ch3-thm-budget`) of the map the control *produces*
        on the interval, computed exactly from :func:`ridge_flow_as_pl`; the theorem says
        ``time_cost >= produced_minimal``.
    target_minimal
        The minimal time cost of the target.
    misfit
        :math:`\sup|\varphi-F|` on the interval (exact: both are PL, compared at the union
        of their knots).
    """

    control: PiecewiseConstantControl
    time_cost: float
    produced_minimal: float
    target_minimal: float
    misfit: float


def _ridge_flow_1d(x: Tensor, v: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """Differentiable exact flow of unit-duration 1-D ridge pieces on points ``x``."""
    for vj, wj, bj in zip(v, w, b):
        a = wj * vj
        small = a.abs() < 1e-12
        gain = torch.where(small, torch.ones_like(a), torch.expm1(a) / torch.where(small, 1.0, a))
        x = x + vj * torch.relu(wj * x + bj) * gain
    return x


def adversarial_time_cost(
    target: PiecewiseLinear,
    lower: float,
    upper: float,
    *,
    pieces: int,
    steps: int = 1000,
    penalty: float = 1e6,
    lr: float = 0.02,
    n_points: int = 128,
    generator: torch.Generator | None = None,
) -> AdversarialSearch:
    r"""Search by gradient descent for a ridge control cheaper than :prf:ref:`ch3-thm-budget`
    allows.

    Minimises :math:`\sum_j|v_j||w_j| + \mu_k\,\overline{(\varphi-F)^2}` over ``pieces``
    unit-duration pieces of the ReLU ridge family on the line followed by a free translation
    (a constant field), with :math:`\varphi` the exact flow map (differentiable closed form),
    the mean over ``n_points`` Sobol points of the interval and the weight :math:`\mu_k`
    growing geometrically from :math:`10^{-3}\mu` to :math:`\mu` = ``penalty`` over the steps,
    by Adam from a random start drawn from ``generator``. The penalised problem lets the
    search trade a small misfit for time cost; the result records the time cost spent, the
    exact minimal time cost of the map actually produced, and the misfit, so that the
    theorem's inequality can be checked on a control that was optimised against it.

    Implements :prf:ref:`ch3-thm-budget` (an adversarial test of its lower bound).

    Parameters
    ----------
    target
        An increasing piecewise-linear map.
    lower, upper
        The interval.
    pieces
        Number of neuron pieces (a positive integer).
    steps, penalty, lr, n_points
        Adam steps, the penalty :math:`\mu>0`, the learning rate and the number of points.
    generator
        Source of the random start.
    """
    lower, upper = check_interval(lower, upper)
    target_minimal = log_slope_time_costs(target, lower, upper).minimal
    pieces = check_positive_int("pieces", pieces)
    steps = check_positive_int("steps", steps)
    penalty = check_real("penalty", penalty, positive=True)
    lr = check_real("lr", lr, positive=True)
    n_points = check_positive_int("n_points", n_points)
    f64 = torch.float64
    x = lower + (upper - lower) * sobol_points(Box([0.0], [1.0]), n_points, seed=0)[:, 0].to(f64)
    y = target(x).detach()
    v = (0.5 * torch.randn(pieces, generator=generator, dtype=f64)).requires_grad_()
    w = (torch.randn(pieces, generator=generator, dtype=f64)).requires_grad_()
    b = (0.5 * torch.randn(pieces, generator=generator, dtype=f64)).requires_grad_()
    shift = torch.zeros((), dtype=f64, requires_grad=True)
    optimiser = torch.optim.Adam([v, w, b, shift], lr=lr)
    for step in range(steps):  # continuation: the penalty grows geometrically to its value
        weight = penalty * 1e-3 ** (1.0 - step / max(steps - 1, 1))
        optimiser.zero_grad()
        misfit = ((_ridge_flow_1d(x, v, w, b) + shift - y) ** 2).mean()
        loss = (v.abs() * w.abs()).sum() + weight * misfit
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        table = [(float(v[j]), float(w[j]), float(b[j]), 1.0) for j in range(pieces)]
        table.append((float(shift), 0.0, 1.0, 1.0))  # v relu(0 x + 1) = v: a free translation
    control = _control(table, f64)
    produced = ridge_flow_as_pl(control, lower, upper)
    grid = torch.unique(torch.cat([produced.knots, target.knots, x.new_tensor([lower, upper])]))
    grid = grid[(grid >= lower) & (grid <= upper)]
    sup_misfit = float((produced(grid) - target(grid)).abs().max())
    try:
        produced_minimal = log_slope_time_costs(produced, lower, upper).minimal
    except ValueError:  # not increasing cannot happen for a flow; keep the search total
        produced_minimal = math.nan
    return AdversarialSearch(control, control.time_cost, produced_minimal, target_minimal,
                             sup_misfit)
