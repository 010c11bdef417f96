r"""Well functions built from ReLU neurons, smooth sums that approximate them, and Gronwall.

A *well function* (book, Chapter 2, :prf:ref:`ch2-def-well`, a working definition) vanishes
exactly on a bounded convex set, the well, and nowhere else. Sums of ReLU neurons give
wells with polytope zero sets: for a bounded polytope
:math:`P = \{x : w_j\cdot x\le c_j,\ j=1,\dots,m\}` with non-empty interior,

.. math:: h(x) = d\,\sum_{j=1}^m \mathrm{relu}(w_j\cdot x - c_j)

vanishes exactly on :math:`P` (:func:`polytope_well`; :func:`box_well` for boxes, the
interval :math:`[-1,1]` in one dimension). Its flow fixes :math:`P` and moves every other
point along :math:`d`, at least as far as :func:`displacement_lower_bound` says
(:prf:ref:`ch2-prop-polytope-well`).

A finite sum of tanh or sigmoid neurons is analytic and so never vanishes on an open set;
wells are reached only as limits. :func:`least_squares_ridge_sum` fits a sum of ``M``
smooth neurons to a one-dimensional field by linear least squares, and
:func:`gronwall_bound` bounds how far the two flows can drift apart
(:prf:ref:`ch2-lem-gronwall`).

Examples
--------
>>> import torch
>>> from flowapprox.wells import box_well, interval_well
>>> x = torch.tensor([[-3.0], [0.0], [1.0], [2.0]])
>>> box_well([-1.0], [1.0])(x).flatten()  # relu(x - 1) + relu(-x - 1)
tensor([2., 0., 0., 1.])
>>> interval_well(-1.0, 1.0)(x).flatten()  # -relu(x - 1) + relu(-x - 1)
tensor([ 2.,  0.,  0., -1.])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.optimize import linprog
from torch import Tensor

from ._validation import (
    check_callable,
    check_choice,
    check_interval,
    check_points,
    check_positive_int,
    check_real,
    check_same_dtype,
    check_tensor,
)
from .families import ACTIVATIONS
from .piecewise import affine_step
from .splitting import RidgeSum


def _as_vector(name: str, value: object, dtype: torch.dtype) -> Tensor:
    if isinstance(value, Tensor):
        return check_tensor(name, value, ndim=1)
    if not isinstance(value, Sequence) or not value:
        raise TypeError(f"{name} must be a non-empty sequence of numbers or a 1-D tensor")
    return torch.tensor([check_real(f"{name}[{i}]", x) for i, x in enumerate(value)], dtype=dtype)


def _check_bounded_interior(normals: np.ndarray, offsets: np.ndarray) -> None:
    """Raise unless :math:`\\{x : Wx\\le c\\}` is bounded with non-empty interior (``linprog``)."""
    n = normals.shape[1]
    free = [(None, None)] * n
    for k in range(n):
        for sign in (1.0, -1.0):
            extent = linprog(-sign * np.eye(n)[k], A_ub=normals, b_ub=offsets, bounds=free)
            if extent.status == 3:
                raise ValueError("normals and offsets describe an unbounded set, not a well")
    # Largest inscribed ball (Chebyshev centre): maximise r subject to w.x + r|w| <= c.
    norms = np.linalg.norm(normals, axis=1, keepdims=True)
    ball = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.hstack([normals, norms]), b_ub=offsets,
                   bounds=free + [(0, None)])
    if ball.status != 0 or -ball.fun <= 1e-12:
        raise ValueError("normals and offsets describe a set with empty interior, not a well")


def polytope_well(normals: Tensor, offsets: Tensor, direction: Tensor) -> RidgeSum:
    r"""The well :math:`h(x) = d\sum_j\mathrm{relu}(w_j\cdot x - c_j)` of a polytope.

    The polytope is :math:`P = \{x : w_j\cdot x\le c_j,\ j = 1,\dots,m\}`.

    Implements :prf:ref:`ch2-prop-polytope-well`.

    Parameters
    ----------
    normals
        The outer normals :math:`w_j`, shape ``(m, n)``.
    offsets
        The offsets :math:`c_j`, shape ``(m,)``.
    direction
        The direction :math:`d` of the field, shape ``(n,)``, with no zero entry, so that
        every component of :math:`h` vanishes exactly on the polytope.

    Raises
    ------
    ValueError
        If the polytope is unbounded or has empty interior (checked with
        ``scipy.optimize.linprog``), or ``direction`` has a zero entry.

    Examples
    --------
    >>> import torch
    >>> triangle = polytope_well(torch.tensor([[0.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]),
    ...                          torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.0, 1.0]))
    >>> triangle.num_neurons, triangle(torch.tensor([[0.0, 0.0], [0.0, 2.0]]))
    (3, tensor([[0., 0.],
            [2., 2.]]))
    """
    normals = check_tensor("normals", normals, ndim=2)
    for name, value in (("normals", normals), ("offsets", offsets), ("direction", direction)):
        if isinstance(value, Tensor) and value.requires_grad:
            raise ValueError(
                f"{name} must not require grad (a polytope well is built from fixed data; "
                f"pass {name}.detach())"
            )
    m, n = normals.shape
    if m == 0 or n == 0:
        raise ValueError(f"normals must have shape (m, n) with m, n >= 1, got {(m, n)}")
    offsets = check_tensor("offsets", offsets, shape=(m,))
    direction = check_tensor("direction", direction, shape=(n,))
    check_same_dtype("offsets", offsets, normals, "normals")
    check_same_dtype("direction", direction, normals, "normals")
    if bool((direction == 0).any()):
        raise ValueError("direction must have no zero entry (each component must be a well)")
    if bool((torch.linalg.vector_norm(normals, dim=1) == 0).any()):
        raise ValueError("every row of normals must be non-zero")
    _check_bounded_interior(normals.numpy(), offsets.numpy())
    return RidgeSum(direction.expand(m, n).clone(), normals.clone(), -offsets, "relu")


def box_well(
    lower: Sequence[float] | Tensor,
    upper: Sequence[float] | Tensor,
    *,
    direction: Sequence[float] | Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> RidgeSum:
    r"""The well of the box :math:`\prod_k[l_k,u_k]`, a sum of ``2n`` ReLU neurons.

    :math:`h(x) = d\sum_k[\mathrm{relu}(x_k-u_k)+\mathrm{relu}(l_k-x_k)]`; ``direction``
    defaults to :math:`(1,\dots,1)`. In one dimension,
    ``box_well([-1], [1])`` is :math:`\mathrm{relu}(x-1)+\mathrm{relu}(-x-1)`.
    """
    dtype = dtype or torch.get_default_dtype()
    lo, up = _as_vector("lower", lower, dtype), _as_vector("upper", upper, dtype)
    if lo.shape != up.shape or not bool((lo < up).all()):
        raise ValueError(
            f"lower and upper must have equal length with lower < upper, got {lo}, {up}"
        )
    n = lo.numel()
    if direction is None:
        direction = [1.0] * n
    d = _as_vector("direction", direction, dtype)
    eye = torch.eye(n, dtype=dtype)
    return polytope_well(torch.cat([eye, -eye]), torch.cat([up, -lo]), d)


def interval_well(lower: float, upper: float, *, dtype: torch.dtype | None = None) -> RidgeSum:
    r"""The restoring well :math:`h(x) = -\mathrm{relu}(x-u)+\mathrm{relu}(l-x)` of ``[l, u]``.

    Two neurons; :math:`h` vanishes exactly on :math:`[l,u]` and points towards it outside, so
    its flow fixes the interval and pulls every other point towards it:
    :math:`\operatorname{dist}(\varphi^h_t(x),[l,u]) = e^{-t}\operatorname{dist}(x,[l,u])`,
    the one-dimensional zooming mechanism.

    Examples
    --------
    >>> interval_well(-1.0, 1.0).to_piecewise_linear().slopes
    tensor([-1.,  0., -1.])
    """
    lower, upper = check_interval(lower, upper)
    dtype = dtype or torch.get_default_dtype()
    v = torch.tensor([[-1.0], [1.0]], dtype=dtype)
    return RidgeSum(v, -v, torch.tensor([-upper, lower], dtype=dtype), "relu")


def _check_common_direction(well: RidgeSum) -> Tensor:
    if not isinstance(well, RidgeSum):
        raise TypeError(f"well must be a RidgeSum, got {type(well).__name__}")
    if well.activation != "relu" or not bool((well.v == well.v[0]).all()):
        raise ValueError(
            "well must be a ReLU sum whose neurons share one direction v (a polytope well)"
        )
    return well.v[0]


def displacement_lower_bound(well: RidgeSum, x: Tensor, t: float) -> Tensor:
    r"""A lower bound on the displacement :math:`|\varphi^h_t(x)-x|` by a polytope well.

    The well is :math:`h = d\sum_j\mathrm{relu}(w_j\cdot x+b_j)` (:func:`polytope_well`).

    With :math:`\rho(x) = \max_j\mathrm{relu}(w_j\cdot x+b_j)` and
    :math:`\kappa = \max_j|w_j\cdot d|`,

    .. math:: |\varphi^h_t(x) - x| \;\ge\; |d|\,\rho(x)\,\frac{1-e^{-\kappa t}}{\kappa}

    (:math:`|d|\rho(x)t` if :math:`\kappa = 0`): zero exactly on the well, positive outside
    (:prf:ref:`ch2-prop-polytope-well`).

    Implements :prf:ref:`ch2-def-well`.

    Examples
    --------
    >>> import torch
    >>> well = box_well([-1.0], [1.0], direction=[-1.0])
    >>> displacement_lower_bound(well, torch.tensor([[0.5], [3.0]]), 1.0)
    tensor([0.0000, 1.2642])
    """
    d = _check_common_direction(well)
    x = check_points("x", x, well.dim)
    check_same_dtype("x", x, well.v, "the well")
    t = check_real("t", t, nonnegative=True)
    rho = torch.relu(x @ well.w.T + well.b).max(dim=1).values
    kappa = float((well.w @ d).abs().max())
    gain = t if kappa == 0 else -math.expm1(-kappa * t) / kappa
    return torch.linalg.vector_norm(d) * rho * gain


def well_flow(well: RidgeSum, x: Tensor, t: float) -> Tensor:
    r"""The exact time-``t`` flow of a polytope well (:func:`polytope_well`).

    The field :math:`h = d\sum_j\mathrm{relu}(w_j\cdot x+b_j)` points along :math:`d`, so a
    trajectory is the straight line :math:`x + s(t)\,d`, where
    :math:`\dot s = \sum_j\mathrm{relu}(w_j\cdot x + b_j + (w_j\cdot d)\,s)` is a
    piecewise-linear equation on the line, one per point. It is solved exactly as
    :func:`flowapprox.pl_flow` solves one such equation, piece by piece (at most one more
    piece than the well has faces, since :math:`\dot s \ge 0` and a trajectory crosses
    each kink once), for all points at once.

    Examples
    --------
    >>> import torch
    >>> well = box_well([-1.0, -1.0], [1.0, 1.0], direction=[-1.0, -1.0])
    >>> well_flow(well, torch.tensor([[0.5, 0.0], [2.0, 0.0]]), 1.0)  # (2, 0) moves by 1 - 1/e
    tensor([[ 0.5000,  0.0000],
            [ 1.3679, -0.6321]])
    """
    d = _check_common_direction(well)
    x = check_points("x", x, well.dim)
    check_same_dtype("x", x, well.v, "the well")
    t = check_real("t", t, nonnegative=True)
    offsets = x @ well.w.T + well.b  # (batch, m)
    travel = _relu_line_flow(well.w @ d, offsets, t)
    return x + travel[:, None] * d


def _relu_line_flow(slopes: Tensor, offsets: Tensor, t: float) -> Tensor:
    r"""Time-``t`` solutions :math:`s_i(t)` of :math:`\dot s = \sum_j\mathrm{relu}(a_j s + c_{ij})`,
    :math:`s_i(0) = 0`, for slopes ``a`` of shape ``(m,)`` and offsets ``c`` of shape
    ``(batch, m)``: :func:`flowapprox.pl_flow`'s piecewise solution with one field per row.

    The field is non-negative, so every point moves right (or stays, on a zero) and crosses
    each kink :math:`-c_{ij}/a_j` at most once. Within a piece the field is affine with
    slope :math:`\sum a_j` over the neurons active there (read off the kinks, so that a
    point that has just reached a kink sees the piece beyond it).
    """
    a = slopes[None, :]
    has_kink = a != 0
    kinks = torch.where(has_kink, -offsets / torch.where(has_kink, a, torch.ones_like(a)),
                        math.inf)
    y = torch.zeros(offsets.shape[0], dtype=offsets.dtype)
    remaining = torch.full_like(y, t)
    for _ in range(slopes.numel() + 2):
        velocity = torch.relu(y[:, None] * a + offsets).sum(dim=1)
        active = (remaining > 0) & (velocity > 0)
        if not bool(active.any()):
            break
        ahead = kinks > y[:, None]
        end = torch.where(ahead, kinks, math.inf).min(dim=1).values
        on = ((a > 0) & ~ahead) | ((a < 0) & ahead)  # neurons active on (y, end)
        slope = (a * on).sum(dim=1)
        new_y, step, arrived = affine_step(y, velocity, slope, end, remaining)
        y = torch.where(active, new_y, y)
        if not bool(torch.isfinite(y).all()):
            raise FloatingPointError(
                f"well_flow overflowed: the exact flow leaves the floating-point range before "
                f"time t={t}; use a smaller t"
            )
        remaining = torch.where(active, remaining - step, remaining)
        remaining = torch.where(active & ~arrived, torch.zeros_like(remaining), remaining)
    return y


def least_squares_ridge_sum(
    target: Callable[[Tensor], Tensor],
    lower: float,
    upper: float,
    num_neurons: int,
    *,
    activation: str = "tanh",
    steepness: float = 2.0,
    samples_per_neuron: int = 20,
) -> RidgeSum:
    r"""A sum :math:`\sum_m v_m\sigma(w(x-c_m))` of ``M`` smooth neurons fitted to a 1-D field.

    The centres :math:`c_m` are equispaced on ``[lower, upper]`` and the common slope is
    :math:`w = \text{steepness}/\Delta c` (:math:`\Delta c` the spacing), so neighbouring
    neurons overlap; the output weights :math:`v_m` minimise the squared error at
    ``samples_per_neuron * M`` equispaced points (``torch.linalg.lstsq`` with the SVD-based
    ``gelsd`` driver, since the features are nearly collinear). The sum has no affine part:
    it lies in the span of the family itself. Without one it fits poorly within a few
    spacings of the ends (a sigmoid sum cannot even make a constant there), so fit on an
    interval somewhat larger than the one where accuracy is needed.

    Parameters
    ----------
    target
        The field on the line, mapping points of shape ``(k,)`` to values of shape ``(k,)``
        (e.g. a :class:`~flowapprox.PiecewiseLinear`).
    lower, upper
        The fitting interval.
    num_neurons
        ``M >= 2``.
    activation
        ``"tanh"`` or ``"sigmoid"``.
    steepness
        Slope of each neuron in units of the spacing of the centres.
    samples_per_neuron
        Number of least-squares points per neuron.

    Examples
    --------
    >>> import torch
    >>> fit = least_squares_ridge_sum(torch.abs, -2.0, 2.0, 32)
    >>> x = torch.linspace(-1, 1, 101)
    >>> bool((fit(x[:, None])[:, 0] - x.abs()).abs().max() < 0.05)
    True
    """
    check_callable("target", target)
    lower, upper = check_interval(lower, upper)
    m = check_positive_int("num_neurons", num_neurons)
    if m < 2:
        raise ValueError(f"num_neurons must be at least 2, got {m}")
    activation = check_choice("activation", activation, ("tanh", "sigmoid"))
    steepness = check_real("steepness", steepness, positive=True)
    per = check_positive_int("samples_per_neuron", samples_per_neuron)
    dtype = torch.get_default_dtype()
    centres = torch.linspace(lower, upper, m, dtype=dtype)
    slope = steepness * (m - 1) / (upper - lower)
    w = torch.full((m, 1), slope, dtype=dtype)
    b = -slope * centres
    x = torch.linspace(lower, upper, per * m, dtype=dtype)
    y = check_tensor("target(x)", target(x), shape=(x.numel(),))
    sigma = ACTIVATIONS[activation][0]
    design = sigma(x[:, None] @ w.T + b)  # type: ignore[operator]
    coef = torch.linalg.lstsq(design, y[:, None], driver="gelsd").solution
    return RidgeSum(coef, w, b, activation)


def sup_distance(
    f: Callable[[Tensor], Tensor],
    g: Callable[[Tensor], Tensor],
    lower: float,
    upper: float,
    *,
    lipschitz: float,
    num_points: int = 100_001,
) -> float:
    r"""An upper bound on :math:`\sup_{[\text{lower},\text{upper}]}|f-g|` for functions on the line.

    The maximum of :math:`|f-g|` over ``num_points`` equispaced points (ends included) plus
    ``lipschitz`` times half the spacing, where ``lipschitz`` bounds the Lipschitz constant of
    :math:`f-g`: every point lies within half a spacing of a grid point.

    Examples
    --------
    >>> import torch
    >>> # |sin| is largest at 1.6 on the grid of spacing 0.1; add 1 * 0.1 / 2
    >>> round(sup_distance(torch.sin, torch.zeros_like, 0.0, 3.0, lipschitz=1.0, num_points=31), 4)
    1.0496
    """
    if not (callable(f) and callable(g)):
        raise TypeError("f and g must be callable")
    lower, upper = check_interval(lower, upper)
    lipschitz = check_real("lipschitz", lipschitz, nonnegative=True)
    n = check_positive_int("num_points", num_points)
    if n < 2:
        raise ValueError(f"num_points must be at least 2, got {n}")
    x = torch.linspace(lower, upper, n, dtype=torch.get_default_dtype())
    with torch.no_grad():
        gap = check_tensor("f(x) - g(x)", f(x) - g(x), shape=(n,))
    return float(gap.abs().max()) + lipschitz * (upper - lower) / (n - 1) / 2


def gronwall_bound(field_error: float, lipschitz: float, t: float) -> float:
    r"""The Gronwall bound :math:`\varepsilon\,(e^{Lt}-1)/L` on the distance of two flows.

    If :math:`f` is :math:`L`-Lipschitz and :math:`|f-g|\le\varepsilon` on a set containing
    the trajectories of :math:`g`, then :math:`|\varphi^f_t(x)-\varphi^g_t(x)|\le
    \varepsilon(e^{Lt}-1)/L \le \varepsilon\,t\,e^{Lt}` (book, Chapter 2,
    :prf:ref:`ch2-lem-gronwall`); for :math:`L = 0` the bound is :math:`\varepsilon t`.

    Implements :prf:ref:`ch2-lem-gronwall`.

    Examples
    --------
    >>> round(gronwall_bound(1e-3, 1.0, 2.0), 6)
    0.006389
    """
    eps = check_real("field_error", field_error, nonnegative=True)
    lip = check_real("lipschitz", lipschitz, nonnegative=True)
    t = check_real("t", t, nonnegative=True)
    if lip == 0:
        return eps * t
    if lip * t > 700.0:  # e^(L t) overflows a float: the bound is infinite (and not useful)
        raise OverflowError(
            f"the Gronwall bound overflows: lipschitz * t = {lip * t:.3g} > 700 "
            f"(lipschitz={lip}, t={t}); a bound of e^(lipschitz t) says nothing here"
        )
    return eps * math.expm1(lip * t) / lip
