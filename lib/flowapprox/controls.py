r"""Piecewise-constant controls: durations :math:`t_1,\dots,t_k` and one parameter set per piece.

On the :math:`j`-th interval of length :math:`t_j` the dynamics is the fixed field
:math:`f(\cdot;\theta_j)`; the flow map of the control is the composition
:math:`\varphi^{f_k}_{t_k}\circ\dots\circ\varphi^{f_1}_{t_1}` (book, Chapter 1,
:prf:ref:`ch1-def-flow-map`). A piece of length :math:`t_j` corresponds to a block of residual
layers with shared weights.

Examples
--------
>>> import torch
>>> from flowapprox import PiecewiseConstantControl, ResidualBlock
>>> family = ResidualBlock(width=4)
>>> control = PiecewiseConstantControl.random(family, dim=2, pieces=3, horizon=1.5,
...                                           generator=torch.Generator().manual_seed(0))
>>> control.num_pieces, round(control.horizon, 12)
(3, 1.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ._validation import check_positive_int, check_real, check_tensor
from .families import ControlFamily


@dataclass(frozen=True)
class PiecewiseConstantControl:
    """A control that is constant on each of ``k`` consecutive time intervals.

    Implements :prf:ref:`ch1-def-flow-map`.

    Parameters
    ----------
    family
        The control family the parameters belong to.
    durations
        Tensor of shape ``(k,)``: the non-negative, finite lengths :math:`t_1,\\dots,t_k`.
    params
        Mapping from the family's parameter names to tensors whose first dimension is
        ``k`` (piece ``j`` uses ``params[name][j]``).
    """

    family: ControlFamily
    durations: Tensor
    params: Mapping[str, Tensor]
    _shapes: tuple[tuple[int, ...], dict[str, tuple[int, ...]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.family, ControlFamily):
            raise TypeError(f"family must be a ControlFamily, got {type(self.family).__name__}")
        durations = check_tensor("durations", self.durations, ndim=1)
        if durations.numel() == 0:
            raise ValueError("durations must contain at least one piece")
        if bool((durations < 0).any()):
            raise ValueError("durations must be non-negative")
        if not isinstance(self.params, Mapping):
            raise TypeError("params must be a mapping from parameter names to tensors")
        if self.family.dim_param not in self.params:
            raise ValueError(
                f"params for {self.family.name} must have keys "
                f"{sorted(self.family.param_shapes(1))}, got {sorted(self.params)}"
            )
        dim = self.family.state_dim(self.params, leading=1)
        self.family.check_params(
            self.params, dim, leading=(durations.numel(),), dtype=durations.dtype, name="params"
        )
        shapes = (tuple(durations.shape), {k: tuple(v.shape) for k, v in self.params.items()})
        object.__setattr__(self, "_shapes", shapes)

    def validate(self) -> None:
        """Raise unless the durations and parameters are still valid.

        The dataclass is frozen but its tensors are not: durations or parameters edited in
        place after construction (to negative or non-finite values, or another shape) would
        otherwise be integrated silently (backwards in time, say). The integrators call this
        once per call; it is cheap (one finiteness check per tensor).
        """
        durations = self.durations
        shapes = self._shapes
        if tuple(durations.shape) != shapes[0] or {
            k: tuple(v.shape) for k, v in self.params.items()
        } != shapes[1]:
            raise ValueError(
                "control.durations or control.params changed shape after the control was "
                "created; build a new PiecewiseConstantControl instead"
            )
        with torch.no_grad():
            if not bool(torch.isfinite(durations).all()) or bool((durations < 0).any()):
                raise ValueError(
                    "control.durations must be finite and non-negative, got "
                    f"{durations.tolist()} (changed in place after the control was created?)"
                )
            for key, value in self.params.items():
                if not bool(torch.isfinite(value).all()):
                    raise ValueError(
                        f"control.params[{key!r}] must be finite, but contains NaN or inf "
                        "(changed in place after the control was created?)"
                    )

    @property
    def num_pieces(self) -> int:
        """The number ``k`` of pieces."""
        return int(self.durations.numel())

    @property
    def horizon(self) -> float:
        """The time horizon :math:`T = t_1 + \\dots + t_k`."""
        self.validate()
        return float(self.durations.sum())

    @property
    def time_cost(self) -> float:
        r"""The time cost :math:`B = \sum_j c(\theta_j)\,t_j` (book, :prf:ref:`ch2-def-time-cost`).

        :math:`c` is the family's :meth:`~flowapprox.ControlFamily.time_rate` (for ReLU units
        :math:`|v|\,|w|` each; constant fields are free). Unlike :attr:`horizon` it does not
        change when the fields are scaled by :math:`\lambda` and the durations by
        :math:`1/\lambda`, and the flow map and its inverse are :math:`e^{B}`-Lipschitz.

        Implements :prf:ref:`ch2-def-time-cost`.
        """
        self.validate()
        rates = [self.family.time_rate(self.piece(j)) for j in range(self.num_pieces)]
        return float((self.durations * torch.tensor(rates, dtype=self.durations.dtype)).sum())

    @property
    def dim(self) -> int:
        """The state dimension ``n``."""
        return self.family.state_dim(self.params, leading=1)

    def piece(self, j: int) -> dict[str, Tensor]:
        """The parameter set of piece ``j`` (0-based)."""
        if not 0 <= j < self.num_pieces:
            raise IndexError(f"piece index must be in [0, {self.num_pieces}), got {j}")
        return {key: value[j] for key, value in self.params.items()}

    def lipschitz_bounds(self) -> Tensor:
        """Per-piece upper bounds on the Lipschitz constant of the field, shape ``(k,)``."""
        return torch.tensor(
            [self.family.lipschitz_bound(self.piece(j)) for j in range(self.num_pieces)],
            dtype=self.durations.dtype,
        )

    @classmethod
    def random(
        cls,
        family: ControlFamily,
        dim: int,
        *,
        pieces: int,
        horizon: float = 1.0,
        scale: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> PiecewiseConstantControl:
        """Random parameters (:meth:`ControlFamily.random_params`) on ``pieces`` equal pieces."""
        pieces = check_positive_int("pieces", pieces)
        horizon = check_real("horizon", horizon, nonnegative=True)
        dtype = dtype or torch.get_default_dtype()
        params = family.random_params(
            dim, pieces=pieces, scale=scale, generator=generator, dtype=dtype
        )
        durations = torch.full((pieces,), horizon / pieces, dtype=dtype)
        return cls(family, durations, params)
