r"""Target functions shared by several notebooks (one definition each).

Chapter 4 measures its construction and its trained models on the same three targets on the
unit square :math:`K=[0,1]^2`: a smooth oscillation, a Gaussian bump (neither monotone nor
injective) and a cone (Lipschitz with a kink). :data:`CHAPTER4_TARGETS` lists them by name.

Examples
--------
>>> import torch
>>> from flowapprox import examples
>>> x = torch.tensor([[0.5, 0.5], [0.25, 0.0]], dtype=torch.float64)
>>> [round(v, 4) for v in examples.kink(x).tolist()]
[0.0, 0.559]
>>> list(examples.CHAPTER4_TARGETS)
['oscillation', 'bump', 'kink']
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._types import Target
from ._validation import check_points

#: Centre of the bump of :func:`bump`.
BUMP_CENTRE = (0.4, 0.6)
#: Width (standard deviation) of the bump of :func:`bump`.
BUMP_WIDTH = 0.15
#: Apex of the cone of :func:`kink`.
KINK_CENTRE = (0.5, 0.5)


def oscillation(x: Tensor) -> Tensor:
    r""":math:`\sin(2\pi x_1)\cos(2\pi x_2)` at points of shape ``(batch, 2)``."""
    x = check_points("x", x, 2)
    return torch.sin(2 * math.pi * x[:, 0]) * torch.cos(2 * math.pi * x[:, 1])


def bump(x: Tensor) -> Tensor:
    r"""The Gaussian bump :math:`\exp(-|x-c|^2/(2s^2))`, :math:`c` = :data:`BUMP_CENTRE`,
    :math:`s` = :data:`BUMP_WIDTH`."""
    x = check_points("x", x, 2)
    centre = torch.tensor(BUMP_CENTRE, dtype=x.dtype)
    return torch.exp(-((x - centre) ** 2).sum(1) / (2 * BUMP_WIDTH**2))


def kink(x: Tensor) -> Tensor:
    r"""The cone :math:`|x - c|`, :math:`c` = :data:`KINK_CENTRE`."""
    x = check_points("x", x, 2)
    return torch.linalg.vector_norm(x - torch.tensor(KINK_CENTRE, dtype=x.dtype), dim=1)


#: The three targets of Chapter 4, by name.
CHAPTER4_TARGETS: dict[str, Target] = {"oscillation": oscillation, "bump": bump, "kink": kink}
