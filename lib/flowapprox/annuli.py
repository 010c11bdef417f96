r"""Dupont et al.'s concentric annuli, and neural ODEs with and without augmentation.

The data set of the Augmented Neural ODEs paper (Dupont, Doucet and Teh, 2019; function
``ConcentricSphere`` of their reference code, default configuration): in dimension
:math:`d=2`, 500 points with radius in :math:`[0, 0.5]` labelled :math:`-1` and 1500 points
with radius in :math:`[1, 1.5]` labelled :math:`+1`, the radius drawn as
:math:`(r_{\max}-r_{\min})U^{1/d}+r_{\min}` with :math:`U` uniform on :math:`[0,1]` and the
direction uniform on the sphere (:func:`concentric_annuli`).

The models (:func:`train_flow_model`) are
:math:`x\mapsto u\cdot\varphi(x, 0_p) + \beta`: the input is padded with :math:`p` zeros
(``augment_dim``; :math:`p=0` is a neural ODE, :math:`p>0` an augmented one), :math:`\varphi`
is the flow map on :math:`\mathbb R^{2+p}` of a piecewise-constant control of the ReLU
residual-block family :math:`W\,\mathrm{relu}(Ax+b)`, computed with the library's
fixed-step classical RK4 (:func:`flowapprox.flow`), and :math:`(u,\beta)` is a linear
readout. Training follows the reference code where it can: Huber loss, Adam, mini-batches
of 64 in a seeded random order, 30 epochs, hidden width 32, horizon 1. It differs in the
field (one hidden layer, piecewise constant in time, instead of a two-hidden-layer MLP
that takes the time as input) and the solver (RK4 with a fixed number of steps instead of
adaptive ``dopri5``).

The book compares them with the certified bound of Chapter 5: every flow followed by a
linear readout has sup error at least 1 on the data support (:func:`in_support`,
:func:`support_grid`), while the augmented models are not bound by it.

Examples
--------
>>> import torch
>>> from flowapprox import annuli
>>> x, y = annuli.concentric_annuli(torch.Generator().manual_seed(0))
>>> x.shape, int((y == -1).sum()), bool(annuli.in_support(x).all())
(torch.Size([2000, 2]), 500, True)
>>> model = annuli.train_flow_model(x[::40], y[::40], augment_dim=1, width=4, epochs=2,
...                                 generator=torch.Generator().manual_seed(0),
...                                 progress=False)
>>> model(x[:3]).shape, model.losses.shape  # 50 points: one batch of 64 per epoch
(torch.Size([3]), (2,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ._validation import (
    check_callable,
    check_exponent,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .families import ResidualBlock
from .flows import Solver
from .metrics import weighted_lp_norm
from .models import FlowModel, fit_flow_model

#: Radii of the inner disk (label -1) and of the outer annulus (label +1), as in the reference.
INNER_RANGE = (0.0, 0.5)
OUTER_RANGE = (1.0, 1.5)


def _check_range(name: str, value: object) -> tuple[float, float]:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (min radius, max radius), got {value!r}")
    low = check_real(f"{name}[0]", value[0], nonnegative=True)
    high = check_real(f"{name}[1]", value[1])
    if not low < high:
        raise ValueError(f"{name} must satisfy min radius < max radius, got {value!r}")
    return low, high


def _check_ranges(inner: object, outer: object) -> tuple[tuple[float, float], tuple[float, float]]:
    inner, outer = _check_range("inner_range", inner), _check_range("outer_range", outer)
    if not inner[1] < outer[0]:
        raise ValueError(
            f"inner_range must end before outer_range starts, got {inner}, {outer}"
        )
    return inner, outer


def concentric_annuli(
    generator: torch.Generator,
    *,
    num_inner: int = 500,
    num_outer: int = 1500,
    inner_range: Sequence[float] = INNER_RANGE,
    outer_range: Sequence[float] = OUTER_RANGE,
    dim: int = 2,
) -> tuple[Tensor, Tensor]:
    r"""Points and labels of the concentric-annuli data set, inner points first.

    Each point has radius :math:`(r_{\max}-r_{\min})U^{1/d}+r_{\min}` and direction
    :math:`Z/|Z|` with :math:`U` uniform on :math:`[0,1)` and :math:`Z` standard normal, as
    in the reference code (which is uniform on the inner disk but only approximately
    uniform on the annulus). Returns ``x`` of shape ``(num_inner + num_outer, dim)`` and
    labels ``y`` (``-1.0`` inner, ``+1.0`` outer), float64.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    inner, outer = _check_ranges(inner_range, outer_range)
    counts = check_positive_int("num_inner", num_inner), check_positive_int("num_outer", num_outer)
    dim = check_positive_int("dim", dim)
    points = []
    for count, (low, high) in zip(counts, (inner, outer)):
        u = torch.rand(count, generator=generator, dtype=torch.float64)
        radius = (high - low) * u ** (1.0 / dim) + low
        direction = torch.randn(count, dim, generator=generator, dtype=torch.float64)
        points.append(radius[:, None] * direction / torch.linalg.vector_norm(direction, dim=1,
                                                                              keepdim=True))
    labels = torch.cat([-torch.ones(counts[0], dtype=torch.float64),
                        torch.ones(counts[1], dtype=torch.float64)])
    return torch.cat(points), labels


