"""The committed sweeps: every grid in sweeps/ fits the notebook its header names, and every
committed summary in sweeps/results/ reads back (flowapprox.claims.read_summary) with the
grid's seeds and only completed points."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from flowapprox import claims
from tools import sweep

ROOT = Path(__file__).resolve().parents[1]
GRIDS = sorted((ROOT / "sweeps").glob("*.yaml"))
SUMMARIES = sorted((ROOT / "sweeps" / "results").glob("*/summary.json"))


def _notebook(grid: Path) -> Path:
    match = re.search(r"NB=(chapters/\S+\.ipynb)", grid.read_text(encoding="utf-8"))
    assert match, f"{grid.name}: its header names no notebook (NB=chapters/...)"
    return ROOT / match.group(1)


@pytest.mark.parametrize("grid", GRIDS, ids=lambda p: p.name)
def test_grid_fits_its_notebook(grid):
    points = sweep.expand(_notebook(grid), sweep.read_grid(grid))
    assert points


@pytest.mark.parametrize("path", SUMMARIES, ids=lambda p: p.parent.name)
def test_committed_summary_reads_back(path):
    summary = claims.read_summary(path)
    assert summary.points and all(point["status"] == "ok" for point in summary.points)
    grid = yaml.safe_load(summary.grid_text)
    if "seeds" in grid:
        assert summary.seeds == grid["seeds"]
    for entry in summary.table:
        values = summary.values(str(entry["claim"]))
        assert len(values) == entry["points"] and min(values) == entry["min"]
