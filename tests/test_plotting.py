"""Tests of flowapprox.plotting on the Agg backend: what is drawn, and input checks."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from flowapprox import (
    Box,
    PiecewiseConstantControl,
    ResidualBlock,
    fit_loglog,
    flow,
    plotting,
)


def test_backend_is_agg():
    assert mpl.get_backend().lower() == "agg"


def test_book_style():
    mpl.rcParams["axes.grid"] = False
    plotting.use_book_style()
    assert mpl.rcParams["axes.grid"] is True
    assert mpl.rcParams["figure.dpi"] == plotting.DPI == 100
    assert mpl.rcParams["figure.constrained_layout.use"] is True


def test_figure_single_and_grid_of_panels():
    fig, ax = plotting.figure()
    assert isinstance(fig, Figure) and isinstance(ax, Axes)
    assert tuple(fig.get_size_inches()) == pytest.approx(plotting.PANEL_SIZE)
    assert fig.dpi == plotting.DPI
    fig, axes = plotting.figure(ncols=2, nrows=3)
    assert isinstance(axes, np.ndarray) and axes.shape == (3, 2)
    assert tuple(fig.get_size_inches()) == pytest.approx((4.2 * 2, 3.6 * 3))
    _, row = plotting.figure(ncols=3)
    assert row.shape == (3,)


@pytest.mark.parametrize(("kwargs", "match"), [({"ncols": 0}, "ncols"), ({"nrows": -1}, "nrows"),
                                               ({"ncols": 1.5}, "ncols")])
def test_figure_rejects_bad_counts(kwargs, match):
    with pytest.raises(ValueError, match=f"{match} must be a positive integer"):
        plotting.figure(**kwargs)


# ------------------------------------------------------------------ deformed grid


def test_deformed_grid_draws_two_families_of_lines():
    _, ax = plotting.figure()
    box = Box([-1.0, 0.0], [1.0, 3.0])
    out = plotting.plot_deformed_grid(ax, lambda x: 2 * x, box, lines=5, resolution=11,
                                      title="doubled")
    assert out is ax
    assert len(ax.lines) == 2 * 5
    assert ax.get_title() == "doubled"
    xs = np.concatenate([line.get_xdata() for line in ax.lines])
    ys = np.concatenate([line.get_ydata() for line in ax.lines])
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((-2.0, 2.0, 0.0, 6.0))
    assert all(len(line.get_xdata()) == 11 for line in ax.lines)
    assert all(line.get_color() == plotting.COLORS["flow"] for line in ax.lines)


def test_deformed_grid_of_a_flow():
    control = PiecewiseConstantControl.random(ResidualBlock(width=4), 2, pieces=2,
                                              generator=torch.Generator().manual_seed(0))

    def phi(x):
        return flow(control, x, steps_per_piece=4)

    _, ax = plotting.figure()
    plotting.plot_deformed_grid(ax, phi, Box.cube(2, -1.0, 1.0), lines=3, resolution=20,
                                color="red")
    assert len(ax.lines) == 6
    first = ax.lines[0]  # the image of the line x1 = -1
    pts = torch.stack([torch.full((20,), -1.0), torch.linspace(-1.0, 1.0, 20)], dim=1)
    np.testing.assert_allclose(np.c_[first.get_xdata(), first.get_ydata()], phi(pts).numpy(),
                               rtol=1e-14, atol=1e-14)
    assert first.get_color() == "red"


def test_deformed_grid_rejects_bad_input():
    _, ax = plotting.figure()
    with pytest.raises(ValueError, match="needs a 2-D box, got dimension 3"):
        plotting.plot_deformed_grid(ax, lambda x: x, Box.cube(3))
    with pytest.raises(ValueError, match=r"mapping\(x\) must have shape \(10, 2\)"):
        plotting.plot_deformed_grid(ax, lambda x: x[:, :1], Box.cube(2), resolution=10)
    with pytest.raises(ValueError, match="lines must be a positive integer"):
        plotting.plot_deformed_grid(ax, lambda x: x, Box.cube(2), lines=0)
    with pytest.raises(ValueError, match=r"mapping\(x\) must be finite"):
        plotting.plot_deformed_grid(ax, lambda x: x / 0.0, Box.cube(2))


# ------------------------------------------------------------------ trajectories


@pytest.mark.parametrize("markers", [False, True])
def test_trajectories_one_line_per_point_plus_start_dots(markers):
    control = PiecewiseConstantControl.random(ResidualBlock(width=3), 2, pieces=2,
                                              generator=torch.Generator().manual_seed(1))
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    path = flow(control, x, method="euler", steps_per_piece=3, save_steps=True)
    _, ax = plotting.figure()
    out = plotting.plot_trajectories(ax, path, label="resnet", markers=markers,
                                     color=plotting.COLORS["resnet"])
    assert out is ax
    assert len(ax.lines) == 5 + 1
    for i in range(5):
        np.testing.assert_array_equal(ax.lines[i].get_xdata(), path[:, i, 0].numpy())
        np.testing.assert_array_equal(ax.lines[i].get_ydata(), path[:, i, 1].numpy())
        assert ax.lines[i].get_marker() == ("." if markers else "None")
    dots = ax.lines[-1]
    np.testing.assert_array_equal(dots.get_xdata(), x[:, 0].numpy())
    assert dots.get_marker() == "o" and dots.get_linestyle() == "None"
    labels = [line.get_label() for line in ax.lines[:5]]
    assert labels[0] == "resnet" and not any(lab == "resnet" for lab in labels[1:])


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        (lambda: torch.zeros(4, 3, 3), ValueError, r"path must have shape \(\*, \*, 2\)"),
        (lambda: torch.zeros(4, 2), ValueError, "path must have shape"),
        (lambda: np.zeros((4, 3, 2)), TypeError, "path must be a torch.Tensor"),
        (lambda: torch.full((2, 1, 2), float("nan")), ValueError, "path must be finite"),
    ],
)
def test_trajectories_reject_bad_paths(path, error, match):
    _, ax = plotting.figure()
    with pytest.raises(error, match=match):
        plotting.plot_trajectories(ax, path())


# ------------------------------------------------------------------ convergence


def test_convergence_without_fit():
    _, ax = plotting.figure()
    res, err = [1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125]
    out = plotting.plot_convergence(ax, res, err, label="euler")
    assert out is ax
    assert len(ax.lines) == 1
    assert ax.lines[0].get_linestyle() == "-"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.lines[0].get_label() == "euler"
    assert ax.get_xlabel() == "depth $D$" and ax.get_ylabel() == "error"


def test_convergence_with_fit_reports_the_slope():
    _, ax = plotting.figure()
    res = np.array([4.0, 8.0, 16.0, 32.0])
    err = 3.0 * res**-2.0
    fit = fit_loglog(res, err)
    plotting.plot_convergence(ax, res, err, fit=fit, label="heun", color="green",
                              xlabel="steps", ylabel="max error")
    assert len(ax.lines) == 2
    points, line = ax.lines
    assert points.get_label() == "heun (slope -2.00)"
    assert points.get_linestyle() == "None" and points.get_marker() == "o"
    assert line.get_linestyle() == "--" and line.get_color() == points.get_color() == "green"
    np.testing.assert_allclose(line.get_ydata(), err, rtol=1e-12)
    assert ax.get_xlabel() == "steps" and ax.get_ylabel() == "max error"


@pytest.mark.parametrize(
    ("res", "err"),
    [([1, 2, 3], [1.0, 0.5]), ([[1, 2]], [[1.0, 0.5]]), (3.0, 1.0)],
)
def test_convergence_rejects_mismatched_data(res, err):
    _, ax = plotting.figure()
    with pytest.raises(ValueError, match="resolution and errors must be 1-D of equal length"):
        plotting.plot_convergence(ax, res, err)


def _tick_labels(ax, which):
    """(text, window extent) of the drawn, non-empty tick labels of one axis, in view."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(axis.get_view_interval())
    return [(t.label1.get_text(), t.label1.get_window_extent(renderer))
            for t in axis.get_major_ticks() + axis.get_minor_ticks()
            if t.label1.get_visible() and t.label1.get_text()
            and lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9)]


