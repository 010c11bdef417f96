"""Training: gradient descent on explicit parameters, with an optional progress bar.

The book trains small models (neural ODEs with piecewise-constant controls, readouts) by
Adam on a loss written as a closure over explicit parameter tensors. :func:`train` is that
loop and nothing more: no hidden state, a seeded data order is the caller's business, and a
non-finite loss stops training with an error naming the step.

Progress bars (``tqdm``) are shown when a notebook runs interactively and hidden when the
book's tools execute notebooks: ``tools/notebooks.py`` and ``make test`` set the environment
variable ``FLOWAPPROX_PROGRESS=0``, so executed notebooks contain no progress output.

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

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ._validation import check_positive_int, check_real


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
) -> np.ndarray:
    """Minimise ``loss()`` over ``parameters`` with Adam; return the loss after each step.

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
    return history
