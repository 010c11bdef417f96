r"""Control families: vector fields :math:`f(x;\theta)` as pure functions of state and parameters.

A *control family* :math:`\mathcal F = \{f(\cdot;\theta) : \theta\in\Theta\}` plays the role
of one residual block (book, Chapter 1, :prf:ref:`ch1-def-control-family`). Here a family is a
small immutable object that knows the names and shapes of its parameters and evaluates

.. math:: f(x;\theta)

on a batch of points ``x`` of shape ``(batch, n)`` for one explicit parameter set
``theta`` (a mapping from names to tensors). There is no hidden state: the same
``(x, theta)`` always gives the same field, which keeps gradients correct under any
integrator (a "current piece" attribute gives silently wrong gradients under
``odeint_adjoint``; ``CONTRIBUTING.md``, "Machine facts").

Three families are provided:

* :class:`RidgeReLU`, the single-neuron ReLU ridge field :math:`v\,\mathrm{relu}(w\cdot x+b)`,
  whose flow is known in closed form (:func:`flowapprox.ridge_flow`);
* :class:`ResidualBlock`, the residual block :math:`W\sigma(Ax+b)` with
  :math:`\sigma\in\{\mathrm{relu},\tanh,\mathrm{sigmoid}\}`;
* :class:`Affine`, the affine fields :math:`Ax+b` (whose flows are affine maps).

Examples
--------
>>> import torch
>>> from flowapprox import ResidualBlock
>>> family = ResidualBlock(width=3, activation="tanh")
>>> theta = {"W": torch.ones(2, 3), "A": torch.eye(3, 2), "b": torch.zeros(3)}
>>> family(torch.zeros(4, 2), theta).shape
torch.Size([4, 2])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ._types import Field, Params
from ._validation import check_choice, check_points, check_positive_int, check_real, check_tensor

#: Activations of :class:`ResidualBlock` and their Lipschitz constants.
ACTIVATIONS: dict[str, tuple[object, float]] = {
    "relu": (torch.relu, 1.0),
    "tanh": (torch.tanh, 1.0),
    "sigmoid": (torch.sigmoid, 0.25),
}
#: In-place versions of the activations (the fields' hot path: no extra allocation).
_INPLACE = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}


class ControlFamily(ABC):
    """A family of vector fields :math:`f(x;\\theta)` on :math:`\\mathbb R^n`.

    Subclasses define :meth:`param_shapes` and the unchecked evaluation :meth:`field`;
    calling the family validates the arguments first.

    Implements :prf:ref:`ch1-def-control-family`.
    """

    #: Short human-readable name, used in plots and error messages.
    name: str = "family"
    #: A parameter whose last axis has the state dimension ``n``.
    dim_param: str = ""

    @abstractmethod
    def param_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        """Names and shapes of one parameter set for fields on :math:`\\mathbb R^{dim}`."""

    @abstractmethod
    def field(self, x: Tensor, theta: Params) -> Tensor:
        """Evaluate the field without checks (the integrators' hot path)."""

    def bind(self, theta: Params) -> Field:
        """The field of one parameter set as a function of ``x`` alone, without checks.

        Integrators call this once per piece and the result once per stage: families
        override it to prepare the parameters (e.g. transposed weights) once per piece.
        ``family.bind(theta)(x)`` equals ``family.field(x, theta)`` bit for bit.
        """
        return lambda x: self.field(x, theta)

    @abstractmethod
    def lipschitz_bound(self, theta: Params) -> float:
        """An upper bound on the Lipschitz constant of :math:`x\\mapsto f(x;\\theta)`."""

    def stiffness_bound(self, theta: Params) -> float:
        """An upper bound on the spectral radius of the field's Jacobian (default: the
        Lipschitz bound); fixed-step methods are stable when a step times it is small."""
        return self.lipschitz_bound(theta)

    def time_rate(self, theta: Params) -> float:
        """The rate :math:`c(\\theta)` at which a piece spends normalised time.

        A piece of duration :math:`t` costs :math:`c(\\theta)\\,t` (book, Chapter 2,
        :prf:ref:`ch2-def-time-cost`). The rate is never below :meth:`lipschitz_bound`, so a
        flow of time cost :math:`B` and its inverse are :math:`e^{B}`-Lipschitz. The default is
        the Lipschitz bound; families made of units charge each unit on its own.

        Implements :prf:ref:`ch2-def-time-cost`.
        """
        return self.lipschitz_bound(theta)

    def state_dim(self, theta: Params, *, leading: int = 0) -> int:
        """The state dimension ``n`` of a parameter set (``leading`` stacked axes first)."""
        value = theta.get(self.dim_param) if isinstance(theta, Mapping) else None
        if not isinstance(value, Tensor) or value.ndim <= leading:
            raise ValueError(
                f"parameters of the {self.name} family need a tensor {self.dim_param!r} "
                f"with {leading} leading axis/axes and the state dimension last"
            )
        return int(value.shape[-1])

    def __call__(self, x: Tensor, theta: Params) -> Tensor:
        """Evaluate :math:`f(x;\\theta)` on a batch ``x`` of shape ``(batch, n)``."""
        x = check_points("x", x)
        self.check_params(theta, x.shape[1], dtype=x.dtype)
        return self.field(x, theta)

    def check_params(
        self,
        theta: Params,
        dim: int,
        *,
        leading: tuple[int, ...] = (),
        dtype: torch.dtype | None = None,
        name: str = "theta",
    ) -> None:
        """Raise unless ``theta`` has exactly this family's keys, shapes and a common dtype.

        ``leading`` prepends dimensions to every shape, e.g. ``(pieces,)`` for the stacked
        parameters of a piecewise-constant control.
        """
        if not isinstance(theta, Mapping):
            raise TypeError(f"{name} must be a mapping from parameter names to tensors")
        shapes = self.param_shapes(dim)
        if set(theta) != set(shapes):
            raise ValueError(
                f"{name} for {self.name} must have keys {sorted(shapes)}, got {sorted(theta)}"
            )
        for key, shape in shapes.items():
            value = check_tensor(f"{name}[{key!r}]", theta[key], shape=leading + shape)
            if dtype is not None and value.dtype != dtype:
                raise TypeError(
                    f"{name}[{key!r}] has dtype {value.dtype} but the points have dtype {dtype}"
                )

    def random_params(
        self,
        dim: int,
        *,
        pieces: int = 1,
        scale: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> dict[str, Tensor]:
        """Standard-normal parameters times ``scale / sqrt(fan_in)``, stacked over ``pieces``.

        Every tensor has shape ``(pieces, *shape)``; biases are scaled by ``scale`` only.
        """
        dim = check_positive_int("dim", dim)
        pieces = check_positive_int("pieces", pieces)
        scale = check_real("scale", scale, positive=True)
        dtype = dtype or torch.get_default_dtype()
        params = {}
        for key, shape in self.param_shapes(dim).items():
            raw = torch.randn((pieces, *shape), generator=generator, dtype=dtype)
            fan_in = shape[-1] if len(shape) == 2 else 1
            params[key] = raw * (scale / fan_in**0.5)
        return params


@dataclass(frozen=True)
class RidgeReLU(ControlFamily):
    r"""The single-neuron ReLU ridge field :math:`f(x) = v\,\mathrm{relu}(w\cdot x + b)`.

    Parameters per piece: ``v`` and ``w`` of shape ``(n,)`` and a scalar ``b`` (shape ``()``).
    Its flow is explicit (:func:`flowapprox.ridge_flow`), which makes it the workhorse of the
    constructions in later chapters.
    """

    name = "ReLU ridge"
    dim_param = "w"

    def param_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        return {"v": (dim,), "w": (dim,), "b": ()}

    def field(self, x: Tensor, theta: Params) -> Tensor:
        return self.bind(theta)(x)

    def bind(self, theta: Params) -> Field:
        v, w, b = theta["v"], theta["w"], theta["b"]
        # relu(x @ w + b) v, with the sum and the activation in place (same bits)
        return lambda x: torch.relu_(torch.mv(x, w).add_(b)).unsqueeze(-1) * v

    def lipschitz_bound(self, theta: Params) -> float:
        return float(torch.linalg.vector_norm(theta["v"]) * torch.linalg.vector_norm(theta["w"]))

    def stiffness_bound(self, theta: Params) -> float:
        r"""The Jacobian :math:`v\,w^\top\mathbf 1\{w\cdot x+b>0\}` has the one non-zero
        eigenvalue :math:`w\cdot v`, so :math:`|w\cdot v|` (zero for a shear, :math:`w\perp v`,
        which every Runge-Kutta method integrates exactly)."""
        return abs(float(theta["w"] @ theta["v"]))


@dataclass(frozen=True)
class ResidualBlock(ControlFamily):
    r"""The residual block :math:`f(x) = W\,\sigma(Ax + b)` of a ResNet of width ``width``.

    Parameters per piece: ``W`` of shape ``(n, width)``, ``A`` of shape ``(width, n)`` and
    ``b`` of shape ``(width,)``; ``activation`` is ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
    """

    width: int = 8
    activation: str = "tanh"
    dim_param = "A"

    def __post_init__(self) -> None:
        check_positive_int("width", self.width)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.activation} block (width {self.width})"

    def param_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        return {"W": (dim, self.width), "A": (self.width, dim), "b": (self.width,)}

    def field(self, x: Tensor, theta: Params) -> Tensor:
        return self.bind(theta)(x)

    def bind(self, theta: Params) -> Field:
        sigma = _INPLACE[self.activation]
        a_t, w_t, b = theta["A"].T, theta["W"].T, theta["b"]
        # sigma(x A^T + b) W^T with the bias and the activation applied in place: the same
        # bits as the plain expression, two allocations and one operation fewer per call
        return lambda x: torch.mm(sigma(torch.mm(x, a_t).add_(b)), w_t)

    def lipschitz_bound(self, theta: Params) -> float:
        lip_sigma = ACTIVATIONS[self.activation][1]
        norm_w = torch.linalg.matrix_norm(theta["W"], ord=2)
        norm_a = torch.linalg.matrix_norm(theta["A"], ord=2)
        return float(lip_sigma * norm_w * norm_a)

    def time_rate(self, theta: Params) -> float:
        r"""Each unit at its Lipschitz bound :math:`\mathrm{Lip}(\sigma)\sum_k|W_{:k}|\,|A_{k:}|`.

        A unit with :math:`A_{k:}=0` is a constant field and costs nothing.
        """
        lip_sigma = ACTIVATIONS[self.activation][1]
        norm_w = torch.linalg.vector_norm(theta["W"], dim=-2)
        norm_a = torch.linalg.vector_norm(theta["A"], dim=-1)
        return float(lip_sigma * (norm_w * norm_a).sum())


@dataclass(frozen=True)
class Affine(ControlFamily):
    r"""Affine fields :math:`f(x) = Ax + b`; their flows are affine maps.

    Parameters per piece: ``A`` of shape ``(n, n)`` and ``b`` of shape ``(n,)``.
    """

    name = "affine"
    dim_param = "b"

    def param_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        return {"A": (dim, dim), "b": (dim,)}

    def field(self, x: Tensor, theta: Params) -> Tensor:
        return self.bind(theta)(x)

    def bind(self, theta: Params) -> Field:
        a_t, b = theta["A"].T, theta["b"]
        return lambda x: torch.mm(x, a_t).add_(b)

    def lipschitz_bound(self, theta: Params) -> float:
        return float(torch.linalg.matrix_norm(theta["A"], ord=2))
