r"""Errors, grids and rates: how the book measures approximation.

* :class:`Box` is an axis-aligned domain :math:`K=\prod_i[a_i,b_i]`;
* :func:`lp_error` is :math:`\|F-G\|_{L^p(K)} = (\int_K |F-G|^p\,dx)^{1/p}` (Lebesgue measure,
  not normalised by the volume), by scrambled Sobol points or tensor Gauss-Legendre
  quadrature from SciPy;
* :func:`graded_rule` is a composite Gauss-Legendre rule graded towards the edges of a grid
  of cells (integrands singular at the edges, such as the construction's boundary layers);
* :func:`max_error` is the largest pointwise error on given points; use :func:`grid`, which
  includes the boundary, since sup errors concentrate on small sets that random points miss;
* :func:`jacobian_determinants` gives :math:`\det D\varphi(x)` per point (orientation and
  folding checks);
* :func:`depth_errors` measures a discretisation against the exact flow, depth by depth;
* :func:`fit_loglog` fits :math:`\log y = \text{slope}\cdot\log x + c` (observed orders and
  rates).

Examples
--------
>>> import torch
>>> from flowapprox import Box, lp_error
>>> box = Box([-1.0], [1.0])
>>> round(lp_error(lambda x: -x, lambda x: 0 * x, box, p=2, rule="gauss", order=8), 6)
0.816497
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special, stats
from scipy.stats import qmc
from torch import Tensor

from ._types import PointMap
from ._validation import (
    check_box,
    check_callable,
    check_choice,
    check_exponent,
    check_interval,
    check_planar_point,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .controls import PiecewiseConstantControl
from .flows import flow


@dataclass(frozen=True)
class Box:
    """The axis-aligned box :math:`\\prod_i [\\text{lower}_i, \\text{upper}_i]`."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __init__(self, lower: Sequence[float], upper: Sequence[float]) -> None:
        for name, bounds in (("lower", lower), ("upper", upper)):
            if isinstance(bounds, (str, bytes)) or not isinstance(bounds, (Sequence, Tensor)):
                raise TypeError(
                    f"{name} must be a sequence of reals (one per axis, e.g. (0.0,) in 1-D), "
                    f"got {type(bounds).__name__}"
                )
        lower_t = tuple(check_real(f"lower[{i}]", v) for i, v in enumerate(lower))
        upper_t = tuple(check_real(f"upper[{i}]", v) for i, v in enumerate(upper))
        if not lower_t or len(lower_t) != len(upper_t):
            raise ValueError(
                f"lower and upper must be non-empty and of equal length, got "
                f"{len(lower_t)} and {len(upper_t)}"
            )
        if any(a >= b for a, b in zip(lower_t, upper_t)):
            raise ValueError(
                f"each lower bound must be below its upper bound: {lower_t}, {upper_t}"
            )
        object.__setattr__(self, "lower", lower_t)
        object.__setattr__(self, "upper", upper_t)

    @classmethod
    def cube(cls, dim: int, lower: float = 0.0, upper: float = 1.0) -> Box:
        """The cube :math:`[\\text{lower}, \\text{upper}]^{dim}`."""
        dim = check_positive_int("dim", dim)
        return cls([lower] * dim, [upper] * dim)

    @property
    def dim(self) -> int:
        """The dimension of the box."""
        return len(self.lower)

    @property
    def volume(self) -> float:
        """The Lebesgue measure of the box."""
        return float(np.prod(np.subtract(self.upper, self.lower)))

    def _scale(self, unit: np.ndarray, dtype: torch.dtype | None) -> Tensor:
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        # A convex combination is exact at unit = 0 and 1; the clip guards the last ulp.
        points = np.clip((1.0 - unit) * lower + unit * upper, lower, upper)
        return torch.as_tensor(points, dtype=dtype or torch.get_default_dtype())


