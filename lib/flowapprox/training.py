"""Training: gradient descent on explicit parameters, with an optional progress bar.

The book trains small models (neural ODEs with piecewise-constant controls, readouts) by
Adam on a loss written as a closure over explicit parameter tensors. :func:`train` is that
loop and nothing more: no hidden state, a seeded data order is the caller's business, and a
non-finite loss stops training with an error naming the step.

Progress bars (``tqdm``) are shown when a notebook runs interactively and hidden when the
book's tools execute notebooks: ``tools/notebooks.py`` and ``make test`` set the environment
variable ``FLOWAPPROX_PROGRESS=0``, so executed notebooks contain no progress output.

A training run can stop at a documented convergence criterion instead of a fixed number of
steps: :class:`Plateau` (the smoothed loss has stopped improving), with ``steps`` as the cap.

Examples
--------
>>> import torch
>>> from flowapprox import train
>>> w = torch.zeros(1, requires_grad=True)
>>> losses = train({"w": w}, lambda: ((w - 3.0) ** 2).sum(), steps=300, lr=0.1, progress=False)
>>> round(float(w.detach()), 3), losses.shape
(3.0, (300,))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ._validation import check_positive_int, check_real


@dataclass(frozen=True)
class Plateau:
    r"""Convergence criterion: the smoothed training loss has stopped improving.

    With :math:`\bar L_a` the mean loss over the ``window`` steps ending at step :math:`a`,
    training has *converged* after step :math:`s` (counting from 1) when :math:`s\ge 2w` and

    .. math:: \bar L_{s-w} - \bar L_{s} \le \text{tol}\cdot\bar L_{s-w},

    that is, the mean loss of the last ``window`` steps is less than a fraction ``tol`` below
    the mean of the ``window`` steps before them. Used by :func:`train` (``stop=``) and
    :func:`flowapprox.models.fit_flow_model` (``plateau=``), with their ``steps`` as the cap.
    Implements the convergence rule of Chapter 4's learning study (the notebook
    ``learning.ipynb`` states it before its checks).

    Parameters
    ----------
    window
        Length :math:`w` of the two windows compared (a positive integer).
    tol
        Relative improvement below which the loss counts as flat (in :math:`(0, 1)`).

    Examples
    --------
    >>> import numpy as np
    >>> rule = Plateau(window=10, tol=0.01)
    >>> rule.reached(np.ones(20)), rule.reached(np.ones(19)), rule.reached(np.linspace(2, 1, 20))
    (True, False, False)
    >>> rule.first_step(np.r_[np.linspace(2, 1, 30), np.ones(40)])
    48
    """

    window: int
    tol: float

    def __post_init__(self) -> None:
        check_positive_int("window", self.window)
        tol = check_real("tol", self.tol, positive=True)
        if not tol < 1:
            raise ValueError(f"tol must be in (0, 1), got {self.tol!r}")

    def reached(self, losses: np.ndarray) -> bool:
        """Whether the loss history ``losses`` (one value per step) has reached the plateau."""
        losses = np.asarray(losses, dtype=float)
        if losses.ndim != 1:
            raise ValueError(f"losses must be one-dimensional, got shape {losses.shape}")
        w = self.window
        if losses.size < 2 * w:
            return False
        before = float(losses[-2 * w:-w].mean())
        last = float(losses[-w:].mean())
        return before - last <= self.tol * before

    def first_step(self, losses: np.ndarray) -> int | None:
        """The first number of steps after which :meth:`reached` holds, or ``None``."""
        losses = np.asarray(losses, dtype=float)
        if losses.ndim != 1:
            raise ValueError(f"losses must be one-dimensional, got shape {losses.shape}")
        w = self.window
        if losses.size < 2 * w:
            return None
        sums = np.concatenate([[0.0], np.cumsum(losses)])
        ends = np.arange(2 * w, losses.size + 1)
        last = (sums[ends] - sums[ends - w]) / w
        before = (sums[ends - w] - sums[ends - 2 * w]) / w
        hits = np.nonzero(before - last <= self.tol * before)[0]
        return int(ends[hits[0]]) if hits.size else None


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show progress bars: ``progress`` if given, else ``FLOWAPPROX_PROGRESS != 0``."""
    if progress is not None:
        return bool(progress)
    return os.environ.get("FLOWAPPROX_PROGRESS", "1") != "0"


def _check_first_loss(value: object, parameters: Mapping[str, Tensor]) -> None:
    """Checks of the loss that need only be made once, at the first step."""
    if not isinstance(value, Tensor):
        raise TypeError(
            f"loss() must return a scalar torch.Tensor computed from the parameters, got "
            f"{type(value).__name__}"
        )
    if not value.requires_grad:
        raise ValueError(
            "loss() must depend on the parameters (its value has no gradient); got a "
            f"tensor without grad_fn for parameters {sorted(parameters)}"
        )


def train(
    parameters: Mapping[str, Tensor],
    loss: Callable[[], Tensor],
    *,
    steps: int,
    lr: float = 1e-2,
    progress: bool | None = None,
    description: str = "training",
    stop: Plateau | None = None,
) -> np.ndarray:
    """Minimise ``loss()`` over ``parameters`` with Adam; return the loss of each step taken.

    Parameters
    ----------
    parameters
        Named leaf tensors with ``requires_grad=True``; they are updated in place.
    loss
        A closure computing a scalar loss from the current parameters.
    steps
        Number of Adam steps.
    lr
        Learning rate.
    progress
        Show a progress bar (default: on unless ``FLOWAPPROX_PROGRESS=0``).
    description
        Label of the progress bar.
    stop
        A convergence criterion (:class:`flowapprox.training.Plateau`): training stops
        after the first step at which it holds, and ``steps`` is the cap. The history then
        has fewer than ``steps`` entries. ``None`` (default): exactly ``steps`` steps.

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or infinite; the message names the step.
    """
    if not isinstance(parameters, Mapping) or not parameters:
        raise ValueError("parameters must be a non-empty mapping of names to tensors")
    for name, value in parameters.items():
        if not isinstance(value, Tensor) or not value.is_leaf or not value.requires_grad:
            raise ValueError(f"parameters[{name!r}] must be a leaf tensor with requires_grad=True")
    steps = check_positive_int("steps", steps)
    lr = check_real("lr", lr, positive=True)
    if stop is not None and not isinstance(stop, Plateau):
        raise TypeError(
            f"stop must be a flowapprox.training.Plateau or None, got {type(stop).__name__}"
        )
    optimizer = torch.optim.Adam(list(parameters.values()), lr=lr)
    history = np.empty(steps)
    bar = tqdm(range(steps), desc=description, disable=not progress_enabled(progress))
    for step in bar:
        optimizer.zero_grad()
        value = loss()
        if step == 0:
            _check_first_loss(value, parameters)
        if value.ndim != 0:
            raise ValueError(f"loss() must return a scalar tensor, got shape {tuple(value.shape)}")
        if not bool(torch.isfinite(value.detach())):
            raise FloatingPointError(f"the loss became {float(value.detach())} at step {step}")
        value.backward()
        optimizer.step()
        history[step] = float(value.detach())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{history[step]:.3g}")
        if stop is not None and stop.reached(history[: step + 1]):
            bar.close()
            return history[: step + 1].copy()
    return history
