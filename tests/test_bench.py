"""The benchmark driver (benchmarks/bench.py): ratios, report, argument checks."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_side_by_side_reports_ratio_statistics():
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1
        sum(range(2000))

    def b():
        calls["b"] += 1
        sum(range(1000))

    result = bench.side_by_side(a, b, repeats=3, number=2)
    assert calls == {"a": 7, "b": 7}  # one warm-up call each, then 3 x 2 timed calls
    assert result["ratio_min"] <= result["ratio_median"] <= result["ratio_max"]
    assert result["seconds_a"] > 0 and result["seconds_b"] > 0


def test_report_is_written_and_rendered(tmp_path, monkeypatch):
    row = {"ratio_median": 2.0, "ratio_min": 1.5, "ratio_max": 2.5, "seconds_a": 0.01,
           "seconds_b": 0.005}
    monkeypatch.setattr(bench, "BENCHMARKS", {"tiny": lambda repeats: [{"name": "x / y",
                                                                        "batch": 10, **row}]})
    out = tmp_path / "bench.json"
    assert bench.main(["--repeats", "3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["results"]["tiny"][0]["ratio_median"] == 2.0
    table = bench.render_markdown(report)
    assert "| x / y | batch 10 | 2 | 1.5-2.5 | 10 ms |" in table


def test_too_few_repeats_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--repeats", "2"])
    assert "--repeats must be at least 3" in capsys.readouterr().err
