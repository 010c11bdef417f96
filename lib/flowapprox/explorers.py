r"""Interactive explorers of Chapters 1-4, for JupyterLab (``make lab``).

Each explorer has two parts. A *view* is a plain function of a few validated parameters that
computes with the chapter's library functions and returns a :class:`View`: a figure drawn
with :mod:`flowapprox.plotting` and a one-line summary. A *builder* wraps the view in
ipywidgets (sliders, drop-downs, a text box; ``ipywidgets.interactive_output``) and shows
the figure as a PNG image, so it needs no matplotlib backend in the kernel. ipywidgets is
imported only when a builder is called: the library works without it.

====================================  ===========================================  ==========
view                                  builder                                      chapter
====================================  ===========================================  ==========
:func:`depth_view`                    :func:`depth_explorer`                       1
:func:`splitting_view`                :func:`splitting_explorer`                   2
:func:`one_dimension_view`            :func:`one_dimension_explorer`               3
:func:`construction_view`             :func:`construction_explorer`                4
====================================  ===========================================  ==========

Targets typed by the reader are parsed by :func:`parse_target`, which accepts arithmetic on
the coordinates and a fixed list of functions, and never evaluates Python code. Each view
takes well under a second at its defaults. The explorer notebooks are
``chapters/0N-.../explore.ipynb``; they are not pages of the book (widgets need a kernel).

Examples
--------
>>> import torch
>>> from flowapprox import explorers
>>> f = explorers.parse_target("sin(pi * x1) + x2**2")
>>> f(torch.tensor([[0.5, 2.0]], dtype=torch.float64)).tolist()
[5.0]
>>> view = explorers.construction_view("x1 * x2", cells=2)
>>> len(view.figure.axes) > 0
True
>>> explorers.plotting.close_figure(view.figure)
"""

from __future__ import annotations

import ast
import contextlib
import html
import math
import operator
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import collapse, monotone, plotting, splitting
from ._validation import check_choice, check_positive_int, check_real
from .construction import construct, zoom_schedule
from .controls import PiecewiseConstantControl
from .families import ResidualBlock
from .flows import METHODS, flow, reference_flow, ridge_flow
from .metrics import (
    Box,
    fit_loglog,
    grid,
    jacobian_determinants,
    lp_error,
    sobol_points,
)
from .piecewise import multiwell, pl_flow
from .plotting import Axes, Figure

F64 = torch.float64

# ------------------------------------------------------------------ safe target parsing

#: Functions a typed target may call (also as ``np.sin``, ``torch.sin`` or ``math.sin``).
FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp,
    "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "relu": torch.relu, "sign": torch.sign,
    "arctan": torch.atan, "atan": torch.atan, "minimum": torch.minimum,
    "maximum": torch.maximum, "min": torch.minimum, "max": torch.maximum,
}
#: Named constants a typed target may use.
CONSTANTS = {"pi": math.pi, "e": math.e}
_MODULES = {"np", "numpy", "torch", "math"}
_BINARY: dict[type[ast.operator], Callable[[Tensor, Tensor], Tensor]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.Mod: torch.remainder,
}
_UNARY: dict[type[ast.unaryop], Callable[[Tensor], Tensor]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos,
}
#: Longest target text accepted.
MAX_TARGET_LENGTH = 300


def _variables(dim: int) -> tuple[str, ...]:
    return ("x", "x1") if dim == 1 else ("x1", "x2")


@dataclass(frozen=True)
class TypedTarget:
    """A target typed as text and parsed by :func:`parse_target`; call it on points.

    Points have shape ``(batch, dim)`` (or ``(batch,)`` when ``dim == 1``); values have
    shape ``(batch,)``.
    """

    text: str
    dim: int
    tree: ast.Expression

    def __call__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x must have a floating dtype, got {x.dtype}")
        points = x[:, None] if (self.dim == 1 and x.ndim == 1) else x
        if points.ndim != 2 or points.shape[1] != self.dim:
            raise ValueError(f"x must have shape (batch, {self.dim}), got {tuple(x.shape)}")
        if self.dim == 1:
            names = {"x": points[:, 0], "x1": points[:, 0]}
        else:
            names = {"x1": points[:, 0], "x2": points[:, 1]}
        value = _evaluate(self.tree.body, names, points.dtype)
        return torch.broadcast_to(value, (points.shape[0],)).clone()


