r"""The book's construction from sigmoid, tanh or well units (Chapter 4).

Every stage of the construction of :mod:`flowapprox.construction` is the flow of a field
:math:`\psi(x_k)\,e_l` of one coordinate: a zoom if :math:`k=l`, a shear otherwise. Only the
one-dimensional *profiles* :math:`\psi` depend on the family. This module builds them from
the units of another family,

.. math:: \psi(s) = c_0 + \sum_k d_k\,\sigma(a_k s + b_k),

with :math:`\sigma` the sigmoid, :math:`\tanh`, or a user's :class:`Well` :math:`\eta` (the
route of the paper's hypotheses, :prf:ref:`ch4-def-hypotheses`: only restricted-affine
copies :math:`d\,\eta(as+b)` are used). All profiles are sums of one *standard step*
:math:`S` (:math:`S(-\infty)=0`, :math:`S(0)=\tfrac12`, :math:`S'(0)=\tfrac14`,
:math:`S(\infty)=1`, exponential tails), which is one sigmoid unit; one tanh unit and a
constant (:math:`S(z)=\tfrac12(1+\tanh\tfrac z2)`); or two copies of an even well and a
constant (:meth:`Well.step`):

* :func:`square_wave`, the zoom profile: about :math:`+h/2` on the left half of each cell
  and :math:`-h/2` on its right half, with stable zeros near the centres (slope
  :math:`-\kappa`) and unstable zeros near the interior cell edges (slope
  :math:`+\lambda\kappa`); its flow is integrated by the library's Runge-Kutta method
  (:func:`flowapprox.flow`) with a step from the profile's slope bound;
* :func:`staircase`, the shear profile: a sum of steps that takes given values at given
  points up to tails :math:`e^{-\kappa'}` and is flat around them; shears are exact for any
  profile (:prf:ref:`ch4-lem-shear`);
* :func:`construct_from_profiles` (called by
  :func:`flowapprox.construction.construct_cube` with ``family="sigmoid"``, ``"tanh"`` or
  a :class:`Well`): zoom along each coordinate, separate the centres with staircase shears,
  set the value with a staircase shear, read out :math:`y_1`.

The constant unit (:math:`a=0`) is free in the time cost (book,
:prf:ref:`ch2-def-time-cost`). This is the book's own construction (Chapter 4,
:prf:ref:`ch4-lem-square-wave`, :prf:ref:`ch4-prop-smooth-construction`).

Examples
--------
>>> import torch
>>> from flowapprox.profiles import square_wave, staircase
>>> psi = square_wave(4, rate=8.0, escape=2.0)  # cells of width 1/4 on [0, 1]
>>> s = torch.tensor([0.0625, 0.125, 0.1875, 0.25], dtype=torch.float64)
>>> [round(v, 4) for v in psi(s).tolist()]  # +h/2, zero at a centre, -h/2, zero at an edge
[0.1249, 0.0, -0.1249, 0.0]
>>> phi = staircase(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([2.0, -1.0, 5.0]))
>>> [round(v, 6) for v in phi(torch.tensor([0.0, 1.0, 3.0])).tolist()]
[2.0, -1.0, 5.0]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ._types import Field, Params, Target
from ._validation import (
    check_box,
    check_callable,
    check_choice,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .controls import PiecewiseConstantControl
from .families import ControlFamily, ResidualBlock
from .flows import flow, reference_flow
from .metrics import Box
from .piecewise import cell_centres, cell_index

#: Named smooth families of :func:`construct_from_profiles` (a :class:`Well` is the third kind).
FAMILIES = ("sigmoid", "tanh")

#: Activation, Lipschitz constant, and bias :math:`b_0` of the constant unit
#: :math:`c_0 = W\sigma(0\cdot s + b_0)`, per named family.
_NAMED: dict[str, tuple[Callable[[Tensor], Tensor], float, float]] = {
    "sigmoid": (torch.sigmoid, 0.25, 0.0),
    "tanh": (torch.tanh, 1.0, 1.0),
}

#: Runge-Kutta steps per unit of (duration times slope bound) of a zoom.
STEPS_PER_STIFFNESS = 2.0


@dataclass(frozen=True, eq=False)
class Well:
    r"""A family given only through a one-dimensional well :math:`\eta` (Chapter 4).

    :math:`\eta:\mathbb R\to\mathbb R` is Lipschitz (constant ``lipschitz``), vanishes
    exactly on :math:`[-1,1]` and nowhere else; the family is that of its restricted-affine
    copies :math:`d\,\eta(as+b)` (:prf:ref:`ch4-def-hypotheses`). If :math:`\eta` is not
    even it is replaced by the even well :math:`\eta(u)+\eta(-u)` (two copies, :math:`a=-1`
    allowed). From two copies the class builds the odd function
    :math:`D(z)=\bar\eta(z+c)-\bar\eta(z-c)` (``shift`` :math:`c>1`), which is
    non-decreasing when :math:`\bar\eta` is convex, with :math:`D'(0)=2\bar\eta'(c)>0`, and
    the standard step :math:`S(z)=\tfrac12+D(\alpha z)/(2D_\infty)`,
    :math:`\alpha=D_\infty/(2D'(0))`, where :math:`D_\infty=\lim_{z\to\infty}D(z)` exists for
    wells that are asymptotically affine (read off at ``far``). The tails of :math:`S` are
    those of :math:`\eta` approaching its asymptote: exponential for :func:`ramp_well`.

    The attribute ``max_slope`` is :math:`\sup|S'|` estimated by difference quotients on
    a grid of spacing about :math:`10^{-3}` (for convex wells :math:`S'(0)=\tfrac14`).

    Parameters
    ----------
    function
        The well :math:`\eta`, elementwise on float64 tensors.
    lipschitz
        A Lipschitz constant of :math:`\eta` (the unit's rate in the time cost).
    name
        Shown in messages and figures.
    shift, far
        The shift :math:`c>1` and the point where :math:`D_\infty` is read.

    Raises
    ------
    ValueError
        If :math:`\eta` does not vanish on a grid of :math:`[-1,1]`, vanishes at
        :math:`\pm1.5`, or gives no increasing step (:math:`D` must have settled to
        :math:`10^{-9}` relative between ``far/2`` and ``far``: a well that grows faster
        than affinely, such as :math:`(|s|-1)_+^2`, is rejected).
    """

    function: Callable[[Tensor], Tensor]
    lipschitz: float
    name: str = "well"
    shift: float = 2.0
    far: float = 200.0
    even: bool = field(init=False)
    scale: float = field(init=False)
    limit: float = field(init=False)
    max_slope: float = field(init=False)

    def __post_init__(self) -> None:
        check_callable("function", self.function)
        check_real("lipschitz", self.lipschitz, positive=True)
        shift = check_real("shift", self.shift, positive=True)
        if shift <= 1:
            raise ValueError(f"shift must exceed 1, got {shift}")
        far = check_real("far", self.far, positive=True)
        if far <= 10 * shift:
            raise ValueError(f"far must exceed 10 * shift, got {far}")
        inside = torch.linspace(-1, 1, 201, dtype=torch.float64)
        values = check_tensor("function(s)", self.function(inside), shape=(201,))
        if bool((values != 0).any()):
            raise ValueError("function must vanish exactly on [-1, 1] (a well)")
        outside = torch.tensor([-1.5, 1.5], dtype=torch.float64)
        if bool((self.function(outside) == 0).any()):
            raise ValueError("function must not vanish outside [-1, 1] (a well), got 0 at 1.5")
        probe = torch.linspace(1, far, 97, dtype=torch.float64)
        even = bool(torch.equal(self.function(probe), self.function(-probe)))
        object.__setattr__(self, "even", even)
        ends = self._difference(torch.tensor([-far, far / 2, far], dtype=torch.float64))
        eps = 1e-6
        slope = float(self._difference(torch.tensor([eps], dtype=torch.float64))
                      - self._difference(torch.tensor([-eps], dtype=torch.float64))) / (2 * eps)
        limit = float(ends[2])
        settled = abs(float(ends[1]) - limit) <= 1e-9 * limit  # D has a limit: tails decay
        odd = abs(float(ends[0]) + limit) <= 1e-9 * limit
        if not (limit > 0 and slope > 0 and settled and odd):
            raise ValueError(
                "function gives no increasing odd step eta(z + c) - eta(z - c); the well "
                "route needs a convex well that is asymptotically affine"
            )
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "scale", limit / (2 * slope))
        grid = torch.linspace(-far / self.scale, far / self.scale, 200_001, dtype=torch.float64)
        steps = torch.diff(self.step(grid)) / torch.diff(grid)
        object.__setattr__(self, "max_slope", float(steps.abs().max()))

    def even_part(self, u: Tensor) -> Tensor:
        r""":math:`\bar\eta(u)`: :math:`\eta` if even, else :math:`\eta(u)+\eta(-u)`."""
        return self.function(u) if self.even else self.function(u) + self.function(-u)

    def _difference(self, z: Tensor) -> Tensor:
        return self.even_part(z + self.shift) - self.even_part(z - self.shift)

    def step(self, z: Tensor) -> Tensor:
        r"""The standard step :math:`S(z)=\tfrac12+D(\alpha z)/(2D_\infty)` of the well."""
        return 0.5 + self._difference(self.scale * z) / (2 * self.limit)

    def __call__(self, u: Tensor) -> Tensor:
        """:math:`\\eta(u)`, the activation of the family's units."""
        return self.function(u)


def ramp_well(s: Tensor) -> Tensor:
    r"""The example well :math:`\eta(s)=\rho(|s|-1)`, :math:`\rho(t)=t-1+e^{-t}` for
    :math:`t>0` and :math:`0` otherwise: 1-Lipschitz, convex, :math:`C^1`, zero exactly on
    :math:`[-1,1]`, and :math:`|s|-2` up to :math:`e^{1-|s|}` far out; not piecewise linear,
    so not a finite sum of ReLU units."""
    t = torch.relu(s.abs() - 1)
    return (t + torch.exp(-t)).sub_(1)


def _activation(family: str | Well) -> Callable[[Tensor], Tensor]:
    return family if isinstance(family, Well) else _NAMED[family][0]


def _lipschitz(family: str | Well) -> float:
    return family.lipschitz if isinstance(family, Well) else _NAMED[family][1]


def _check_family(name: str, family: object) -> str | Well:
    if isinstance(family, Well):
        return family
    return check_choice(name, family, FAMILIES)


@dataclass(frozen=True)
class WellBlock(ControlFamily):
    r"""The residual block :math:`f(x)=W\eta(Ax+b)` of a :class:`Well` (parameters as
    :class:`flowapprox.ResidualBlock`); each unit is charged
    :math:`\mathrm{Lip}(\eta)\,|W_{:k}|\,|A_{k:}|` (:prf:ref:`ch2-def-time-cost`)."""

    width: int
    well: Well
    dim_param = "A"

    def __post_init__(self) -> None:
        check_positive_int("width", self.width)
        if not isinstance(self.well, Well):
            raise TypeError(f"well must be a Well, got {type(self.well).__name__}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.well.name} block (width {self.width})"

    def param_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        return {"W": (dim, self.width), "A": (self.width, dim), "b": (self.width,)}

    def field(self, x: Tensor, theta: Params) -> Tensor:
        return self.bind(theta)(x)

    def bind(self, theta: Params) -> Field:
        a_t, w_t, b = theta["A"].T, theta["W"].T, theta["b"]
        eta = self.well.function
        return lambda x: torch.mm(eta(torch.mm(x, a_t).add_(b)), w_t)

    def lipschitz_bound(self, theta: Params) -> float:
        norm_w = torch.linalg.matrix_norm(theta["W"], ord=2)
        norm_a = torch.linalg.matrix_norm(theta["A"], ord=2)
        return float(self.well.lipschitz * norm_w * norm_a)

    def time_rate(self, theta: Params) -> float:
        norm_w = torch.linalg.vector_norm(theta["W"], dim=-2)
        norm_a = torch.linalg.vector_norm(theta["A"], dim=-1)
        return float(self.well.lipschitz * (norm_w * norm_a).sum())


def _block(width: int, family: str | Well) -> ControlFamily:
    if isinstance(family, Well):
        return WellBlock(width, family)
    return ResidualBlock(width, family)


@dataclass(frozen=True, eq=False)
class RidgeProfile:
    r"""A one-dimensional profile :math:`\psi(s) = c_0 + \sum_k d_k\,\sigma(a_k s + b_k)`.

    Attributes
    ----------
    family
        ``"sigmoid"``, ``"tanh"`` or a :class:`Well` (then :math:`\sigma=\eta`).
    weights, scales, shifts
        The coefficients :math:`d_k`, :math:`a_k \ne 0`, :math:`b_k`, shape ``(m,)`` each
        (float64).
    constant
        The constant :math:`c_0`, realised by one constant unit (free in the time cost).
    slope_bound
        A bound on :math:`\sup|\psi'|` where the builder knows one (:func:`square_wave`),
        else ``None``; it sets the Runge-Kutta step of a zoom.
    """

    family: str | Well
    weights: Tensor
    scales: Tensor
    shifts: Tensor
    constant: float = 0.0
    slope_bound: float | None = None

    def __post_init__(self) -> None:
        _check_family("family", self.family)
        m = check_tensor("weights", self.weights, ndim=1).shape[0]
        check_tensor("scales", self.scales, shape=(m,))
        check_tensor("shifts", self.shifts, shape=(m,))
        check_real("constant", self.constant)

    def __call__(self, s: Tensor) -> Tensor:
        """Evaluate :math:`\\psi` at points ``s`` of any shape (float64 inside)."""
        s = check_tensor("s", s)
        z = s.to(torch.float64).unsqueeze(-1) * self.scales + self.shifts
        return (self.constant + _activation(self.family)(z) @ self.weights).to(s.dtype)

    @property
    def units(self) -> int:
        """Number of units, the constant unit included if :math:`c_0\\ne0`."""
        return int(self.weights.numel()) + (self.constant != 0.0)

    @property
    def time_rate(self) -> float:
        r""":math:`\mathrm{Lip}(\sigma)\sum_k|d_k|\,|a_k|` (constant unit free;
        :prf:ref:`ch2-def-time-cost`)."""
        return _lipschitz(self.family) * float((self.weights.abs() * self.scales.abs()).sum())

    def block_params(self, axis: int, source: int, dim: int) -> dict[str, Tensor]:
        r"""Parameters ``W`` ``(dim, m+1)``, ``A`` ``(m+1, dim)``, ``b`` ``(m+1,)`` of the
        block (:class:`flowapprox.ResidualBlock` or :class:`WellBlock`) whose field is
        :math:`\psi(x_{source})\,e_{axis}` on :math:`\mathbb R^{dim}`; the last unit is the
        constant one."""
        m = self.weights.numel()
        b0 = 2.0 if isinstance(self.family, Well) else _NAMED[self.family][2]
        level = float(_activation(self.family)(torch.tensor([b0], dtype=torch.float64))[0])
        w = torch.zeros(dim, m + 1, dtype=torch.float64)
        a = torch.zeros(m + 1, dim, dtype=torch.float64)
        b = torch.zeros(m + 1, dtype=torch.float64)
        w[axis, :m] = self.weights
        w[axis, m] = self.constant / level
        a[:m, source] = self.scales
        b[:m], b[m] = self.shifts, b0
        return {"W": w, "A": a, "b": b}


def _from_steps(
    heights: Tensor, steepness: Tensor, positions: Tensor, constant: float,
    family: str | Well, slope_bound: float | None = None,
) -> RidgeProfile:
    r""":math:`c_0 + \sum_k H_k\,S(\beta_k(s - p_k))` with the standard step :math:`S`,
    written in the units of ``family``."""
    if family == "sigmoid":
        return RidgeProfile(family, heights, steepness, -steepness * positions, constant,
                            slope_bound)
    if family == "tanh":
        half = steepness / 2  # S(z) = (1 + tanh(z / 2)) / 2
        return RidgeProfile(family, heights / 2, half, -half * positions,
                            constant + float(heights.sum()) / 2, slope_bound)
    assert isinstance(family, Well)
    # S(z) = 1/2 + [eta(alpha z + c) - eta(alpha z - c)] / (2 D_inf), eta even (else symmetrised)
    a = family.scale * steepness
    d = heights / (2 * family.limit)
    c = family.shift
    weights, scales, shifts = [d, -d], [a, a], [-a * positions + c, -a * positions - c]
    if not family.even:
        weights, scales = weights + weights, scales + [-a, -a]
        shifts = shifts + [-t for t in shifts]
    return RidgeProfile(family, torch.cat(weights), torch.cat(scales), torch.cat(shifts),
                        constant + float(heights.sum()) / 2, slope_bound)


def square_wave(
    cells: int,
    *,
    lower: float = 0.0,
    upper: float = 1.0,
    rate: float = 8.0,
    escape: float = 2.0,
    activation: str | Well = "sigmoid",
) -> RidgeProfile:
    r"""The zoom profile from :math:`2N-1` steps and a constant.

    On :math:`[a,b]` cut into :math:`N` cells of width :math:`h`, with centres :math:`c_j`
    and interior edges :math:`u_m`,

    .. math:: \psi(s) = \frac h2\Bigl[1 + 2\sum_{m=1}^{N-1} S\bigl(\beta_e(s-u_m)\bigr)
              - 2\sum_{j=0}^{N-1} S\bigl(\beta_c(s-c_j)\bigr)\Bigr],
              \qquad \beta_c = \frac{4\kappa}h,\ \beta_e = \lambda\beta_c .

    For the sigmoid step it is :math:`\pm h/2` up to tails :math:`2h\,e^{-2\kappa}` away from
    the centres and edges, equals :math:`-\frac h2\tanh(\beta_c(s-c_j)/2)` near a centre and
    :math:`\frac h2\tanh(\beta_e(s-u_m)/2)` near an edge up to the same tails, and
    :math:`|\psi'|\le\lambda\kappa\,(1+8e^{-2\lambda\kappa}/(1-e^{-4\lambda\kappa}))`
    (:attr:`RidgeProfile.slope_bound`). For a well's step the bound used is
    :math:`1.25\,h\beta_e\sup|S'|` (the attribute ``max_slope`` of :class:`Well`), a
    step-size guide whose accuracy :meth:`ProfileConstruction.flow_map` checks against
    dopri5, not a proof.

    Implements :prf:ref:`ch4-lem-square-wave`.

    Parameters
    ----------
    cells
        The number :math:`N` of cells.
    lower, upper
        The interval :math:`[a, b]`.
    rate
        The contraction rate :math:`\kappa>0` at the centres (:math:`-\psi'(c_j)`).
    escape
        The ratio :math:`\lambda\ge1` of the escape rate at the edges to :math:`\kappa`.
    activation
        ``"sigmoid"``, ``"tanh"`` (the same function, other units) or a :class:`Well`.
    """
    cells = check_positive_int("cells", cells)
    lower, upper = check_real("lower", lower), check_real("upper", upper)
    if not lower < upper:
        raise ValueError(f"lower must be below upper, got [{lower}, {upper}]")
    rate = check_real("rate", rate, positive=True)
    escape = check_real("escape", escape, positive=True)
    if escape < 1:
        raise ValueError(f"escape must be at least 1, got {escape}")
    activation = _check_family("activation", activation)
    f64 = torch.float64
    h = (upper - lower) / cells
    beta_c = 4 * rate / h
    centres = lower + h * (torch.arange(cells, dtype=f64) + 0.5)
    edges = lower + h * torch.arange(1, cells, dtype=f64)
    heights = torch.cat([torch.full((cells - 1,), h, dtype=f64),
                         torch.full((cells,), -h, dtype=f64)])
    steep = torch.cat([torch.full((cells - 1,), escape * beta_c, dtype=f64),
                       torch.full((cells,), beta_c, dtype=f64)])
    if isinstance(activation, Well):
        bound = 1.25 * h * escape * beta_c * activation.max_slope
    else:
        tail = math.exp(-2 * escape * rate)
        bound = escape * rate * (1 + 8 * tail / (1 - tail * tail))
    return _from_steps(heights, steep, torch.cat([edges, centres]), h / 2, activation, bound)


def staircase(
    points: Tensor,
    values: Tensor,
    *,
    sharpness: float = 20.0,
    activation: str | Well = "sigmoid",
) -> RidgeProfile:
    r"""A sum of steps with :math:`\Phi(r_i)\approx v_i` at distinct points :math:`r_i`.

    With the points sorted, :math:`\Delta_m = v_{m+1}-v_m`, midpoints
    :math:`\mu_m = (r_m+r_{m+1})/2` and gaps :math:`g_m = r_{m+1}-r_m`,

    .. math:: \Phi(s) = v_1 + \sum_m \Delta_m\,S\bigl(\beta_m(s-\mu_m)\bigr),\qquad
              \beta_m = 2\kappa'/g_m .

    For :math:`\theta\in(0,1]` and :math:`|s-r_i|\le(1-\theta)\min(g_{i-1},g_i)/2`,
    :math:`|\Phi(s)-v_i|\le 2\max_m|\Delta_m|\,e^{-\theta\kappa'}+\sum_m|\Delta_m|\,e^{-\kappa'}`:
    the values are exact up to tails and :math:`\Phi` is flat around each point, so a shear by
    :math:`\Phi` does not spread a small blob around a point (unlike a PL interpolant, whose
    slopes are :math:`|\Delta_m|/g_m`).

    Implements :prf:ref:`ch4-lem-staircase`.

    Parameters
    ----------
    points, values
        Shape ``(k,)`` each; the points pairwise distinct (any order).
    sharpness
        The sharpness :math:`\kappa'>0`.
    activation
        ``"sigmoid"``, ``"tanh"`` or a :class:`Well`.
    """
    points = check_tensor("points", points, ndim=1).to(torch.float64)
    values = check_tensor("values", values, shape=(points.shape[0],)).to(torch.float64)
    if points.numel() == 0:
        raise ValueError("points must not be empty")
    sharpness = check_real("sharpness", sharpness, positive=True)
    activation = _check_family("activation", activation)
    order = torch.argsort(points)
    r, v = points[order], values[order]
    gaps = torch.diff(r)
    if bool((gaps <= 0).any()):
        raise ValueError("points must be pairwise distinct")
    return _from_steps(torch.diff(v), 2 * sharpness / gaps, (r[1:] + r[:-1]) / 2,
                       float(v[0]), activation)


@dataclass(frozen=True, eq=False)
class ProfileStage:
    r"""The flow for time ``duration`` of :math:`\psi(x_{source})\,e_{axis}`.

    A shear (``axis != source``) is exact, :math:`x_{axis}\leftarrow x_{axis}+t\psi(x_{source})`
    (:prf:ref:`ch4-lem-shear`). A zoom (``axis == source``) is a one-dimensional autonomous
    ODE, integrated by :func:`flowapprox.flow` (classical RK4, ``steps`` equal steps) on a
    one-dimensional control of :class:`flowapprox.ResidualBlock`, or by
    :func:`flowapprox.reference_flow` (dopri5, rtol :math:`10^{-10}`, atol
    :math:`10^{-12}`) when ``reference`` is true.
    """

    name: str
    axis: int
    source: int
    profile: RidgeProfile
    duration: float
    steps: int = 1

    def line_control(self) -> PiecewiseConstantControl:
        """The zoom as a one-piece control on the line (dimension 1)."""
        params = self.profile.block_params(0, 0, 1)
        return PiecewiseConstantControl(
            _block(params["b"].numel(), self.profile.family),
            torch.tensor([self.duration], dtype=torch.float64),
            {key: value.unsqueeze(0) for key, value in params.items()},
        )

    def __call__(self, x: Tensor, *, reference: bool = False) -> Tensor:
        """Apply the stage to float64 points of shape ``(batch, n)``."""
        y = x.clone()
        if self.axis != self.source:
            y[:, self.axis] = x[:, self.axis] + self.duration * self.profile(x[:, self.source])
            return y
        line = x[:, self.axis : self.axis + 1]
        if reference:
            y[:, self.axis] = reference_flow(self.line_control(), line)[:, 0]
            return y
        with warnings.catch_warnings():
            # The block's stiffness bound is a norm bound, about N times sup|psi'|; the steps
            # come from the profile's slope bound instead (step times it at most 1/2).
            warnings.filterwarnings("ignore", "steps_per_piece", RuntimeWarning)
            y[:, self.axis] = flow(self.line_control(), line, steps_per_piece=self.steps)[:, 0]
        return y


@dataclass(frozen=True, eq=False)
class ProfileConstruction:
    r"""The construction from sigmoid, tanh or well units on a box of :math:`\mathbb R^n`.

    Built by :func:`construct_from_profiles`. The same interface as
    :class:`flowapprox.construction.CubeConstruction`, plus :meth:`flow_map` with a
    ``reference`` switch, :meth:`control` and :attr:`neurons`.

    Attributes
    ----------
    box, cells
        The box and the cells per side :math:`N`.
    family
        ``"sigmoid"``, ``"tanh"`` or a :class:`Well`.
    stages
        The :math:`n` zooms, :math:`n-1` separating shears and the value shear.
    values
        The target at the cell centres (``torch.cartesian_prod`` order).
    """

    box: Box
    cells: int
    family: str | Well
    stages: tuple[ProfileStage, ...]
    values: Tensor

    def flow_map(self, x: Tensor, *, reference: bool = False) -> Tensor:
        """The stages applied to points ``(batch, n)`` (float64 inside); ``reference``
        integrates the zooms with dopri5 instead of RK4."""
        x = check_points("x", x, self.box.dim)
        y = x.to(torch.float64)
        for stage in self.stages:
            y = stage(y, reference=reference)
        return y.to(x.dtype)

    def __call__(self, x: Tensor) -> Tensor:
        """The approximant :math:`y_1\\circ\\varphi` at points ``(batch, n)``."""
        return self.flow_map(x)[:, 0]

    def approximant(self, x: Tensor) -> Tensor:
        r"""The piecewise-constant approximant :math:`\sum_\alpha F(c_\alpha)\mathbf 1_{C_\alpha}`
        (the floor of the error)."""
        x = check_points("x", x, self.box.dim)
        index = torch.zeros(x.shape[0], dtype=torch.long)
        for k in range(self.box.dim):
            i = cell_index(x[:, k], self.cells, lower=self.box.lower[k], upper=self.box.upper[k])
            index = index * self.cells + i
        return self.values[index].to(x.dtype)

    def control(self) -> PiecewiseConstantControl:
        """The construction as a control of :class:`flowapprox.ResidualBlock` with the
        family's activation (:class:`WellBlock` for a well), one piece per stage (narrower
        stages padded with zero units)."""
        dim = self.box.dim
        params = [s.profile.block_params(s.axis, s.source, dim) for s in self.stages]
        width = max(p["b"].numel() for p in params)
        big = {"W": torch.zeros(len(params), dim, width, dtype=torch.float64),
               "A": torch.zeros(len(params), width, dim, dtype=torch.float64),
               "b": torch.zeros(len(params), width, dtype=torch.float64)}
        for j, p in enumerate(params):
            m = p["b"].numel()
            big["W"][j, :, :m], big["A"][j, :m], big["b"][j, :m] = p["W"], p["A"], p["b"]
        durations = torch.tensor([s.duration for s in self.stages], dtype=torch.float64)
        return PiecewiseConstantControl(_block(width, self.family), durations, big)

    @property
    def neurons(self) -> int:
        """Number of units over all stages, constant units included."""
        return sum(stage.profile.units for stage in self.stages)

    @property
    def horizon(self) -> float:
        """:math:`n` times the zoom time plus one per shear."""
        return float(sum(stage.duration for stage in self.stages))

    @property
    def time_cost(self) -> float:
        r""":math:`\sum_j t_j\,\mathrm{Lip}(\sigma)\sum_k|d_k||a_k|` over the stages (equal to
        that of :meth:`control`; :prf:ref:`ch2-def-time-cost`)."""
        return float(sum(s.duration * s.profile.time_rate for s in self.stages))


def profile_zoom_time(
    cells: int, dim: int, *, rate: float = 8.0, escape: float = 2.0, offset: float = 3.0,
    p: float = 2.0,
) -> float:
    r"""The zoom time :math:`T = 1 + (\text{offset} + (n-1+p/\lambda)\log N)/\kappa`.

    The points cross a cell at speed about :math:`h/2` (time about 1), then contract at
    rate :math:`\kappa`; the exponent :math:`n-1+p/\lambda` makes the boundary layers cost
    :math:`O(1/N)` in :math:`L^p` (:prf:ref:`ch4-prop-smooth-construction`).

    >>> round(profile_zoom_time(16, 2), 4)
    2.0681
    """
    cells = check_positive_int("cells", cells)
    dim = check_positive_int("dim", dim)
    rate = check_real("rate", rate, positive=True)
    escape = check_real("escape", escape, positive=True)
    offset = check_real("offset", offset)
    p = check_real("p", p, positive=True)
    return 1.0 + (offset + (dim - 1 + p / escape) * math.log(cells)) / rate


def construct_from_profiles(
    target: Target,
    box: Box,
    cells: int,
    zoom_time: float | None = None,
    *,
    family: str | Well = "sigmoid",
    rate: float = 8.0,
    escape: float = 2.0,
    sharpness: float = 20.0,
) -> ProfileConstruction:
    r"""The book's construction with sigmoid, tanh or well units on a box of :math:`\mathbb R^n`.

    1. **zoom** along each coordinate: the flow of :math:`\psi(x_k)e_k`, :math:`\psi` the
       :func:`square_wave` of the :math:`N` cells of that side, for time ``zoom_time``
       (default :func:`profile_zoom_time`), integrated by RK4 with
       :math:`\lceil 2\,T\sup|\psi'|\rceil` steps;
    2. **separate**: for :math:`k=1,\dots,n-1`, :math:`x_{k+1}\leftarrow x_{k+1}+\Psi_k(x_k)`
       with :math:`\Psi_k` the :func:`staircase` through :math:`(\xi_m, m\,h_{k+1}/M)` over
       the :math:`M=N^k` sorted values :math:`\xi_m` of :math:`x_k` at the moved centres;
    3. **set the value**: :math:`x_1\leftarrow x_1+\Phi(x_n)`, :math:`\Phi` the staircase
       through :math:`(r_\alpha, F(c_\alpha)-c^{(1)}_\alpha)`; the readout is :math:`y_1`.

    Implements :prf:ref:`ch4-prop-smooth-construction`.

    Parameters
    ----------
    target
        Scalar target, points ``(batch, n)`` to values ``(batch,)``.
    box
        A :class:`flowapprox.Box` of dimension :math:`n\ge2`.
    cells
        The number :math:`N` of cells per side.
    zoom_time
        Time of each zoom (default :func:`profile_zoom_time` with ``rate``, ``escape``).
    family
        ``"sigmoid"``, ``"tanh"`` or a :class:`Well`.
    rate, escape
        The rates :math:`\kappa` and :math:`\lambda` of :func:`square_wave`.
    sharpness
        The sharpness :math:`\kappa'` of :func:`staircase`.
    """
    check_callable("target", target)
    n = check_box("box", box, min_dim=2).dim
    cells = check_positive_int("cells", cells)
    family = _check_family("family", family)
    rate = check_real("rate", rate, positive=True)
    escape = check_real("escape", escape, positive=True)
    if zoom_time is None:
        zoom_time = profile_zoom_time(cells, n, rate=rate, escape=escape)
    zoom_time = check_real("zoom_time", zoom_time, nonnegative=True)
    sharpness = check_real("sharpness", sharpness, positive=True)
    f64 = torch.float64
    lower, upper = box.lower, box.upper
    axes = [cell_centres(cells, lower=lower[k], upper=upper[k]).to(f64) for k in range(n)]
    centres = torch.cartesian_prod(*axes).reshape(-1, n)
    stages = []
    for k in range(n):
        psi = square_wave(cells, lower=lower[k], upper=upper[k], rate=rate, escape=escape,
                          activation=family)
        assert psi.slope_bound is not None
        steps = max(1, math.ceil(STEPS_PER_STIFFNESS * zoom_time * psi.slope_bound))
        stages.append(ProfileStage(f"zoom x{k + 1}", k, k, psi, zoom_time, steps))
    moved = centres.clone()
    for k in range(n - 1):
        values = torch.unique(moved[:, k])
        h = (upper[k + 1] - lower[k + 1]) / cells
        offsets = torch.arange(values.numel(), dtype=f64) * (h / values.numel())
        stage = ProfileStage(f"separate x{k + 2}", k + 1, k,
                             staircase(values, offsets, sharpness=sharpness,
                                       activation=family), 1.0)
        stages.append(stage)
        moved = stage(moved)
    with torch.no_grad():
        wanted = check_tensor("target(centres)", target(centres), shape=(centres.shape[0],))
    wanted = wanted.detach().to(f64)
    stages.append(ProfileStage("set value", 0, n - 1,
                               staircase(moved[:, n - 1], wanted - centres[:, 0],
                                         sharpness=sharpness, activation=family), 1.0))
    return ProfileConstruction(box, cells, family, tuple(stages), wanted)
