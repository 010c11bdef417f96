"""Tests of flowapprox.claims: criteria, formatting, check() and the claim registry."""

from __future__ import annotations

import dataclasses
import math
import sys
import types

import numpy as np
import pytest
import torch

from flowapprox import claims
from flowapprox.claims import (
    AtLeast,
    AtMost,
    Between,
    Claim,
    ClaimFailed,
    Criterion,
    Within,
    check,
    format_value,
    recorded,
)


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    """Each test sees (and leaves behind) its own registry of recorded claims."""
    monkeypatch.setattr(claims, "_REGISTRY", {})


# ------------------------------------------------------------------ criteria


def test_within():
    c = Within(1.0, 0.25)
    assert c.holds(1.0) and c.holds(1.25) and c.holds(0.75)  # boundaries included
    assert not c.holds(1.2500001) and not c.holds(0.7499999)
    assert not c.holds(float("nan"))
    assert c.describe() == "|value - 1| <= 0.25"
    assert str(c) == c.describe()
    assert Within(0.0, 0.0).holds(0.0) and not Within(0.0, 0.0).holds(1e-300)
    assert Within(-2.5, 1e-3).describe() == "|value - -2.5| <= 0.001"


@pytest.mark.parametrize(("target", "tol", "match"), [
    (1.0, -0.1, "Within tol must be >= 0"),
    (float("nan"), 0.1, "Within target must be finite"),
    (1.0, float("inf"), "Within tol must be finite"),
    (float("inf"), 1.0, "Within target must be finite"),
    (1.0, float("nan"), "Within tol must be finite"),
    (0.0, 1e300, "Within tol must be at most"),
])
def test_within_rejects_bad_parameters(target, tol, match):
    with pytest.raises(ValueError, match=match):
        Within(target, tol)


def test_between():
    c = Between(0.0, 2.0)
    assert c.holds(0.0) and c.holds(2.0) and c.holds(1.0)
    assert not c.holds(-1e-12) and not c.holds(2.0000001) and not c.holds(float("nan"))
    assert c.describe() == "0 <= value <= 2"
    assert Between(1.5, 1.5).holds(1.5)
    assert Between(1e-12, 3e5).describe() == "1e-12 <= value <= 300000"


@pytest.mark.parametrize(("low", "high", "match"), [
    (2.0, 1.0, "Between needs low <= high"),
    (float("nan"), 1.0, "Between low must be finite"),
    (0.0, float("nan"), "Between high must be finite"),
    (-math.inf, math.inf, "Between low must be finite"),
    (-math.inf, 0.0, "Between low must be finite"),
    (0.0, 1e101, "Between high must be at most"),
])
def test_between_rejects_bad_parameters(low, high, match):
    with pytest.raises(ValueError, match=match):
        Between(low, high)


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: AtMost(math.inf), ValueError, "AtMost bound must be finite"),
    (lambda: AtMost(math.nan), ValueError, "AtMost bound must be finite"),
    (lambda: AtMost(1e308), ValueError, "AtMost bound must be at most"),
    (lambda: AtLeast(-math.inf), ValueError, "AtLeast bound must be finite"),
    (lambda: AtLeast("1"), TypeError, "AtLeast bound must be a real number"),
    (lambda: AtLeast(True), TypeError, "AtLeast bound must be a real number"),
    (lambda: Within("0", 1.0), TypeError, "Within target must be a real number"),
    (lambda: Between(None, 1.0), TypeError, "Between low must be a real number"),
])
def test_criteria_that_cannot_fail_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_criteria_accept_numpy_and_integer_bounds():
    assert AtMost(np.float64(1.5)).bound == 1.5 and AtLeast(2).bound == 2.0
    assert isinstance(AtLeast(2).bound, float)


@pytest.mark.parametrize(("criterion", "fails_if"), [
    (AtMost(1.0), "fails if value > 1"),
    (AtLeast(0.5), "fails if value < 0.5"),
    (Between(1.0, 2.0), "fails if value < 1 or value > 2"),
    (Within(1.0, 0.25), "fails if value < 0.75 or value > 1.25"),
])
def test_each_criterion_says_what_makes_it_fail(criterion, fails_if):
    assert criterion.fails_if() == fails_if
    assert claims.failure_condition(criterion.describe()) == fails_if


@pytest.mark.parametrize(("value", "fmt"), [(1.0, "s"), (1.5, "d"), (1.0, "%%"), (1.0, "")])
def test_check_refuses_a_format_that_cannot_format_the_value(value, fmt):
    with pytest.raises((ValueError, TypeError), match="fmt"):
        claims.check("demo-fmt", "a statement", value, AtMost(2.0), fmt=fmt)