def annuli_target(
    x: Tensor,
    *,
    inner_range: Sequence[float] = INNER_RANGE,
    outer_range: Sequence[float] = OUTER_RANGE,
) -> Tensor:
    r"""The labels as a continuous radial function on the whole space.

    :math:`-1` for :math:`|x|\le r_1` (end of the inner range), :math:`+1` for
    :math:`|x|\ge r_2` (start of the outer range), linear in :math:`|x|` in between. It
    equals the label on the data support and is Lipschitz with constant
    :math:`2/(r_2-r_1)`.

    Implements :prf:ref:`ch5-cor-annuli`.
    """
    x = check_points("x", x)
    inner, outer = _check_ranges(inner_range, outer_range)
    r = torch.linalg.vector_norm(x, dim=1)
    return (-1.0 + 2.0 * (r - inner[1]) / (outer[0] - inner[1])).clamp(-1.0, 1.0)


def in_support(
    x: Tensor,
    *,
    inner_range: Sequence[float] = INNER_RANGE,
    outer_range: Sequence[float] = OUTER_RANGE,
) -> Tensor:
    """Boolean mask of the points of ``x`` in the closed support of the data distribution."""
    x = check_points("x", x)
    inner, outer = _check_ranges(inner_range, outer_range)
    r = torch.linalg.vector_norm(x, dim=1)
    return ((r >= inner[0]) & (r <= inner[1])) | ((r >= outer[0]) & (r <= outer[1]))


def support_grid(
    n_radial: int,
    n_angular: int,
    *,
    inner_range: Sequence[float] = INNER_RANGE,
    outer_range: Sequence[float] = OUTER_RANGE,
) -> Tensor:
    r"""A polar grid of the planar data support: ``n_radial`` radii per range (ends
    included) times ``n_angular`` equally spaced angles; shape
    ``(2 * n_radial * n_angular, 2)`` (the centre is repeated when the inner range starts at 0).
    """
    inner, outer = _check_ranges(inner_range, outer_range)
    n_radial = check_positive_int("n_radial", n_radial)
    if n_radial < 2:
        raise ValueError(f"n_radial must be at least 2, got {n_radial}")
    n_angular = check_positive_int("n_angular", n_angular)
    radii = np.concatenate([np.linspace(*inner, n_radial), np.linspace(*outer, n_radial)])
    theta = 2.0 * math.pi * np.arange(n_angular) / n_angular
    r, t = np.meshgrid(radii, theta, indexing="ij")
    return torch.as_tensor(np.stack([r * np.cos(t), r * np.sin(t)], -1).reshape(-1, 2),
                           dtype=torch.float64)


def train_flow_model(
    x: Tensor,
    y: Tensor,
    *,
    augment_dim: int = 0,
    width: int = 32,
    pieces: int = 4,
    horizon: float = 1.0,
    rk4_steps: int = 20,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-2,
    generator: torch.Generator,
    progress: bool | None = None,
) -> FlowModel:
    """Train a (possibly augmented) neural ODE with a linear readout by Adam on the Huber loss.

    Implements :prf:ref:`ch5-prop-augment`.

    Parameters
    ----------
    x, y
        Training points ``(batch, n)`` and labels ``(batch,)``, float64.
    augment_dim
        Number of zero dimensions appended to the input (0: neural ODE).
    width
        Width of the ReLU residual block of each piece.
    pieces, horizon
        Number of equal pieces of the control on :math:`[0, \\text{horizon}]`.
    rk4_steps
        Classical RK4 steps over the whole horizon (a multiple of ``pieces``).
    epochs, batch_size, lr
        Passes over the data, mini-batch size and Adam learning rate.
    generator
        Seeds the initial weights and the order of the mini-batches.
    progress
        Progress bar (see :func:`flowapprox.train`).
    """
    x = check_points("x", x)
    y = check_tensor("y", y, shape=(x.shape[0],))
    if x.dtype != torch.float64 or y.dtype != torch.float64:
        raise TypeError(f"x and y must be float64, got {x.dtype} and {y.dtype}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if isinstance(augment_dim, bool) or not isinstance(augment_dim, int) or augment_dim < 0:
        raise ValueError(f"augment_dim must be a non-negative integer, got {augment_dim!r}")
    width = check_positive_int("width", width)
    pieces = check_positive_int("pieces", pieces)
    horizon = check_real("horizon", horizon, positive=True)
    rk4_steps = check_positive_int("rk4_steps", rk4_steps)
    if rk4_steps % pieces:
        raise ValueError(f"rk4_steps must be a multiple of pieces={pieces}, got {rk4_steps}")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)

    return fit_flow_model(
        x, y, family=ResidualBlock(width, "relu"), pieces=pieces, horizon=horizon,
        solver=Solver("rk4", rk4_steps // pieces), epochs=epochs, batch_size=batch_size, lr=lr,
        loss="huber", readout="random", augment_dim=augment_dim, generator=generator,
        progress=progress, description=f"{'ANODE' if augment_dim else 'NODE'} (p = {augment_dim})",
    )


def sample_error(model: object, x: Tensor, y: Tensor, *, p: float = 2.0) -> float:
    r"""The empirical :math:`L^p` error :math:`\bigl(\frac1m\sum_i|h(x_i)-y_i|^p\bigr)^{1/p}`.

    On a fresh sample of the data distribution :math:`\mu` this is a Monte Carlo estimate of
    :math:`\|h-F\|_{L^p(\mu)}`. ``1 <= p <= inf``; ``p = inf`` is the largest error on
    the sample, and large ``p`` is computed without underflow or overflow
    (``metrics.weighted_lp_norm``).
    """
    model = check_callable("model", model)
    x = check_points("x", x, nonempty=True)
    y = check_tensor("y", y, shape=(x.shape[0],))
    p = check_exponent("p", p)
    with torch.no_grad():
        values = check_tensor("model(x)", model(x), shape=(x.shape[0],))
        weights = torch.full_like(values, 1.0 / values.shape[0])
        return weighted_lp_norm((values - y).abs(), weights, p)
