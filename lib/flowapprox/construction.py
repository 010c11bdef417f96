r"""The book's explicit construction: flows of ReLU fields plus a simple readout (Chapter 4).

Given a target :math:`F` on a box :math:`K=[a_1,b_1]\times[a_2,b_2]`, a grid of
:math:`N_1\times N_2` cells with centres :math:`c_\alpha = (c^{(1)}_i, c^{(2)}_j)` and a zoom
time :math:`T`, :func:`construct` returns an explicit composition of flows

1. **zoom along** :math:`x_1`: the flow of :math:`(\psi_1(x_1), 0)` for time :math:`T`, with
   :math:`\psi_1` the multi-well field of :func:`flowapprox.multiwell` on :math:`[a_1, b_1]`;
2. **zoom along** :math:`x_2`: the same with :math:`(0,\psi_2(x_2))`; together they shrink
   each cell, except thin layers at its edges, onto its centre;
3. **separate**: the shear :math:`x_2 \leftarrow x_2 + \Psi(x_1)` (the flow of
   :math:`(0,\Psi(x_1))` for time 1), with :math:`\Psi` piecewise linear and
   :math:`\Psi(c^{(1)}_i) = i\,h_2/N_1`, which gives the :math:`N_1N_2` centres pairwise
   distinct second coordinates :math:`r_{ij} = c^{(2)}_j + i h_2/N_1` (spacing
   :math:`h_2/N_1`, :math:`h_2` the cell height), whatever the target;
4. **set the value**: the shear :math:`x_1 \leftarrow x_1 + \Phi(x_2)` with :math:`\Phi`
   piecewise linear and :math:`\Phi(r_{ij}) = u_{ij} - c^{(1)}_i`, which moves the centre of
   cell :math:`(i,j)` to first coordinate :math:`u_{ij}`;
5. **readout** :math:`g`:

   * ``"linear"``: :math:`g(y) = y_1` and :math:`u_{ij} = F(c_{ij})` (scalar targets);
   * ``"tanh"``: :math:`g(y) = \tanh y_1`, whose range :math:`(-1,1)` may miss part of the
     target's; :math:`u_{ij} = \operatorname{artanh}` of :math:`F(c_{ij})` clipped to
     :math:`[-1+m, 1-m]`, :math:`m` = :data:`TANH_MARGIN`;
   * ``"identity"``: :math:`g(y) = y` for targets :math:`F:K\to\mathbb R^2`. Step 4 uses
     :math:`u_{ij} = F_1(c_{ij}) + o_{ij}`, with offsets :math:`o = \text{rank}\cdot\eta` that
     make the :math:`u_{ij}` pairwise distinct even where values of :math:`F_1` coincide
     (rank of :math:`(F_1(c_{ij}), \text{index})` in lexicographic order,
     :math:`\eta = \text{tie\_spread}/(N_1N_2)`), and a third shear
     :math:`x_2 \leftarrow x_2 + \Phi'(x_1)` with :math:`\Phi'(u_{ij}) = F_2(c_{ij}) - r_{ij}`
     sets the second coordinate.

Every field is a piecewise-linear function of one coordinate times a unit vector, i.e. a
finite sum of ReLU ridge neurons (:meth:`flowapprox.PiecewiseLinear.relu_expansion`): the
zooms are computed exactly by :func:`flowapprox.pl_flow`, and the shears are exact because
all neurons of a shear depend only on the coordinate it leaves fixed (they commute).
:meth:`Construction.control` writes the whole construction as a piecewise-constant control
of the ReLU residual-block family, one piece per stage, so that any integrator of the
library can re-compute it. The neuron count is that of :mod:`flowapprox.cost`, the time cost
that of the control (book, :prf:ref:`ch2-def-time-cost`; constant units are free).

:func:`construct_lifted` handles one-dimensional targets: it embeds :math:`x\mapsto(x,0)`
(:func:`lift`), runs the construction on :math:`N\times1` cells and reads out
:math:`y_1`.

This is the book's own construction in the spirit of Li, Lin and Shen (zoom, point
matching, readout), not the paper's proof. :func:`construct_cube` with ``family="sigmoid"``,
``"tanh"`` or a :class:`flowapprox.profiles.Well` builds the same stages from other units
(:mod:`flowapprox.profiles`, :prf:ref:`ch4-prop-smooth-construction`).

Examples
--------
>>> import torch
>>> from flowapprox import Box
>>> from flowapprox.construction import construct
>>> c = construct(lambda x: x[:, 0] * x[:, 1], Box.cube(2), cells=4, zoom_time=8.0)
>>> x = torch.tensor([[0.1, 0.1], [0.6, 0.9]], dtype=torch.float64)
>>> [round(v, 4) for v in c(x).tolist()]  # F at the centres (0.125, 0.125), (0.625, 0.875)
[0.0156, 0.5469]
>>> c.neurons, c.horizon, round(c.time_cost)
(29, 18.0, 2017)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ._types import Target
from ._validation import (
    check_box,
    check_callable,
    check_choice,
    check_points,
    check_positive_int,
    check_real,
    check_tensor,
)
from .controls import PiecewiseConstantControl
from .cost import neuron_count
from .families import ResidualBlock
from .metrics import Box, graded_rule
from .piecewise import PiecewiseLinear, cell_centres, cell_index, multiwell, pl_flow
from .profiles import FAMILIES as PROFILE_FAMILIES
from .profiles import ProfileConstruction, Well, construct_from_profiles

#: Readouts of :func:`construct`.
READOUTS = ("linear", "tanh", "identity")
def _warn_clipped(values: Tensor, clipped: Tensor) -> None:
    """Warn when the tanh readout clips target values, with the size of the clipped part."""
    gap = (values - clipped).abs()
    if bool((gap > 0).any()):
        warnings.warn(
            f"readout='tanh': target values at {int((gap > 0).sum())} of {gap.numel()} cell "
            f"centres lie outside the readout's range (-1, 1) and are clipped; the largest "
            f"clipped part is {float(gap.max()):.3g}, and the sup error cannot fall below "
            "the part of the target's range the readout misses (ch4-prop-range-floor)",
            UserWarning,
            stacklevel=3,
        )


#: Values are clipped to :math:`[-1+m, 1-m]` before ``artanh`` for the ``"tanh"`` readout.
TANH_MARGIN = 1e-6


#: Slope jumps below this many units of round-off of the neighbouring slopes are not kinks.
ROUNDOFF_FACTOR = 64.0


def significant_kinks(field: PiecewiseLinear) -> tuple[Tensor, Tensor]:
    r"""The slope jumps of a PL field that are not round-off, and their knots.

    A slope computed from values :math:`|y|\le Y` at knots :math:`|k|\le S` that are
    :math:`g` apart carries a round-off error of about
    :math:`\epsilon\,(Y + |s|_{\max} S)/g` (:math:`\epsilon` the machine epsilon). Closely
    spaced knots, such as the tie-broken values :math:`F_1 + \text{rank}\cdot\eta` of the
    identity readout, therefore show spurious jumps far above a fixed relative cut. A jump
    is kept if it exceeds :data:`ROUNDOFF_FACTOR` times that error for the smaller gap next
    to its knot (and :math:`10^{-12}` times the largest slope); a dropped jump is carried to
    the next kept knot, so the slope beyond every kept knot is exact and the number of kinks
    does not depend on round-off (a leftover after the last kept knot joins that knot).

    Returns ``(c, k)``: the kept jumps and their knots, in increasing order of the knots.
    """
    _, _, jumps, knots = field.relu_expansion()
    slopes = field.slopes
    eps = torch.finfo(knots.dtype).eps
    largest = float(slopes.abs().max())
    scale = float(field.values.abs().max()) + largest * float(knots.abs().max())
    near = torch.full_like(knots, float("inf"))
    if knots.numel() > 1:
        gaps = torch.diff(knots)
        near[:-1] = gaps
        near[1:] = torch.minimum(near[1:], gaps)
    tol = (ROUNDOFF_FACTOR * eps * scale / near).clamp(min=1e-12 * largest).tolist()
    kept: list[tuple[float, float]] = []
    carry = 0.0
    for jump, knot, limit in zip(jumps.tolist(), knots.tolist(), tol):
        carry += jump
        if abs(carry) > limit:
            kept.append((carry, knot))
            carry = 0.0
    if kept and carry != 0.0:
        kept[-1] = (kept[-1][0] + carry, kept[-1][1])
    table = torch.tensor(kept, dtype=knots.dtype).reshape(-1, 2)
    return table[:, 0].contiguous(), table[:, 1].contiguous()


@dataclass(frozen=True)
class Stage:
    r"""One stage: the flow for time ``duration`` of the field :math:`\psi(x_{source})\,e_{axis}`.

    If ``axis == source`` the stage is a one-dimensional flow along that axis (a zoom),
    computed exactly by :func:`flowapprox.pl_flow`; otherwise it is the exact shear
    :math:`x_{axis} \leftarrow x_{axis} + t\,\psi(x_{source})`.
    """

    name: str
    axis: int
    source: int
    field: PiecewiseLinear
    duration: float

    def __call__(self, x: Tensor) -> Tensor:
        """Apply the stage to points of shape ``(batch, 2)``."""
        y = x.clone()
        if self.axis == self.source:
            y[:, self.axis] = pl_flow(self.field, x[:, self.axis], self.duration)
        else:
            y[:, self.axis] = x[:, self.axis] + self.duration * self.field(x[:, self.source])
        return y

    def units(self, dim: int = 2) -> tuple[Tensor, Tensor, Tensor]:
        r"""The field as ReLU units :math:`\sum_k v_k\,\mathrm{relu}(w_k\cdot x + b_k)`.

        Returns ``(V, W, b)`` of shapes ``(m, dim)``, ``(m, dim)``, ``(m,)``. From
        :math:`\psi(s) = a s + \beta + \sum_i c_i\,\mathrm{relu}(s-k_i)`: one unit per kink
        that is not round-off (:func:`significant_kinks`), two for the linear part
        (:math:`a s = a\,\mathrm{relu}(s) - a\,\mathrm{relu}(-s)`) and one constant unit
        (:math:`w=0`, :math:`b=1`) for :math:`\beta`. The sum equals the field everywhere, not
        only on the box, up to the round-off of the field's own slopes.
        """
        a, beta, _, _ = self.field.relu_expansion()
        dtype = self.field.knots.dtype
        c, k = significant_kinks(self.field)
        keep = torch.ones_like(c, dtype=torch.bool)
        # Extra units (coefficient, sign of x_source, bias): a s = a relu(s) - a relu(-s), and
        # the constant beta = beta relu(0 s + 1).
        extra = ([(a, 1.0, 0.0), (-a, -1.0, 0.0)] if a != 0 else []) + (
            [(beta, 0.0, 1.0)] if beta != 0 else []
        )
        extra_t = torch.tensor(extra, dtype=dtype).reshape(-1, 3)
        # Unit m is coeff[m] * relu(sign[m] * x_source + bias[m]) * e_axis.
        coeff = torch.cat([c[keep], extra_t[:, 0]])
        sign = torch.cat([torch.ones(int(keep.sum()), dtype=dtype), extra_t[:, 1]])
        bias = torch.cat([-k[keep], extra_t[:, 2]])
        v = torch.zeros(coeff.numel(), dim, dtype=dtype)
        v[:, self.axis] = coeff
        w = torch.zeros(coeff.numel(), dim, dtype=dtype)
        w[:, self.source] = sign
        return v, w, bias


@dataclass(frozen=True, eq=False)
class Construction:
    r"""A composition of flows of ReLU fields and a readout approximating a target on a box.

    Built by :func:`construct`; see the module documentation for the stages.

    Attributes
    ----------
    box
        The box :math:`K`.
    cells
        The grid :math:`(N_1, N_2)`.
    readout_kind
        ``"linear"``, ``"tanh"`` or ``"identity"``.
    stages
        The flows, in the order they are applied.
    centres
        Cell centres, shape ``(N1 * N2, 2)``; index ``j * N1 + i`` for cell ``(i, j)``.
    values
        The target at the centres, shape ``(N1 * N2,)`` or ``(N1 * N2, 2)``.
    """

    box: Box
    cells: tuple[int, int]
    readout_kind: str
    stages: tuple[Stage, ...]
    centres: Tensor
    values: Tensor

    def flow_map(self, x: Tensor) -> Tensor:
        """The flow map :math:`\\varphi`: the stages applied to points of shape ``(batch, 2)``.

        The construction computes in float64 (its knots are closer than float32 resolves);
        points of another floating dtype are converted to float64 and the images back to the
        dtype of ``x`` (differentiably), so that e.g. :func:`flowapprox.lp_error` works under
        any default dtype.
        """
        x = check_points("x", x, 2)
        y = x.to(self.centres.dtype)
        for stage in self.stages:
            y = stage(y)
        return y.to(x.dtype)

    def readout(self, y: Tensor) -> Tensor:
        """The readout :math:`g`: ``y[:, 0]``, ``tanh(y[:, 0])`` or ``y`` itself."""
        y = check_points("y", y, 2)
        if self.readout_kind == "identity":
            return y
        return torch.tanh(y[:, 0]) if self.readout_kind == "tanh" else y[:, 0]

    def __call__(self, x: Tensor) -> Tensor:
        """The approximant :math:`g\\circ\\varphi` at points ``x`` of shape ``(batch, 2)``."""
        return self.readout(self.flow_map(x))

    def approximant(self, x: Tensor) -> Tensor:
        r"""The piecewise-constant approximant :math:`\sum_\alpha F(c_\alpha)\mathbf 1_{C_\alpha}`.

        The construction converges to it as the zoom time grows (book, Chapter 4). Points on
        a cell boundary belong to the cell on their right/top; points outside the box to the
        nearest cell.
        """
        x = check_points("x", x, 2)
        (a1, a2), (b1, b2) = self.box.lower, self.box.upper
        i = cell_index(x[:, 0], self.cells[0], lower=a1, upper=b1)
        j = cell_index(x[:, 1], self.cells[1], lower=a2, upper=b2)
        return self.values[j * self.cells[0] + i].to(x.dtype)

    def control(self) -> PiecewiseConstantControl:
        """The construction as a control of the ReLU residual-block family, one piece per stage.

        Stages with fewer units than the widest one are padded with zero units. Integrating
        this control (e.g. with :func:`flowapprox.flow`) reproduces :meth:`flow_map` up to the
        integrator's error.
        """
        units = [stage.units() for stage in self.stages]
        width = max(1, max(v.shape[0] for v, _, _ in units))
        dtype = self.centres.dtype
        big_v = torch.zeros(len(units), 2, width, dtype=dtype)
        big_w = torch.zeros(len(units), width, 2, dtype=dtype)
        big_b = torch.zeros(len(units), width, dtype=dtype)
        for j, (v, w, b) in enumerate(units):
            m = v.shape[0]
            big_v[j, :, :m], big_w[j, :m], big_b[j, :m] = v.T, w, b
        durations = torch.tensor([stage.duration for stage in self.stages], dtype=dtype)
        return PiecewiseConstantControl(
            ResidualBlock(width, "relu"), durations, {"W": big_v, "A": big_w, "b": big_b}
        )

    @property
    def neurons(self) -> int:
        """Number of ReLU units over all stages (:func:`flowapprox.cost.neuron_count`)."""
        return neuron_count(self.control())

    @property
    def horizon(self) -> float:
        """The time horizon :math:`T`: twice the zoom time plus one per shear."""
        return float(sum(stage.duration for stage in self.stages))

    @property
    def time_cost(self) -> float:
        """The time cost of :meth:`control` (:attr:`.PiecewiseConstantControl.time_cost`)."""
        return self.control().time_cost


def _check_target_values(values: object, count: int, readout: str) -> Tensor:
    """The target's values at the centres, as ``(count,)`` (scalar) or ``(count, 2)``."""
    name = "target(centres)"
    if readout == "identity":
        return check_tensor(name, values, shape=(count, 2))
    values = check_tensor(name, values)
    if values.shape not in ((count,), (count, 1)):
        raise ValueError(
            f"{name} must have shape ({count},) or ({count}, 1) for the {readout!r} readout, "
            f"got {tuple(values.shape)}"
        )
    return values.reshape(count)


