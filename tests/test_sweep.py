"""Tests of tools/sweep.py (``make sweep``) on the tiny notebook tests/data/tiny_sweep.ipynb.

The tiny notebook has a parameters cell (seed, scale, n, label, sizes) and three claims;
``tiny-largest`` fails when ``scale`` is large, which record-only mode must record, not
raise. The end-to-end tests run real kernels: two local processes, a Dask LocalCluster
with two workers (Dask is a pinned requirement: without it these tests fail, they are
not skipped) and a sweep killed while a point runs, then resumed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python -m pytest` adds the root; plain `pytest` does not
    sys.path.insert(0, str(ROOT))

from flowapprox import claims  # noqa: E402
from tools import sweep  # noqa: E402
from tools.notebooks import KERNELSPEC  # noqa: E402

TINY = ROOT / "tests" / "data" / "tiny_sweep.ipynb"
SWEEPS = ROOT / "sweeps"
# Two points: the claim tiny-largest passes at scale 1 and fails at scale 3.
GRID = "scale: [1, 3.0]\nseeds: [0]\n"


def grid_file(folder: Path, text: str, name: str = "grid.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def expand(folder: Path, text: str, name: str = "grid.yaml") -> list[sweep.Point]:
    return sweep.expand(TINY, sweep.read_grid(grid_file(folder, text, name)))


# ------------------------------------------------------------------- grid validation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scael: [1.0]\n", "unknown parameter 'scael'; valid names: seed, scale, n, label, sizes"),
        ("n: []\n", "parameter 'n': empty list of values"),
        ("n: 3\n", "parameter 'n': expected a list of values, got 3 (write [3] for one value)"),
        ("n: [1.5]\n", "parameter 'n': value 1.5 is of type float, but the notebook's default 4 is of type int"),
        ("n: [true]\n", "parameter 'n': value True is of type bool"),
        ("scale: [fast]\n", "parameter 'scale': value 'fast' is of type str, but the notebook's default 1.0"),
        ("label: [1]\n", "parameter 'label': value 1 is of type int, but the notebook's default \"tiny\" is of type str"),
        ("sizes: [3]\n", "parameter 'sizes': value 3 is of type int, but the notebook's default [1, 2] is of type list"),
        ("sizes: [[1, a]]\n", "parameter 'sizes': element 'a' of [1, 'a'] is of type str"),
        ("n: [2, 2]\n", "parameter 'n': repeated value(s) 2"),
        ("seeds: [0, -1]\n", "'seeds': every seed must be a non-negative integer"),
        ("seeds: []\n", "'seeds': expected a non-empty list"),
        ("seeds: [0]\nseed: [1]\n", "parameter 'seed' is given both as 'seed' and as 'seeds'"),
    ],
)
def test_bad_grids_are_rejected_with_the_parameter_named(tmp_path, text, message):
    with pytest.raises(sweep.SweepError, match=re.escape(message)):
        expand(tmp_path, text)


def test_every_problem_of_a_grid_is_reported_at_once(tmp_path):
    with pytest.raises(sweep.SweepError) as info:
        expand(tmp_path, "scael: [1.0]\nn: []\nlabel: [2]\n")
    text = str(info.value)
    assert "grid.yaml does not fit tests/data/tiny_sweep.ipynb" in text
    assert all(name in text for name in ("'scael'", "'n'", "'label'"))


@pytest.mark.parametrize(("text", "message"), [("", "non-empty mapping"), ("[1, 2]\n", "non-empty mapping"),
                                               ("n: [1\n", "cannot parse the grid")])
def test_unreadable_grids(tmp_path, text, message):
    with pytest.raises(sweep.SweepError, match=re.escape(message)):
        sweep.read_grid(grid_file(tmp_path, text))


def test_grid_file_type_and_notebook_are_checked(tmp_path):
    with pytest.raises(sweep.SweepError, match="ends in .yaml, .yml or .toml"):
        sweep.read_grid(grid_file(tmp_path, "n = [1]\n", "grid.ini"))
    with pytest.raises(sweep.SweepError, match="no such grid file"):
        sweep.read_grid(tmp_path / "missing.yaml")
    with pytest.raises(sweep.SweepError, match="no such notebook"):
        sweep.expand(tmp_path / "missing.ipynb", sweep.read_grid(grid_file(tmp_path, "n: [1]\n")))


def test_seeds_need_a_seed_parameter(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = tmp_path / "no_seed.ipynb"
    cells = [new_code_cell("n = 1", metadata={"tags": ["parameters"]})]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC)}), notebook)
    grid = sweep.read_grid(grid_file(tmp_path, "seeds: [0]\n"))
    with pytest.raises(sweep.SweepError, match="'seeds' given, but the notebook has no parameter 'seed'; valid names: n"):
        sweep.expand(notebook, grid)


def test_points_are_the_product_in_file_order_with_seeds_last(tmp_path):
    points = expand(tmp_path, "seeds: [0, 1]\nscale: [1, 2.5]\nsizes: [[4], [8, 16]]\n")
    assert [p.parameters for p in points][:3] == [
        {"scale": 1.0, "sizes": [4], "seed": 0},
        {"scale": 1.0, "sizes": [4], "seed": 1},
        {"scale": 1.0, "sizes": [8, 16], "seed": 0},
    ]
    assert isinstance(points[0].parameters["scale"], float)  # an int for a float parameter becomes a float
    assert points[2].slug == "scale=1.0,sizes=8-16,seed=0"
    assert len({p.slug for p in points}) == len(points) == 8


def test_toml_grids_and_yaml_exponents(tmp_path):
    toml = expand(tmp_path, 'seeds = [3]\nscale = [1e-3]\nlabel = ["a b"]\n', "grid.toml")
    yml = expand(tmp_path, "seeds: [3]\nscale: [1e-3]\nlabel: [a b]\n")
    assert toml[0].parameters == yml[0].parameters == {"scale": 0.001, "label": "a b", "seed": 3}
    assert re.fullmatch(r"scale=0\.001,label=ab,seed=3~[0-9a-f]{8}", toml[0].slug)  # lossy name: hashed


def test_committed_grids_fit_their_notebooks():
    learning = sweep.expand(ROOT / "chapters/04-universal-approximation/learning.ipynb",
                            sweep.read_grid(SWEEPS / "learning.yaml"))
    assert sorted({p.parameters["seed"] for p in learning}) == [0, 1, 2, 3, 4]
    demo = sweep.expand(ROOT / "chapters/01-resnets-as-flows/experiments.ipynb",
                        sweep.read_grid(SWEEPS / "ch01-orders.yaml"))
    assert len(demo) == 6


def test_cli_usage_errors_exit_2_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "out"
    grid = grid_file(tmp_path, "n: []\n")
    assert sweep.main([str(TINY), str(grid), "--out", str(out), "--no-progress"]) == 2
    assert "parameter 'n': empty list" in capsys.readouterr().err
    assert not out.exists()
    grid = grid_file(tmp_path, "n: [1]\n")
    assert sweep.main([str(TINY), str(grid), "--out", str(out), "--workers", "999"]) == 2
    assert "--workers 999 exceeds" in capsys.readouterr().err


# --------------------------------------------------------------- record-only claims


def test_record_only_mode_records_a_failing_claim_with_its_raw_value(tmp_path, monkeypatch, capsys):
    sidecar = tmp_path / "claims.jsonl"
    monkeypatch.setenv("FLOWAPPROX_CLAIMS", "record")
    monkeypatch.setenv("FLOWAPPROX_CLAIMS_FILE", str(sidecar))
    claim = claims.check("test-record", "a failing claim", 1.23456789, claims.AtMost(1.0))
    claims.check("test-record-ok", "a passing claim", 0.5, claims.AtMost(1.0))
    assert not claim.passed
    assert "FAIL  test-record  1.23" in capsys.readouterr().out
    lines = [json.loads(line) for line in sidecar.read_text().splitlines()]
    assert lines[0] == {"id": "test-record", "statement": "a failing claim", "value": 1.23456789,
                        "criterion": "value <= 1", "passed": False, "shown_value": "1.23", "fmt": ".3g",
                        "supports": []}
    assert [line["passed"] for line in lines] == [False, True]


def test_record_only_mode_without_a_file_and_the_default_mode(monkeypatch, capsys):
    monkeypatch.setenv("FLOWAPPROX_CLAIMS", "record")
    monkeypatch.delenv("FLOWAPPROX_CLAIMS_FILE", raising=False)
    assert claims.record_only()
    assert not claims.check("test-record-nofile", "fails quietly", 2.0, claims.AtMost(1.0)).passed
    monkeypatch.setenv("FLOWAPPROX_CLAIMS", "check")
    with pytest.raises(claims.ClaimFailed):
        claims.check("test-record-check", "fails loudly", 2.0, claims.AtMost(1.0))
    monkeypatch.delenv("FLOWAPPROX_CLAIMS")
    assert not claims.record_only()
    monkeypatch.setenv("FLOWAPPROX_CLAIMS", "recrod")
    with pytest.raises(ValueError, match="FLOWAPPROX_CLAIMS must be 'check' or 'record', got 'recrod'"):
        claims.check("test-record-bad", "bad mode", 0.0, claims.AtMost(1.0))


# ----------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> sweep.SweepResult:
    """The two-point grid on two local processes."""
    folder = tmp_path_factory.mktemp("local")
    before = TINY.read_bytes()
    result = sweep.run_sweep(TINY, grid_file(folder, GRID), workers=2, out=folder / "out", progress=False)
    assert TINY.read_bytes() == before  # the notebook itself is never written
    return result


def test_two_local_workers_run_every_point_and_record_failing_claims(local_run):
    assert local_run.executor == "2 local process(es)"
    assert sorted(local_run.ran) == ["scale=1.0,seed=0", "scale=3.0,seed=0"] and not local_run.failed
    summary = (local_run.directory / "summary.csv").read_text().splitlines()
    assert summary[0] == "point,scale,seed,claim,value,criterion,passed,shown_value,statement"
    assert len(summary) == 1 + 2 * 3
    largest = {row["scale"]: row for row in local_run.rows if row["claim"] == "tiny-largest"}
    assert largest[1.0]["passed"] and not largest[3.0]["passed"]
    assert largest[3.0]["value"] == pytest.approx(3 * largest[1.0]["value"], rel=1e-12)  # raw, unrounded
    table = {t["claim"]: t for t in local_run.table}
    assert table["tiny-largest"]["pass_rate"] == 0.5 and table["tiny-sizes"]["pass_rate"] == 1.0
    point = local_run.directory / "scale=3.0,seed=0"
    assert sorted(p.name for p in point.iterdir()) == ["claims.json", "notebook.ipynb", "point.json"]
    executed = (point / "notebook.ipynb").read_text()
    assert "the notebook went on after its claims" in executed and "FAIL  tiny-largest" in executed
    report = json.loads((local_run.directory / "summary.json").read_text())
    assert [p["status"] for p in report["points"]] == ["ok", "ok"]


def test_a_repeated_sweep_skips_the_points_done(local_run, tmp_path):
    grid = grid_file(tmp_path, GRID)
    again = sweep.run_sweep(TINY, grid, workers=2, out=local_run.directory.parent, progress=False)
    assert again.ran == [] and sorted(again.skipped) == sorted(local_run.ran)
    assert again.rows == local_run.rows


def test_dask_local_cluster_gives_the_same_summary(local_run, tmp_path):
    result = sweep.run_sweep(TINY, grid_file(tmp_path, GRID), workers=2, scheduler="local",
                             out=tmp_path / "out", progress=False)
    assert result.executor == "Dask LocalCluster with 2 worker(s)"
    assert sorted(result.ran) == sorted(local_run.ran) and not result.failed
    local = (local_run.directory / "summary.csv").read_text()
    assert (result.directory / "summary.csv").read_text() == local


class _NoTools:
    """A meta-path finder that makes ``tools`` unimportable, as on a remote Dask node."""

    def find_spec(self, name, path=None, target=None):
        if name == "tools" or name.startswith("tools."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


def test_dask_tasks_travel_by_value(monkeypatch):
    """A scheduler or worker that cannot import tools/ can still load a sweep's task."""
    import concurrent.futures
    import pickle

    from distributed.protocol.pickle import dumps, loads

    class Capture(concurrent.futures.Executor):
        def submit(self, fn, /, *args, **kwargs):
            self.fn = fn
            return concurrent.futures.Future()

    capture = Capture()
    sweep.register_by_value()
    sweep._ByValue(capture).submit(sweep.run_point, str(TINY), TINY.read_text(), {"seed": 0})
    with pytest.raises(Exception):
        pickle.dumps(capture.fn)  # so Dask falls back to cloudpickle
    payload = dumps(capture.fn)
    for name in [m for m in sys.modules if m == "tools" or m.startswith("tools.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoTools(), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError):
        __import__("tools.sweep")
    call = loads(payload)
    assert call.__name__ == "call" and "tools" not in sys.modules


def test_a_killed_sweep_leaves_no_half_written_point_and_resumes(tmp_path):
    """Kill the driver (and its workers) while the seed-1 point runs; run again."""
    grid = grid_file(tmp_path, "seeds: [0, 1]\n")
    out, hold = tmp_path / "out", tmp_path / "hold"
    hold.touch()
    env = dict(os.environ, TINY_SWEEP_HOLD=str(hold), TINY_SWEEP_HOLD_SEED="1")
    command = [sys.executable, str(ROOT / "tools" / "sweep.py"), str(TINY), str(grid),
               "--workers", "2", "--out", str(out), "--no-progress"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    directory = out / "data--tiny_sweep"
    done = directory / "seed=0" / "point.json"
    try:
        deadline = time.monotonic() + 120
        while not (done.exists() and Path(f"{hold}.started").exists()):
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep did not reach the held point"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        hold.unlink(missing_ok=True)  # a kernel that outlived its worker stops waiting
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) == ["seed=0"]
    first = (directory / "seed=0" / "point.json").read_text()
    (directory / ".tmp-seed=1.abc123").mkdir()  # as if killed while writing a point

    resumed = sweep.run_sweep(TINY, grid, workers=2, out=out, progress=False)
    assert resumed.skipped == ["seed=0"] and resumed.ran == ["seed=1"] and not resumed.failed
    assert (directory / "seed=0" / "point.json").read_text() == first
    assert sorted(p.name for p in directory.iterdir()) == ["seed=0", "seed=1", "summary.csv", "summary.json"]
    assert [row["seed"] for row in resumed.rows] == [0, 0, 0, 1, 1, 1]


def test_a_failing_notebook_fails_its_point_only(tmp_path, capsys):
    grid = grid_file(tmp_path, "n: [0]\n")  # max() of no draws raises in the notebook
    status = sweep.main([str(TINY), str(grid), "--workers", "1", "--out", str(tmp_path), "--no-progress"])
    assert status == 1
    record = json.loads((tmp_path / "data--tiny_sweep" / "n=0" / "point.json").read_text())
    assert record["status"] == "failed" and "ValueError" in record["error"]
    assert "failed points (run again to retry them): n=0" in capsys.readouterr().err
