r"""Sums of ridge neurons, their exact single-neuron flows, splitting and time rescaling.

A *ridge sum* is the field :math:`f(x) = \sum_{i=1}^N v_i\,\sigma(w_i\cdot x + b_i)` with
:math:`\sigma\in\{\mathrm{relu},\tanh,\mathrm{sigmoid}\}` (:class:`RidgeSum`). Each term is a
member of the single-neuron family, and the flow of one neuron is known in closed form
(:func:`neuron_flow`): along a trajectory :math:`s = w\cdot x + b` obeys the scalar equation
:math:`\dot s = a\,\sigma(s)` with :math:`a = w\cdot v`, and :math:`x` moves along :math:`v`,

.. math::

    x(t) = x_0 + v\,\frac{s(t)-s_0}{a}\qquad\Bigl(= x_0 + v\,\sigma(s_0)\,t
    \ \text{ if } a=0\Bigr).

The flow of the *sum* is approximated by switching between the neurons
(book, Chapter 2, :prf:ref:`ch2-thm-lie-trotter`): :func:`splitting_control` builds the
switching control of Lie-Trotter or Strang splitting with ``rounds`` rounds, an honest
piecewise-constant control of single neurons, and :func:`switching_flow` computes its flow
map exactly, piece by piece. :func:`rescale_time` and the time cost
(:attr:`~flowapprox.PiecewiseConstantControl.time_cost`, which it leaves unchanged) express the
time-rescaling identity :math:`\varphi^{\lambda f}_{t/\lambda} = \varphi^f_t`
(:prf:ref:`ch2-prop-time-rescaling`).

Examples
--------
>>> import torch
>>> from flowapprox import reference_flow
>>> from flowapprox.splitting import RidgeSum, splitting_control, switching_flow
>>> field = RidgeSum.random(3, 2, activation="tanh", generator=torch.Generator().manual_seed(0))
>>> x = torch.zeros(4, 2)
>>> exact = reference_flow(field.control(1.0), x)
>>> for scheme in ("lie", "strang"):
...     split = switching_flow(splitting_control(field, 1.0, rounds=64, scheme=scheme), x)
...     print(scheme, f"{float((split - exact).abs().max()):.0e}")
lie 2e-02
strang 5e-05
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.special import wrightomega
from torch import Tensor

from ._validation import (
    check_choice,
    check_control,
    check_points,
    check_positive_int,
    check_real,
    check_same_dtype,
    check_tensor,
)
from .controls import PiecewiseConstantControl
from .families import ACTIVATIONS, Affine, ResidualBlock, RidgeReLU
from .flows import check_finite_state, expm1_ratio
from .metrics import Box
from .piecewise import PiecewiseLinear

#: Below this :math:`|a t|` the smooth neuron flows use their Taylor expansion in :math:`at`.
_SMALL_AT = 1e-10
#: Sigmoid pre-activations are clamped here: :math:`\sigma(-700) < 10^{-304}`, so the motion
#: of such points is below float64 resolution anyway.
_SIGMOID_FLOOR = -700.0

SCHEMES = ("lie", "strang")


@dataclass(frozen=True)
class RidgeSum:
    r"""The field :math:`f(x) = \sum_{i=1}^N v_i\,\sigma(w_i\cdot x + b_i)` on :math:`\mathbb R^n`.

    Parameters
    ----------
    v, w
        Output and input weights, shape ``(N, n)`` each (row ``i`` is neuron ``i``).
    b
        Biases, shape ``(N,)``.
    activation
        ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
    """

    v: Tensor
    w: Tensor
    b: Tensor
    activation: str = "relu"

    def __post_init__(self) -> None:
        v = check_tensor("v", self.v, ndim=2)
        if v.shape[0] == 0 or v.shape[1] == 0:
            raise ValueError(
                f"v must have at least one neuron and one dimension, got {tuple(v.shape)}"
            )
        check_tensor("w", self.w, shape=tuple(v.shape))
        check_tensor("b", self.b, shape=(v.shape[0],))
        check_same_dtype("w", self.w, v, "v")
        check_same_dtype("b", self.b, v, "v")
        check_choice("activation", self.activation, tuple(ACTIVATIONS))

    @property
    def num_neurons(self) -> int:
        """The number ``N`` of neurons."""
        return int(self.v.shape[0])

    @property
    def dim(self) -> int:
        """The state dimension ``n``."""
        return int(self.v.shape[1])

    def __call__(self, x: Tensor) -> Tensor:
        """Evaluate the field on points ``x`` of shape ``(batch, n)``."""
        x = check_points("x", x, self.dim)
        check_same_dtype("x", x, self.v, "the field")
        sigma = ACTIVATIONS[self.activation][0]
        return sigma(x @ self.w.T + self.b) @ self.v  # type: ignore[operator]

    def lipschitz_bound(self) -> float:
        r""":math:`\mathrm{Lip}(\sigma)\sum_i |v_i|\,|w_i|`, a Lipschitz constant of the field."""
        lip_sigma = ACTIVATIONS[self.activation][1]
        norms = torch.linalg.vector_norm(self.v, dim=1) * torch.linalg.vector_norm(self.w, dim=1)
        return float(lip_sigma * norms.sum())

    def control(self, t: float) -> PiecewiseConstantControl:
        """The one-piece control that runs the whole sum for time ``t``.

        Its family is :class:`~flowapprox.ResidualBlock` of width ``N``, so
        :func:`~flowapprox.flow` and :func:`~flowapprox.reference_flow` integrate the sum.
        """
        t = check_real("t", t, nonnegative=True)
        params = {"W": self.v.T[None], "A": self.w[None], "b": self.b[None]}
        durations = torch.tensor([t], dtype=self.v.dtype)
        return PiecewiseConstantControl(
            ResidualBlock(self.num_neurons, self.activation), durations, params
        )

    def to_piecewise_linear(self) -> PiecewiseLinear:
        """The same field as a :class:`~flowapprox.PiecewiseLinear` (ReLU sums on the line only).

        Its kinks are the points :math:`-b_i/w_i`; :func:`~flowapprox.pl_flow` then gives the
        exact flow of the sum.
        """
        if self.activation != "relu" or self.dim != 1:
            raise ValueError(
                "to_piecewise_linear needs a one-dimensional ReLU sum, got "
                f"activation={self.activation!r}, dim={self.dim}"
            )
        v, w, b = self.v[:, 0], self.w[:, 0], self.b
        active = w != 0
        knots = torch.unique(-b[active] / w[active])  # sorted
        if knots.numel() == 0:
            knots = torch.zeros(1, dtype=v.dtype)
        slopes = v * w
        left = float(slopes[active & (w < 0)].sum())
        right = float(slopes[active & (w > 0)].sum())
        return PiecewiseLinear(knots, self(knots[:, None])[:, 0], left, right)

    @classmethod
    def random(
        cls,
        num_neurons: int,
        dim: int,
        *,
        activation: str = "relu",
        scale: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> RidgeSum:
        """Standard normal ``v``, ``w``, ``b`` times ``scale`` (``w`` also divided by sqrt(n))."""
        num_neurons = check_positive_int("num_neurons", num_neurons)
        dim = check_positive_int("dim", dim)
        scale = check_real("scale", scale, positive=True)
        dtype = dtype or torch.get_default_dtype()
        v, w = (torch.randn(num_neurons, dim, generator=generator, dtype=dtype) for _ in range(2))
        b = torch.randn(num_neurons, generator=generator, dtype=dtype)
        return cls(scale * v, scale * w / math.sqrt(dim), scale * b, activation)


def _smooth_increment(s0: Tensor, tau: float, activation: str) -> Tensor:
    r"""The increment :math:`s(t) - s_0` of :math:`\dot s = a\sigma(s)`; ``tau`` is :math:`at`."""
    if activation == "tanh":
        # sinh s(t) = sinh(s0) e^tau, rewritten so that nothing cancels or overflows:
        # Delta = asinh(u sqrt(1+u0^2) - u0 sqrt(1+u^2)) with u0 = sinh s0, u = u0 e^tau,
        # divided by cosh(s0) (and by e^tau if tau >= 0).
        th = torch.tanh(s0)
        sech2 = torch.cosh(s0).reciprocal() ** 2
        if tau < 0:
            denominator = math.exp(tau) + torch.sqrt(sech2 + th**2 * math.exp(2 * tau))
            return torch.asinh(th * math.expm1(2 * tau) / denominator)
        denominator = 1 + torch.sqrt(th**2 + sech2 * math.exp(-2 * tau))
        if tau < 350:
            return torch.asinh(2 * th * math.sinh(tau) / denominator)
        # sinh(tau) = e^tau / 2 overflows: take asinh from log|y|, asinh(e^L) = L + log(1 + ...)
        log_y = torch.log(th.abs()) + tau - torch.log(denominator)
        big = log_y.clamp(min=0)
        asinh_y = torch.where(log_y > 0, big + torch.log1p(torch.sqrt(1 + torch.exp(-2 * big))),
                              torch.asinh(torch.exp(log_y)))
        return torch.sign(th) * asinh_y
    # sigmoid: s - e^{-s} = s0 - e^{-s0} + tau, so s = c + W(e^{-c}) = c + omega(-c) with the
    # Wright omega function omega(z) = W(e^z) (scipy.special.wrightomega, stable for large z).
    # For s0 << 0 the formula subtracts nearly equal numbers of size e^{-s0}; three Newton
    # steps on Delta + E (1 - e^{-Delta}) = tau (E = e^{-s0}; increasing and concave, so Newton
    # converges from any start) restore full relative accuracy.
    s0 = s0.clamp(min=_SIGMOID_FLOOR)
    big_e = torch.exp(-s0)
    c = s0 - big_e + tau
    omega = torch.as_tensor(wrightomega((-c).detach().numpy()), dtype=s0.dtype)
    delta = tau - big_e + omega
    for _ in range(3):
        residual = delta - big_e * torch.expm1(-delta) - tau
        delta = delta - residual / (1 + big_e * torch.exp(-delta))
    return delta


def _neuron_flow(x: Tensor, v: Tensor, w: Tensor, b: Tensor, t: float, activation: str) -> Tensor:
    """Unchecked :func:`neuron_flow` (the hot path of :func:`switching_flow`)."""
    s0 = x @ w + b
    a = w @ v
    if activation == "relu":
        travel = torch.relu(s0) * expm1_ratio(a, torch.as_tensor(t, dtype=x.dtype))
    else:
        sigma = ACTIVATIONS[activation][0]
        tau = float(a) * t
        if abs(tau) < _SMALL_AT:  # Delta / a = t sigma(s0) (1 + tau sigma'(s0) / 2 + O(tau^2))
            sig = sigma(s0)  # type: ignore[operator]
            slope = 1 - sig**2 if activation == "tanh" else sig * (1 - sig)
            travel = t * sig * (1 + 0.5 * tau * slope)
        else:
            travel = _smooth_increment(s0, tau, activation) / a
    return x + travel.unsqueeze(-1) * v


def neuron_flow(
    x: Tensor, v: Tensor, w: Tensor, b: float | Tensor, t: float, *, activation: str = "relu"
) -> Tensor:
    r"""The exact time-``t`` flow of the single neuron :math:`f(x) = v\,\sigma(w\cdot x + b)`.

    With :math:`s_0 = w\cdot x_0+b` and :math:`a = w\cdot v`, the point moves along :math:`v`
    by :math:`(s(t)-s_0)/a`, where (book, Chapter 2, :prf:ref:`ch2-prop-neuron-flows`)

    * relu: :math:`s(t) = s_0e^{at}` if :math:`s_0>0`, else the point stays put;
    * tanh: :math:`\sinh s(t) = \sinh(s_0)\,e^{at}`;
    * sigmoid: :math:`s(t) - e^{-s(t)} = s_0 - e^{-s_0} + at`, solved with the Wright omega
      function (Lambert :math:`W`) and polished by three Newton steps.

    For :math:`a\to0` the travel tends to :math:`\sigma(s_0)\,t`; the formulas are evaluated
    without cancellation, and :math:`t` may be negative (backward flow).

    Implements :prf:ref:`ch2-prop-neuron-flows`.

    Parameters
    ----------
    x
        Points, shape ``(batch, n)``.
    v, w
        Shape ``(n,)``, same dtype as ``x``.
    b
        The bias (a real number or a 0-d tensor).
    t
        The time.
    activation
        ``"relu"``, ``"tanh"`` or ``"sigmoid"``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    >>> neuron_flow(x, torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0]), 0.0, 1.0)
    tensor([[ 2.7183,  0.0000],
            [-1.0000,  0.0000]])
    """
    x = check_points("x", x)
    n = x.shape[1]
    v = check_tensor("v", v, shape=(n,))
    w = check_tensor("w", w, shape=(n,))
    check_same_dtype("v", v, x, "x")
    check_same_dtype("w", w, x, "x")
    if isinstance(b, Tensor):
        check_tensor("b", b, shape=())
    b = torch.as_tensor(check_real("b", b), dtype=x.dtype)
    t = check_real("t", t)
    activation = check_choice("activation", activation, tuple(ACTIVATIONS))
    y = _neuron_flow(x, v, w, b, t, activation)
    check_finite_state(y, 0)
    return y


def _check_control(control: object) -> None:
    check_control("control", control)


def _neuron_pieces(control: PiecewiseConstantControl) -> tuple[Tensor, Tensor, Tensor, str]:
    """``(v, w, b, activation)`` of every piece of a single-neuron control, stacked."""
    family = control.family
    if isinstance(family, RidgeReLU):
        p = control.params
        return p["v"], p["w"], p["b"], "relu"
    if isinstance(family, ResidualBlock) and family.width == 1:
        p = control.params
        return p["W"][:, :, 0], p["A"][:, 0, :], p["b"][:, 0], family.activation
    raise TypeError(
        "control must switch between single neurons (family RidgeReLU or ResidualBlock with "
        f"width 1), got {family.name}"
    )


def switching_flow(control: PiecewiseConstantControl, x: Tensor) -> Tensor:
    r"""The exact flow map of a piecewise-constant control of single neurons.

    Each piece is one neuron :math:`v_j\sigma(w_j\cdot x+b_j)` (family
    :class:`~flowapprox.RidgeReLU`, or :class:`~flowapprox.ResidualBlock` of width 1 with any
    activation), run for its duration with :func:`neuron_flow`: no solver error. For ReLU
    pieces this is :func:`flowapprox.ridge_flow`.

    Implements :prf:ref:`ch2-prop-neuron-flows`.

    Examples
    --------
    >>> import torch
    >>> from flowapprox import PiecewiseConstantControl, ResidualBlock
    >>> params = {"W": torch.ones(1, 1, 1), "A": torch.ones(1, 1, 1), "b": torch.zeros(1, 1)}
    >>> control = PiecewiseConstantControl(ResidualBlock(1, "tanh"), torch.tensor([2.0]), params)
    >>> switching_flow(control, torch.tensor([[0.5]]))  # sinh x(2) = sinh(0.5) e^2
    tensor([[2.0578]])
    """
    _check_control(control)
    v, w, b, activation = _neuron_pieces(control)
    x = check_points("x", x, control.dim)
    check_same_dtype("x", x, control.durations, "the control")
    for j, t in enumerate(control.durations.tolist()):
        x = _neuron_flow(x, v[j], w[j], b[j], t, activation)
        check_finite_state(x, j)
    return x


def splitting_control(
    field: RidgeSum,
    t: float,
    rounds: int,
    *,
    scheme: str = "lie",
    weights: Tensor | None = None,
) -> PiecewiseConstantControl:
    r"""The switching control of Lie-Trotter or Strang splitting of a ridge sum.

    With :math:`h = t/k` (``k = rounds``) and neurons :math:`f_1,\dots,f_N`:

    * ``"lie"``: :math:`(\varphi^{f_N}_h\circ\cdots\circ\varphi^{f_1}_h)^k`, first order;
    * ``"strang"``: :math:`\bigl(\varphi^{f_1}_{h/2}\circ\cdots\circ\varphi^{f_{N-1}}_{h/2}\circ
      \varphi^{f_N}_h\circ\varphi^{f_{N-1}}_{h/2}\circ\cdots\circ\varphi^{f_1}_{h/2}\bigr)^k`,
      second order for smooth fields; consecutive half steps of :math:`f_1` are merged.

    ``weights`` :math:`a_i>0` write the sum as :math:`f=\sum_i a_i g_i` with
    :math:`g_i=f_i/a_i`: the pieces then run :math:`g_i` for :math:`a_i` times as long, which
    is the same map (:prf:ref:`ch2-prop-time-rescaling`) with horizon :math:`t\sum_i a_i`
    (``t`` for convex weights) instead of :math:`Nt`.

    Implements :prf:ref:`ch2-thm-lie-trotter`.

    Returns
    -------
    PiecewiseConstantControl
        A control of the family ``ResidualBlock(width=1, activation)``; compute its flow
        exactly with :func:`switching_flow`.
    """
    if not isinstance(field, RidgeSum):
        raise TypeError(f"field must be a RidgeSum, got {type(field).__name__}")
    t = check_real("t", t, nonnegative=True)
    k = check_positive_int("rounds", rounds)
    scheme = check_choice("scheme", scheme, SCHEMES)
    n_neurons = field.num_neurons
    if weights is None:
        weights = torch.ones(n_neurons, dtype=field.v.dtype)
    weights = check_tensor("weights", weights, shape=(n_neurons,))
    check_same_dtype("weights", weights, field.v, "the field")
    if bool((weights <= 0).any()):
        raise ValueError("weights must be positive")
    h = t / k
    if scheme == "lie":
        order = list(range(n_neurons)) * k
        fraction = [1.0] * len(order)
    else:
        order, fraction = [], []
        half_sweep = list(range(n_neurons - 1))
        for _ in range(k):
            order += half_sweep + [n_neurons - 1] + half_sweep[::-1]
            fraction += [0.5] * len(half_sweep) + [1.0] + [0.5] * len(half_sweep)
        # Merge consecutive pieces of the same neuron (the f_1 half steps between rounds).
        merged_order, merged_fraction = [order[0]], [fraction[0]]
        for i, f in zip(order[1:], fraction[1:]):
            if i == merged_order[-1]:
                merged_fraction[-1] += f
            else:
                merged_order.append(i)
                merged_fraction.append(f)
        order, fraction = merged_order, merged_fraction
    index = torch.tensor(order)
    a = weights[index]
    durations = torch.tensor(fraction, dtype=field.v.dtype) * h * a
    params = {
        "W": (field.v[index] / a[:, None]).unsqueeze(-1),
        "A": field.w[index].unsqueeze(1),
        "b": field.b[index].unsqueeze(1),
    }
    return PiecewiseConstantControl(ResidualBlock(1, field.activation), durations, params)


def splitting_errors(
    field: RidgeSum,
    t: float,
    x: Tensor,
    reference: Tensor,
    rounds: Sequence[int],
    *,
    scheme: str = "lie",
) -> np.ndarray:
    r"""Max errors :math:`\max_i|\varphi_k(x_i) - \varphi^f_t(x_i)|` of splitting, per round count.

    :math:`\varphi_k` is the exact flow (:func:`switching_flow`) of
    :func:`splitting_control` ``(field, t, k, scheme=scheme)``; ``reference`` holds the
    images :math:`\varphi^f_t(x)` of the points ``x`` under the full field. Fit the observed
    order with :func:`flowapprox.fit_loglog` (its ``order``).

    Implements :prf:ref:`ch2-thm-lie-trotter`.
    """
    x = check_points("x", x)
    reference = check_tensor("reference", reference, shape=tuple(x.shape))
    errors = []
    for k in rounds:
        image = switching_flow(splitting_control(field, t, k, scheme=scheme), x)
        errors.append(float(torch.linalg.vector_norm(image - reference, dim=1).max()))
    return np.asarray(errors)


def hyperplane_points(
    field: RidgeSum, x: Tensor, *, box: Box | None = None, offsets: tuple[float, ...] = (0.0,)
) -> Tensor:
    r"""Points on and near the hyperplanes :math:`\{w_i\cdot x + b_i = 0\}` of the neurons.

    Every point of ``x`` is projected orthogonally onto every neuron's hyperplane (the kink
    set of a ReLU neuron) and shifted by each of ``offsets`` along the unit normal
    :math:`w_i/|w_i|`; points outside ``box`` (if given) are dropped. Sup errors of ReLU
    flows concentrate near these sets, which random samples miss.

    Returns
    -------
    Tensor
        Shape ``(m, n)``, in the order neuron, offset, point.
    """
    if not isinstance(field, RidgeSum):
        raise TypeError(f"field must be a RidgeSum, got {type(field).__name__}")
    x = check_points("x", x, field.dim)
    check_same_dtype("x", x, field.v, "the field")
    if box is not None and not isinstance(box, Box):
        raise TypeError(f"box must be a flowapprox.Box or None, got {type(box).__name__}")
    offsets = tuple(check_real(f"offsets[{i}]", o) for i, o in enumerate(offsets))
    norms = torch.linalg.vector_norm(field.w, dim=1)
    if bool((norms == 0).any()):
        raise ValueError("every neuron of field needs w != 0 to have a hyperplane")
    unit = field.w / norms[:, None]
    distance = (x @ field.w.T + field.b) / norms  # signed distance, (batch, N)
    points = []
    for i in range(field.num_neurons):
        foot = x - distance[:, i : i + 1] * unit[i]
        points += [foot + o * unit[i] for o in offsets]
    out = torch.cat(points)
    if box is not None:
        lower = torch.tensor(box.lower, dtype=x.dtype)
        upper = torch.tensor(box.upper, dtype=x.dtype)
        out = out[((out >= lower) & (out <= upper)).all(dim=1)]
    return out


_SCALED_PARAMS = {RidgeReLU: ("v",), ResidualBlock: ("W",), Affine: ("A", "b")}


def rescale_time(control: PiecewiseConstantControl, factor: float) -> PiecewiseConstantControl:
    r"""The control with every field multiplied by ``factor`` and every duration divided by it.

    By :prf:ref:`ch2-prop-time-rescaling` its flow map is the same,
    :math:`\varphi^{\lambda f}_{t/\lambda}=\varphi^f_t`, while its horizon is
    :math:`T/\lambda`. Supported families: :class:`~flowapprox.RidgeReLU` (scales ``v``),
    :class:`~flowapprox.ResidualBlock` (``W``) and :class:`~flowapprox.Affine` (``A`` and ``b``).

    Implements :prf:ref:`ch2-prop-time-rescaling`.

    Examples
    --------
    >>> import torch
    >>> from flowapprox import PiecewiseConstantControl, RidgeReLU
    >>> control = PiecewiseConstantControl.random(RidgeReLU(), 2, pieces=3)
    >>> rescale_time(control, 4.0).horizon
    0.25
    """
    _check_control(control)
    factor = check_real("factor", factor, positive=True)
    keys = _SCALED_PARAMS.get(type(control.family))
    if keys is None:
        raise TypeError(
            f"rescale_time supports the families RidgeReLU, ResidualBlock and Affine, got "
            f"{control.family.name}"
        )
    params = {k: value * factor if k in keys else value for k, value in control.params.items()}
    return replace(control, durations=control.durations / factor, params=params)