def grid(box: Box, points_per_axis: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """A tensor grid with ``points_per_axis`` equispaced points per axis, boundary included.

    Returns a tensor of shape ``(points_per_axis ** dim, dim)``, the first axis varying slowest.
    """
    _check_box(box)
    m = check_positive_int("points_per_axis", points_per_axis)
    if m < 2:
        raise ValueError(f"points_per_axis must be at least 2, got {m}")
    axes = [np.linspace(0.0, 1.0, m)] * box.dim
    unit = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, box.dim)
    return box._scale(unit, dtype)


def sobol_points(
    box: Box, n_points: int, *, seed: int = 0, dtype: torch.dtype | None = None
) -> Tensor:
    """``n_points`` scrambled Sobol points in ``box`` (``scipy.stats.qmc.Sobol``).

    ``n_points`` must be a power of two, which keeps the point set balanced.
    """
    _check_box(box)
    n = check_positive_int("n_points", n_points)
    if n & (n - 1):
        raise ValueError(f"n_points must be a power of two for Sobol points, got {n}")
    unit = qmc.Sobol(d=box.dim, scramble=True, seed=seed).random_base2(int(np.log2(n)))
    return box._scale(unit, dtype)


def gauss_legendre(
    box: Box, order: int, *, dtype: torch.dtype | None = None
) -> tuple[Tensor, Tensor]:
    """Tensor-product Gauss-Legendre nodes and weights on ``box`` (``order`` nodes per axis).

    The weights sum to the volume of the box.
    """
    _check_box(box)
    order = check_positive_int("order", order)
    nodes, weights = special.roots_legendre(order)
    unit_nodes, unit_weights = (nodes + 1.0) / 2.0, weights / 2.0
    mesh = np.stack(np.meshgrid(*[unit_nodes] * box.dim, indexing="ij"), -1).reshape(-1, box.dim)
    w = np.prod(
        np.stack(np.meshgrid(*[unit_weights] * box.dim, indexing="ij"), -1).reshape(-1, box.dim),
        axis=1,
    )
    dtype = dtype or torch.get_default_dtype()
    return box._scale(mesh, dtype), torch.as_tensor(w * box.volume, dtype=dtype)