def test_at_most_and_at_least():
    assert AtMost(1e-10).holds(1e-10) and AtMost(1e-10).holds(-5.0)
    assert not AtMost(1e-10).holds(1.1e-10) and not AtMost(1.0).holds(float("nan"))
    assert AtMost(1e-10).describe() == "value <= 1e-10"
    assert AtLeast(0.5).holds(0.5) and AtLeast(0.5).holds(7.0)
    assert not AtLeast(0.5).holds(0.4999) and not AtLeast(0.5).holds(float("nan"))
    assert AtLeast(0.5).describe() == "value >= 0.5"
    assert str(AtLeast(2)) == "value >= 2"


def test_criteria_are_frozen_criteria():
    for c in (Within(0, 1), Between(0, 1), AtMost(1), AtLeast(0)):
        assert isinstance(c, Criterion)
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.tol = 3  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        Criterion()  # abstract


# ------------------------------------------------------------------ format_value


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (1.0213, ".3g", "1.02"),
        (12345.6, ".3g", "1.23e+04"),
        (0.5, ".2f", "0.50"),
        (-0.000123456, ".3g", "-0.000123"),
        (3e-15, "bound", "< 1e-14"),
        (1e-14, "bound", "< 1e-13"),  # strictly above the value
        (9e-13, "bound", "< 1e-12"),
        (0.5, "bound", "< 1e0"),
        (2.0, "bound", "< 1e1"),
        (0.0, "bound", "0"),
        (-2e-3, "bound", "-2.0e-03"),
    ],
)
def test_format_value(value, fmt, expected):
    assert format_value(value, fmt) == expected


def test_format_value_default_is_three_significant_digits():
    assert format_value(math.pi) == "3.14"


def test_bound_format_is_a_true_and_tight_upper_bound():
    rng = np.random.default_rng(0)
    for value in 10.0 ** rng.uniform(-17, 3, size=200):
        shown = format_value(float(value), "bound")
        assert shown.startswith("< 1e")
        k = int(shown[4:])
        assert value < 10.0**k
        assert value >= 10.0 ** (k - 1) * (1 - 1e-12)


def test_format_value_rejects_bad_format_specs():
    with pytest.raises(ValueError):
        format_value(1.0, "zz")


# ------------------------------------------------------------------ check


def test_check_prints_returns_and_records(capsys):
    claim = check("demo-order", "Euler has order one", 1.0213, Within(1.0, 0.1))
    out = capsys.readouterr().out
    assert out == "PASS  demo-order  1.02  [|value - 1| <= 0.1]  Euler has order one\n"
    assert isinstance(claim, Claim)
    assert claim.passed
    assert claim.value == 1.0213 and claim.shown_value == "1.02"
    assert claim.row() == out.rstrip("\n")
    assert claim.record() == {
        "id": "demo-order",
        "statement": "Euler has order one",
        "value": "1.02",
        "criterion": "|value - 1| <= 0.1",
        "passed": True,
        "supports": [],
    }
    assert recorded() == [claim]


def test_check_with_bound_format(capsys):
    claim = check("roundoff", "Exact up to round-off", 3e-15, AtMost(1e-12), fmt="bound")
    assert claim.shown_value == "< 1e-14"
    assert capsys.readouterr().out == (
        "PASS  roundoff  < 1e-14  [value <= 1e-12]  Exact up to round-off\n")
    assert claim.record()["value"] == "< 1e-14"


def test_check_strips_the_statement():
    assert check("a", "  padded statement \n", 1.0, AtLeast(0)).statement == "padded statement"


def test_failed_claim_raises_prints_fail_and_is_recorded(capsys):
    with pytest.raises(ClaimFailed, match=r"claim 'rk4-order' failed: 3.5 violates "
                                          r"\|value - 4\| <= 0.2"):
        check("rk4-order", "RK4 has order four", 3.5, Within(4.0, 0.2))
    assert issubclass(ClaimFailed, AssertionError)
    assert capsys.readouterr().out.startswith("FAIL  rk4-order  3.5  ")
    (claim,) = recorded()
    assert claim.id == "rk4-order" and not claim.passed
    assert claim.record()["passed"] is False


@pytest.mark.parametrize(
    "value", [np.float64(0.25), np.float32(0.25), torch.tensor(0.25), torch.tensor([0.25]), 0,
              np.int64(0)],
    ids=["np64", "np32", "torch-0d", "torch-1", "int", "np-int"],
)
def test_check_accepts_scalars(value, capsys):
    claim = check("scalar", "A scalar", value, Between(0.0, 1.0))
    assert type(claim.value) is float
    assert claim.value == float(value)


