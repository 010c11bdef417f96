"""Figure export (``make figures``): deterministic PNG/PDF bytes and a complete manifest."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from flowapprox import plotting
from tools import notebooks as nbt


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def demo_figure(name: str | None = "demo"):  # type: ignore[no-untyped-def]
    fig, ax = plotting.figure(name=name)
    ax.plot([0.0, 1.0, 2.0], [0.0, 1.0, 4.0], label="x^2")
    ax.set_title("demo")
    ax.legend()
    return fig


def test_save_figure_writes_png_and_pdf_with_identical_bytes_twice(tmp_path: Path) -> None:
    fig = demo_figure()
    first = plotting.save_figure(fig, tmp_path / "a", "demo")
    second = plotting.save_figure(fig, tmp_path / "b", "demo")
    assert [p.name for p in first] == ["demo.png", "demo.pdf"]
    assert [sha256(p) for p in first] == [sha256(p) for p in second]
    assert b"CreationDate" not in first[1].read_bytes()


def test_saved_bytes_do_not_depend_on_the_process(tmp_path: Path) -> None:
    script = (
        "import sys, matplotlib; matplotlib.use('Agg')\n"
        "import flowapprox as fa\n"
        "fa.setup(seed=0)\n"
        "fig, ax = fa.plotting.figure(name='demo')\n"
        "ax.plot([0, 1, 2], [0, 1, 4]); ax.set_title('demo')\n"
        "fa.plotting.save_figure(fig, sys.argv[1], 'demo')\n"
    )
    hashes = []
    for run in ("one", "two"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / run)], check=True)
        hashes.append([sha256(tmp_path / run / f"demo.{ext}") for ext in ("png", "pdf")])
    assert hashes[0] == hashes[1]


def test_export_new_figures_names_and_exports_each_figure_once(tmp_path: Path) -> None:
    plt.close("all")
    plotting._FIGURES.clear()
    demo_figure("first")
    demo_figure(None)
    records = plotting.export_new_figures(tmp_path, "ch00--nb")
    assert [r["figure"] for r in records] == ["ch00--nb-first", "ch00--nb-figure-02"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ch00--nb-figure-02.pdf", "ch00--nb-figure-02.png", "ch00--nb-first.pdf", "ch00--nb-first.png"]
    assert plotting.export_new_figures(tmp_path, "ch00--nb") == []  # nothing new


@pytest.mark.parametrize("name", ["Bad Name", "", "a_b", "-x"])
def test_bad_figure_names_are_rejected(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name must match"):
        plotting.figure(name=name)
    with pytest.raises(ValueError, match="name must match"):
        plotting.save_figure(plt.figure(), tmp_path, name)


def test_save_figure_rejects_non_figures(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        plotting.save_figure("not a figure", tmp_path, "x")  # type: ignore[arg-type]


def test_make_figures_on_a_notebook_is_reproducible(tmp_path: Path) -> None:
    """End to end: run a tiny book notebook twice through ``export_figures``; same hashes."""
    try:
        nbt.require_kernel()
    except nbt.NotebookToolError as exc:
        pytest.skip(str(exc))
    params = new_code_cell("seed = 3  # the seed\nsize = 4  # points", metadata={"tags": ["parameters"]})
    body = new_code_cell(
        "import flowapprox as fa\n"
        "session = fa.setup(seed=seed)\n"
        "fig, ax = fa.plotting.figure(name='line')\n"
        "ax.plot(range(size), range(size))"
    )
    labelled = new_code_cell(
        "fig, ax = fa.plotting.figure()\nax.set_title('a title that must not be cut off')",
        metadata={"mystnb": {"figure": {"caption": "A labelled figure.", "name": "fig-demo-labelled"}}},
    )
    nb = new_notebook(cells=[params, body, labelled])
    nb.metadata.kernelspec = dict(nbt.KERNELSPEC)
    path = tmp_path / "chapters" / "00-demo" / "demo.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    before = path.read_bytes()

    manifests = [nbt.export_figures([path], tmp_path / f"out{i}") for i in (1, 2)]

    assert path.read_bytes() == before  # the notebook itself is not touched
    figure, labelled = manifests[0]["figures"]
    assert figure["figure"] == "00-demo--demo-line" and figure["label"] is None
    assert figure["seed"] == 3 and figure["parameters"] == {"seed": 3, "size": 4}  # types kept
    assert set(figure["files"]) == {"00-demo--demo-line.png", "00-demo--demo-line.pdf"}
    # A figure with a MyST label (the book's figure number and caption) is named after it.
    assert labelled["label"] == labelled["figure"] == "fig-demo-labelled"
    assert set(labelled["files"]) == {"fig-demo-labelled.png", "fig-demo-labelled.pdf"}
    from PIL import Image

    with Image.open(tmp_path / "out1" / "fig-demo-labelled.png") as image:
        assert image.info["dpi"] == pytest.approx((200, 200), abs=0.1)  # 200 dpi export
        # tight bounding box, as the book's inline images: a title wider than the panel is
        # kept whole (the image grows beyond the 4.2-inch panel instead of cutting it off)
        assert image.size[0] > 4.2 * 200
    assert manifests[0] == manifests[1]
    on_disk = json.loads((tmp_path / "out1" / "manifest.json").read_text())
    assert on_disk == manifests[0] and on_disk["library_version"]
