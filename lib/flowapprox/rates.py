r"""Time as a resource: certified lower bounds on the time cost, and measured rates (Chapter 6).

Every flow map of a piecewise-constant control with time cost :math:`B`
(:attr:`flowapprox.PiecewiseConstantControl.time_cost`, book :prf:ref:`ch2-def-time-cost`) is
:math:`e^B`-Lipschitz, and so are its Euler and classical RK4 discretisations
(:prf:ref:`ch6-thm-apriori`). An :math:`M`-Lipschitz function cannot follow a jump or a steep
ramp, which gives lower bounds on the :math:`L^1` error that turn into lower bounds on
:math:`B` (:prf:ref:`ch6-lem-pairing`, :prf:ref:`ch6-prop-step`, :prf:ref:`ch6-prop-disk`).
This module computes

* the certified bounds: :func:`lipschitz_from_time_cost`, :func:`pairing_lower_bound`,
  :func:`step_lower_bound`, :func:`disk_lower_bound`, their inversion
  :func:`minimal_time_cost` (the smallest time cost compatible with a given error) and its
  converse :func:`certified_error` (the smallest error compatible with a given time cost);
* an adversarial check of the a-priori bound: :func:`adversarial_jacobian` maximises the
  Jacobian norm of the flow map over controls of fixed time cost, and
  :func:`aligned_neuron_control` gives a control that attains :math:`e^B` exactly;
* error-against-resource sweeps of the book's constructions: :func:`monotone_sweep` (exact
  one-dimensional representations of Chapter 3), :func:`construction_sweep` (the 2-D
  construction of Chapter 4) and :func:`splitting_sweep` (switching towards a flow target,
  Chapter 2), with :func:`lie_trotter_bound` and the cut-cell bound
  :func:`disk_cut_cell_bound` of the piecewise-constant approximant of a disk;
* the families of one-dimensional approximants used in the chapter (:func:`step_approximant`,
  :func:`kink_target`, :func:`kink_approximant`), the one-dimensional :math:`L^1` error
  :func:`l1_error_1d`, and the trade-off frontier :func:`pareto_front`.

Examples
--------
>>> from flowapprox import rates
>>> round(rates.step_lower_bound(100.0), 6)  # an e^B-Lipschitz map with e^B = 100
0.0025
>>> round(rates.minimal_time_cost(rates.step_lower_bound, 0.0025), 6)  # log(100)
4.60517
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import brentq
from torch import Tensor

from ._validation import (
    check_box,
    check_callable,
    check_choice,
    check_control,
    check_interval,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .construction import construct
from .controls import PiecewiseConstantControl
from .families import ACTIVATIONS, ControlFamily, ResidualBlock, RidgeReLU
from .flows import METHODS, flow, reference_flow, ridge_flow
from .metrics import Box, lp_error
from .monotone import represent_increasing_pl
from .piecewise import PiecewiseLinear
from .splitting import SCHEMES, RidgeSum, splitting_control, switching_flow

Function1D = Callable[[Tensor], Tensor]

#: Largest time cost for which :func:`minimal_time_cost` searches (``e^B`` stays finite).
MAX_TIME_COST = 700.0


# ---------------------------------------------------------------- the a-priori bound


def lipschitz_from_time_cost(time_cost: float, readout_lipschitz: float = 1.0) -> float:
    r"""The a-priori Lipschitz bound :math:`\mathrm{Lip}(g)\,e^{B}` of :math:`g\circ\varphi`.

    A flow map (or its Euler or RK4 discretisation) of time cost :math:`B` and its inverse
    are :math:`e^B`-Lipschitz.

    Implements :prf:ref:`ch6-thm-apriori`.

    Parameters
    ----------
    time_cost
        :math:`B\ge0`.
    readout_lipschitz
        :math:`\mathrm{Lip}(g)>0` of the readout (1 for :math:`g(y)=y_1`, the identity and
        :math:`\tanh y_1`; :math:`|u|` for :math:`g(y)=u\cdot y+\beta`).
    """
    time_cost = check_real("time_cost", time_cost, nonnegative=True)
    readout_lipschitz = check_real("readout_lipschitz", readout_lipschitz, positive=True)
    if time_cost > MAX_TIME_COST:
        return math.inf
    return readout_lipschitz * math.exp(time_cost)


# ---------------------------------------------------------------- certified lower bounds


def _check_lipschitz(lipschitz: object) -> float:
    return check_real("lipschitz", lipschitz, positive=True)


def pairing_lower_bound(
    target: Function1D,
    lipschitz: float,
    *,
    centre: float = 0.0,
    radius: float = 1.0,
    panels: int = 4096,
) -> float:
    r"""Lower bound on :math:`\|F-h\|_{L^1[c-R,c+R]}` over all :math:`M`-Lipschitz :math:`h`.

    .. math:: \|F-h\|_{L^1} \ge \int_0^R \bigl(|F(c+t)-F(c-t)| - 2Mt\bigr)^+\,dt .

    The integral is computed with the composite midpoint rule on ``panels`` panels after
    splitting at :math:`t^* = \sup|F(c\pm t)-F(c\mp t)|/(2M)`, beyond which the integrand
    vanishes; for targets with finitely many kinks and jumps its error is of order
    ``panels**-2``.

    Implements :prf:ref:`ch6-lem-pairing`.

    Parameters
    ----------
    target
        :math:`F`, mapping a 1-D tensor of points to values of the same shape.
    lipschitz
        :math:`M>0`.
    centre, radius
        The interval :math:`[c-R, c+R]`, :math:`R>0`.
    panels
        Number of quadrature panels.
    """
    check_callable("target", target)
    m = _check_lipschitz(lipschitz)
    centre = check_real("centre", centre)
    radius = check_real("radius", radius, positive=True)
    panels = check_positive_int("panels", panels)

    def integrand(t: Tensor) -> Tensor:
        jump = (target(centre + t) - target(centre - t)).abs()
        check_tensor("target(x)", jump, shape=tuple(t.shape))
        return torch.relu(jump - 2.0 * m * t)

    coarse = torch.linspace(0.0, radius, 2049, dtype=torch.float64)
    reach = float(((target(centre + coarse) - target(centre - coarse)).abs()).max()) / (2 * m)
    end = min(radius, reach)
    if end <= 0.0:
        return 0.0
    h = end / panels
    t = (torch.arange(panels, dtype=torch.float64) + 0.5) * h
    return float(integrand(t).sum()) * h


def step_lower_bound(lipschitz: float, *, jump: float = 1.0, radius: float = 1.0) -> float:
    r"""Least :math:`L^1[c-R,c+R]` error of an :math:`M`-Lipschitz map against a step ``jump``.

    It is :math:`J^2/(4M)` if :math:`J\le 2MR`, else :math:`RJ-MR^2`; attained by the ramp
    of slope :math:`M`.

    Implements :prf:ref:`ch6-prop-step`.
    """
    m = _check_lipschitz(lipschitz)
    jump = abs(check_real("jump", jump))
    radius = check_real("radius", radius, positive=True)
    if jump <= 2 * m * radius:
        return jump**2 / (4 * m)
    return radius * jump - m * radius**2


def disk_lower_bound(
    lipschitz: float, radius: float, *, room: float | None = None, jump: float = 1.0
) -> float:
    r"""Lower bound on :math:`\|J\,\mathbf 1_{B(c,r)}-h\|_{L^1(K)}` over Lipschitz :math:`h`.

    If the disk :math:`B(c, r+\rho)` lies in :math:`K`,

    .. math:: \|J\mathbf 1_{B(c,r)}-h\|_{L^1(K)} \ge 2\pi\int_0^{S}(J-2Ms)^+(r-s)\,ds,
        \qquad S=\min(J/(2M), r, \rho),

    which is :math:`J^2\,2\pi r/(4M) - 2\pi J^3/(24M^2)\ge J^2\,\mathrm{Per}/(6M)` when
    :math:`J/(2M)\le\min(r,\rho)`.

    Implements :prf:ref:`ch6-prop-disk`.

    Parameters
    ----------
    lipschitz
        :math:`M>0`.
    radius
        :math:`r>0`.
    room
        :math:`\rho>0`, the width of the ring around the disk inside :math:`K` (default
        :math:`r`).
    jump
        :math:`J`, the height of the indicator.
    """
    m = _check_lipschitz(lipschitz)
    r = check_real("radius", radius, positive=True)
    rho = r if room is None else check_real("room", room, positive=True)
    j = abs(check_real("jump", jump))
    s = min(j / (2 * m), r, rho)
    # integral of (J - 2 M u)(r - u) over [0, s]
    value = j * r * s - (j + 2 * m * r) * s**2 / 2 + 2 * m * s**3 / 3
    return 2 * math.pi * value


def minimal_time_cost(
    lower_bound: Callable[[float], float], error: float, *, readout_lipschitz: float = 1.0
) -> float:
    r"""The smallest :math:`B\ge0` with ``lower_bound(Lip(g) e^B) <= error``.

    ``lower_bound`` maps a Lipschitz constant :math:`M` to a certified lower bound on the
    error of every :math:`M`-Lipschitz approximant and must be non-increasing in :math:`M`
    (all bounds of this module are). An approximant :math:`g\circ\varphi` with error
    ``error`` therefore has time cost at least the returned value, a lower bound on the
    minimal time cost :math:`B^*_L` of :prf:ref:`ch6-def-minimal-time`. Returns 0 if the
    bound allows ``error`` at :math:`B=0`; raises ``ValueError`` if it does not allow it
    below :data:`MAX_TIME_COST`.

    Implements :prf:ref:`ch6-cor-time-lower-bounds`.
    """
    check_callable("lower_bound", lower_bound)
    error = check_real("error", error, nonnegative=True)
    ell = check_real("readout_lipschitz", readout_lipschitz, positive=True)

    def gap(b: float) -> float:
        return float(lower_bound(ell * math.exp(b))) - error

    if gap(0.0) <= 0:
        return 0.0
    if gap(MAX_TIME_COST) > 0:
        raise ValueError(
            f"error {error:g} is below the bound for every time cost up to {MAX_TIME_COST:g}"
        )
    return float(brentq(gap, 0.0, MAX_TIME_COST, xtol=1e-12, rtol=1e-12))


def certified_error(
    lower_bound: Callable[[float], float], time_cost: float, *, readout_lipschitz: float = 1.0
) -> float:
    r"""The smallest error that an approximant of time cost :math:`B` can reach.

    ``lower_bound`` is as for :func:`minimal_time_cost`; the value is
    ``lower_bound(Lip(g) e^B)`` (:func:`lipschitz_from_time_cost`), and 0 when
    :math:`e^B` overflows (no error is excluded).

    Implements :prf:ref:`ch6-cor-time-lower-bounds`.
    """
    check_callable("lower_bound", lower_bound)
    m = lipschitz_from_time_cost(time_cost, readout_lipschitz)
    return 0.0 if math.isinf(m) else float(lower_bound(m))


# ---------------------------------------------------------------- adversarial Jacobians


def _differentiable_rate(family: ControlFamily, params: dict[str, Tensor]) -> Tensor:
    """Per-piece rates of stacked parameters, as a differentiable tensor (shape ``(k,)``)."""
    if isinstance(family, RidgeReLU):
        return torch.linalg.vector_norm(params["v"], dim=-1) * torch.linalg.vector_norm(
            params["w"], dim=-1
        )
    lip_sigma = ACTIVATIONS[family.activation][1]  # type: ignore[attr-defined]
    norm_w = torch.linalg.vector_norm(params["W"], dim=-2)
    norm_a = torch.linalg.vector_norm(params["A"], dim=-1)
    return lip_sigma * (norm_w * norm_a).sum(-1)


_SCALED = {RidgeReLU: "v", ResidualBlock: "W"}


@dataclass(frozen=True)
class AdversarialResult:
    r"""The outcome of :func:`adversarial_jacobian`.

    Attributes
    ----------
    control
        The optimised control, with time cost ``time_cost`` (checked with
        :attr:`~flowapprox.PiecewiseConstantControl.time_cost`).
    point
        The point :math:`x_0` (shape ``(n,)``) at which the Jacobian is evaluated.
    time_cost
        :math:`B`.
    log_norm
        :math:`\log\|D\varphi(x_0)\|_2` of the integrated map.
    history
        The log-norm after each ascent step.
    """

    control: PiecewiseConstantControl
    point: Tensor
    time_cost: float
    log_norm: float
    history: np.ndarray

    @property
    def ratio(self) -> float:
        r""":math:`\log\|D\varphi(x_0)\|/B`; at most 1 by :prf:ref:`ch6-thm-apriori`."""
        return self.log_norm / self.time_cost


def _jacobian_log_norm(
    control: PiecewiseConstantControl, x0: Tensor, method: str, steps_per_piece: int
) -> Tensor:
    def single(p: Tensor) -> Tensor:
        return flow(control, p.unsqueeze(0), method=method, steps_per_piece=steps_per_piece)[0]

    jac = torch.autograd.functional.jacobian(single, x0, create_graph=True)
    return torch.log(torch.linalg.matrix_norm(jac, ord=2))


def adversarial_jacobian(
    family: ControlFamily,
    dim: int,
    *,
    pieces: int,
    time_cost: float,
    steps: int = 150,
    lr: float = 0.05,
    method: str = "rk4",
    steps_per_piece: int = 4,
    generator: torch.Generator | None = None,
) -> AdversarialResult:
    r"""Maximise :math:`\log\|D\varphi(x_0)\|_2` over controls of time cost B and x0.

    The parameters of each piece are free; each piece's output weights (``v`` or ``W``) are
    divided by its rate, so every piece runs at rate 1, and the durations are
    :math:`B\cdot\mathrm{softmax}(\ell)` with free logits :math:`\ell`: every control visited
    has time cost exactly :math:`B`. Adam ascends the log-norm of the Jacobian of the map
    computed by :func:`flowapprox.flow` (``method``, ``steps_per_piece``), which by
    :prf:ref:`ch6-thm-apriori` never exceeds :math:`B` (Euler and RK4 included).

    Parameters
    ----------
    family
        :class:`~flowapprox.RidgeReLU` or :class:`~flowapprox.ResidualBlock`.
    dim
        State dimension :math:`n`.
    pieces
        Number of pieces of the control.
    time_cost
        :math:`B>0`.
    steps, lr
        Adam steps and learning rate.
    method, steps_per_piece
        The integrator (``flowapprox.METHODS``).
    generator
        Random generator of the initial parameters and point.
    """
    if not isinstance(family, (RidgeReLU, ResidualBlock)):
        raise TypeError(
            f"family must be RidgeReLU or ResidualBlock, got {type(family).__name__}"
        )
    dim = check_positive_int("dim", dim)
    pieces = check_positive_int("pieces", pieces)
    b = check_real("time_cost", time_cost, positive=True)
    steps = check_positive_int("steps", steps)
    lr = check_real("lr", lr, positive=True)
    method = check_choice("method", method, tuple(METHODS))
    steps_per_piece = check_positive_int("steps_per_piece", steps_per_piece)
    f64 = torch.float64
    raw = {
        k: v.requires_grad_(True)
        for k, v in family.random_params(dim, pieces=pieces, generator=generator, dtype=f64).items()
    }
    logits = torch.zeros(pieces, dtype=f64, requires_grad=True)
    x0 = torch.randn(dim, generator=generator, dtype=f64).requires_grad_(True)
    scaled = _SCALED[type(family)]

    def build() -> PiecewiseConstantControl:
        rate = _differentiable_rate(family, raw)
        params = dict(raw)
        shape = (-1,) + (1,) * (raw[scaled].ndim - 1)
        params[scaled] = raw[scaled] / rate.reshape(shape)
        return PiecewiseConstantControl(family, b * torch.softmax(logits, 0), params)

    optimiser = torch.optim.Adam([*raw.values(), logits, x0], lr=lr)
    history = []
    for _ in range(steps):
        optimiser.zero_grad()
        value = _jacobian_log_norm(build(), x0, method, steps_per_piece)
        (-value).backward()
        optimiser.step()
        history.append(float(value.detach()))
    with torch.no_grad():
        control = build()
        control = PiecewiseConstantControl(
            family, control.durations.detach(), {k: v.detach() for k, v in control.params.items()}
        )
    point = x0.detach()
    final = float(_jacobian_log_norm(control, point, method, steps_per_piece).detach())
    history.append(final)
    return AdversarialResult(control, point, control.time_cost, final, np.asarray(history))


def aligned_neuron_control(dim: int, time_cost: float) -> PiecewiseConstantControl:
    r"""One ReLU ridge neuron :math:`v=w=e_1`, :math:`b=0`, run for time :math:`B`.

    On :math:`\{x_1>0\}` its flow map is :math:`x\mapsto x + (e^{B}-1)x_1e_1`, with Jacobian
    norm exactly :math:`e^B` at time cost :math:`B`.

    Implements :prf:ref:`ch6-prop-attained`.
    """
    dim = check_positive_int("dim", dim)
    b = check_real("time_cost", time_cost, nonnegative=True)
    e1 = torch.zeros(1, dim, dtype=torch.float64)
    e1[0, 0] = 1.0
    params = {"v": e1.clone(), "w": e1.clone(), "b": torch.zeros(1, dtype=torch.float64)}
    return PiecewiseConstantControl(RidgeReLU(), torch.tensor([b], dtype=torch.float64), params)


def jacobian_log_norms(
    control: PiecewiseConstantControl,
    x: Tensor,
    *,
    method: str = "exact",
    steps_per_piece: int = 4,
) -> Tensor:
    r""":math:`\log\|D\varphi(x_i)\|_2` at each point, shape ``(batch,)``.

    ``method`` is ``"exact"`` (:func:`flowapprox.ridge_flow`; ridge controls only) or one of
    ``flowapprox.METHODS``.
    """
    control = check_control("control", control)
    x = check_points("x", x, control.dim)
    method = check_choice("method", method, ("exact", *METHODS))
    steps_per_piece = check_positive_int("steps_per_piece", steps_per_piece)
    if method == "exact" and not isinstance(control.family, RidgeReLU):
        raise ValueError("method 'exact' needs a control of the RidgeReLU family")

    def mapping(y: Tensor) -> Tensor:
        if method == "exact":
            return ridge_flow(control, y)
        return flow(control, y, method=method, steps_per_piece=steps_per_piece)

    x = x.detach().requires_grad_(True)
    n = x.shape[1]
    with torch.enable_grad():
        y = mapping(x)
        rows = [torch.autograd.grad(y[:, i].sum(), x, retain_graph=i < n - 1)[0] for i in range(n)]
    jac = torch.stack(rows, dim=1)
    return torch.log(torch.linalg.matrix_norm(jac, ord=2)).detach()


# ---------------------------------------------------------------- one-dimensional sweeps


def l1_error_1d(
    f: Function1D,
    g: Function1D,
    lower: float,
    upper: float,
    *,
    breakpoints: Sequence[float] = (),
    panels: int = 64,
    order: int = 8,
) -> float:
    r""":math:`\int_a^b|f-g|` by composite Gauss-Legendre between the given breakpoints.

    Put every kink and jump of :math:`f` and :math:`g` into ``breakpoints``; each interval
    between consecutive breakpoints is cut into ``panels`` equal panels with ``order``
    nodes each.
    """
    lower, upper = check_interval(lower, upper)
    panels = check_positive_int("panels", panels)
    order = check_positive_int("order", order)
    inner = sorted({float(p) for p in breakpoints if lower < float(p) < upper})
    edges = np.array([lower, *inner, upper])
    cuts = np.concatenate(
        [np.linspace(a, b, panels + 1)[:-1] for a, b in zip(edges[:-1], edges[1:])] + [[upper]]
    )
    nodes, weights = np.polynomial.legendre.leggauss(order)
    left, width = cuts[:-1, None], np.diff(cuts)[:, None]
    x = torch.tensor((left + width * (nodes + 1) / 2).ravel(), dtype=torch.float64)
    w = torch.tensor((width * weights / 2).ravel(), dtype=torch.float64)
    with torch.no_grad():
        diff = (f(x) - g(x)).abs()
    check_tensor("f(x) - g(x)", diff, shape=tuple(x.shape))
    return float((w * diff).sum())


def step_approximant(time_cost: float) -> PiecewiseLinear:
    r"""The increasing PL approximant :math:`G_B` of the unit step on :math:`[-1,1]`.

    Slope :math:`S=e^{B/4}/2` on
    :math:`[-w,w]`, :math:`w=1/(2S)`, from 0 to 1, and slope :math:`\eta=e^{-B/4}/2` outside;
    its minimal time cost (:prf:ref:`ch3-thm-budget`) is :math:`2\log(S/\eta)=B` for
    :math:`B\ge 4\log 2`, and its :math:`L^1` error is
    :math:`1/(4S)+\eta(1-w)^2\le e^{-B/4}`.

    Implements :prf:ref:`ch6-prop-step-upper`.
    """
    b = check_real("time_cost", time_cost)
    if b < 4 * math.log(2.0) or b > MAX_TIME_COST:
        raise ValueError(f"time_cost must lie in [4 log 2, {MAX_TIME_COST:g}], got {b}")
    slope, eta = math.exp(b / 4) / 2, math.exp(-b / 4) / 2
    w = 1 / (2 * slope)
    knots = torch.tensor([-w, w], dtype=torch.float64)
    return PiecewiseLinear(knots, torch.tensor([0.0, 1.0], dtype=torch.float64), eta, eta)


def kink_target(steepness: float) -> PiecewiseLinear:
    r"""The kinked target :math:`F_\Lambda(x)=x+(\Lambda-1)\,\mathrm{clip}(x,-a,a)`.

    Here :math:`a=1/(2\Lambda)`. Slopes :math:`1,\Lambda,1`;
    :math:`\mathrm{Lip}(F_\Lambda)=\Lambda>1`.

    Implements the target of :prf:ref:`ch6-prop-kink`.
    """
    lam = check_real("steepness", steepness)
    if lam <= 1:
        raise ValueError(f"steepness must exceed 1, got {lam}")
    return kink_approximant(lam, lam)


def kink_approximant(steepness: float, slope: float) -> PiecewiseLinear:
    r"""The approximant :math:`G_S` of :func:`kink_target`: slope :math:`S` on :math:`[-a_S,a_S]`.

    :math:`(S-1)a_S=(\Lambda-1)a`, slope 1 outside, equal to :math:`F_\Lambda` outside
    :math:`[-a_S,a_S]`; minimal time cost :math:`2\log S` (:prf:ref:`ch3-thm-budget`),
    exact for :math:`S=\Lambda`. Requires :math:`1<S\le\Lambda` and :math:`a_S<1`.

    Implements :prf:ref:`ch6-prop-kink-upper`.
    """
    lam = check_real("steepness", steepness)
    s = check_real("slope", slope)
    if lam <= 1:
        raise ValueError(f"steepness must exceed 1, got {lam}")
    if not 1 < s <= lam:
        raise ValueError(f"slope must lie in (1, steepness], got {s}")
    a = 1 / (2 * lam)
    a_s = (lam - 1) * a / (s - 1)
    if a_s >= 1:
        raise ValueError(f"slope {s} too small: the ramp would leave [-1, 1]")
    knots = torch.tensor([-a_s, a_s], dtype=torch.float64)
    values = knots * s
    return PiecewiseLinear(knots, values, 1.0, 1.0)


@dataclass(frozen=True)
class Sweep:
    """Errors and resources of a family of approximants (one entry per approximant).

    Attributes
    ----------
    time_cost
        Time cost :math:`B` of each control.
    horizon
        Its horizon :math:`T`.
    neurons
        Its number of neurons (units with a non-zero field).
    error
        Its :math:`L^1` error against the target.
    parameter
        The parameter that generated it (pieces, slope, cells, rounds, ...).
    """

    time_cost: np.ndarray
    horizon: np.ndarray
    neurons: np.ndarray
    error: np.ndarray
    parameter: np.ndarray


def monotone_sweep(
    target: Function1D,
    approximants: Sequence[PiecewiseLinear],
    *,
    lower: float = -1.0,
    upper: float = 1.0,
    parameters: Sequence[float] | None = None,
    breakpoints: Sequence[float] = (),
    panels: int = 64,
) -> Sweep:
    r"""Represent each increasing PL approximant exactly by ridge flows and measure its error.

    Each approximant is turned into a control of the ridge family by
    :func:`flowapprox.monotone.represent_increasing_pl` (minimal strategy, Chapter 3); the
    error is the :math:`L^1[a,b]` distance of the control's *flow map* (computed exactly by
    :func:`flowapprox.ridge_flow`) to ``target`` (:func:`l1_error_1d`, with the knots of the
    approximant and ``breakpoints`` as breakpoints). The time cost is
    :attr:`~flowapprox.PiecewiseConstantControl.time_cost` of the control.
    """
    check_callable("target", target)
    if len(approximants) == 0:
        raise ValueError("approximants must contain at least one PiecewiseLinear")
    if parameters is None:
        parameters = list(range(len(approximants)))
    if len(parameters) != len(approximants):
        raise ValueError(
            f"parameters must have one entry per approximant ({len(approximants)}), "
            f"got {len(parameters)}"
        )
    rows = []
    for approximant in approximants:
        if not isinstance(approximant, PiecewiseLinear):
            raise TypeError(
                f"approximants must be PiecewiseLinear, got {type(approximant).__name__}"
            )
        rep = represent_increasing_pl(approximant, lower, upper)
        control = rep.control
        knots = [float(k) for k in approximant.knots]
        err = l1_error_1d(target, rep, lower, upper, breakpoints=[*knots, *breakpoints],
                          panels=panels)
        rows.append((control.time_cost, control.horizon, rep.neurons, err))
    table = np.asarray(rows, dtype=float)
    return Sweep(table[:, 0], table[:, 1], table[:, 2].astype(int), table[:, 3],
                 np.asarray(parameters, dtype=float))


# ---------------------------------------------------------------- two-dimensional sweeps


def construction_sweep(
    target: Callable[[Tensor], Tensor],
    box: Box,
    cells: Sequence[int],
    zoom_times: Sequence[float],
    *,
    delta: float = 0.05,
    n_points: int = 2**14,
    seed: int = 0,
) -> Sweep:
    r"""Error, time cost, horizon and neurons of the Chapter 4 construction for each ``(N, T)``.

    ``cells[i]`` and ``zoom_times[i]`` are paired. The resources are those of
    :meth:`flowapprox.construction.Construction.control` (``time_cost``, ``horizon``) and
    the number of its non-zero units; the error is :func:`flowapprox.lp_error` with
    :math:`p=1` on ``n_points`` Sobol points.
    """
    check_callable("target", target)
    check_box("box", box)
    if len(cells) == 0 or len(cells) != len(zoom_times):
        raise ValueError(
            f"cells and zoom_times must be non-empty and of equal length, got {len(cells)} "
            f"and {len(zoom_times)}"
        )
    rows = []
    for n, t in zip(cells, zoom_times):
        c = construct(target, box, n, t, delta=delta)
        control = c.control()
        err = lp_error(target, c, box, p=1, n_points=n_points, seed=seed)
        rows.append((control.time_cost, control.horizon, c.neurons, err))
    table = np.asarray(rows, dtype=float)
    return Sweep(table[:, 0], table[:, 1], table[:, 2].astype(int), table[:, 3],
                 np.asarray(cells, dtype=float))


def disk_cut_cell_bound(radius: float, cells: int) -> float:
    r"""Bound on the :math:`L^1` error of the piecewise-constant approximant of a disk.

    On :math:`N\times N` cells of side :math:`h=1/N`, a cell that meets the circle of radius
    :math:`r` lies in the annulus of radii :math:`r\pm\sqrt2h`, and only such cells err,
    each on at most its area, so the error is at most
    :math:`\pi((r+\sqrt2h)^2-\max(r-\sqrt2h,0)^2)`.

    Implements :prf:ref:`ch6-prop-construction-time` (its last statement).
    """
    r = check_real("radius", radius, positive=True)
    h = 1.0 / check_positive_int("cells", cells)
    return math.pi * ((r + math.sqrt(2) * h) ** 2 - max(r - math.sqrt(2) * h, 0.0) ** 2)


def pareto_front(costs: np.ndarray | Sequence[float], sizes: np.ndarray | Sequence[float],
                 errors: np.ndarray | Sequence[float], tolerance: float) -> np.ndarray:
    r"""Indices of the Pareto-minimal ``(cost, size)`` pairs with error at most ``tolerance``.

    A point is kept if no other admissible point has cost and size both at most its own,
    one of them strictly smaller. Sorted by cost.

    Implements :prf:ref:`ch6-def-frontier`.
    """
    c, s, e = (np.asarray(a, dtype=float) for a in (costs, sizes, errors))
    if c.ndim != 1 or c.shape != s.shape or c.shape != e.shape or c.size == 0:
        raise ValueError("costs, sizes and errors must be non-empty 1-D arrays of equal length")
    for name, values in (("costs", c), ("sizes", s), ("errors", e)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite")
    tolerance = check_real("tolerance", tolerance, positive=True)
    ok = np.flatnonzero(e <= tolerance)
    keep = [
        i for i in ok
        if not any((c[j] <= c[i] and s[j] <= s[i] and (c[j] < c[i] or s[j] < s[i])) for j in ok)
    ]
    return np.asarray(sorted(keep, key=lambda i: (c[i], s[i])), dtype=int)


# ---------------------------------------------------------------- flow targets: switching


def lie_trotter_bound(field: RidgeSum, x: Tensor, t: float, rounds: int) -> float:
    r"""The bound :math:`3\Lambda Mt^2e^{\Lambda t}/(2k)` of :prf:ref:`ch2-thm-lie-trotter`.

    :math:`\Lambda=\sum_i\mathrm{Lip}(\sigma)|v_i||w_i|`; :math:`M=\sum_i\sup_B|f_i|` on the
    ball :math:`B` of radius :math:`R=(\max|x|+t\sum_i|f_i(0)|)e^{\Lambda t}`, bounded by
    :math:`|v_i|` for tanh and sigmoid and :math:`|v_i|(|w_i|R+|b_i|)` for ReLU.

    Implements :prf:ref:`ch2-thm-lie-trotter` (item 2 of :prf:ref:`ch6-thm-flow-targets`).
    """
    if not isinstance(field, RidgeSum):
        raise TypeError(f"field must be a RidgeSum, got {type(field).__name__}")
    x = check_points("x", x, field.dim)
    t = check_real("t", t, nonnegative=True)
    k = check_positive_int("rounds", rounds)
    sigma, lip_sigma = ACTIVATIONS[field.activation]
    nv = torch.linalg.vector_norm(field.v, dim=1)
    nw = torch.linalg.vector_norm(field.w, dim=1)
    lam = float(lip_sigma * (nv * nw).sum())
    at_zero = float((nv * sigma(field.b).abs()).sum())  # type: ignore[operator]
    radius = (float(torch.linalg.vector_norm(x, dim=1).max()) + t * at_zero) * math.exp(lam * t)
    if field.activation == "relu":
        m = float((nv * (nw * radius + field.b.abs())).sum())
    else:
        m = float(nv.sum())
    return 3 * lam * m * t**2 * math.exp(lam * t) / (2 * k)


def splitting_sweep(
    field: RidgeSum,
    x: Tensor,
    t: float,
    rounds: Sequence[int],
    *,
    scheme: str = "lie",
    rtol: float = 1e-11,
    atol: float = 1e-13,
) -> Sweep:
    r"""Sup error of switching towards the flow target :math:`\varphi^f_t` at fixed time cost.

    For each :math:`k` in ``rounds`` the switching control of
    :func:`flowapprox.splitting.splitting_control` is run exactly
    (:func:`flowapprox.splitting.switching_flow`) and compared on ``x`` with
    :func:`flowapprox.reference_flow` of the sum (dopri5, tolerances ``rtol``, ``atol``).
    ``neurons`` holds the number of switches (pieces); ``parameter`` the rounds.

    Implements :prf:ref:`ch6-thm-flow-targets`.
    """
    if not isinstance(field, RidgeSum):
        raise TypeError(f"field must be a RidgeSum, got {type(field).__name__}")
    x = check_points("x", x, field.dim)
    t = check_real("t", t, positive=True)
    scheme = check_choice("scheme", scheme, SCHEMES)
    if len(rounds) == 0:
        raise ValueError("rounds must contain at least one positive integer")
    exact = reference_flow(field.control(t), x, rtol=rtol, atol=atol)
    rows = []
    for k in rounds:
        k = check_positive_int("rounds", k)
        control = splitting_control(field, t, k, scheme=scheme)
        err = float(torch.linalg.vector_norm(switching_flow(control, x) - exact, dim=1).max())
        rows.append((control.time_cost, control.horizon, control.num_pieces, err))
    table = np.asarray(rows, dtype=float)
    return Sweep(table[:, 0], table[:, 1], table[:, 2].astype(int), table[:, 3],
                 np.asarray(rounds, dtype=float))
