"""Smoke tests of the explorers (flowapprox.explorers): views, builders, the target parser.

The builders are driven without a browser: setting a control's ``value`` runs the
callback, which must put a fresh PNG into the explorer's image widget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import matplotlib.pyplot as plt
import pytest
import torch

from flowapprox import explorers, plotting

ipywidgets = pytest.importorskip("ipywidgets")

PNG = b"\x89PNG"


@pytest.fixture(autouse=True)
def no_figures_left() -> Iterator[None]:
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) <= before, "an explorer left a figure open"


def check_view(view: explorers.View) -> None:
    assert isinstance(view, explorers.View)
    drawn = [ax for ax in view.figure.axes if ax.get_visible()]
    assert drawn and all(ax.has_data() for ax in drawn if ax.get_label() != "<colorbar>")
    assert view.summary and "\n" not in view.summary
    plotting.close_figure(view.figure)


@pytest.mark.parametrize("kwargs", [{}, {"depth": 16, "method": "heun", "horizon": 1.0},
                                    {"depth": 8, "method": "rk4", "resolution": 11}])
def test_depth_view(kwargs: dict[str, Any]) -> None:
    check_view(explorers.depth_view(**kwargs))


def test_depth_view_counts_folds_only_for_coarse_networks() -> None:
    coarse = explorers.depth_view(4, "euler", resolution=21)
    fine = explorers.depth_view(128, "euler", resolution=21)
    for view in (coarse, fine):
        plotting.close_figure(view.figure)
    assert "for the flow map: 0.0%" in coarse.summary
    assert "folds (det <= 0): 0.0%" not in coarse.summary
    assert "folds (det <= 0): 0.0%" in fine.summary


@pytest.mark.parametrize("kwargs", [{}, {"activation": "relu", "neurons": 3, "rounds": 1},
                                    {"activation": "sigmoid", "horizon": 0.5,
                                     "max_rounds": 32}])
def test_splitting_view(kwargs: dict[str, Any]) -> None:
    check_view(explorers.splitting_view(**kwargs))


def test_splitting_view_reports_orders_one_and_two_for_a_smooth_sum() -> None:
    view = explorers.splitting_view()
    plotting.close_figure(view.figure)
    orders = view.summary.split("): ")[1].split(";")[0]  # "lie 1.01, strang 2.00"
    lie, strang = (float(part.split()[1]) for part in orders.split(", "))
    assert abs(lie - 1.0) < 0.1 and abs(strang - 2.0) < 0.1


@pytest.mark.parametrize("kwargs", [{}, {"cells": 1, "delta": 0.45, "horizon": 12.0},
                                    {"target": "exp(x)", "pieces": 3,
                                     "strategy": "one-sided"}])
def test_one_dimension_view(kwargs: dict[str, Any]) -> None:
    check_view(explorers.one_dimension_view(**kwargs))


@pytest.mark.parametrize("kwargs", [{}, {"target": "x1 * x2", "cells": 2, "zoom_time": 0.0},
                                    {"target": "abs(x1 - 0.5)", "cells": 8, "delta": 0.2}])
def test_construction_view(kwargs: dict[str, Any]) -> None:
    check_view(explorers.construction_view(**kwargs))


def test_construction_view_has_one_panel_per_stage() -> None:
    view = explorers.construction_view("x1", cells=3)
    titles = [ax.get_title() for ax in view.figure.axes if ax.get_visible()]
    plotting.close_figure(view.figure)
    assert titles[0] == "input" and sum(t.startswith("after ") for t in titles) == 4


# ------------------------------------------------------------------------------- parser


@pytest.mark.parametrize(("text", "dim", "expected"), [
    ("x1 + 2 * x2", 2, [5.0, 1.0]),
    ("sin(pi * x1) ** 2 + np.cos(0 * x2)", 2, [1.0, 1.0]),
    ("maximum(x1, x2) - abs(-x2) + torch.relu(x1)", 2, [1.0, 0.0]),
    ("-x + exp(0)", 1, [0.0, 1.0]),
    ("3", 2, [3.0, 3.0]),
])
def test_parse_target_evaluates_arithmetic(text: str, dim: int, expected: list[float]) -> None:
    x = torch.tensor([[1.0, 2.0], [0.0, 0.5]], dtype=torch.float64)[:, :dim]
    assert torch.allclose(explorers.parse_target(text, dim)(x),
                          torch.tensor(expected, dtype=torch.float64))


def test_parse_target_accepts_one_dimensional_points_in_one_dimension() -> None:
    f = explorers.parse_target("tanh(x1)", 1)
    x = torch.linspace(-1, 1, 5, dtype=torch.float64)
    assert torch.allclose(f(x), torch.tanh(x))


@pytest.mark.parametrize("text", [
    "__import__('os')", "__import__('os').system('true')", "x1.__class__", "open('f')",
    "lambda: 0", "[x1]", "x1[0]", "y", "sin(x=x1)", "sin(x1, x2)", "os.sin(x1)",
    "x1 if x2 else 0", "x1 < x2", "'text'", "1j * x1", "True", "(x1 := 2)", "", "x1 +",
    "x1" + " + x1" * 100, "sin(" * 200 + "x1" + ")" * 200, "f'{x1}'", "x1 @ x2",
    "1e999 * x1", "x1 + ...", "{x1}", "x1.real", "sin", "x1 and x2", "not x1",
])
def test_parse_target_rejects_everything_else(text: str) -> None:
    with pytest.raises(ValueError, match="target"):
        explorers.parse_target(text)


def test_parse_target_names_the_argument_and_checks_types() -> None:
    with pytest.raises(ValueError, match="formula"):
        explorers.parse_target(42)
    with pytest.raises(ValueError, match="F_user"):
        explorers.parse_target("x3", name="F_user")
    with pytest.raises(ValueError, match="dim"):
        explorers.parse_target("x1", 3)
    f = explorers.parse_target("x1")
    with pytest.raises(ValueError, match="x must have shape"):
        f(torch.zeros(3, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        f([[0.0, 0.0]])
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        f(torch.zeros(3, 2, dtype=torch.int64))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("view", "kwargs", "name"), [
    (explorers.depth_view, {"depth": 6}, "depth"),
    (explorers.depth_view, {"depth": 0}, "depth"),
    (explorers.depth_view, {"method": "dopri5"}, "method"),
    (explorers.depth_view, {"horizon": math.nan}, "horizon"),
    (explorers.depth_view, {"horizon": 100.0}, "horizon"),
    (explorers.splitting_view, {"neurons": 50}, "neurons"),
    (explorers.splitting_view, {"activation": "gelu"}, "activation"),
    (explorers.splitting_view, {"rounds": 0}, "rounds"),
    (explorers.splitting_view, {"max_rounds": 100}, "max_rounds"),
    (explorers.one_dimension_view, {"delta": 0.0}, "delta"),
    (explorers.one_dimension_view, {"delta": 0.5}, "delta"),
    (explorers.one_dimension_view, {"target": "-x"}, "target"),
    (explorers.one_dimension_view, {"target": "__import__('os')"}, "target"),
    (explorers.one_dimension_view, {"target": "log(x)"}, "target"),
    (explorers.one_dimension_view, {"strategy": "greedy"}, "strategy"),
    (explorers.construction_view, {"target": "__import__('os')"}, "target"),
    (explorers.construction_view, {"target": "1 / (x1 - x1)"}, "target"),
    (explorers.construction_view, {"cells": 0}, "cells"),
    (explorers.construction_view, {"zoom_time": -1.0}, "zoom_time"),
    (explorers.construction_view, {"delta": 1.0}, "delta"),
])
def test_bad_arguments_raise_value_errors_naming_them(view: Any, kwargs: dict[str, Any],
                                                      name: str) -> None:
    with pytest.raises(ValueError, match=name):
        view(**kwargs)


# ----------------------------------------------------------------------------- builders


def controls(widget: Any) -> dict[str, Any]:
    """The explorer's controls by description (the row of widgets under the title)."""
    return {child.description: child for child in widget.children[1].children}


