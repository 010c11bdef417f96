r"""Neural ODEs with piecewise-constant controls and a linear readout, trained by Adam.

The model of Chapter 4's learning experiment is :math:`x\mapsto u\cdot\varphi(x)+\beta`, where
:math:`\varphi` is the flow map of a piecewise-constant control of the ReLU residual-block
family :math:`f(x;\theta_j) = W_j\,\mathrm{relu}(A_jx+b_j)` with ``pieces`` pieces of equal
duration on :math:`[0, T]`, computed by the library's fixed-step integrator
(:func:`flowapprox.flow`), and :math:`(u,\beta)` is a trainable affine readout.
:func:`train_node` fits it to a target by full-batch Adam (:func:`flowapprox.train`) on the
mean squared error at scrambled Sobol points, backpropagating through the integrator (so
the gradient is exact for the discrete map); it is a thin use of
:func:`flowapprox.models.fit_flow_model`. :meth:`~flowapprox.models.FlowModel.reference`
evaluates the same control with ``torchdiffeq`` (adaptive Dormand-Prince, once per piece), a
cross-check that the trained map is the flow of its control and not only a ResNet.

Examples
--------
>>> import torch
>>> from flowapprox import Box, setup
>>> from flowapprox.node import train_node
>>> session = setup(seed=0)  # one torch thread, float64
>>> model = train_node(lambda x: x[:, 0] * x[:, 1], Box.cube(2), pieces=2, width=4,
...                    steps=100, n_train=32, generator=torch.Generator().manual_seed(0),
...                    progress=False)
>>> model.neurons, model.horizon, bool(model.losses[-1] < 0.5 * model.losses[0])
(8, 1.0, True)
"""

from __future__ import annotations

import torch

from ._types import Target
from ._validation import (
    check_box,
    check_callable,
    check_choice,
    check_positive_int,
    check_real,
    check_tensor,
)
from .families import ResidualBlock
from .flows import METHODS, Solver
from .metrics import Box, sobol_points
from .models import FlowModel, fit_flow_model
from .training import Plateau


def train_node(
    target: Target,
    box: Box,
    *,
    pieces: int,
    width: int,
    horizon: float = 1.0,
    steps: int = 1000,
    lr: float = 1e-2,
    n_train: int = 1024,
    init_scale: float = 1.0,
    method: str = "rk4",
    steps_per_piece: int = 1,
    generator: torch.Generator | None = None,
    sobol_seed: int = 1,
    progress: bool | None = None,
    plateau: Plateau | None = None,
) -> FlowModel:
    """Fit a neural ODE with a linear readout to ``target`` on ``box`` by Adam.

    Parameters
    ----------
    target
        Callable from points ``(batch, n)`` to values ``(batch,)``.
    box
        The domain; training points are ``n_train`` scrambled Sobol points (a power of two,
        seeded by ``sobol_seed``).
    pieces, width
        Number of pieces of the control and width of each piece's ReLU block; the model has
        ``pieces * width`` neurons.
    horizon
        Time horizon :math:`T`, split into equal pieces (not trained).
    steps, lr
        Adam steps and learning rate.
    init_scale
        Scale of the random initial weights (:meth:`flowapprox.ControlFamily.random_params`).
    method, steps_per_piece
        Integrator used for training and evaluation (:func:`flowapprox.flow`).
    generator
        Random generator of the initial weights.
    progress
        Progress bar (see :func:`flowapprox.train`).
    plateau
        Convergence criterion (:class:`flowapprox.training.Plateau`); ``steps`` is then the
        cap (see :func:`flowapprox.models.fit_flow_model`).
    """
    check_callable("target", target)
    check_box("box", box)
    pieces = check_positive_int("pieces", pieces)
    width = check_positive_int("width", width)
    horizon = check_real("horizon", horizon, positive=True)
    init_scale = check_real("init_scale", init_scale, positive=True)
    method = check_choice("method", method, tuple(METHODS))
    steps_per_piece = check_positive_int("steps_per_piece", steps_per_piece)
    n_train = check_positive_int("n_train", n_train)
    x = sobol_points(box, n_train, seed=sobol_seed, dtype=torch.float64)
    with torch.no_grad():
        y = check_tensor("target(x)", target(x), shape=(x.shape[0],)).to(torch.float64)

    return fit_flow_model(
        x, y, family=ResidualBlock(width, "relu"), pieces=pieces, horizon=horizon,
        solver=Solver(method, steps_per_piece), steps=steps, lr=lr, loss="mse", readout="zero",
        init_scale=init_scale, generator=generator, progress=progress,
        description=f"NODE {pieces}x{width}", plateau=plateau,
    )