def _overlapping(labels):
    return [(a, b) for i, (a, box_a) in enumerate(labels) for b, box_b in labels[i + 1:]
            if box_a.overlaps(box_b)]


# Short spans (under about a decade) on which matplotlib labels minor ticks, the book's
# Chapter 4 case first (depths 2..16, errors 0.03..0.2), and a span of a tenth of a decade.
SPANS = [((2, 16), (0.03, 0.2)), ((10, 70), (2e-3, 1.5e-2)), ((8, 40), (0.5, 0.9)),
         ((3, 9), (0.11, 0.19)), ((20, 22), (1.0, 10.0)), ((1, 1000), (1e-6, 1e-1))]


def test_plain_matplotlib_labels_collide_on_a_short_span():
    """The defect: on plain matplotlib axes, minor labels of a short log axis overlap."""
    _, ax = plt.subplots(figsize=plotting.PANEL_SIZE, dpi=plotting.DPI)
    ax.loglog([2, 16], [0.2, 0.03])
    assert _overlapping(_tick_labels(ax, "x"))


@pytest.mark.parametrize(("xspan", "yspan"), SPANS)
@pytest.mark.parametrize("size", [plotting.PANEL_SIZE, (2.5, 2.0)])
def test_convergence_tick_labels_do_not_overlap(xspan, yspan, size):
    fig, ax = plotting.figure()
    fig.set_size_inches(*size)
    x, y = np.geomspace(*xspan, 5), np.geomspace(*yspan, 5)[::-1]
    plotting.plot_convergence(ax, x, y, fit=fit_loglog(x, y), label="a")
    for which in "xy":
        labels = _tick_labels(ax, which)
        assert len(labels) >= 2, (which, [t for t, _ in labels])
        assert not _overlapping(labels), (which, _overlapping(labels))


