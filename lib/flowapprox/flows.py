r"""Flow maps of piecewise-constant controls: fixed-step integrators, ResNets, references.

The flow map of a piecewise-constant control (book, Chapter 1, :prf:ref:`ch1-def-flow-map`) is

.. math::
   \varphi = \varphi^{f(\cdot;\theta_k)}_{t_k}\circ\dots\circ\varphi^{f(\cdot;\theta_1)}_{t_1}.

This module computes it in three independent ways:

* :func:`flow`: a fixed-step integrator (Euler, Heun or classical RK4) that walks the pieces
  with the piece index known (no time-to-piece lookup, so no wrong piece at a switching
  time), batched over points and differentiable by plain backpropagation;
  :func:`resnet` is the special case of one Euler step per piece,
  :math:`x_{j+1} = x_j + t_j f(x_j;\theta_j)`, i.e. a residual network;
* :func:`reference_flow`: ``torchdiffeq.odeint`` called once per piece, with explicit
  tolerances and a step forced onto the piece end (adaptive solvers must not straddle a
  switch);
* :func:`ridge_flow`: the exact flow of the single-neuron ReLU ridge field.

A trajectory that leaves the floating-point range raises :class:`FlowBlowUpError`, which
names the piece (and step) where it happened.

Examples
--------
>>> import torch
>>> from flowapprox import PiecewiseConstantControl, ResidualBlock, flow, resnet
>>> control = PiecewiseConstantControl.random(ResidualBlock(width=4), dim=2, pieces=3,
...                                           generator=torch.Generator().manual_seed(0))
>>> x = torch.zeros(5, 2)
>>> flow(control, x, method="rk4", steps_per_piece=50).shape
torch.Size([5, 2])
>>> bool(torch.equal(resnet(control, x), flow(control, x, method="euler")))
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchdiffeq
from torch import Tensor

from ._types import Field
from ._validation import check_choice, check_control, check_points, check_positive_int, check_real
from .controls import PiecewiseConstantControl
from .families import RidgeReLU


class FlowBlowUpError(FloatingPointError):
    """A trajectory became non-finite; ``piece`` (0-based) and ``step`` say where."""

    def __init__(self, piece: int, step: int | None = None, detail: str = "") -> None:
        where = f"piece {piece}" + ("" if step is None else f", step {step}")
        super().__init__(f"the flow became non-finite (NaN or inf) in {where}{detail}")
        self.piece = piece
        self.step = step


def _euler(f: Field, x: Tensor, h: float | Tensor) -> Tensor:
    return x + h * f(x)


def _heun(f: Field, x: Tensor, h: float | Tensor) -> Tensor:
    k1 = f(x)
    k2 = f(x + h * k1)
    return x + (0.5 * h) * (k1 + k2)


def _rk4(f: Field, x: Tensor, h: float | Tensor) -> Tensor:
    half = 0.5 * h
    k1 = f(x)
    k2 = f(x + half * k1)
    k3 = f(x + half * k2)
    k4 = f(x + h * k3)
    # ((k1 + 2 k2) + 2 k3) + k4 summed in place: 2 k is exact, so these are the bits of the
    # plain expression with three fewer temporaries
    return x + (h / 6.0) * k1.add(k2, alpha=2.0).add_(k3, alpha=2.0).add_(k4)


#: Fixed-step one-step methods and their classical orders.
METHODS: dict[str, tuple[Callable[[Field, Tensor, float | Tensor], Tensor], int]] = {
    "euler": (_euler, 1),
    "heun": (_heun, 2),
    "rk4": (_rk4, 4),
}


def _check_inputs(control: object, x: object) -> tuple[PiecewiseConstantControl, Tensor]:
    control = check_control("control", control)
    control.validate()  # tensors edited in place after construction
    x = check_points("x", x, control.dim)
    if x.dtype != control.durations.dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the control has dtype {control.durations.dtype}; "
            "use one dtype (the book uses torch.float64)"
        )
    return control, x


_BUILT_IN_FAMILIES = ("flowapprox.families", "flowapprox.interpolation")


def _check_field_shape(control: PiecewiseConstantControl, x: Tensor, piece: int) -> None:
    """Raise unless a user-defined family's field returns one vector per point.

    A field of shape ``(batch, 1)`` (or ``(1, n)``) in dimension ``n`` would otherwise be
    broadcast silently by ``x + h * f(x)``. The built-in families are tested instead; a
    user family costs one extra field evaluation per piece.
    """
    if type(control.family).__module__ in _BUILT_IN_FAMILIES or x.shape[0] == 0:
        return
    rows = min(2, x.shape[0])  # two rows, so that a (1, n) field broadcast over the batch shows
    with torch.no_grad():
        value = control.family.field(x[:rows].detach(), control.piece(piece))
    if not isinstance(value, Tensor) or tuple(value.shape) != (rows, x.shape[1]):
        got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(
            f"the field of family {control.family.name!r} (piece {piece}) must return shape "
            f"(batch, {x.shape[1]}) for x of shape (batch, {x.shape[1]}); got {got} for a "
            f"batch of {rows} point(s)"
        )


#: Stability bounds of the fixed-step methods on the negative real axis: h * lambda must stay
#: below these for the linear test equation x' = -lambda x.
STABILITY_BOUNDS = {"euler": 2.0, "heun": 2.0, "rk4": 2.785293563405282}


def _warn_if_unstable(
    control: PiecewiseConstantControl, method: str, steps: int
) -> None:
    """Warn when a step times the piece's stiffness exceeds the method's stability bound.

    Once per call, from the family's
    :meth:`~flowapprox.ControlFamily.stiffness_bound` (a bound, so the warning may be
    conservative): the fixed-step flow of a stiff stable field can be finite and wrong by
    orders of magnitude (x' = -1000x with one RK4 step on [0, 1] gives 4e10).
    """
    if any(p.requires_grad for p in control.params.values()):
        return  # training: the parameters move every step; not the place for a warning
    bound = STABILITY_BOUNDS[method]
    for j in range(control.num_pieces):
        h = float(control.durations[j]) / steps
        if h == 0.0:
            continue
        try:
            lip = control.family.stiffness_bound(control.piece(j))
        except Exception:  # noqa: BLE001 - a user family without a usable estimate
            return
        if math.isfinite(lip) and h * lip > bound:
            warnings.warn(
                f"steps_per_piece={steps} gives step h={h:.3g} on piece {j}, where the field's "
                f"stiffness bound is {lip:.3g}: h * that = {h * lip:.3g} exceeds the stability "
                f"bound {bound:.3g} of {method}, so the result may be far from the flow; "
                f"use at least {float(control.durations[j]) * lip / bound:.3g} steps "
                "per piece (or reference_flow)",
                RuntimeWarning,
                stacklevel=3,
            )
            return


def check_finite_state(x: Tensor, piece: int) -> None:
    """Raise :class:`FlowBlowUpError` for ``piece`` unless every entry of ``x`` is finite."""
    if not bool(torch.isfinite(x).all()):
        raise FlowBlowUpError(piece)


def _first_nonfinite_step(
    step: Callable[[Field, Tensor, float | Tensor], Tensor],
    f: Field,
    x: Tensor,
    h: float | Tensor,
    steps: int,
) -> int | None:
    """Re-run one piece to find the first step whose state is not finite (error path only)."""
    with torch.no_grad():
        for s in range(steps):
            x = step(f, x, h)
            if not bool(torch.isfinite(x).all()):
                return s
    return None


def flow(
    control: PiecewiseConstantControl,
    x: Tensor,
    *,
    method: str = "rk4",
    steps_per_piece: int = 1,
    save_steps: bool = False,
) -> Tensor:
    r"""Integrate the controlled ODE with a fixed-step method, piece by piece.

    Implements :prf:ref:`ch1-def-flow-map` and :prf:ref:`ch1-thm-euler-convergence`.

    Parameters
    ----------
    control
        The piecewise-constant control; piece ``j`` is integrated for time ``t_j`` with
        ``steps_per_piece`` equal steps of the field ``f(.; theta_j)``.
    x
        Initial points, shape ``(batch, n)``.
    method
        ``"euler"`` (order 1), ``"heun"`` (order 2) or ``"rk4"`` (classical Runge-Kutta,
        order 4).
    steps_per_piece
        Number of equal steps per piece; the depth of the network is
        ``steps_per_piece * control.num_pieces``.
    save_steps
        If true, return every intermediate state, shape ``(depth + 1, batch, n)``.

    Returns
    -------
    Tensor
        The image of ``x``, shape ``(batch, n)`` (or the path, see ``save_steps``).

    Raises
    ------
    FlowBlowUpError
        If a state becomes NaN or infinite; the error names the piece and step.
    ValueError
        If the control's tensors were edited in place to invalid values, or a user-defined
        family's field does not return shape ``(batch, n)`` (checked once per piece).

    Warns
    -----
    RuntimeWarning
        If a step times the family's Lipschitz bound exceeds the method's stability bound
        on the negative real axis (``STABILITY_BOUNDS``): the result may be finite and
        far from the flow.
    """
    return _flow(control, x, method, steps_per_piece, save_steps, warn=True)


def _flow(
    control: PiecewiseConstantControl,
    x: Tensor,
    method: str,
    steps_per_piece: int,
    save_steps: bool,
    *,
    warn: bool,
) -> Tensor:
    control, x = _check_inputs(control, x)
    step = METHODS[check_choice("method", method, tuple(METHODS))][0]
    steps = check_positive_int("steps_per_piece", steps_per_piece)
    if warn:
        _warn_if_unstable(control, method, steps)
    family = control.family
    path = [x] if save_steps else None
    # In float64 a step size that needs no gradient is a Python float: the same bits, and
    # each multiplication by it is cheaper than by a 0-d tensor.
    plain = not control.durations.requires_grad and control.durations.dtype == torch.float64
    durations: Tensor | list[float] = control.durations.tolist() if plain else control.durations
    for j in range(control.num_pieces):
        _check_field_shape(control, x, j)
        h = durations[j] / steps
        f = family.bind(control.piece(j))  # this piece's field, its weights prepared once
        start = x
        for _ in range(steps):
            x = step(f, x, h)
            if path is not None:
                path.append(x)
        if not bool(torch.isfinite(x).all()):
            raise FlowBlowUpError(j, _first_nonfinite_step(step, f, start, h, steps))
    return torch.stack(path) if path is not None else x


def resnet(control: PiecewiseConstantControl, x: Tensor) -> Tensor:
    r"""The residual network :math:`x_{j+1} = x_j + t_j f(x_j;\theta_j)`, one layer per piece.

    This is exactly :func:`flow` with ``method="euler"`` and ``steps_per_piece=1``: forward
    Euler on the controlled ODE is a ResNet whose step sizes are the piece durations.

    The network is the object here, not an approximation of the flow, so unlike
    :func:`flow` it does not warn about steps beyond Euler's stability bound.

    Implements :prf:ref:`ch1-prop-resnet-euler`.
    """
    return _flow(control, x, "euler", 1, False, warn=False)


@dataclass(frozen=True)
class Solver:
    """Solver settings of a fixed-step flow: the method and the steps per piece.

    One small object for every caller that integrates a control the same way several times
    (training, evaluation, refinement): ``Solver("rk4", 8)(control, x)`` is
    ``flow(control, x, method="rk4", steps_per_piece=8)``, and :meth:`refined` multiplies the
    steps (a cross-check that the discretisation has converged).

    >>> Solver("rk4", 4).refined(2)
    Solver(method='rk4', steps_per_piece=8)
    """

    method: str = "rk4"
    steps_per_piece: int = 1

    def __post_init__(self) -> None:
        check_choice("method", self.method, tuple(METHODS))
        check_positive_int("steps_per_piece", self.steps_per_piece)

    def __call__(self, control: PiecewiseConstantControl, x: Tensor) -> Tensor:
        """The flow map of ``control`` at ``x`` with these settings (:func:`flow`)."""
        return flow(control, x, method=self.method, steps_per_piece=self.steps_per_piece)

    def refined(self, factor: int) -> Solver:
        """The same method with ``factor`` times the steps per piece."""
        factor = check_positive_int("factor", factor)
        return Solver(self.method, self.steps_per_piece * factor)


def reference_flow(
    control: PiecewiseConstantControl,
    x: Tensor,
    *,
    method: str = "dopri5",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    steps_per_piece: int = 1000,
    max_steps: int = 10_000,
) -> Tensor:
    """The flow map computed by ``torchdiffeq.odeint``, called once per piece.

    Parameters
    ----------
    control, x
        As in :func:`flow`.
    method
        A torchdiffeq method. Adaptive methods (``"dopri5"``, ``"dopri8"``,
        ``"bosh3"``, ``"adaptive_heun"``) use ``rtol``/``atol`` and are forced to step onto
        the piece end (``step_t``); fixed-grid methods (``"rk4"``, which in torchdiffeq is
        the 3/8 rule, ``"euler"``, ``"midpoint"``) use ``steps_per_piece`` equal steps.
    rtol, atol
        Tolerances of adaptive methods.
    steps_per_piece
        Steps per piece of fixed-grid methods.
    max_steps
        The most steps an adaptive method may take on one piece. A stiff field makes
        explicit adaptive methods take steps of order 1/stiffness (minutes at 1e5); past
        this limit a ``RuntimeError`` names the piece. The default allows some 30 s per
        piece on the book's machine, far beyond what a notebook within its runtime limit uses.
    """
    control, x = _check_inputs(control, x)
    adaptive = ("dopri5", "dopri8", "bosh3", "adaptive_heun", "fehlberg2")
    fixed = ("euler", "midpoint", "rk4", "heun3")
    method = check_choice("method", method, adaptive + fixed)
    rtol = check_real("rtol", rtol, positive=True)
    atol = check_real("atol", atol, positive=True)
    steps = check_positive_int("steps_per_piece", steps_per_piece)
    max_steps = check_positive_int("max_steps", max_steps)
    family = control.family
    for j in range(control.num_pieces):
        t_end = control.durations[j]
        if float(t_end) == 0.0:
            continue
        _check_field_shape(control, x, j)
        field = family.bind(control.piece(j))
        times = torch.stack([torch.zeros_like(t_end), t_end])
        options: dict[str, object]
        if method in adaptive:
            options = {"step_t": t_end.reshape(1), "max_num_steps": max_steps}
        else:
            options = {"step_size": float(t_end) / steps}
        try:
            solution = torchdiffeq.odeint(
                lambda t, y, field=field: field(y),
                x,
                times,
                method=method,
                rtol=rtol,
                atol=atol,
                options=options,
            )
        except AssertionError as exc:  # torchdiffeq: "underflow in dt" when the state blows up
            if "max_num_steps" in str(exc):
                raise RuntimeError(
                    f"reference_flow ({method}) exceeded max_steps={max_steps} steps on piece "
                    f"{j}: the field is stiff there (Lipschitz bound "
                    f"{control.family.lipschitz_bound(control.piece(j)):.3g}); raise max_steps or "
                    "use a fixed-grid method with enough steps_per_piece"
                ) from exc
            if "underflow in dt" not in str(exc):
                raise
            raise FlowBlowUpError(j, detail=f" ({method}: {exc})") from exc
        x = solution[-1]
        check_finite_state(x, j)
    return x


def expm1_ratio(a: Tensor, t: Tensor) -> Tensor:
    r""":math:`(e^{at}-1)/a`, continuous at :math:`a=0` where it equals :math:`t`."""
    at = a * t
    small = at.abs() < 1e-6
    safe_a = torch.where(small, torch.ones_like(a), a)
    series = t * (1.0 + at / 2.0 + at * at / 6.0)
    return torch.where(small, series, torch.expm1(at) / safe_a)


def ridge_flow(control: PiecewiseConstantControl, x: Tensor) -> Tensor:
    r"""The exact flow of a piecewise-constant control of the :class:`RidgeReLU` family.

    For :math:`f(x) = v\,\mathrm{relu}(w\cdot x+b)` put :math:`s_0 = w\cdot x_0 + b` and
    :math:`a = w\cdot v`. Along a trajectory :math:`\dot s = a\,\mathrm{relu}(s)`, so points
    with :math:`s_0\le 0` never move and otherwise

    .. math:: x(t) = x_0 + v\, s_0\, \frac{e^{a t}-1}{a}\qquad(= x_0 + v s_0 t \text{ if } a = 0).

    No solver error: this is the reference against which integrators are measured
    (book, Chapter 1).

    Implements :prf:ref:`ch1-prop-ridge-flow`.
    """
    control, x = _check_inputs(control, x)
    if not isinstance(control.family, RidgeReLU):
        raise TypeError(
            f"ridge_flow needs a control of the RidgeReLU family, got {control.family.name}"
        )
    for j in range(control.num_pieces):
        v, w, b = (control.params[key][j] for key in ("v", "w", "b"))
        s0 = x @ w + b
        active = s0 > 0  # inactive points must not move, even if the active ones overflow
        shift = torch.where(active, s0, 0.0) * expm1_ratio(w @ v, control.durations[j])
        x = x + torch.where(active, shift, 0.0).unsqueeze(-1) * v
        check_finite_state(x, j)
    return x