def _evaluate(node: ast.AST, names: Mapping[str, Tensor], dtype: torch.dtype) -> Tensor:
    """Evaluate a tree that :func:`parse_target` has checked (no Python is executed)."""
    if isinstance(node, ast.Constant):
        return torch.tensor(float(node.value), dtype=dtype)
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        return torch.tensor(CONSTANTS[node.id], dtype=dtype)
    if isinstance(node, ast.BinOp):
        left, right = (_evaluate(n, names, dtype) for n in (node.left, node.right))
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, names, dtype))
    assert isinstance(node, ast.Call)
    func = node.func.id if isinstance(node.func, ast.Name) else node.func.attr  # type: ignore[attr-defined]
    args = [_evaluate(a, names, dtype) for a in node.args]
    return FUNCTIONS[func](*args)


def _check_node(node: ast.AST, variables: tuple[str, ...], name: str) -> None:
    """Raise ValueError naming ``name`` unless ``node`` uses only allowed syntax."""
    allowed_names = ", ".join((*variables, *CONSTANTS))
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ValueError(f"{name} may contain only real numbers, got {node.value!r}")
        if not math.isfinite(node.value):
            raise ValueError(f"{name} may contain only finite numbers, got {node.value!r}")
    elif isinstance(node, ast.Name):
        if node.id not in variables and node.id not in CONSTANTS:
            raise ValueError(f"{name} may use only the names {allowed_names} and the "
                             f"functions {', '.join(FUNCTIONS)}; got {node.id!r}")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ValueError(f"{name} may use only + - * / ** %; got {type(node.op).__name__}")
        _check_node(node.left, variables, name)
        _check_node(node.right, variables, name)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ValueError(f"{name} may use only unary + and -; got {type(node.op).__name__}")
        _check_node(node.operand, variables, name)
    elif isinstance(node, ast.Call):
        func = node.func
        plain = isinstance(func, ast.Name) and func.id in FUNCTIONS
        qualified = (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                     and func.value.id in _MODULES and func.attr in FUNCTIONS)
        if not (plain or qualified) or node.keywords:
            raise ValueError(f"{name} may call only {', '.join(FUNCTIONS)} (positional "
                             f"arguments); got {ast.unparse(node)!r}")
        arity = 2 if (func.id if isinstance(func, ast.Name) else func.attr) in (  # type: ignore[attr-defined]
            "minimum", "maximum", "min", "max") else 1
        if len(node.args) != arity:
            raise ValueError(f"{name}: {ast.unparse(func)} takes {arity} argument(s), "
                             f"got {len(node.args)}")
        for arg in node.args:
            _check_node(arg, variables, name)
    else:
        raise ValueError(f"{name} must be an arithmetic expression in "
                         f"{', '.join(variables)}; {type(node).__name__} is not allowed")