def graded_rule(
    cells: int,
    *,
    lower: float = 0.0,
    upper: float = 1.0,
    depth: float = 1e-10,
    ratio: float = 0.25,
    order: int = 4,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""A composite Gauss-Legendre rule on ``[lower, upper]`` graded towards every cell edge.

    The interval is cut into ``cells`` equal cells of width :math:`h`. Each half-cell, at
    distance :math:`d=t\,h/2`, :math:`t\in(0,1]`, from its edge, is split at
    :math:`t = \text{ratio}^m`, :math:`m=1,\dots,L` with :math:`L` the least integer such
    that :math:`\text{ratio}^L\le\text{depth}`, and each of the :math:`L+1` pieces carries
    ``order`` Gauss-Legendre nodes (``scipy.special.roots_legendre``). The pieces are
    geometric, so a singularity :math:`d^{-a}`, :math:`a<1`, at an edge looks the same on
    each of them and is integrated with the same relative accuracy; the rule is exact for
    polynomials of degree below ``2 * order`` on every piece. It resolves the boundary
    layers of the zooms of the book's construction, whose images depend on the depth
    :math:`u` of a point in its layer like :math:`u^{-1/\lambda}`
    (:prf:ref:`ch4-lem-zoom`), down to depths of about ``depth``; tensor products of two
    such rules integrate functions on a grid of cells (book, :prf:ref:`ch4-prop-rate-sharp`).

    Returns ``(nodes, weights, cell)``: the nodes in increasing order, their weights (which
    sum to ``upper - lower``) and the index of the cell of each node. No node lies on an
    edge, so the cell of a node is never ambiguous.

    Implements :prf:ref:`ch4-prop-rate-sharp`.

    Examples
    --------
    >>> x, w, cell = graded_rule(2, depth=1e-3)
    >>> x.shape, round(float(w.sum()), 12), cell.tolist().count(0)
    (torch.Size([96]), 1.0, 48)
    """
    cells = check_positive_int("cells", cells)
    lower, upper = check_interval(lower, upper)
    depth = check_real("depth", depth, positive=True)
    if depth >= 1:
        raise ValueError(f"depth must lie in (0, 1), got {depth}")
    ratio = check_real("ratio", ratio, positive=True)
    if ratio >= 1:
        raise ValueError(f"ratio must lie in (0, 1), got {ratio}")
    order = check_positive_int("order", order)
    levels = math.ceil(math.log(depth) / math.log(ratio) - 1e-12)
    unit_nodes, unit_weights = special.roots_legendre(order)
    unit_nodes, unit_weights = (unit_nodes + 1.0) / 2.0, unit_weights / 2.0
    right = ratio ** np.arange(levels + 1)  # 1, ratio, ..., ratio**levels
    left = np.append(right[1:], 0.0)
    t = (left[:, None] + (right - left)[:, None] * unit_nodes[None, :]).ravel()
    wt = ((right - left)[:, None] * unit_weights[None, :]).ravel()
    h = (upper - lower) / cells
    order_t = np.argsort(t)
    d, wd = t[order_t] * h / 2, wt[order_t] * h / 2  # distances from the edge, increasing
    edges = lower + h * np.arange(cells)
    nodes = np.concatenate([edges[:, None] + d[None, :], edges[:, None] + h - d[None, ::-1]], 1)
    weights = np.tile(np.concatenate([wd, wd[::-1]]), (cells, 1))
    cell = np.repeat(np.arange(cells), 2 * d.size)
    dtype = dtype or torch.get_default_dtype()
    return (
        torch.as_tensor(nodes.ravel(), dtype=dtype),
        torch.as_tensor(weights.ravel(), dtype=dtype),
        torch.as_tensor(cell, dtype=torch.long),
    )


def _check_box(box: object) -> None:
    check_box("box", box)


def _unchecked_pointwise_error(f: PointMap, g: PointMap, x: Tensor) -> Tensor:
    """:math:`|f(x)-g(x)|` per point (Euclidean norm over output components)."""
    fx, gx = f(x), g(x)
    for name, value in (("f(x)", fx), ("g(x)", gx)):
        check_tensor(name, value)
        if value.shape[0] != x.shape[0] or value.ndim > 2:
            raise ValueError(
                f"{name} must have shape (batch,) or (batch, m) with batch={x.shape[0]}, "
                f"got {tuple(value.shape)}"
            )
    if fx.shape != gx.shape:
        raise ValueError(f"f(x) and g(x) must have the same shape, got {tuple(fx.shape)} "
                         f"and {tuple(gx.shape)}")
    diff = fx - gx
    return diff.abs() if diff.ndim == 1 else torch.linalg.vector_norm(diff, dim=1)


def pointwise_error(f: PointMap, g: PointMap, x: Tensor) -> Tensor:
    """:math:`|f(x_i) - g(x_i)|` per point (Euclidean norm for vector values), shape
    ``(batch,)``."""
    x = check_points("x", x, nonempty=True)
    with torch.no_grad():
        return _unchecked_pointwise_error(f, g, x)


def circle(
    centre: Sequence[float] | Tensor,
    radius: float,
    n_points: int,
    *,
    dtype: torch.dtype | None = None,
) -> Tensor:
    r"""``n_points`` equally spaced points :math:`x_0 + r(\cos\theta_k, \sin\theta_k)`.

    The angles are :math:`\theta_k = 2\pi k/n`, :math:`k = 0,\dots,n-1`; returns a tensor of
    shape ``(n_points, 2)``.
    """
    x0 = check_planar_point(centre)
    radius = check_real("radius", radius, positive=True)
    n = check_positive_int("n_points", n_points)
    theta = 2.0 * math.pi * np.arange(n) / n
    points = np.stack([x0[0] + radius * np.cos(theta), x0[1] + radius * np.sin(theta)], axis=1)
    return torch.as_tensor(points, dtype=dtype or torch.get_default_dtype())


def edge_grid(
    box: Box, cells: int, per_cell: int = 8, *, dtype: torch.dtype | None = None
) -> Tensor:
    r"""A tensor grid on ``box`` that contains every edge of its ``cells`` :math:`\times`
    ``cells`` cells: ``cells * per_cell + 1`` points per axis.

    Sup errors of the book's construction concentrate on the cell edges, a set of measure
    zero; with a power-of-two ``cells`` and ``per_cell`` on a dyadic box the edge points are
    exact in floating point.
    """
    cells = check_positive_int("cells", cells)
    per_cell = check_positive_int("per_cell", per_cell)
    return grid(box, cells * per_cell + 1, dtype=dtype)


def ball_points(x: Tensor, centre: Sequence[float] | Tensor, radius: float) -> Tensor:
    r"""The points of ``x`` (shape ``(batch, 2)``) in the closed disk :math:`\bar B_r(x_0)`."""
    x = check_points("x", x, 2)
    x0 = torch.tensor(check_planar_point(centre), dtype=x.dtype)
    radius = check_real("radius", radius, positive=True)
    return x[torch.linalg.vector_norm(x - x0, dim=1) <= radius]


def lp_error(
    f: PointMap,
    g: PointMap,
    box: Box,
    *,
    p: float = 2.0,
    rule: str = "sobol",
    n_points: int = 2**14,
    order: int = 64,
    seed: int = 0,
) -> float:
    r""":math:`\|f-g\|_{L^p(\text{box})} = \left(\int_{\text{box}} |f(x)-g(x)|^p\,dx\right)^{1/p}`.

    Parameters
    ----------
    f, g
        Maps from points of shape ``(batch, dim)`` to values of shape ``(batch,)`` or
        ``(batch, m)`` (vector values use the Euclidean norm pointwise).
    box
        The domain of integration.
    p
        The exponent, ``1 <= p <= inf``; ``p = inf`` is the maximum over the quadrature
        points. The errors are divided by their maximum before the power is taken, so large
        ``p`` neither underflows nor overflows.
    rule
        ``"sobol"``: quasi-Monte Carlo with ``n_points`` scrambled Sobol points (seeded);
        ``"gauss"``: tensor Gauss-Legendre with ``order`` nodes per axis (accurate for smooth
        integrands only).

    Notes
    -----
    The points are drawn in the default dtype; ``f`` and ``g`` must accept them (a
    :class:`~flowapprox.construction.Construction` converts them to float64 and back).
    """
    _check_box(box)
    check_callable("f", f)
    check_callable("g", g)
    p = check_exponent("p", p)
    rule = check_choice("rule", rule, ("sobol", "gauss"))
    if rule == "gauss":
        order = check_positive_int("order", order)
        nodes = order**box.dim
        if nodes > MAX_GAUSS_NODES:
            raise ValueError(
                f"rule='gauss' with order={order} on a {box.dim}-D box needs {order}**{box.dim} "
                f"= {nodes:.3g} nodes, more than {MAX_GAUSS_NODES:.3g}; lower order or use "
                "rule='sobol'"
            )
    with torch.no_grad():
        if rule == "sobol":
            x = sobol_points(box, n_points, seed=seed)
            w = torch.full((x.shape[0],), box.volume / x.shape[0], dtype=x.dtype)
        else:
            x, w = gauss_legendre(box, order)
        return weighted_lp_norm(_unchecked_pointwise_error(f, g, x), w, p)


#: The most nodes :func:`lp_error` allocates for ``rule="gauss"`` (``order ** dim``).
MAX_GAUSS_NODES = 2**24


def weighted_lp_norm(errors: Tensor, weights: Tensor, p: float) -> float:
    r""":math:`(\sum_i w_i e_i^p)^{1/p}` for errors :math:`e_i\ge 0`, or :math:`\max_i e_i`
    for ``p = inf``, computed as :math:`m(\sum_i w_i (e_i/m)^p)^{1/p}` with
    :math:`m=\max_i e_i`, so that no power underflows or overflows for large ``p``."""
    if errors.numel() == 0:
        raise ValueError("errors must contain at least one value")
    top = float(errors.max())
    if top == 0.0 or p == math.inf:
        return top
    scaled = float((weights * (errors / top) ** p).sum())
    return top * scaled ** (1.0 / p)


def max_error(f: PointMap, g: PointMap, x: Tensor) -> float:
    """The largest pointwise error :math:`\\max_i |f(x_i)-g(x_i)|` over the points ``x``."""
    x = check_points("x", x, nonempty=True)
    with torch.no_grad():
        return float(_unchecked_pointwise_error(f, g, x).max())


def jacobian_determinants(mapping: PointMap, x: Tensor) -> Tensor:
    r"""Per-point Jacobian determinants :math:`\det D\,\text{mapping}(x_i)`, shape ``(batch,)``.

    ``mapping`` must map :math:`\mathbb R^n\to\mathbb R^n` and act row-wise on a batch (the
    image of a point does not depend on the other points), as every flow of the library
    does. Then the Jacobians of all points come from ``n`` backward passes through one
    batched evaluation, and the library's input checks stay active.

    Implements :prf:ref:`ch1-prop-euler-injective`.
    """
    check_callable("mapping", mapping)
    x = check_points("x", x, nonempty=True).detach().requires_grad_(True)
    n = x.shape[1]
    with torch.enable_grad():
        y = mapping(x)
        check_tensor("mapping(x)", y, shape=tuple(x.shape))
        if not y.requires_grad:
            raise ValueError(
                "mapping(x) does not depend on x through autograd (a constant map, or one "
                "that detaches or leaves torch); its Jacobian cannot be computed here"
            )
        if x.shape[0] > 1:  # spot check of the precondition: row 0 depends on x[0] only
            (cross,) = torch.autograd.grad(y[0].sum(), x, retain_graph=True, allow_unused=True)
            if cross is not None and bool((cross[1:] != 0).any()):
                raise ValueError(
                    "mapping must act row-wise on the batch (the image of a point must not "
                    "depend on the other points), but mapping(x)[0] depends on other rows of x"
                )
        rows = []
        for i in range(n):
            (row,) = torch.autograd.grad(
                y[:, i].sum(), x, retain_graph=i < n - 1, allow_unused=True
            )
            rows.append(torch.zeros_like(x) if row is None else row)
    return torch.linalg.det(torch.stack(rows, dim=1))


def depth_errors(
    control: PiecewiseConstantControl,
    x: Tensor,
    reference: Tensor,
    *,
    method: str,
    depths: Sequence[int],
) -> np.ndarray:
    r"""Max error of the depth-``D`` discretisation :func:`~flowapprox.flow` for each ``D``.

    Depth means the total number of steps, so every ``D`` must be a multiple of the number
    of pieces (``steps_per_piece = D / pieces``). ``reference`` holds the exact images of
    ``x``; the error is :math:`\max_i |\varphi_D(x_i) - \varphi(x_i)|`.

    Implements :prf:ref:`ch1-thm-euler-convergence`.
    """
    x = check_points("x", x, control.dim)
    reference = check_tensor("reference", reference, shape=tuple(x.shape))
    pieces = control.num_pieces
    errors = []
    for depth in depths:
        depth = check_positive_int("depths[i]", depth)
        if depth % pieces:
            raise ValueError(f"each depth must be a multiple of the {pieces} pieces, got {depth}")
        with torch.no_grad():
            with warnings.catch_warnings():  # coarse depths are the point of the study,
                warnings.simplefilter("ignore", RuntimeWarning)  # and their errors are measured
                image = flow(control, x, method=method, steps_per_piece=depth // pieces)
        errors.append(float(torch.linalg.vector_norm(image - reference, dim=1).max()))
    return np.asarray(errors)


@dataclass(frozen=True)
class LineFit:
    r"""A least-squares line :math:`\log y = s\,u + c` (``slope`` :math:`s`, ``intercept``
    :math:`c`, coefficient of determination ``r_squared``); :math:`u=\log x` for
    :class:`LogLogFit`, :math:`u=t` for :class:`ExponentialFit`."""

    slope: float
    intercept: float
    r_squared: float


@dataclass(frozen=True)
class LogLogFit(LineFit):
    r"""Least-squares line through :math:`(\log x, \log y)`: :math:`\log y = s\log x + c`.

    :attr:`order` is :math:`-s`, the order of convergence when :math:`y` is an error and
    :math:`x` a resolution.
    """

    @property
    def order(self) -> float:
        r""":math:`-s`: the observed order of an error decaying like :math:`x^{-\text{order}}`."""
        return -self.slope

    def __call__(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        """The fitted power law :math:`e^{c} x^{s}` at ``x``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


@dataclass(frozen=True)
class ExponentialFit(LineFit):
    r"""Least-squares line through :math:`(t, \log y)`: :math:`\log y = s\,t + c`.

    The same parametrisation as :class:`LogLogFit`; :attr:`rate` is :math:`-s` and
    :attr:`prefactor` :math:`e^{c}`, so that :math:`y\approx Ce^{-\text{rate}\,t}`.
    """

    @property
    def rate(self) -> float:
        """:math:`-s`, the decay rate."""
        return -self.slope

    @property
    def prefactor(self) -> float:
        """:math:`e^{c}`, the fitted value at :math:`t=0`."""
        return float(np.exp(self.intercept))

    def __call__(self, t: np.ndarray | Sequence[float]) -> np.ndarray:
        """The fitted exponential :math:`e^{c + s t}` at ``t``."""
        return np.exp(self.intercept + self.slope * np.asarray(t, dtype=float))


def _check_fit_data(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, names: tuple[str, str],
    *, positive_x: bool,
) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape or xs.size < 3:
        raise ValueError(
            f"{names[0]} and {names[1]} must be 1-D of equal length >= 3, got shapes "
            f"{xs.shape} and {ys.shape}"
        )
    if not np.all(np.isfinite(xs)) or (positive_x and np.any(xs <= 0)):
        kind = "positive and finite for a log-log fit" if positive_x else "finite"
        raise ValueError(f"{names[0]} must be {kind}: {xs}")
    if not np.all(np.isfinite(ys)) or np.any(ys <= 0):
        raise ValueError(
            f"{names[1]} must be positive and finite for a fit of log {names[1]}: {ys}"
        )
    if np.unique(xs).size < 2:
        raise ValueError(f"{names[0]} must take at least two distinct values for a fit: {xs}")
    return xs, ys


def fit_loglog(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> LogLogFit:
    r"""Fit a power law :math:`y \approx C x^{\text{slope}}` by least squares in log-log scale.

    Uses ``scipy.stats.linregress``; ``x`` and ``y`` must be positive, finite, of equal length
    and contain at least three points.
    """
    xs, ys = _check_fit_data(x, y, ("x", "y"), positive_x=True)
    result = stats.linregress(np.log(xs), np.log(ys))
    return LogLogFit(float(result.slope), float(result.intercept), float(result.rvalue**2))


def fit_exponential(
    t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> ExponentialFit:
    r"""Fit :math:`y\approx Ce^{-\text{rate}\,t}` (``scipy.stats.linregress`` on :math:`\log y`).

    ``t`` and ``y`` must be 1-D of equal length at least 3, finite, and ``y`` positive.
    """
    ts, ys = _check_fit_data(t, y, ("t", "y"), positive_x=False)
    result = stats.linregress(ts, np.log(ys))
    return ExponentialFit(float(result.slope), float(result.intercept), float(result.rvalue**2))