def test_recorded_lists_claims_in_order_and_rechecks_replace(capsys):
    a = check("a", "first", 1.0, AtLeast(0.0))
    b = check("b", "second", 2.0, AtLeast(0.0))
    assert [c.id for c in recorded()] == ["a", "b"]
    a2 = check("a", "first again", 5.0, AtLeast(0.0))
    assert len(recorded()) == 2
    assert a2 in recorded() and a not in recorded() and b in recorded()
    recorded().clear()  # a copy: the registry is unaffected
    assert len(recorded()) == 2


def test_recorded_order_is_the_order_of_the_last_check(capsys):
    check("a", "first", 1.0, AtLeast(0.0))
    check("b", "second", 2.0, AtLeast(0.0))
    check("a", "first again", 5.0, AtLeast(0.0))
    assert [c.id for c in recorded()] == ["b", "a"]


@pytest.mark.parametrize("bad_id", ["", "Upper", "-lead", ".lead", "has space", "a_b", "ünï",
                                    "a/b", 5, None])
def test_check_rejects_bad_ids(bad_id, capsys):
    with pytest.raises(ValueError, match="id must match"):
        check(bad_id, "statement", 1.0, AtLeast(0))
    assert recorded() == [] and capsys.readouterr().out == ""


@pytest.mark.parametrize("good_id", ["a", "0x", "ch1.order-euler", "fig-2.3"])
def test_check_accepts_good_ids(good_id, capsys):
    assert check(good_id, "statement", 1.0, AtLeast(0)).id == good_id


def test_check_rejects_an_id_with_a_trailing_newline(capsys):
    with pytest.raises(ValueError, match="id must match"):
        check("demo\n", "statement", 1.0, AtLeast(0))


@pytest.mark.parametrize("statement", ["", "   ", "\n", None, 3])
def test_check_rejects_empty_statements(statement):
    with pytest.raises(ValueError, match="statement must be a non-empty string"):
        check("x", statement, 1.0, AtLeast(0))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -math.inf, np.float64("nan"),
                                   torch.tensor(float("inf"))])
def test_check_rejects_non_finite_values(value, capsys):
    with pytest.raises(ValueError, match="value of claim 'x' must be finite"):
        check("x", "statement", value, AtMost(1.0))
    assert recorded() == [] and capsys.readouterr().out == ""


@pytest.mark.parametrize("value", [None, "abc", object(), [1.0, 2.0], torch.ones(2),
                                   np.ones(2), 1j])
def test_check_rejects_non_numbers(value):
    with pytest.raises(TypeError, match="value must be a real number"):
        check("x", "statement", value, AtMost(1.0))


def test_check_rejects_numeric_strings():
    with pytest.raises(TypeError, match="value must be a real number"):
        check("x", "statement", "0.5", AtMost(1.0))


@pytest.mark.parametrize("criterion", [lambda v: v < 1, (0.0, 1.0), "value <= 1", None])
def test_check_rejects_non_criteria(criterion):
    with pytest.raises(TypeError, match="criterion must be a Criterion"):
        check("x", "statement", 0.5, criterion)


def test_check_rejects_a_bad_format_before_recording(capsys):
    with pytest.raises(ValueError):
        check("x", "statement", 0.5, AtMost(1.0), fmt="zz")
    assert recorded() == [] and capsys.readouterr().out == ""


