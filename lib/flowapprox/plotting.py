"""One figure style for the whole book, and the standard plots of the chapters.

Every figure is made with :func:`figure` (fixed panel size and dpi) after
:func:`use_book_style` (applied by :func:`flowapprox.setup`). The plotting functions draw
into a given matplotlib ``Axes`` and return it, so notebooks compose panels freely.

:func:`figure` also registers the figure, so that ``make figures`` can write every figure
of the book to disk as PNG and PDF with deterministic bytes (:func:`save_figure`,
:func:`export_new_figures`; the notebook hook is installed by :func:`flowapprox.setup` when
the environment variable ``FLOWAPPROX_FIGURES_DIR`` is set).

Examples
--------
>>> import torch
>>> from flowapprox import Box, plotting
>>> fig, ax = plotting.figure()
>>> ax = plotting.plot_deformed_grid(ax, lambda x: 2 * x, Box.cube(2), lines=5)
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.axis import Axis, XAxis
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import LogFormatterSciNotation
from torch import Tensor

from ._validation import check_box, check_positive_int, check_tensor
from .metrics import Box, LogLogFit, grid

#: Size of one panel in inches and the resolution of every figure.
PANEL_SIZE = (4.2, 3.6)
DPI = 100
EXPORT_DPI = 200  # resolution of the files written by save_figure (`make figures`)

#: Colours used consistently across the book (colour-blind safe, Okabe-Ito).
COLORS = {
    "flow": "#0072B2",
    "resnet": "#D55E00",
    "euler": "#D55E00",
    "heun": "#009E73",
    "rk4": "#CC79A7",
    "target": "#000000",
    "grid": "#999999",
}

#: The book's colour cycle (Okabe-Ito), used by every series drawn without a colour.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

_STYLE = {
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.5,
    "figure.constrained_layout.use": True,
    "svg.hashsalt": "flowapprox",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (fonts, dpi, grid, layout) globally."""
    plt.rcParams.update(_STYLE)  # type: ignore[arg-type]


#: Figures made by :func:`figure` in this process, with their names (export registry).
_FIGURES: list[tuple[str | None, Figure]] = []
_EXPORTED: set[int] = set()
_NAME = re.compile(r"[a-z0-9][a-z0-9\-]*")


def figure(
    ncols: int = 1, nrows: int = 1, *, name: str | None = None
) -> tuple[Figure, Axes | np.ndarray]:
    """A figure of ``nrows x ncols`` panels of the book's fixed panel size.

    ``name`` (lower case, digits and ``-``) names the exported files; unnamed figures are
    numbered in order of creation.
    """
    ncols = check_positive_int("ncols", ncols)
    nrows = check_positive_int("nrows", nrows)
    if name is not None and not (isinstance(name, str) and _NAME.fullmatch(name)):
        raise ValueError(f"name must match {_NAME.pattern!r}, got {name!r}")
    size = (PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, dpi=DPI, squeeze=True,
                             subplot_kw={"axes_class": _BookAxes})
    _FIGURES.append((name, fig))
    return fig, axes