def _tie_break(values: Tensor, eta: float) -> Tensor:
    """``values + rank * eta``: pairwise distinct, sorted like ``values`` (ties by index)."""
    order = torch.sort(values, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(values.numel())
    return values + eta * rank.to(values.dtype)


def _interpolant(knots: Tensor, values: Tensor) -> PiecewiseLinear:
    """The PL interpolant through ``(knots, values)`` (any order), constant beyond the ends."""
    order = torch.argsort(knots)
    return PiecewiseLinear(knots[order].contiguous(), values[order].contiguous())


def _check_cells(cells: object) -> tuple[int, int]:
    if isinstance(cells, int) and not isinstance(cells, bool):
        cells = (cells, cells)
    if not isinstance(cells, (tuple, list)) or len(cells) != 2:
        raise ValueError(f"cells must be a positive integer or a pair of them, got {cells!r}")
    return check_positive_int("cells[0]", cells[0]), check_positive_int("cells[1]", cells[1])


def construct(
    target: Target,
    box: Box,
    cells: int | tuple[int, int],
    zoom_time: float | None = None,
    *,
    readout: str = "linear",
    delta: float = 0.05,
    tie_spread: float | None = None,
) -> Construction:
    r"""Build the explicit flow-plus-readout approximant of ``target`` on a 2-D ``box``.

    Implements :prf:ref:`ch4-def-construction` and :prf:ref:`ch4-prop-construction`.

    Parameters
    ----------
    target
        Any callable mapping points of shape ``(batch, 2)`` to values of shape ``(batch,)``
        (readouts ``"linear"``, ``"tanh"``; ``(batch, 1)`` is accepted) or ``(batch, 2)``
        (readout ``"identity"``). It is evaluated only at the cell centres.
    box
        A 2-D :class:`flowapprox.Box`.
    cells
        Grid size :math:`N` (an :math:`N\times N` grid) or a pair :math:`(N_1, N_2)`.
    zoom_time
        Time :math:`T\ge0` of each zoom (default :func:`zoom_schedule` of the grid and
        readout); the total horizon is :math:`2T + 2` (:math:`2T+3` for the identity
        readout). A :class:`UserWarning` says when the identity readout gets less than its
        schedule: its second component's error then grows with :math:`N`.
    readout
        ``"linear"`` (:math:`y_1`), ``"tanh"`` (:math:`\tanh y_1`) or ``"identity"``.
    delta
        Relative width :math:`\delta\in(0,1)` of the boundary layers of the multi-well
        fields (:func:`flowapprox.multiwell`).
    tie_spread
        Identity readout only: the largest offset added to the first coordinates to make
        them distinct (default :math:`10^{-3}` times the cell width :math:`h_1`).

    Returns
    -------
    Construction
        Computed in float64 whatever the default dtype; it accepts points of any floating
        dtype and returns values in that dtype. Evaluates :math:`\varphi` (``flow_map``),
        :math:`g` (``readout``) and :math:`g\circ\varphi` (call), and reports ``neurons``,
        ``horizon`` and ``time_cost``.

    Notes
    -----
    The error converges to that of the piecewise-constant approximant as ``zoom_time``
    grows (book, Chapter 4, :prf:ref:`ch4-prop-construction`); :func:`zoom_schedule` gives
    zoom times that reach that plateau for Lipschitz targets.
    """
    check_callable("target", target)
    check_box("box", box, 2)
    n1, n2 = _check_cells(cells)
    readout = check_choice("readout", readout, READOUTS)
    schedule = zoom_schedule(max(n1, n2), readout)
    if zoom_time is None:
        zoom_time = schedule
    zoom_time = check_real("zoom_time", zoom_time, nonnegative=True)
    if readout == "identity" and zoom_time < schedule - 1e-9:
        warnings.warn(
            f"zoom_time {zoom_time:g} is below the identity readout's schedule "
            f"{schedule:.3g} = 8 + 5 log N: the error of the second component grows with N",
            UserWarning,
            stacklevel=2,
        )
    delta = check_real("delta", delta, positive=True)
    if delta >= 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    (a1, a2), (b1, b2) = box.lower, box.upper
    h1, h2 = (b1 - a1) / n1, (b2 - a2) / n2
    if tie_spread is None:
        tie_spread = 1e-3 * h1
    tie_spread = check_real("tie_spread", tie_spread, positive=True)

    dtype = torch.float64
    c1 = cell_centres(n1, lower=a1, upper=b1).to(dtype)
    c2 = cell_centres(n2, lower=a2, upper=b2).to(dtype)
    i = torch.arange(n1).repeat(n2)  # cell (i, j) has index j * n1 + i
    j = torch.arange(n2).repeat_interleave(n1)
    centres = torch.stack([c1[i], c2[j]], dim=1)
    with torch.no_grad():
        values = _check_target_values(target(centres), n1 * n2, readout).detach().to(dtype)

    if readout == "linear":
        first = values
    elif readout == "tanh":
        clipped = values.clamp(-1 + TANH_MARGIN, 1 - TANH_MARGIN)
        _warn_clipped(values, clipped)
        first = torch.atanh(clipped)
    else:
        first = _tie_break(values[:, 0], tie_spread / (n1 * n2))

    separate = PiecewiseLinear(c1, torch.arange(n1, dtype=dtype) * (h2 / n1))
    rows = centres[:, 1] + separate(centres[:, 0])  # distinct, increasing with the index
    stages = [
        Stage("zoom x1", 0, 0, multiwell(n1, delta, lower=a1, upper=b1, dtype=dtype), zoom_time),
        Stage("zoom x2", 1, 1, multiwell(n2, delta, lower=a2, upper=b2, dtype=dtype), zoom_time),
        Stage("separate", 1, 0, separate, 1.0),
        Stage("set y1", 0, 1, _interpolant(rows, first - centres[:, 0]), 1.0),
    ]
    if readout == "identity":
        stages.append(Stage("set y2", 1, 0, _interpolant(first, values[:, 1] - rows), 1.0))
    return Construction(box, (n1, n2), readout, tuple(stages), centres, values)


#: Nodes evaluated at once by :func:`graded_lp_error` (memory, not accuracy).
GRADED_CHUNK = 2**21


def graded_lp_error(
    construction: Construction,
    p: float | Sequence[float],
    *,
    target: Target | None = None,
    depth: tuple[float, float] = (1e-2, 1e-10),
    ratio: float = 0.25,
    order: int = 4,
) -> float | tuple[float, ...]:
    r"""The :math:`L^p(K)` distance of a construction to ``target`` by a quadrature graded
    towards the cell edges.

    With ``target=None`` this is :math:`D_p=\|g\circ\varphi - F_N\|_{L^p(K)}`, the distance to
    the piecewise-constant approximant :math:`F_N` (:meth:`Construction.approximant`),
    whose only source is the boundary layers of the zooms; otherwise
    :math:`\|\text{target} - g\circ\varphi\|_{L^p(K)}`. Near an unstable cell edge the zoom
    moves a point at depth :math:`u` in its layer to distance of order
    :math:`u^{-1/\lambda}e^{-T}h` from the centre (:prf:ref:`ch4-lem-zoom`), so the error
    varies on every scale of :math:`u` down to about :math:`e^{-\lambda T}`, far below what
    random or tensor Gauss points see. The rule is the tensor product of two
    :func:`flowapprox.graded_rule` rules on the axes of the box, graded towards the cell
    edges down to the relative depths ``depth = (depth_1, depth_2)``; the construction is
    evaluated exactly (the zooms act coordinatewise, so they run once per axis on the
    one-dimensional nodes, and the shears on the product grid, in chunks of
    :data:`GRADED_CHUNK` nodes). The defaults resolve the layers of the book's check at
    :math:`\delta=1/4` (the second coordinate's layers dominate, the first's are harmless;
    :prf:ref:`ch4-prop-rate-sharp`).

    ``p`` may be a sequence of exponents (finite, at least 1): then the distances for all of
    them come from one evaluation, as a tuple.

    Implements :prf:ref:`ch4-prop-rate-sharp`.
    """
    if not isinstance(construction, Construction):
        raise TypeError(f"construction must be a Construction, got {type(construction).__name__}")
    zooms = construction.stages[:2]
    if [(s.axis, s.source) for s in zooms] != [(0, 0), (1, 1)]:
        raise ValueError("construction must start with the zooms along x1 and x2")
    scalar = not isinstance(p, (list, tuple))
    given: Sequence[object] = [p] if scalar else p  # type: ignore[assignment]
    exponents = [check_real("p", q) for q in given]
    if not exponents or any(q < 1 for q in exponents):
        raise ValueError(f"p must be a finite exponent >= 1 or a non-empty list of them, got {p!r}")
    if target is not None:
        check_callable("target", target)
    if not isinstance(depth, (list, tuple)) or len(depth) != 2:
        raise ValueError(f"depth must be a pair (depth_1, depth_2), got {depth!r}")
    (a1, a2), (b1, b2) = construction.box.lower, construction.box.upper
    n1, n2 = construction.cells
    dtype = construction.centres.dtype
    rules = [
        graded_rule(n, lower=lo, upper=hi, depth=d, ratio=ratio, order=order, dtype=dtype)
        for n, lo, hi, d in ((n1, a1, b1, depth[0]), (n2, a2, b2, depth[1]))
    ]
    (x1, w1, i1), (x2, w2, i2) = rules
    z1 = pl_flow(zooms[0].field, x1, zooms[0].duration)
    z2 = pl_flow(zooms[1].field, x2, zooms[1].duration)
    sums = [0.0] * len(exponents)
    block = max(1, GRADED_CHUNK // x2.numel())
    with torch.no_grad():
        for start in range(0, x1.numel(), block):
            rows = slice(start, start + block)
            # Coordinates as broadcastable (rows, 1) and (1, columns) tensors: a shear whose
            # source still depends on one axis only is evaluated once per node of that axis.
            y = [z1[rows][:, None], z2[None, :]]
            for stage in construction.stages[2:]:
                y[stage.axis] = y[stage.axis] + stage.duration * stage.field(y[stage.source])
            out = construction.readout(torch.stack(torch.broadcast_tensors(*y), -1).reshape(-1, 2))
            if target is None:
                cell = (i2[None, :] * n1 + i1[rows][:, None]).reshape(-1)
                ref = construction.values[cell]
            else:
                x = torch.stack(torch.broadcast_tensors(x1[rows][:, None], x2[None, :]), -1)
                ref = check_tensor("target(x)", target(x.reshape(-1, 2)), shape=tuple(out.shape))
            diff = out - ref.to(dtype)
            gap = diff.abs() if diff.ndim == 1 else diff.norm(dim=1)
            w = (w1[rows][:, None] * w2[None, :]).reshape(-1)
            for k, q in enumerate(exponents):
                sums[k] += float((w * gap**q).sum())
    values = tuple(total ** (1.0 / q) for total, q in zip(sums, exponents))
    return values[0] if scalar else values


#: ``(offset, slope)`` of :func:`zoom_schedule` per readout.
ZOOM_SCHEDULES = {"linear": (3.0, 2.0), "tanh": (3.0, 2.0), "identity": (8.0, 5.0)}


def zoom_schedule(
    cells: int,
    readout: str = "linear",
    *,
    offset: float | None = None,
    slope: float | None = None,
) -> float:
    r"""The zoom time :math:`T(N) = \text{offset} + \text{slope}\cdot\log N` of :func:`construct`.

    With the defaults of :data:`ZOOM_SCHEDULES`, :math:`3 + 2\log N` for the linear and tanh
    readouts and :math:`8 + 5\log N` for the identity readout, whose last shear has slopes up
    to :math:`\operatorname{osc}F_2/\eta` with :math:`\eta\propto N^{-3}` (book, Chapter 4,
    after :prf:ref:`ch4-prop-construction`). ``offset`` and ``slope`` override the defaults
    (the notebooks expose them as parameters).

    >>> round(zoom_schedule(8), 4), round(zoom_schedule(8, "identity"), 4)
    (7.1589, 18.3972)

    Implements :prf:ref:`ch4-prop-construction`.
    """
    cells = check_positive_int("cells", cells)
    readout = check_choice("readout", readout, READOUTS)
    default_offset, default_slope = ZOOM_SCHEDULES[readout]
    offset = default_offset if offset is None else check_real("offset", offset)
    slope = default_slope if slope is None else check_real("slope", slope)
    return offset + slope * math.log(cells)


def lift(x: Tensor) -> Tensor:
    """Embed one-dimensional points into the plane, :math:`x\\mapsto(x, 0)`.

    ``x`` has shape ``(batch,)`` or ``(batch, 1)``; the result has shape ``(batch, 2)``.
    """
    x = check_tensor("x", x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"x must have shape (batch,) or (batch, 1), got {tuple(x.shape)}")
    return torch.stack([x, torch.zeros_like(x)], dim=1)


@dataclass(frozen=True, eq=False)
class LiftedConstruction:
    r"""A one-dimensional approximant :math:`x\mapsto g(\varphi(x, 0))`, built by
    :func:`construct_lifted`; ``construction`` is the underlying 2-D construction."""

    construction: Construction

    def __call__(self, x: Tensor) -> Tensor:
        """Evaluate at points of shape ``(batch, 1)`` or ``(batch,)``; returns ``(batch,)``."""
        return self.construction(lift(x))

    def approximant(self, x: Tensor) -> Tensor:
        """The piecewise-constant approximant on the :math:`N` cells of the interval."""
        return self.construction.approximant(lift(x))


def construct_lifted(
    target: Target,
    interval: Box,
    cells: int,
    zoom_time: float | None = None,
    *,
    delta: float = 0.05,
) -> LiftedConstruction:
    r"""Approximate a 1-D ``target`` by lifting to the plane, flowing, and reading out :math:`y_1`.

    The 2-D construction runs on :math:`[a,b]\times[-\tfrac{b-a}2,\tfrac{b-a}2]` with
    :math:`N\times1` cells and the target :math:`F(x_1)`; the lifted points :math:`(x, 0)` lie
    on the centre line of the single row, which the zoom along :math:`x_2` leaves in place.

    Implements :prf:ref:`ch4-rem-lift`.

    Parameters
    ----------
    target
        Callable from points of shape ``(batch, 1)`` to values of shape ``(batch,)``.
    interval
        A 1-D :class:`flowapprox.Box` :math:`[a, b]`.
    cells
        Number :math:`N` of cells of the interval.
    zoom_time, delta
        As in :func:`construct`.
    """
    check_callable("target", target)
    check_box("interval", interval, 1)
    cells = check_positive_int("cells", cells)
    (a,), (b,) = interval.lower, interval.upper
    half = (b - a) / 2
    box = Box([a, -half], [b, half])
    construction = construct(
        lambda z: target(z[:, :1]), box, (cells, 1), zoom_time, readout="linear", delta=delta
    )
    return LiftedConstruction(construction)


# ------------------------------------------------ uniform approximation by shear flows


@dataclass(frozen=True, eq=False)
class ShearComposition:
    r"""A composition of exact shear flows of ReLU fields (:func:`shear_flows`).

    Attributes
    ----------
    stages
        The shears, in the order they are applied (each a :class:`Stage` with
        ``axis != source`` and duration 1).
    """

    stages: tuple[Stage, ...]

    def __call__(self, x: Tensor) -> Tensor:
        """The flow map at points ``(batch, 2)`` (float64 inside, like :class:`Construction`)."""
        x = check_points("x", x, 2)
        y = x.to(torch.float64)
        for stage in self.stages:
            y = stage(y)
        return y.to(x.dtype)

    def control(self) -> PiecewiseConstantControl:
        """The composition as a control of the ReLU residual-block family, one piece a shear."""
        units = [stage.units() for stage in self.stages]
        width = max(1, max(v.shape[0] for v, _, _ in units))
        big_v = torch.zeros(len(units), 2, width, dtype=torch.float64)
        big_w = torch.zeros(len(units), width, 2, dtype=torch.float64)
        big_b = torch.zeros(len(units), width, dtype=torch.float64)
        for j, (v, w, b) in enumerate(units):
            m = v.shape[0]
            big_v[j, :, :m], big_w[j, :m], big_b[j, :m] = v.T, w, b
        return PiecewiseConstantControl(
            ResidualBlock(width, "relu"), torch.ones(len(units), dtype=torch.float64),
            {"W": big_v, "A": big_w, "b": big_b},
        )

    @property
    def time_cost(self) -> float:
        """The time cost of :meth:`control` (book, :prf:ref:`ch2-def-time-cost`)."""
        return self.control().time_cost


def shear_flows(
    shears: list[tuple[int, Callable[[Tensor], Tensor], tuple[float, float]]], pieces: int
) -> ShearComposition:
    r"""Uniform approximation of a composition of smooth shears by exact flows of ReLU fields.

    Each entry ``(axis, s, (lo, hi))`` is the shear :math:`x_{axis}\leftarrow x_{axis} +
    s(x_{other})`, the time-1 flow of the field :math:`s(x_{other})\,e_{axis}`. The field is
    replaced by its piecewise-linear interpolant on ``pieces`` equal pieces of
    ``[lo, hi]`` (which must contain every value of :math:`x_{other}` the points reach), a
    finite sum of ReLU ridge neurons, whose flow is exact. For :math:`s\in C^2` the
    interpolation error is at most :math:`(hi-lo)^2\max|s''|/(8\,\text{pieces}^2)`, so the
    composition converges uniformly at second order in the number of pieces (book, Chapter 5,
    "The positive side").

    Implements :prf:ref:`ch5-prop-degree` (its converse fails: orientation-preserving maps
    are reachable uniformly).
    """
    pieces = check_positive_int("pieces", pieces)
    if not isinstance(shears, (list, tuple)) or not shears:
        raise ValueError("shears must be a non-empty list of (axis, s, (lo, hi))")
    stages = []
    for k, entry in enumerate(shears):
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise ValueError(f"shears[{k}] must be a triple (axis, s, (lo, hi)), got {entry!r}")
        axis, s, interval = entry
        if axis not in (0, 1):
            raise ValueError(f"shears[{k}] axis must be 0 or 1, got {axis!r}")
        check_callable(f"shears[{k}] s", s)
        if not isinstance(interval, (list, tuple)) or len(interval) != 2:
            raise ValueError(f"shears[{k}] interval must be a pair (lo, hi), got {interval!r}")
        lo = check_real(f"shears[{k}] lo", interval[0])
        hi = check_real(f"shears[{k}] hi", interval[1])
        if not lo < hi:
            raise ValueError(f"shears[{k}] interval must have lo < hi, got {interval!r}")
        knots = torch.linspace(lo, hi, pieces + 1, dtype=torch.float64)
        values = check_tensor(f"shears[{k}] s(knots)", s(knots), shape=(pieces + 1,))
        stages.append(Stage(f"shear {k}", axis, 1 - axis, _interpolant(knots, values), 1.0))
    return ShearComposition(tuple(stages))


# ------------------------------------------------------------ any dimension n >= 2


@dataclass(frozen=True, eq=False)
class CubeConstruction:
    r"""The construction of :func:`construct_cube` on a box of :math:`\mathbb R^n`.

    Attributes
    ----------
    box
        The box :math:`K\subset\mathbb R^n`.
    cells
        Cells per side :math:`N` (:math:`N^n` cells).
    stages
        The flows, in order: :math:`n` zooms, :math:`n-1` separating shears, one shear that
        sets the value in :math:`x_1`; the readout is :math:`y_1`.
    values
        The target at the cell centres, in the order of ``torch.cartesian_prod`` of the
        per-axis centres (last coordinate fastest).
    """

    box: Box
    cells: int
    stages: tuple[Stage, ...]
    values: Tensor

    def __call__(self, x: Tensor) -> Tensor:
        """The approximant :math:`y_1\\circ\\varphi` at points ``(batch, n)`` (float64 inside)."""
        x = check_points("x", x, self.box.dim)
        y = x.to(torch.float64)
        for stage in self.stages:
            y = stage(y)
        return y[:, 0].to(x.dtype)

    def approximant(self, x: Tensor) -> Tensor:
        r"""The piecewise-constant approximant :math:`\sum_\alpha F(c_\alpha)\mathbf 1_{C_\alpha}`,
        the limit of the construction as the zoom time grows (the floor of its error)."""
        x = check_points("x", x, self.box.dim)
        index = torch.zeros(x.shape[0], dtype=torch.long)
        for k in range(self.box.dim):
            i = cell_index(x[:, k], self.cells, lower=self.box.lower[k], upper=self.box.upper[k])
            index = index * self.cells + i
        return self.values[index].to(x.dtype)

    @property
    def horizon(self) -> float:
        """:math:`T`: :math:`n` times the zoom time plus one per shear."""
        return float(sum(stage.duration for stage in self.stages))

    @property
    def time_cost(self) -> float:
        r"""The time cost :math:`\sum_j c(\theta_j)t_j` of the ReLU units of the stages: each
        stage's field :math:`\psi(x_s)e_a` is a sum of units
        :math:`c\,\mathrm{relu}(\pm x_s - k)\,e_a` of rate :math:`|c|` (constant units free)
        (book, :prf:ref:`ch2-def-time-cost`)."""
        total = 0.0
        for stage in self.stages:
            v, w, _ = stage.units(self.box.dim)
            total += stage.duration * float((v.abs().sum(1) * w.abs().sum(1)).sum())
        return total


def construct_cube(
    target: Target,
    box: Box,
    cells: int,
    zoom_time: float | None = None,
    *,
    delta: float = 0.05,
    family: str | Well = "relu",
    rate: float = 8.0,
    escape: float = 2.0,
    sharpness: float = 20.0,
) -> CubeConstruction | ProfileConstruction:
    r"""The book's construction in dimension :math:`n\ge2`: zoom, separate, read out.

    1. **zoom** along each coordinate with the multi-well field for time ``zoom_time``;
    2. **separate**: for :math:`k=1,\dots,n-1` the shear
       :math:`x_{k+1}\leftarrow x_{k+1}+\Psi_k(x_k)`, with :math:`\Psi_k` piecewise linear
       and equal to :math:`m\,h_{k+1}/N^{k}` at the :math:`m`-th smallest of the
       :math:`N^{k}` values that :math:`x_k` takes at the (moved) centres, so that after it
       the centres have :math:`N^{k+1}` distinct values of :math:`x_{k+1}` (spacing
       :math:`h_{k+1}/N^k`);
    3. **set the value**: :math:`x_1\leftarrow x_1+\Phi(x_n)` with
       :math:`\Phi(r_\alpha)=F(c_\alpha)-c^{(1)}_\alpha`; readout :math:`y_1`.

    In dimension 2 this is :func:`construct` with the linear readout. The book's own
    construction (Chapter 4, :prf:ref:`ch4-prop-construction`), generalised.

    With ``family="sigmoid"``, ``"tanh"`` or a well the same stages are built from its units
    (:func:`flowapprox.profiles.construct_from_profiles`: square-wave zooms integrated by
    RK4, staircase shears) and a :class:`flowapprox.profiles.ProfileConstruction` is
    returned; ``delta`` is then unused and ``rate``, ``escape``, ``sharpness`` apply.

    Parameters
    ----------
    target
        Scalar target, points ``(batch, n)`` to values ``(batch,)``.
    box
        A box of dimension :math:`n\ge2`.
    cells
        :math:`N`, cells per side.
    zoom_time, delta
        Zoom time per coordinate (default :math:`3 + 2(n-1)\log N` for ReLU, else
        :func:`flowapprox.profiles.profile_zoom_time`) and the layer width of the
        multi-well fields (ReLU only).
    family
        ``"relu"`` (PL fields, exact flows), ``"sigmoid"``, ``"tanh"`` or a
        :class:`flowapprox.profiles.Well`.
    rate, escape, sharpness
        Smooth families only: :math:`\kappa`, :math:`\lambda` of
        :func:`flowapprox.profiles.square_wave` and :math:`\kappa'` of
        :func:`flowapprox.profiles.staircase`.
    """
    if not isinstance(family, Well):
        family = check_choice("family", family, ("relu",) + PROFILE_FAMILIES)
    if family != "relu":
        return construct_from_profiles(target, box, cells, zoom_time, family=family,
                                       rate=rate, escape=escape, sharpness=sharpness)
    check_callable("target", target)
    n = check_box("box", box, min_dim=2).dim
    cells = check_positive_int("cells", cells)
    if zoom_time is None:
        zoom_time = 3.0 + 2.0 * (n - 1) * math.log(cells)
    zoom_time = check_real("zoom_time", zoom_time, nonnegative=True)
    delta = check_real("delta", delta, positive=True)
    if delta >= 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    f64 = torch.float64
    lower, upper = box.lower, box.upper
    axes = [cell_centres(cells, lower=lower[k], upper=upper[k]).to(f64) for k in range(n)]
    centres = torch.cartesian_prod(*axes).reshape(-1, n)
    stages = [Stage(f"zoom x{k + 1}", k, k,
                    multiwell(cells, delta, lower=lower[k], upper=upper[k], dtype=f64), zoom_time)
              for k in range(n)]
    moved = centres.clone()
    for k in range(n - 1):
        values = torch.unique(moved[:, k])
        h = (upper[k + 1] - lower[k + 1]) / cells
        offsets = torch.arange(values.numel(), dtype=f64) * (h / values.numel())
        stage = Stage(f"separate x{k + 2}", k + 1, k, _interpolant(values, offsets), 1.0)
        stages.append(stage)
        moved = stage(moved)
    with torch.no_grad():
        wanted = check_tensor("target(centres)", target(centres), shape=(centres.shape[0],))
    stages.append(Stage("set value", 0, n - 1,
                        _interpolant(moved[:, n - 1], wanted.to(f64) - centres[:, 0]), 1.0))
    return CubeConstruction(box, cells, tuple(stages), wanted.to(f64))