def test_tick_labels_follow_later_limits_and_series():
    """Labels are chosen at draw time: another series or new limits keep them apart."""
    _, ax = plotting.figure()
    plotting.plot_convergence(ax, [20, 40, 80], [0.1, 0.05, 0.025])
    plotting.plot_convergence(ax, [2, 4, 8], [0.2, 0.1, 0.05])
    ax.set_ylim(0.02, 0.3)
    for which in "xy":
        labels = _tick_labels(ax, which)
        assert len(labels) >= 2 and not _overlapping(labels), which
    # Only one power of ten (10) in view on x: multiples of it are labelled as well.
    assert any(t != r"$\mathdefault{10}$" for t, _ in _tick_labels(ax, "x"))


def test_whole_numbers_are_written_plainly():
    """Cell counts read 4, 8, 16, not 4x10^0; errors keep scientific notation."""
    _, ax = plotting.figure()
    plotting.plot_convergence(ax, [4, 8, 16, 32], [0.3, 0.15, 0.07, 0.04])
    xs = [t for t, _ in _tick_labels(ax, "x")]
    ys = [t for t, _ in _tick_labels(ax, "y")]
    assert xs and not any("times" in t for t in xs), xs
    assert any(t in (r"$\mathdefault{5}$", r"$\mathdefault{10}$", r"$\mathdefault{20}$") for t in xs), xs
    assert any("times" in t or "10^" in t for t in ys), ys


def test_only_powers_of_ten_are_labelled_when_two_are_in_view():
    _, ax = plotting.figure()
    plotting.plot_convergence(ax, [1, 30, 1000], [1e-1, 1e-3, 1e-6])
    for which in "xy":
        texts = [t for t, _ in _tick_labels(ax, which)]
        assert len(texts) >= 2 and not any("times" in t for t in texts), texts


def test_tick_labels_survive_a_later_loglog_call():
    """Chapter 4's generality figure: plot_convergence, then ax.loglog (which resets scales)."""
    fig, axes = plotting.figure(2)
    for ax, cells in zip(axes, ([2, 4, 8, 16], [4, 8, 16, 32, 64])):
        errors = 0.5 / np.asarray(cells, dtype=float)
        plotting.plot_convergence(ax, cells, errors, fit=fit_loglog(cells, errors))
        ax.loglog(cells, 1.01 * errors, ls=":")
        ax.semilogy()
    for ax in axes:
        for which in "xy":
            labels = _tick_labels(ax, which)
            assert len(labels) >= 2 and not _overlapping(labels), (which, labels)


def test_label_log_ticks_leaves_linear_axes_alone():
    _, ax = plotting.figure()
    ax.set_yscale("log")
    before = ax.xaxis.get_major_formatter()
    assert plotting.label_log_ticks(ax) is ax
    assert ax.xaxis.get_major_formatter() is before
    assert ax.yaxis.get_major_formatter() is not before


def test_figures_render_to_png(tmp_path):
    fig, axes = plotting.figure(ncols=2)
    plotting.plot_deformed_grid(axes[0], lambda x: x, Box.cube(2), lines=3, resolution=5)
    plotting.plot_convergence(axes[1], [1, 2, 4], [1.0, 0.3, 0.1])
    fig.savefig(tmp_path / "panel.png")
    assert (tmp_path / "panel.png").stat().st_size > 1000
