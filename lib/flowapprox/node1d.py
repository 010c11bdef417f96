r"""A one-dimensional neural ODE with piecewise-constant controls, trained by gradient descent.

The model is the flow map :math:`\varphi` on :math:`\mathbb R` of a piecewise-constant
control of the residual-block family :math:`f(x;\theta) = W\sigma(Ax+b)` of width ``width``
(:class:`~flowapprox.ResidualBlock` with :math:`n=1`), with ``pieces`` pieces of equal,
fixed duration. The parameters of all pieces are trained with :func:`flowapprox.train`
(Adam, full batch) on the mean squared error to a target; the flow is computed by
:func:`flowapprox.flow` (classical RK4, backpropagation through the steps).

Whatever the training, :math:`\varphi` is a flow map and hence increasing (book, Chapter 3);
the :class:`flowapprox.models.FlowModel` returned by :func:`fit_node1d` (a thin use of
:func:`flowapprox.models.fit_flow_model`) keeps the trained control, the loss history and
parameter snapshots after chosen numbers of steps, so one run shows the effect of the
number of Adam steps.

Examples
--------
>>> import torch
>>> from flowapprox import node1d
>>> x = torch.linspace(-1.0, 1.0, 64).unsqueeze(1)
>>> fit = node1d.fit_node1d(lambda x: 2 * x, x, width=4, pieces=2, steps=100, lr=0.05,
...                         generator=torch.Generator().manual_seed(0), progress=False)
>>> fit.losses.shape, bool(fit.losses[-1] < 0.1 * fit.losses[0])
((100,), True)
>>> bool((torch.diff(fit(x)[:, 0]) > 0).all())  # the learned map is increasing
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ._validation import check_choice, check_points, check_positive_int, check_real
from .controls import PiecewiseConstantControl
from .families import ACTIVATIONS, ResidualBlock
from .flows import Solver
from .models import FlowModel, fit_flow_model


def evaluate(control: PiecewiseConstantControl, x: Tensor, *, steps_per_piece: int) -> Tensor:
    """The flow map of a 1-D control at ``x`` (shape ``(batch, 1)``), RK4 without gradient."""
    x = check_points("x", x, 1)
    with torch.no_grad():
        return Solver("rk4", steps_per_piece)(control, x)


def _detached(control: PiecewiseConstantControl) -> PiecewiseConstantControl:
    params = {key: value.detach().clone() for key, value in control.params.items()}
    return PiecewiseConstantControl(control.family, control.durations.clone(), params)


def fit_node1d(
    target: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    width: int,
    pieces: int,
    horizon: float = 1.0,
    activation: str = "tanh",
    steps: int = 200,
    lr: float = 0.05,
    steps_per_piece: int = 4,
    init_scale: float = 1.0,
    checkpoints: Sequence[int] = (),
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> FlowModel:
    r"""Train a 1-D neural ODE on the mean squared error to ``target`` at the points ``x``.

    Parameters
    ----------
    target
        Maps points of shape ``(batch, 1)`` to values of the same shape.
    x
        Training points, shape ``(batch, 1)``.
    width
        Width :math:`m` of the field :math:`W\sigma(Ax+b)` (``W`` is ``1 x m``).
    pieces
        Number of pieces of the control, each of duration ``horizon / pieces``.
    horizon
        The time horizon :math:`T`. (With unbounded weights it carries no information:
        scaling ``W`` by :math:`\lambda` has the effect of the horizon :math:`\lambda T`.)
    activation
        ``"tanh"``, ``"relu"`` or ``"sigmoid"``.
    steps, lr
        Number of Adam steps and learning rate (:func:`flowapprox.train`).
    steps_per_piece
        Classical RK4 steps per piece in training.
    init_scale
        Scale of the random initial parameters
        (:meth:`~flowapprox.ControlFamily.random_params`).
    checkpoints
        Step counts ``k`` (``1 <= k <= steps``) after which the parameters are kept in
        :attr:`.FlowModel.snapshots`; training is full batch and deterministic, so a snapshot
        equals the result of training for ``k`` steps only.
    generator
        Seeds the initial parameters.
    progress
        Progress bar (default: on unless ``FLOWAPPROX_PROGRESS=0``).
    """
    x = check_points("x", x, 1, nonempty=True)
    width = check_positive_int("width", width)
    pieces = check_positive_int("pieces", pieces)
    horizon = check_real("horizon", horizon, positive=True)
    activation = check_choice("activation", activation, tuple(ACTIVATIONS))
    steps = check_positive_int("steps", steps)
    spp = check_positive_int("steps_per_piece", steps_per_piece)
    init_scale = check_real("init_scale", init_scale, positive=True)
    marks = sorted({check_positive_int("checkpoint", k) for k in checkpoints})
    if marks and marks[-1] > steps:
        raise ValueError(f"checkpoints must be at most steps={steps}, got {marks[-1]}")
    with torch.no_grad():
        y = target(x)
    if not isinstance(y, Tensor) or y.shape != x.shape:
        raise ValueError(f"target(x) must be a tensor of shape {tuple(x.shape)}")
    return fit_flow_model(
        x, y, family=ResidualBlock(width=width, activation=activation), pieces=pieces,
        horizon=horizon, solver=Solver("rk4", spp), steps=steps, lr=lr, loss="mse",
        readout="identity", init_scale=init_scale, checkpoints=marks, generator=generator,
        progress=progress, description=f"1-D NODE (width {width}, {pieces} pieces)",
    )