BUILDERS = [
    (explorers.depth_explorer, "depth", 8),
    (explorers.splitting_explorer, "rounds k", 2),
    (explorers.one_dimension_explorer, "pieces K", 3),
    (explorers.construction_explorer, "cells N", 2),
]


@pytest.mark.parametrize(("builder", "control", "value"), BUILDERS,
                         ids=[b[0].__name__ for b in BUILDERS])
def test_builders_redraw_when_a_control_changes(builder: Any, control: str,
                                                value: Any) -> None:
    widget = builder()
    assert isinstance(widget, ipywidgets.VBox)
    first = bytes(widget.image.value)
    assert first.startswith(PNG) and widget.summary.value
    controls(widget)[control].value = value
    assert bytes(widget.image.value).startswith(PNG) and bytes(widget.image.value) != first
    assert "Not shown" not in widget.summary.value


@pytest.mark.parametrize("builder", [explorers.one_dimension_explorer,
                                     explorers.construction_explorer])
def test_builders_show_a_rejected_target_instead_of_failing(builder: Any) -> None:
    widget = builder()
    before = bytes(widget.image.value)
    box = next(c for c in controls(widget).values() if isinstance(c, ipywidgets.Text))
    box.value = "__import__('os').system('echo unsafe')"
    assert "Not shown" in widget.summary.value and "target" in widget.summary.value
    assert bytes(widget.image.value) == before
    box.value = "x1" if builder is explorers.construction_explorer else "2 * x"
    assert "Not shown" not in widget.summary.value and bytes(widget.image.value) != before