def save_figure(fig: Figure, directory: str | Path, name: str) -> list[Path]:
    """Write ``fig`` as ``name.png`` and ``name.pdf`` into ``directory``, reproducibly.

    Creation dates are left out of the metadata, so saving the same figure twice gives
    byte-identical files (on the same machine and library versions).
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not (isinstance(name, str) and _NAME.fullmatch(name)):
        raise ValueError(f"name must match {_NAME.pattern!r}, got {name!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png, pdf = directory / f"{name}.png", directory / f"{name}.pdf"
    # bbox_inches="tight" is the layout of the book's images (IPython's inline backend).
    fig.savefig(png, format="png", dpi=EXPORT_DPI, bbox_inches="tight")
    fig.savefig(pdf, format="pdf", bbox_inches="tight",
                metadata={"CreationDate": None, "ModDate": None})
    return [png, pdf]


def export_new_figures(directory: str | Path, prefix: str) -> list[dict[str, Any]]:
    """Save every registered figure not saved yet as ``<prefix>-<name>`` (PNG and PDF).

    Returns one record per figure: its name and files (paths relative to ``directory``).
    """
    records: list[dict[str, Any]] = []
    for index, (name, fig) in enumerate(_FIGURES, start=1):
        if id(fig) in _EXPORTED:
            continue
        full = f"{prefix}-{name or f'figure-{index:02d}'}"
        files = save_figure(fig, directory, full)
        _EXPORTED.add(id(fig))
        records.append({"figure": full, "files": [f.name for f in files]})
    return records


def _as_numpy(x: Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def plot_deformed_grid(
    ax: Axes,
    mapping: Callable[[Tensor], Tensor],
    box: Box,
    *,
    lines: int = 17,
    resolution: int = 200,
    color: str = COLORS["flow"],
    title: str | None = None,
) -> Axes:
    """Draw the image under ``mapping`` of a square grid of ``lines`` lines per axis in ``box``.

    ``mapping`` acts on batches of shape ``(batch, 2)``. Each grid line is sampled at
    ``resolution`` points so curved images are drawn faithfully.
    """
    if box.dim != 2:
        raise ValueError(f"plot_deformed_grid needs a 2-D box, got dimension {box.dim}")
    lines = check_positive_int("lines", lines)
    resolution = check_positive_int("resolution", resolution)
    (a1, a2), (b1, b2) = box.lower, box.upper
    s = torch.linspace(0.0, 1.0, resolution)
    for c in torch.linspace(0.0, 1.0, lines):
        for pts in (
            torch.stack([a1 + (b1 - a1) * c.expand_as(s), a2 + (b2 - a2) * s], dim=1),
            torch.stack([a1 + (b1 - a1) * s, a2 + (b2 - a2) * c.expand_as(s)], dim=1),
        ):
            with torch.no_grad():
                image = _as_numpy(check_tensor("mapping(x)", mapping(pts), shape=(resolution, 2)))
            ax.plot(image[:, 0], image[:, 1], color=color, lw=0.7)
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return ax


def plot_trajectories(
    ax: Axes,
    path: Tensor,
    *,
    color: str = COLORS["flow"],
    label: str | None = None,
    markers: bool = False,
) -> Axes:
    """Draw 2-D trajectories from a path of shape ``(steps + 1, batch, 2)``.

    Start points are drawn as black dots; ``markers`` also marks every intermediate state
    (useful for coarse ResNets, whose layers are visible). The axes are labelled
    :math:`x_1, x_2`; a legend names the trajectories (``label``; by default it says what
    the trajectories and, with ``markers``, the dots are) and the start points.
    """
    path = check_tensor("path", path, shape=(None, None, 2))
    p = _as_numpy(path)
    name = label or ("trajectories, dots: state after each layer" if markers else "trajectories")
    for i in range(p.shape[1]):
        ax.plot(
            p[:, i, 0], p[:, i, 1], color=color, lw=1.0,
            marker="." if markers else None, ms=4, label=name if i == 0 else None,
        )
    ax.plot(p[0, :, 0], p[0, :, 1], "o", color="black", ms=3, label="start points")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="best")
    return ax


def plot_convergence(
    ax: Axes,
    resolution: Sequence[float] | np.ndarray,
    errors: Sequence[float] | np.ndarray,
    *,
    fit: LogLogFit | None = None,
    label: str = "",
    color: str | None = None,
    marker: str = "o",
    xlabel: str = "depth $D$",
    ylabel: str = "error",
) -> Axes:
    """Log-log plot of ``errors`` against ``resolution``, with the fitted power law if given.

    The legend entry reports the fitted slope, so the figure states the observed order.
    """
    res, err = np.asarray(resolution, dtype=float), np.asarray(errors, dtype=float)
    if res.shape != err.shape or res.ndim != 1:
        raise ValueError(
            f"resolution and errors must be 1-D of equal length, got {res.shape}, {err.shape}"
        )
    text = label if fit is None else f"{label} (slope {fit.slope:.2f})"
    (line,) = ax.loglog(res, err, marker=marker, ls="none" if fit else "-", color=color,
                        label=text)
    if fit is not None:
        ax.loglog(res, fit(res), ls="--", color=line.get_color(), lw=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    label_log_ticks(ax)
    return ax


class _SpacedLogLabels(LogFormatterSciNotation):
    """Log-axis tick labels that never collide, chosen at each draw for the drawn size.

    The major formatter labels the powers of ten that fit. The minor formatter labels
    nothing while two major labels are in view; otherwise it adds labels at the multiples
    5, 2 and 3 (in that order) where they keep clear of the labels already placed, and, if
    that still leaves fewer than two labels, evenly spaced labels among the other ticks (at
    most :attr:`MOST` labels in all). Extents are measured from the label text (no renderer
    needed) and positions from the axis' current view interval and size, so the choice
    holds for any later limits, panel size or resolution.
    """

    #: Order in which the multiples ``c`` of ``c * 10**k`` are labelled (first pass).
    RANK = {1: 0, 5: 1, 2: 2, 3: 3}
    #: Clearance between neighbouring labels, in points.
    PAD = 6.0
    #: At most this many labels on an axis when the second pass is needed.
    MOST = 4

    def __init__(self, *, minor: bool) -> None:
        super().__init__(labelOnlyBase=False)
        self.minor = minor
        self.placed: list[tuple[float, float]] = []  # (position, extent) in points
        self.labelled: list[float] | None = None  # None: label every tick (no axis yet)

    def set_locs(self, locs: Any = None) -> None:
        self._sublabels = None  # the parent's thinning is replaced by the one below
        self.placed, self.labelled = [], []
        axis = self.axis
        if not isinstance(axis, Axis) or locs is None or len(locs) == 0:
            self.labelled = None
            return
        vmin, vmax = sorted(axis.get_view_interval())
        if not (vmin > 0 and vmax > vmin):
            self.labelled = None
            return
        horizontal = isinstance(axis, XAxis)
        bbox = axis.axes.bbox
        length = (bbox.width if horizontal else bbox.height) * 72.0 / axis.axes.figure.dpi
        scale = length / math.log10(vmax / vmin)  # points per decade
        if self.minor:
            major = axis.major.formatter
            self.placed = list(major.placed) if isinstance(major, _SpacedLogLabels) else []
            if len(self.placed) >= 2:
                return
        font = FontProperties(
            size=mpl.rcParams["xtick.labelsize" if horizontal else "ytick.labelsize"])
        ticks: list[tuple[float, float, float]] = []  # (value, position, extent)
        for x in sorted(x for x in locs if vmin * (1 - 1e-9) <= x <= vmax * (1 + 1e-9)):
            text = self._text(x)
            if text:
                width, height, _ = text_to_path.get_text_width_height_descent(
                    text, font, ismath=text.startswith("$"))
                ticks.append((x, math.log10(x / vmin) * scale, width if horizontal else height))

        def clear(chosen: list[tuple[float, float, float]]) -> bool:
            spots = self.placed + [(p, e) for _, p, e in chosen]
            spots.sort()
            return all(b[0] - a[0] >= (a[1] + b[1]) / 2 + self.PAD
                       for a, b in zip(spots, spots[1:]))

        first = sorted((t for t in ticks if self._rank(t[0]) is not None),
                       key=lambda t: (self._rank(t[0]), t[0]))
        for tick in first:
            if clear([tick]):
                self._place([tick])
        rest = [t for t in ticks if t[0] not in self.labelled]
        if len(self.placed) < 2 and rest:
            for stride in range(1, len(rest) + 1):
                chosen = rest[(len(rest) - 1) % stride // 2::stride]  # centred
                if len(self.placed) + len(chosen) <= self.MOST and clear(chosen):
                    self._place(chosen)
                    break

    def _place(self, ticks: list[tuple[float, float, float]]) -> None:
        self.placed.extend((p, e) for _, p, e in ticks)
        assert self.labelled is not None
        self.labelled.extend(x for x, _, _ in ticks)

    def _rank(self, x: float) -> int | None:
        """Rank of a tick at ``c * 10**k`` with ``c`` in :attr:`RANK`, else None."""
        coefficient = x / 10.0 ** math.floor(math.log10(x) + 1e-9)
        nearest = round(coefficient)
        return self.RANK.get(nearest) if abs(coefficient - nearest) < 1e-6 else None

    def __call__(self, x: float, pos: int | None = None) -> str:
        if self.labelled is not None and not any(
                math.isclose(x, y, rel_tol=1e-9) for y in self.labelled):
            return ""
        return self._text(x, pos)

    def _text(self, x: float, pos: int | None = None) -> str:
        """Whole numbers from 1 to 9999 as they are (``20``, not ``2x10^1``), else sci notation."""
        if 1 <= x < 1e4 and math.isclose(x, round(x), rel_tol=1e-9):
            return rf"$\mathdefault{{{round(x)}}}$"
        return super().__call__(x, pos)


class _BookAxes(Axes):
    """The axes of :func:`figure`: a log scale, however set, gets :func:`label_log_ticks`.

    Setting a scale (``ax.loglog``, ``ax.semilogy``, ``ax.set_xscale("log")``) installs
    matplotlib's default formatters again, so the book's are re-applied after each.
    """

    def set_xscale(self, value: Any, **kwargs: Any) -> None:
        super().set_xscale(value, **kwargs)
        label_log_ticks(self)

    def set_yscale(self, value: Any, **kwargs: Any) -> None:
        super().set_yscale(value, **kwargs)
        label_log_ticks(self)


def label_log_ticks(ax: Axes) -> Axes:
    """Label the log-scaled axes of ``ax`` without overlapping tick labels.

    Matplotlib labels minor ticks of an axis spanning less than about a decade, and those
    labels (``2x10^0``, ``3x10^0``, ...) collide on a panel of the book's size. This
    installs formatters that choose, at every draw, the labels that fit: powers of ten
    first, then ``5``, ``2``, ``3`` and the other multiples, and no minor labels while two
    powers of ten are in view. Whole numbers from 1 to 9999 (cell counts, depths) are
    written plainly, other values in scientific notation. Linear axes are left alone.
    :func:`plot_convergence` calls it, and the axes of :func:`figure` apply it whenever a
    scale is set.
    """
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_formatter(_SpacedLogLabels(minor=False))
            axis.set_minor_formatter(_SpacedLogLabels(minor=True))
    return ax


def plot_map(
    ax: Axes,
    func: Callable[[Tensor], Tensor],
    box: Box,
    points_per_axis: int,
    *,
    log: bool = False,
    label: str = "",
    **imshow: Any,
) -> Axes:
    r"""Draw the scalar function ``func`` (e.g. a model, or a
    :func:`flowapprox.pointwise_error`) as an image on :func:`flowapprox.grid` of the 2-D
    ``box``, one pixel per grid point.

    ``log`` draws :math:`\log_{10}` of the values (clipped below at :math:`10^{-16}`);
    ``label`` names the colour bar; further keyword arguments go to ``ax.imshow``.
    """
    check_box("box", box, 2)
    m = check_positive_int("points_per_axis", points_per_axis)
    x = grid(box, m)
    with torch.no_grad():
        values = check_tensor("func(x)", func(x), shape=(m * m,))
    if log:
        values = torch.log10(values.clamp(min=1e-16))
    (a1, a2), (b1, b2) = box.lower, box.upper
    image = ax.imshow(values.reshape(m, m).T.numpy(), origin="lower",
                      extent=(a1, b1, a2, b2), interpolation="nearest", **imshow)
    ax.figure.colorbar(image, ax=ax, label=label)
    return ax


def plot_well(
    ax: Axes,
    well: Any,
    box: Box,
    *,
    resolution: int = 201,
    title: str | None = None,
) -> Axes:
    r"""Draw :math:`|h|` of a planar well over ``box`` (grey scale) and its zero set (shaded).

    Both are evaluated on a ``resolution`` x ``resolution`` grid of ``box``.
    """
    if not callable(well) or getattr(well, "dim", None) != 2:  # a RidgeSum of Chapter 2
        raise ValueError("well must be a RidgeSum on the plane (dim 2)")
    check_box("box", box, 2)
    res = check_positive_int("resolution", resolution)
    points = grid(box, res, dtype=well.v.dtype)
    with torch.no_grad():
        size = torch.linalg.vector_norm(well(points), dim=1).reshape(res, res).numpy()
    xs, ys = (points[:, k].reshape(res, res).numpy() for k in range(2))
    in_well = (size == 0).astype(float)
    image = ax.pcolormesh(xs, ys, size, cmap="Greys", shading="auto")
    ax.contourf(xs, ys, in_well, levels=[0.5, 1.5], colors=[COLORS["flow"]], alpha=0.5)
    ax.contour(xs, ys, in_well, levels=[0.5], colors=[COLORS["flow"]], linewidths=1.0)
    ax.figure.colorbar(image, ax=ax, label="$|h(x)|$")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def close_figure(fig: Figure) -> None:
    """Close ``fig`` and drop it from the register, so ``make figures`` never exports it.

    For figures that are shown some other way: as PNG bytes in a widget
    (:func:`figure_png`) or glued into a page of the book (``myst_nb.glue``).
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    plt.close(fig)
    _FIGURES[:] = [(name, f) for name, f in _FIGURES if f is not fig]


def figure_png(fig: Figure, *, palette: bool = False) -> bytes:
    """The PNG bytes of ``fig`` as the inline backend draws it; the figure is then closed.

    The interactive explorers (:mod:`flowapprox.explorers`) show their figures this way, in
    an image widget, which needs no matplotlib backend in the kernel. With ``palette`` the
    image is reduced to 256 colours (Pillow's median cut, deterministic): two to three times
    smaller and indistinguishable for the book's plots, for figures stored in notebooks.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    close_figure(fig)
    if not palette:
        return buffer.getvalue()
    from PIL import Image  # matplotlib's own dependency

    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    reduced = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        reduced, format="PNG", optimize=True)
    return reduced.getvalue()
