"""Argument checks shared by the public functions (private module).

Every public function of :mod:`flowapprox` validates its inputs with these helpers,
so that bad input fails early with a message naming the argument and what was
expected, instead of deep inside an integrator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from .controls import PiecewiseConstantControl
    from .metrics import Box


def check_tensor(
    name: str,
    value: object,
    *,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    floating: bool = True,
) -> Tensor:
    """Return ``value`` if it is a tensor with the expected properties, else raise.

    ``shape`` may contain ``None`` for a free dimension.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(value.shape)}")
    if shape is not None:
        ok = value.ndim == len(shape) and all(
            want is None or want == got for want, got in zip(shape, value.shape)
        )
        if not ok:
            expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    if finite and floating and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, but contains NaN or inf")
    return value


def check_points(
    name: str, x: object, dim: int | None = None, *, nonempty: bool = False
) -> Tensor:
    """A batch of points: a finite floating tensor of shape ``(batch, dim)``.

    ``nonempty`` rejects an empty batch (for reductions such as a maximum).
    """
    x = check_tensor(name, x, shape=(None, dim))
    if nonempty and x.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one point, got shape {tuple(x.shape)}")
    return x


def check_same_dtype(name: str, value: Tensor, reference: Tensor, reference_name: str) -> None:
    """Raise if two tensors that are combined arithmetically have different dtypes."""
    if value.dtype != reference.dtype:
        raise TypeError(
            f"{name} has dtype {value.dtype} but {reference_name} has dtype {reference.dtype}; "
            "use one dtype (the book uses torch.float64)"
        )


def check_positive_int(name: str, value: object) -> int:
    """A positive Python integer (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_real(
    name: str,
    value: object,
    *,
    positive: bool = False,
    nonnegative: bool = False,
) -> float:
    """A finite real number, optionally (strictly) positive."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def check_exponent(name: str, p: object) -> float:
    """An exponent ``1 <= p <= inf`` (``inf`` allowed, NaN not)."""
    if isinstance(p, (int, float)) and not isinstance(p, bool) and p == math.inf:
        return math.inf
    value = check_real(name, p)
    if value < 1:
        raise ValueError(f"{name} must satisfy 1 <= {name} <= inf, got {value}")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """One of a fixed set of strings."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value  # type: ignore[return-value]


def check_callable(name: str, value: object) -> Callable[..., Any]:
    """Any callable (a target, a model, a flow map)."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


def check_interval(
    lower: object, upper: object, *, names: tuple[str, str] = ("lower", "upper")
) -> tuple[float, float]:
    """Two finite reals with ``lower < upper``."""
    lower_f, upper_f = check_real(names[0], lower), check_real(names[1], upper)
    if lower_f >= upper_f:
        raise ValueError(f"{names[0]} must be below {names[1]}, got {lower_f} and {upper_f}")
    return lower_f, upper_f


def check_box(
    name: str, value: object, dim: int | None = None, *, min_dim: int | None = None
) -> Box:
    """A :class:`flowapprox.Box`, of dimension ``dim`` (or at least ``min_dim``) if given."""
    from .metrics import Box  # the Box type lives in metrics, which imports this module

    if not isinstance(value, Box):
        raise TypeError(f"{name} must be a flowapprox.Box, got {type(value).__name__}")
    if dim is not None and value.dim != dim:
        raise ValueError(f"{name} must be a {dim}-D flowapprox.Box, got a {value.dim}-D box")
    if min_dim is not None and value.dim < min_dim:
        raise ValueError(f"{name} must have dimension at least {min_dim}, got {value.dim}")
    return value


def check_control(name: str, value: object) -> PiecewiseConstantControl:
    """A :class:`flowapprox.PiecewiseConstantControl`."""
    from .controls import PiecewiseConstantControl  # controls imports this module

    if not isinstance(value, PiecewiseConstantControl):
        raise TypeError(
            f"{name} must be a PiecewiseConstantControl, got {type(value).__name__}"
        )
    return value


def check_planar_point(centre: object, name: str = "centre") -> tuple[float, float]:
    """A point of the plane: two finite reals (a sequence or a tensor)."""
    if isinstance(centre, Tensor):
        centre = centre.tolist()
    if not isinstance(centre, Sequence) or len(centre) != 2:
        raise ValueError(f"{name} must be a point of the plane (two numbers), got {centre!r}")
    return check_real(f"{name}[0]", centre[0]), check_real(f"{name}[1]", centre[1])
