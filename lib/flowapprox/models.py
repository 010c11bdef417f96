r"""Trained flow models: one model and one fit function for every chapter that trains.

A **flow model** is :math:`x\mapsto g(\varphi(x, 0_p))`: the points are padded with
:math:`p\ge0` zeros (``augment_dim``; :math:`p>0` is an *augmented* neural ODE), moved by the
flow map :math:`\varphi` of a piecewise-constant control computed with fixed solver settings
(:class:`flowapprox.Solver`), and read out by an affine map :math:`g(y) = u\cdot y+\beta` or
by the identity. :func:`fit_flow_model` trains one by Adam (:func:`flowapprox.train`),
backpropagating through the integrator (so the gradient is exact for the discrete map),
with options for the loss (mean squared error or Huber), full-batch or mini-batch training,
the readout and its initialisation, and snapshots of the control after given numbers of Adam
steps. Chapter 3 (``flowapprox.node1d``), Chapter 4 (``flowapprox.node``) and Chapter 5
(``flowapprox.annuli``) are thin uses of it.

Examples
--------
>>> import torch
>>> from flowapprox import ResidualBlock, Solver, setup
>>> from flowapprox.models import fit_flow_model
>>> session = setup(seed=0)
>>> x = torch.linspace(-1, 1, 32).unsqueeze(1)
>>> model = fit_flow_model(x, 2 * x[:, 0], family=ResidualBlock(4, "relu"), pieces=2,
...                        solver=Solver("rk4", 2), steps=200, lr=0.05,
...                        generator=torch.Generator().manual_seed(0), progress=False)
>>> model.horizon, bool(model.losses[-1] < 0.1 * model.losses[0])
(1.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

from ._validation import (
    check_choice,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .controls import PiecewiseConstantControl
from .cost import neuron_count
from .families import ControlFamily
from .flows import Solver, reference_flow
from .training import Plateau, train

#: Losses of :func:`fit_flow_model`: mean squared error, or PyTorch's ``smooth_l1_loss``.
LOSSES = ("mse", "huber")
#: Readouts of :func:`fit_flow_model`: affine with :math:`u=0,\beta=\bar y` (``"zero"``),
#: affine with :math:`u\sim N(0, I/d)`, :math:`\beta=0` (``"random"``), or the identity.
READOUTS = ("zero", "random", "identity")


@dataclass(frozen=True, eq=False)
class FlowModel:
    r"""A trained model :math:`x\mapsto g(\varphi(x, 0_p))` (see the module documentation).

    Attributes
    ----------
    control
        The trained piecewise-constant control (detached tensors) on :math:`\mathbb R^{n+p}`.
    weight, bias
        The affine readout :math:`u` (shape ``(n + p,)``) and :math:`\beta` (shape ``()``),
        or ``None`` for the identity readout.
    solver
        The solver settings the model was trained with and evaluates with.
    augment_dim
        The number :math:`p` of zeros appended to the input.
    losses
        The training loss of each Adam step.
    snapshots
        Controls after the numbers of Adam steps asked for (keys: step counts; the last one
        is ``control``).
    converged
        With a convergence criterion (``plateau`` of :func:`fit_flow_model`): whether it was
        met before the cap on Adam steps; ``None`` without one.
    """

    control: PiecewiseConstantControl
    weight: Tensor | None
    bias: Tensor | None
    solver: Solver
    augment_dim: int
    losses: np.ndarray
    snapshots: dict[int, PiecewiseConstantControl] = field(default_factory=dict)
    converged: bool | None = None

    @property
    def method(self) -> str:
        """The integration method of :attr:`solver`."""
        return self.solver.method

    @property
    def steps_per_piece(self) -> int:
        """The steps per piece of :attr:`solver`."""
        return self.solver.steps_per_piece

    def embed(self, x: Tensor) -> Tensor:
        """Append ``augment_dim`` zeros to each point: :math:`x\\mapsto(x, 0_p)`."""
        x = check_points("x", x, self.control.dim - self.augment_dim)
        if self.augment_dim == 0:
            return x
        return torch.cat([x, x.new_zeros(x.shape[0], self.augment_dim)], dim=1)

    def flow_map(self, x: Tensor, *, refine: int = 1) -> Tensor:
        """The flow map of the embedded points, with ``refine`` times the training steps
        (``refine > 1`` approximates the exact flow of the control)."""
        refine = check_positive_int("refine", refine)
        return self.solver.refined(refine)(self.control, self.embed(x))

    def readout(self, y: Tensor) -> Tensor:
        r"""The readout :math:`u\cdot y + \beta`, or ``y`` itself for the identity readout."""
        y = check_points("y", y, self.control.dim)
        if self.weight is None or self.bias is None:
            return y
        return y @ self.weight + self.bias

    def __call__(self, x: Tensor, *, refine: int = 1) -> Tensor:
        """The model's output at points ``x`` of shape ``(batch, n)``."""
        return self.readout(self.flow_map(x, refine=refine))

    def reference(self, x: Tensor, *, rtol: float = 1e-7, atol: float = 1e-9) -> Tensor:
        """The output with the flow computed by ``torchdiffeq`` dopri5 (a cross-check)."""
        image = reference_flow(self.control, self.embed(x), method="dopri5", rtol=rtol,
                               atol=atol)
        return self.readout(image)

    @property
    def adam_steps(self) -> int:
        """The number of Adam steps taken (``len(losses)``)."""
        return int(len(self.losses))

    @property
    def neurons(self) -> int:
        """Number of ReLU units over all pieces (:func:`flowapprox.cost.neuron_count`)."""
        return neuron_count(self.control)

    @property
    def horizon(self) -> float:
        """The time horizon :math:`T` of the control."""
        return self.control.horizon

    @property
    def time_cost(self) -> float:
        """The control's time cost (:attr:`flowapprox.PiecewiseConstantControl.time_cost`)."""
        return self.control.time_cost


