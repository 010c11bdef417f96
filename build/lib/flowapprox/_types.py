"""Named types shared by the library's signatures (private module; the names are public).

``Target`` and ``PointMap`` are maps from a batch of points of shape ``(batch, n)`` to values
of shape ``(batch,)`` or ``(batch, m)``; ``Params`` is one parameter set of a control family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

#: A function to approximate: points ``(batch, n)`` to values ``(batch,)`` or ``(batch, m)``.
Target = Callable[[Tensor], Tensor]
#: Any map of a batch of points (a model, a flow map, a target).
PointMap = Callable[[Tensor], Tensor]
#: One parameter set :math:`\theta` of a control family: name to tensor.
Params = Mapping[str, Tensor]
#: A vector field on a batch of points.
Field = Callable[[Tensor], Tensor]

__all__ = ["Field", "Params", "PointMap", "Target"]