def test_claim_is_frozen():
    claim = Claim("a", "s", 1.0, AtLeast(0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        claim.value = 2.0  # type: ignore[misc]
    assert Claim("a", "s", 0.0, AtLeast(1)).row() == "FAIL  a  0  [value >= 1]  s"


# ------------------------------------------------------------------ inside a kernel


@pytest.fixture
def fake_kernel(monkeypatch):
    """Pretend to run inside IPython; collect what would be glued and displayed."""
    import IPython
    import IPython.display

    calls = {"glue": [], "display": []}
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display",
                        lambda *args, **kwargs: calls["display"].append((args, kwargs)))
    fake_myst_nb = types.ModuleType("myst_nb")
    fake_myst_nb.glue = lambda name, variable, display=True: calls["glue"].append(
        (name, variable, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake_myst_nb)
    return calls


def test_check_in_a_kernel_glues_and_displays_the_record(fake_kernel, capsys):
    claim = check("ch1.order", "Euler error < C h & more", 0.98765, Within(1.0, 0.1))
    assert capsys.readouterr().out == ""  # displayed, not printed
    assert fake_kernel["glue"] == [("ch1.order", "0.988", False)]
    ((args, kwargs),) = fake_kernel["display"]
    (bundle,) = args
    assert bundle["text/plain"] == claim.row()
    assert bundle["text/html"] == (
        '<pre class="flowapprox-claim" id="claim-ch1.order">'
        "PASS  ch1.order  0.988  [|value - 1| &lt;= 0.1]  Euler error &lt; C h &amp; more</pre>")
    assert kwargs == {"metadata": {"flowapprox.claim": claim.record()}, "raw": True}
    assert recorded() == [claim]


def test_failed_check_in_a_kernel_is_displayed_before_raising(fake_kernel):
    with pytest.raises(ClaimFailed):
        check("bad", "Too big", 2.0, AtMost(1.0))
    ((args, kwargs),) = fake_kernel["display"]
    assert args[0]["text/plain"].startswith("FAIL  bad  2  ")
    assert kwargs["metadata"]["flowapprox.claim"]["passed"] is False


def test_check_in_a_kernel_without_the_book_stack_still_displays(fake_kernel, monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # `import myst_nb` raises ImportError
    claim = check("lonely", "No glue without myst_nb", 0.5, AtMost(1.0))
    assert fake_kernel["glue"] == []
    ((args, _),) = fake_kernel["display"]
    assert args[0]["text/plain"] == claim.row()


def test_supports_is_recorded_and_validated(capsys):
    claim = check("ch2.cost", "A cost", 1.0, AtMost(2.0), supports=["ch2-def-time-cost"])
    assert claim.supports == ("ch2-def-time-cost",)
    assert claim.record()["supports"] == ["ch2-def-time-cost"]
    assert check("plain", "No labels", 1.0, AtMost(2.0)).record()["supports"] == []
    with pytest.raises(TypeError, match="supports must be a sequence"):
        check("bad.a", "Bad", 1.0, AtMost(2.0), supports="ch2-def-time-cost")
    with pytest.raises(ValueError, match="supports must hold labels"):
        check("bad.b", "Bad", 1.0, AtMost(2.0), supports=["def-flow-map"])


def test_the_library_imports_and_runs_without_the_book_stack(tmp_path):
    """Only torch, torchdiffeq, numpy, scipy, matplotlib and tqdm are needed (no myst_nb,
    IPython, nbformat or papermill)."""
    import subprocess

    script = (
        "import sys\n"
        "for name in ('myst_nb', 'IPython', 'nbformat', 'papermill', 'jupyter_book'):\n"
        "    sys.modules[name] = None\n"
        "import flowapprox as fa\n"
        "from flowapprox import claims\n"
        "fa.setup(seed=0)\n"
        "claims.check('solo', 'runs alone', 1.0, claims.AtMost(2.0))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "PASS  solo" in result.stdout


# ------------------------------------------------------------ committed sweep summaries


def _summary(tmp_path, **overrides):
    import json

    data = {
        "notebook": "chapters/x/nb.ipynb", "grid_text": "seeds: [0, 1]\n", "executor": "2 processes",
        "seconds": 12.5,
        "points": [{"slug": f"seed={s}", "parameters": {"seed": s}, "status": "ok", "seconds": 1.0}
                   for s in (0, 1)],
        "claims": [{"claim": "demo-x", "criterion": "value <= 1", "points": 2, "passed": 1,
                    "pass_rate": 0.5, "min": 0.5, "median": 1.0, "max": 1.5}],
        "rows": [{"point": "seed=0", "seed": 0, "claim": "demo-x", "value": 0.5, "passed": True},
                 {"point": "seed=1", "seed": 1, "claim": "demo-x", "value": 1.5, "passed": False}],
    }
    data.update(overrides)
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data))
    return path


def test_read_summary_reads_a_file_or_its_folder(tmp_path):
    path = _summary(tmp_path)
    for where in (path, tmp_path, str(path)):
        summary = claims.read_summary(where)
        assert summary.pass_rate("demo-x") == 0.5
        assert summary.values("demo-x") == [0.5, 1.5]
        assert summary.values("demo-x", seed=1) == [1.5]
        assert summary.seeds == [0, 1] and summary.seconds == 12.5
        assert summary.claim("demo-x")["median"] == 1.0


def test_read_summary_reads_the_committed_learning_sweep():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "sweeps" / "results" / "learning" / "summary.json"
    if not path.exists():
        pytest.skip("no committed learning sweep")
    summary = claims.read_summary(path)
    assert len(summary.seeds) >= 5
    assert all(point["status"] == "ok" for point in summary.points)


def test_read_summary_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        claims.read_summary(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="path"):
        claims.read_summary(3)  # type: ignore[arg-type]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="path.*not JSON"):
        claims.read_summary(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="path.*not a JSON object"):
        claims.read_summary(bad)
    path = _summary(tmp_path)
    text = path.read_text().replace('"rows"', '"other"')
    path.write_text(text)
    with pytest.raises(ValueError, match="missing keys: rows"):
        claims.read_summary(path)
    summary = claims.read_summary(_summary(tmp_path))
    with pytest.raises(KeyError, match="claim_id"):
        summary.pass_rate("demo-y")