def _batches(size: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Index batches of a fresh random permutation every epoch, forever."""
    while True:
        order = torch.randperm(size, generator=generator)
        yield from order.split(batch_size)


def _detached(control: PiecewiseConstantControl) -> PiecewiseConstantControl:
    params = {key: value.detach().clone() for key, value in control.params.items()}
    return PiecewiseConstantControl(control.family, control.durations.clone(), params)


def fit_flow_model(
    x: Tensor,
    y: Tensor,
    *,
    family: ControlFamily,
    pieces: int,
    horizon: float = 1.0,
    solver: Solver | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float = 1e-2,
    loss: str = "mse",
    readout: str = "zero",
    augment_dim: int = 0,
    init_scale: float = 1.0,
    checkpoints: Sequence[int] = (),
    generator: torch.Generator | None = None,
    progress: bool | None = None,
    description: str = "flow model",
    plateau: Plateau | None = None,
) -> FlowModel:
    r"""Fit a flow model to data ``(x, y)`` by Adam.

    Parameters
    ----------
    x
        Inputs, shape ``(n_samples, n)``.
    y
        Targets: shape ``(n_samples,)`` for an affine readout, ``(n_samples, n + p)`` for the
        identity readout; the dtype of ``x``.
    family
        The control family; its parameters are drawn by
        :meth:`~flowapprox.ControlFamily.random_params` (times ``init_scale``) from
        ``generator``, before the readout's.
    pieces, horizon
        Number of pieces of equal duration and the horizon :math:`T`.
    solver
        Integrator settings (default ``Solver("rk4", 1)``).
    steps, epochs, batch_size
        Full batch: ``steps`` Adam steps (``batch_size`` ``None``). Mini-batches:
        ``batch_size`` samples per step, a fresh permutation (from ``generator``) every epoch,
        ``epochs`` passes over the data.
    lr
        Adam learning rate.
    loss
        ``"mse"`` or ``"huber"`` (``torch.nn.functional.smooth_l1_loss``).
    readout
        ``"zero"``: affine, :math:`u=0`, :math:`\beta` the mean of ``y``; ``"random"``: affine,
        :math:`u\sim N(0, I/(n+p))`, :math:`\beta=0`; ``"identity"``: no readout.
    augment_dim
        Zeros appended to the inputs (:math:`p`).
    checkpoints
        Numbers of Adam steps after which the control is kept in ``snapshots``.
    generator, progress, description
        Random source, progress bar switch and its label.
    plateau
        A convergence criterion (:class:`flowapprox.training.Plateau`): training stops at the
        first step where it holds, ``steps`` (or the epochs) being the cap; the model's
        ``converged`` says whether it was met. Checkpoints after the stop are not kept.
    """
    x = check_points("x", x, nonempty=True)
    if not isinstance(family, ControlFamily):
        raise TypeError(f"family must be a ControlFamily, got {type(family).__name__}")
    pieces = check_positive_int("pieces", pieces)
    horizon = check_real("horizon", horizon, positive=True)
    solver = Solver() if solver is None else solver
    if not isinstance(solver, Solver):
        raise TypeError(f"solver must be a flowapprox.Solver, got {type(solver).__name__}")
    loss = check_choice("loss", loss, LOSSES)
    readout = check_choice("readout", readout, READOUTS)
    init_scale = check_real("init_scale", init_scale, positive=True)
    if isinstance(augment_dim, bool) or not isinstance(augment_dim, int) or augment_dim < 0:
        raise ValueError(f"augment_dim must be a non-negative integer, got {augment_dim!r}")
    dim = x.shape[1] + augment_dim
    y_shape = (x.shape[0], dim) if readout == "identity" else (x.shape[0],)
    y = check_tensor("y", y, shape=y_shape)
    if y.dtype != x.dtype:
        raise TypeError(f"y has dtype {y.dtype} but x has dtype {x.dtype}; use one dtype")
    if batch_size is None:
        if steps is None:
            raise ValueError("steps must be given for full-batch training")
        steps = check_positive_int("steps", steps)
    else:
        batch_size = check_positive_int("batch_size", batch_size)
        if epochs is None or generator is None:
            raise ValueError("epochs and generator must be given for mini-batch training")
        steps = check_positive_int("epochs", epochs) * math.ceil(x.shape[0] / batch_size)
    if plateau is not None and not isinstance(plateau, Plateau):
        raise TypeError(
            f"plateau must be a flowapprox.training.Plateau or None, got {type(plateau).__name__}"
        )
    marks = sorted({check_positive_int("checkpoint", k) for k in checkpoints})
    if marks and marks[-1] > steps:
        raise ValueError(f"checkpoints must be at most steps={steps}, got {marks[-1]}")

    params = {
        key: value.requires_grad_(True)
        for key, value in family.random_params(
            dim, pieces=pieces, scale=init_scale, generator=generator, dtype=x.dtype
        ).items()
    }
    durations = torch.full((pieces,), horizon / pieces, dtype=x.dtype)
    weight: Tensor | None = None
    bias: Tensor | None = None
    trained = dict(params)
    if readout == "zero":
        weight = torch.zeros(dim, dtype=x.dtype, requires_grad=True)
        bias = y.mean().clone().requires_grad_(True)
    elif readout == "random":
        weight = torch.randn(dim, generator=generator, dtype=x.dtype) / math.sqrt(dim)
        weight.requires_grad_(True)
        bias = torch.zeros((), dtype=x.dtype, requires_grad=True)
    if weight is not None and bias is not None:
        trained.update(weight=weight, bias=bias)
    inputs = x if augment_dim == 0 else torch.cat([x, x.new_zeros(x.shape[0], augment_dim)], 1)
    batches = None
    if batch_size is not None and generator is not None:
        batches = _batches(x.shape[0], batch_size, generator)
    control = PiecewiseConstantControl(family, durations, params)
    snapshots: dict[int, PiecewiseConstantControl] = {}
    calls = [0]

    def objective() -> Tensor:
        if calls[0] in marks:  # the parameters after calls[0] Adam steps
            snapshots[calls[0]] = _detached(control)
        calls[0] += 1
        index = None if batches is None else next(batches)
        image = solver(control, inputs if index is None else inputs[index])
        target = y if index is None else y[index]
        output = image if weight is None or bias is None else image @ weight + bias
        if loss == "huber":
            return functional.smooth_l1_loss(output, target)
        return ((output - target) ** 2).mean()

    losses = train(trained, objective, steps=steps, lr=lr, progress=progress,
                   description=description, stop=plateau)
    final = _detached(control)
    snapshots[len(losses)] = final
    return FlowModel(
        final,
        None if weight is None else weight.detach(),
        None if bias is None else bias.detach(),
        solver, augment_dim, losses, snapshots,
        None if plateau is None else bool(plateau.reached(losses)),
    )