def test_the_library_works_without_ipywidgets() -> None:
    """Views need no ipywidgets; a builder says what to install."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['ipywidgets'] = None\n"
        "import matplotlib; matplotlib.use('Agg')\n"
        "import flowapprox as fa\n"
        "fa.plotting.close_figure(fa.explorers.construction_view('x1', cells=2).figure)\n"
        "try:\n"
        "    fa.explorers.construction_explorer()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert "need ipywidgets" in done.stdout


# ------------------------------------------------- the static alternative on the book pages


def test_figure_png_closes_the_figure_and_can_reduce_the_palette() -> None:
    sizes = []
    for palette in (False, True):
        view = explorers.construction_view("x1 * x2", cells=2)
        png = plotting.figure_png(view.figure, palette=palette)
        assert png.startswith(PNG) and not plt.fignum_exists(view.figure.number)
        sizes.append(len(png))
    assert sizes[1] < sizes[0]
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        plotting.figure_png("figure")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        plotting.close_figure(None)  # type: ignore[arg-type]


def test_glued_png_reads_a_figure_glued_without_display(tmp_path: Any) -> None:
    import base64

    import nbformat

    from tools.book_ext import GLUE_PNG, glued_png

    png = plotting.figure_png(explorers.construction_view("x2", cells=2).figure, palette=True)
    output = nbformat.v4.new_output(
        "display_data", data={GLUE_PNG: base64.b64encode(png).decode()},
        metadata={"scrapbook": {"name": "ch00-key", "mime_prefix": GLUE_PNG[:-9]}})
    cell = nbformat.v4.new_code_cell("glue(...)", outputs=[output])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert glued_png(path, "ch00-key") == png
    assert glued_png(path, "ch00-other") is None


@pytest.mark.parametrize(("page", "notebook", "keys"), [
    ("chapters/02-flows-and-control-families/index.md",
     "chapters/02-flows-and-control-families/experiments.ipynb",
     ["ch02-splitting-k2", "ch02-splitting-k8", "ch02-splitting-k32"]),
    ("chapters/04-universal-approximation/index.md",
     "chapters/04-universal-approximation/construction.ipynb",
     ["ch04-stages-short", "ch04-stages-medium", "ch04-stages-scheduled"]),
])
def test_chapter_pages_show_glued_explorer_figures_in_tabs(page: str, notebook: str,
                                                           keys: list[str]) -> None:
    from pathlib import Path

    from tools.book_ext import glued_png

    root = Path(__file__).resolve().parents[1]
    text = (root / page).read_text(encoding="utf-8")
    assert "::::{tab-set}" in text and text.count(":::{tab-item}") == len(keys)
    for key in keys:
        assert f"{{glued-figure}} {Path(notebook).name}::{key}\n" in text
        png = glued_png(root / notebook, key)
        assert png is not None and png.startswith(PNG)