def parse_target(text: object, dim: int = 2, *, name: str = "target") -> TypedTarget:
    """Parse a formula typed by the reader into a target function, safely.

    The formula is parsed with Python's ``ast`` module and checked against a whitelist:
    real numbers, the coordinates (``x1``, ``x2`` in 2-D; ``x`` or ``x1`` in 1-D), the
    constants ``pi`` and ``e``, the operators ``+ - * / ** %``, and calls of
    :data:`FUNCTIONS` (``sin``, ``cos``, ``exp``, ``abs``, ``tanh``, ``sqrt``, ...; also
    written ``np.sin`` or ``torch.sin``). Nothing else is accepted: no attributes,
    subscripts, lambdas or other names, so no Python code is ever run. The checked tree is
    evaluated with torch.

    Parameters
    ----------
    text
        The formula, at most :data:`MAX_TARGET_LENGTH` characters.
    dim
        1 or 2, the dimension of the points.
    name
        The argument name used in error messages.

    Raises
    ------
    ValueError
        Naming ``name``, for anything outside the whitelist or unparsable.
    """
    dim = check_positive_int("dim", dim)
    if dim > 2:
        raise ValueError(f"dim must be 1 or 2, got {dim}")
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a formula (a string), got {type(text).__name__}")
    if not text.strip() or len(text) > MAX_TARGET_LENGTH:
        raise ValueError(f"{name} must be a non-empty formula of at most "
                         f"{MAX_TARGET_LENGTH} characters, got {len(text)} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"{name} is not a formula: {exc}") from None
    try:
        _check_node(tree.body, _variables(dim), name)
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply") from None
    return TypedTarget(text.strip(), dim, tree)


def _finite_values(target: TypedTarget, x: Tensor, name: str) -> Tensor:
    values = target(x)
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} {target.text!r} is not finite at every point of the domain")
    return values


# ---------------------------------------------------------------------------- views


@dataclass(frozen=True)
class View:
    """What an explorer shows: a figure and a one-line summary of the numbers behind it."""

    figure: Figure
    summary: str


#: Figures drawn by the view calls in progress (closed if the call fails).
_DRAWING: list[list[Figure]] = []


def _panels(ncols: int, nrows: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure of the book's style and its panels as a flat list (row by row)."""
    fig, axes = plotting.figure(ncols=ncols, nrows=nrows)
    if _DRAWING:
        _DRAWING[-1].append(fig)
    return fig, list(axes.flat) if isinstance(axes, np.ndarray) else [axes]


@contextlib.contextmanager
def _view_call() -> Iterator[None]:
    """Compute in float64 (the book's dtype) whatever the caller's default dtype, and close
    the figure of a view that fails half-way."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    _DRAWING.append([])
    try:
        yield
    except BaseException:
        for fig in _DRAWING[-1]:
            plotting.close_figure(fig)
        raise
    finally:
        _DRAWING.pop()
        torch.set_default_dtype(previous)


def _bounded(name: str, value: object, lower: float, upper: float) -> float:
    value = check_real(name, value)
    if not lower <= value <= upper:
        raise ValueError(f"{name} must lie in [{lower:g}, {upper:g}], got {value:g}")
    return value


def _bounded_int(name: str, value: object, lower: int, upper: int) -> int:
    value = check_positive_int(name, value)
    if not lower <= value <= upper:
        raise ValueError(f"{name} must be an integer in [{lower}, {upper}], got {value}")
    return value


#: Pieces of the random control of :func:`depth_view` (the depth is a multiple of it).
DEPTH_PIECES = 4


@_view_call()
def depth_view(
    depth: int = 4, method: str = "euler", horizon: float = 2.0, *, seed: int = 3,
    resolution: int = 41,
) -> View:
    r"""Chapter 1: a ResNet of a given depth against the flow of the same control.

    The control is a random :class:`~flowapprox.ResidualBlock` control (width 16, tanh,
    :data:`DEPTH_PIECES` pieces, weight scale 3) with horizon ``horizon``. The network
    integrates it with ``method`` and ``depth / 4`` steps per piece (Euler: the ResNet).
    Panels: the image of a square grid under the flow map (RK4, 32 steps per piece) and
    under the network, and the Jacobian determinant of the network, whose sign changes
    where it folds (:prf:ref:`ch1-prop-euler-injective`).

    Parameters
    ----------
    depth
        Number of steps, a multiple of :data:`DEPTH_PIECES` in ``[4, 256]``.
    method
        ``"euler"``, ``"heun"`` or ``"rk4"``.
    horizon
        Total time :math:`T\in[0.25, 8]`.
    seed
        Seed of the random control.
    resolution
        Grid points per axis for the determinants, in ``[5, 101]``.
    """
    depth = _bounded_int("depth", depth, DEPTH_PIECES, 256)
    if depth % DEPTH_PIECES:
        raise ValueError(f"depth must be a multiple of {DEPTH_PIECES}, got {depth}")
    method = check_choice("method", method, tuple(METHODS))
    horizon = _bounded("horizon", horizon, 0.25, 8.0)
    seed = int(_bounded("seed", seed, 0, 2**31))
    resolution = _bounded_int("resolution", resolution, 5, 101)
    control = PiecewiseConstantControl.random(
        ResidualBlock(16, "tanh"), 2, pieces=DEPTH_PIECES, horizon=horizon, scale=3.0,
        generator=torch.Generator().manual_seed(seed), dtype=F64)
    steps = depth // DEPTH_PIECES
    box = Box.cube(2, -1.5, 1.5)

    def network(x: Tensor) -> Tensor:
        with warnings.catch_warnings():  # the summary reports h L; no stability warning
            warnings.simplefilter("ignore", RuntimeWarning)
            return flow(control, x, method=method, steps_per_piece=steps)

    def flow_map(x: Tensor) -> Tensor:
        return flow(control, x, method="rk4", steps_per_piece=32)

    points = grid(box, resolution, dtype=F64)
    dets = jacobian_determinants(network, points)
    flow_dets = jacobian_determinants(flow_map, points)
    h_lip = float((control.durations * control.lipschitz_bounds()).max()) / steps
    fig, axes = _panels(3)
    plotting.plot_deformed_grid(axes[0], flow_map, box, lines=13, resolution=100,
                                title="flow map (RK4, 32 steps per piece)")
    plotting.plot_deformed_grid(axes[1], network, box, lines=13, resolution=100,
                                color=plotting.COLORS["resnet"],
                                title=f"{method}, depth {depth}")
    values = dets.reshape(resolution, resolution).T.numpy()
    scale = float(np.abs(values).max()) or 1.0
    image = axes[2].imshow(values / scale, origin="lower", extent=(-1.5, 1.5, -1.5, 1.5),
                           cmap="RdBu", vmin=-1.0, vmax=1.0)
    if values.min() < 0 < values.max():
        axis = np.linspace(-1.5, 1.5, resolution)
        axes[2].contour(axis, axis, values, levels=[0.0], colors="black", linewidths=0.8)
    axes[2].grid(False)
    axes[2].set_title(r"$\det D$(network) / its largest value")
    fig.colorbar(image, ax=axes[2], shrink=0.8)
    folded = float((dets <= 0).double().mean())
    per_piece = f"{steps} step" + ("s" if steps > 1 else "")
    summary = (f"{method}, depth {depth} ({per_piece} per piece): largest h L = "
               f"{h_lip:.2f}; grid points where the network folds (det <= 0): {folded:.1%}; "
               f"for the flow map: {float((flow_dets <= 0).double().mean()):.1%}")
    return View(fig, summary)


@_view_call()
def splitting_view(
    neurons: int = 5, activation: str = "tanh", horizon: float = 1.0, rounds: int = 4, *,
    max_rounds: int = 256, seed: int = 0,
) -> View:
    r"""Chapter 2: Lie-Trotter and Strang splitting of a random ridge sum.

    The field is a random sum of ``neurons`` ridge neurons (:class:`flowapprox.splitting.RidgeSum`,
    weights ``v`` scaled by :math:`3/N` as in the chapter's notebook). Left: the largest
    error over a :math:`5\times5` grid of :math:`[-1,1]^2` of the splitting flow with
    :math:`k` rounds against :math:`k = 2, 4, \dots,` ``max_rounds``, with the orders fitted
    on :math:`k\ge8` (:prf:ref:`ch2-thm-lie-trotter`). Right: trajectories of four points
    under the field and under both splittings with ``rounds`` rounds.

    Parameters
    ----------
    neurons
        :math:`N\in[1, 20]`.
    activation
        ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
    horizon
        Time :math:`t\in[0.1, 4]` of the flow.
    rounds
        Rounds :math:`k\in[1, 64]` of the trajectories shown on the right.
    max_rounds
        Largest :math:`k` of the error curve, a power of two in ``[16, 1024]``.
    seed
        Seed of the random sum.
    """
    neurons = _bounded_int("neurons", neurons, 1, 20)
    activation = check_choice("activation", activation, ("relu", "tanh", "sigmoid"))
    horizon = _bounded("horizon", horizon, 0.1, 4.0)
    rounds = _bounded_int("rounds", rounds, 1, 64)
    max_rounds = _bounded_int("max_rounds", max_rounds, 16, 1024)
    if max_rounds & (max_rounds - 1):
        raise ValueError(f"max_rounds must be a power of two, got {max_rounds}")
    seed = int(_bounded("seed", seed, 0, 2**31))
    raw = splitting.RidgeSum.random(neurons, 2, activation=activation, dtype=F64,
                                    generator=torch.Generator().manual_seed(seed))
    field = splitting.RidgeSum(raw.v * 3.0 / neurons, raw.w, raw.b, activation)
    square = Box.cube(2, -1.0, 1.0)
    x = grid(square, 5, dtype=F64)
    reference = reference_flow(field.control(horizon), x, rtol=1e-12, atol=1e-12)
    ks = [2**j for j in range(1, int(math.log2(max_rounds)) + 1)]
    colors = {"lie": plotting.COLORS["euler"], "strang": plotting.COLORS["heun"]}
    fig, axes = _panels(2)
    orders = {}
    for scheme in splitting.SCHEMES:
        errors = splitting.splitting_errors(field, horizon, x, reference, ks, scheme=scheme)
        usable = (np.array(ks) >= 8) & (errors > 1e-9)
        label = scheme
        if usable.sum() >= 2:
            orders[scheme] = fit_loglog(np.array(ks)[usable], errors[usable]).order
            label = f"{scheme}: order {orders[scheme]:.2f}"
        axes[0].loglog(ks, errors, "o-", ms=3, lw=0.8, color=colors[scheme], label=label)
    axes[0].axvline(rounds, color="grey", ls=":", lw=0.8)
    axes[0].set(xlabel="rounds $k$", ylabel="max error over the grid",
                title=rf"$N={neurons}$ {activation} neurons, $t={horizon:g}$")
    axes[0].legend()
    starts = grid(Box.cube(2, -0.6, 0.6), 2, dtype=F64)
    exact = flow(field.control(horizon), starts, method="rk4", steps_per_piece=200,
                 save_steps=True)
    plotting.plot_trajectories(axes[1], exact, color=plotting.COLORS["target"],
                               label="field")
    gaps = {}
    for scheme in splitting.SCHEMES:
        control = splitting.splitting_control(field, horizon, rounds, scheme=scheme)
        path = flow(control, starts, method="rk4", steps_per_piece=8, save_steps=True)
        plotting.plot_trajectories(axes[1], path, color=colors[scheme], label=scheme)
        gaps[scheme] = float((path[-1] - exact[-1]).norm(dim=1).max())
    axes[1].set_title(f"trajectories, k = {rounds} rounds")
    handles, labels = axes[1].get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # "start points" once
    axes[1].legend(list(unique.values()), list(unique))
    fitted = ", ".join(f"{s} {o:.2f}" for s, o in orders.items()) or "none (round-off)"
    summary = (f"fitted orders (k >= 8): {fitted}; at k = {rounds}: largest end-point gap "
               f"Lie {gaps['lie']:.2e}, Strang {gaps['strang']:.2e}")
    return View(fig, summary)


@_view_call()
def one_dimension_view(
    cells: int = 4, delta: float = 0.1, horizon: float = 2.0,
    target: str = "x + sin(pi * x) / 4", pieces: int = 8, strategy: str = "minimal",
) -> View:
    r"""Chapter 3: collapse onto cell centres, and increasing maps as exact flow maps.

    Left: the exact flows :math:`\varphi_t` of the multi-well field
    :math:`\psi_{N,\delta}` on :math:`[0,1]` (:func:`flowapprox.multiwell`) at
    :math:`t = T/4, T/2, T` and the step map they approach
    (:prf:ref:`ch3-prop-collapse`). Right: the PL interpolant of an increasing ``target`` on
    :math:`[-1,1]` with ``pieces`` pieces, represented exactly by ReLU neuron flows
    (:func:`flowapprox.monotone.represent_increasing_pl`), built up one neuron at a time
    (:prf:ref:`ch3-thm-exact`).

    Parameters
    ----------
    cells
        :math:`N\in[1, 16]` cells.
    delta
        Relative layer width :math:`\delta\in[0.02, 0.45]`.
    horizon
        :math:`T\in[0.1, 12]`.
    target
        A formula in ``x`` (:func:`parse_target`), strictly increasing on the knots.
    pieces
        :math:`K\in[1, 64]` pieces of the interpolant.
    strategy
        ``"minimal"`` or ``"one-sided"``.
    """
    cells = _bounded_int("cells", cells, 1, 16)
    delta = _bounded("delta", delta, 0.02, 0.45)
    horizon = _bounded("horizon", horizon, 0.1, 12.0)
    typed = parse_target(target, dim=1)
    pieces = _bounded_int("pieces", pieces, 1, 64)
    strategy = check_choice("strategy", strategy, ("minimal", "one-sided"))
    line = torch.linspace(-1.0, 1.0, 401, dtype=F64)
    _finite_values(typed, line, "target")
    try:
        interpolant = monotone.interpolate_increasing(typed, -1.0, 1.0, pieces)
    except ValueError as exc:
        raise ValueError(f"target must be strictly increasing on [-1, 1]: {exc}") from None
    rep = monotone.represent_increasing_pl(interpolant, -1.0, 1.0, strategy=strategy)
    l1 = collapse.collapse_curve(cells, delta, [horizon], n_points=2**12, grid_points=101)
    predicted = collapse.collapse_prefactor(cells, delta) * math.exp(-horizon)
    sup = float((rep(line) - typed(line)).abs().max())
    fig, axes = _panels(2)
    unit = torch.linspace(0.0, 1.0, 801, dtype=F64)
    psi = multiwell(cells, delta, dtype=F64)
    for fraction, shade in zip((0.25, 0.5, 1.0), ("0.7", "0.45", "0.15")):
        t = fraction * horizon
        axes[0].plot(unit, pl_flow(psi, unit, t), color=shade, lw=1.0, label=f"$t = {t:g}$")
    axes[0].plot(unit, collapse.step_map(unit, cells), color=plotting.COLORS["flow"],
                 ls="--", lw=1.0, label="step map")
    axes[0].set(xlabel="$x$", ylabel=r"$\varphi_t(x)$",
                title=rf"flow of $\psi_{{{cells},{delta:g}}}$")
    axes[0].legend()
    ctrl = rep.control
    shades = np.linspace(0.85, 0.25, ctrl.num_pieces + 1)
    for j in range(1, ctrl.num_pieces + 1):
        partial = PiecewiseConstantControl(
            ctrl.family, ctrl.durations[:j], {k: v[:j] for k, v in ctrl.params.items()})
        axes[1].plot(line, ridge_flow(partial, line[:, None])[:, 0],
                     color=str(shades[j]), lw=1.0,
                     label="partial compositions" if j == ctrl.num_pieces else None)
    axes[1].plot(line, typed(line), color=plotting.COLORS["target"], ls="--", lw=1.0,
                 label="target")
    axes[1].plot(interpolant.knots, interpolant(interpolant.knots), "o", ms=3,
                 color=plotting.COLORS["flow"])
    axes[1].set(xlabel="$x$", title=f"{strategy}: {rep.neurons} neurons, "
                                    f"time cost {rep.time_cost:.2f}")
    axes[1].legend()
    summary = (f"L1 distance of the flow at T = {horizon:g} to the step map "
               f"{float(l1.l1[0]):.2e} (A e^-T = {predicted:.2e}); "
               f"{rep.neurons} neurons, time cost {rep.time_cost:.3f}, sup error to the "
               f"target {sup:.2e}")
    return View(fig, summary)


@_view_call()
def construction_view(
    target: str = "sin(2 * pi * x1) * cos(2 * pi * x2)", cells: int = 4,
    zoom_time: float | None = None, delta: float = 0.05, *, seed: int = 0,
) -> View:
    r"""Chapter 4: the stages of the explicit construction for a typed target on :math:`[0,1]^2`.

    Builds :func:`flowapprox.construction.construct` for ``target`` with :math:`N\times N` cells and
    shows 1024 points of the square, coloured by the target, before and after each stage
    (:prf:ref:`ch4-def-construction`), and the approximant :math:`g\circ\varphi` on a grid.
    The summary gives the neurons, horizon, time cost and :math:`L^2` errors of the
    construction and of the piecewise-constant approximant :math:`F_N` (4096 Sobol points).

    Parameters
    ----------
    target
        A formula in ``x1``, ``x2`` (:func:`parse_target`), finite on the square.
    cells
        :math:`N\in[1, 32]`.
    zoom_time
        Zoom time :math:`T\in[0, 20]`; ``None``: :func:`flowapprox.construction.zoom_schedule`.
    delta
        Relative layer width :math:`\delta\in[0.01, 0.5]`.
    seed
        Seed of the Sobol points.
    """
    typed = parse_target(target, dim=2)
    cells = _bounded_int("cells", cells, 1, 32)
    zoom = zoom_schedule(cells) if zoom_time is None else _bounded(
        "zoom_time", zoom_time, 0.0, 20.0)
    delta = _bounded("delta", delta, 0.01, 0.5)
    seed = int(_bounded("seed", seed, 0, 2**31))
    box = Box.cube(2)
    sample = sobol_points(box, 2**10, seed=seed, dtype=F64)
    colour = _finite_values(typed, sample, "target")
    c = construct(typed, box, cells, zoom, delta=delta)
    states = {"input": sample}
    for stage in c.stages:
        states[f"after {stage.name}"] = stage(list(states.values())[-1])
    fig, panels = _panels(3, 2)
    for ax, (title, points) in zip(panels, states.items()):
        ax.scatter(points[:, 0], points[:, 1], c=colour, s=4, cmap="viridis")
        ax.set(title=title, xlabel="$y_1$", ylabel="$y_2$")
    m = 61
    mesh = grid(box, m, dtype=F64)
    image = panels[-1].imshow(c(mesh).reshape(m, m).T.numpy(), origin="lower",
                              extent=(0, 1, 0, 1), cmap="viridis")
    panels[-1].grid(False)
    panels[-1].set_title(r"approximant $g\circ\varphi$")
    fig.colorbar(image, ax=panels[-1], shrink=0.8)
    for ax in panels[len(states):-1]:
        ax.set_visible(False)
    errors = [lp_error(typed, f, box, p=2, n_points=2**12, seed=seed)
              for f in (c, c.approximant)]
    summary = (f"N = {cells}, zoom time T = {zoom:.2f} (schedule T(N) = "
               f"{zoom_schedule(cells):.2f}): {c.neurons} neurons, horizon {c.horizon:.2f}, "
               f"time cost {c.time_cost:.3g}; L2 error {errors[0]:.4f} "
               f"(of F_N: {errors[1]:.4f})")
    return View(fig, summary)


# ------------------------------------------------------------------------- builders


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:  # pragma: no cover - ipywidgets is in the book's extra
        raise ImportError("the explorers need ipywidgets: pip install 'flowapprox[book]'"
                          ) from exc
    return ipywidgets


def explorer(view: Callable[..., View], controls: Mapping[str, Any], title: str) -> Any:
    """Wrap ``view`` in a widget: ``controls`` (name -> widget) above the summary and image.

    Every change of a control calls ``view`` with the controls' values
    (``ipywidgets.interactive_output``) and shows its figure as a PNG image and its summary;
    a ``ValueError`` (for instance a rejected target) is shown instead of the figure.
    Returns an ``ipywidgets.VBox`` whose ``image`` and ``summary`` attributes are the
    image and summary widgets.
    """
    widgets = _widgets()
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
    summary = widgets.HTML()

    def show(**values: Any) -> None:
        try:
            result = view(**values)
        except ValueError as exc:
            summary.value = f"<b>Not shown:</b> {html.escape(str(exc))}"
            return
        image.value = plotting.figure_png(result.figure)
        summary.value = html.escape(result.summary)

    output = widgets.interactive_output(show, dict(controls))
    box = widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"),
                        widgets.HBox(list(controls.values()),
                                     layout=widgets.Layout(flex_flow="row wrap")),
                        summary, image, output])
    box.image, box.summary = image, summary
    return box


def _slider(kind: str, value: float, lower: float, upper: float, step: float,
            description: str) -> Any:
    widgets = _widgets()
    cls = widgets.IntSlider if kind == "int" else widgets.FloatSlider
    return cls(value=value, min=lower, max=upper, step=step, description=description,
               continuous_update=False, style={"description_width": "initial"})


def depth_explorer() -> Any:
    """Chapter 1: :func:`depth_view` with sliders for depth and horizon and a method menu."""
    widgets = _widgets()
    return explorer(depth_view, {
        "depth": _slider("int", 4, 4, 128, 4, "depth"),
        "method": widgets.Dropdown(options=list(METHODS), value="euler",
                                   description="method", layout=widgets.Layout(width="14em")),
        "horizon": _slider("float", 2.0, 0.5, 6.0, 0.25, "horizon T"),
    }, "Chapter 1: a ResNet of depth D against the flow of the same control")


def splitting_explorer() -> Any:
    """Chapter 2: :func:`splitting_view` with sliders for N, t and k and an activation menu."""
    widgets = _widgets()
    return explorer(splitting_view, {
        "neurons": _slider("int", 5, 1, 12, 1, "neurons N"),
        "activation": widgets.Dropdown(options=["relu", "tanh", "sigmoid"], value="tanh",
                                       description="activation"),
        "horizon": _slider("float", 1.0, 0.25, 3.0, 0.25, "time t"),
        "rounds": _slider("int", 4, 1, 32, 1, "rounds k"),
    }, "Chapter 2: Lie-Trotter and Strang splitting of a ridge sum")


def one_dimension_explorer() -> Any:
    """Chapter 3: :func:`one_dimension_view` with sliders and a text box for the target."""
    widgets = _widgets()
    return explorer(one_dimension_view, {
        "cells": _slider("int", 4, 1, 12, 1, "cells N"),
        "delta": _slider("float", 0.1, 0.02, 0.44, 0.02, "delta"),
        "horizon": _slider("float", 2.0, 0.25, 12.0, 0.25, "horizon T"),
        "target": widgets.Text(value="x + sin(pi * x) / 4", description="target F(x)",
                               continuous_update=False),
        "pieces": _slider("int", 8, 1, 48, 1, "pieces K"),
        "strategy": widgets.Dropdown(options=["minimal", "one-sided"], value="minimal",
                                     description="strategy"),
    }, "Chapter 3: collapse to steps, and increasing maps as flows of ReLU neurons")


def construction_explorer() -> Any:
    """Chapter 4: :func:`construction_view` with a text box for the target and sliders."""
    widgets = _widgets()
    return explorer(construction_view, {
        "target": widgets.Text(value="sin(2 * pi * x1) * cos(2 * pi * x2)",
                               description="target F(x1, x2)", continuous_update=False,
                               layout=widgets.Layout(width="32em"),
                               style={"description_width": "initial"}),
        "cells": _slider("int", 4, 1, 16, 1, "cells N"),
        "zoom_time": _slider("float", round(zoom_schedule(4), 2), 0.0, 15.0, 0.25,
                             "zoom time T"),
        "delta": _slider("float", 0.05, 0.01, 0.3, 0.01, "delta"),
    }, "Chapter 4: the construction, stage by stage, for a target you type")
