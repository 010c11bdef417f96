"""Tests of flowapprox.reproducibility: setup(), Session and the environment record."""

from __future__ import annotations

import dataclasses
import platform
import random

import matplotlib as mpl
import numpy as np
import pytest
import torch

import flowapprox
from flowapprox import Session, environment, setup


def draws():
    return random.random(), float(np.random.rand()), torch.randn(4)


def test_setup_fixes_dtype_threads_and_returns_a_session():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(2)
    session = setup(seed=7)
    assert isinstance(session, Session)
    assert (session.seed, session.threads, session.dtype) == (7, 1, torch.float64)
    assert torch.get_default_dtype() == torch.float64
    assert torch.get_num_threads() == 1
    assert torch.zeros(1).dtype == torch.float64


def test_setup_other_dtype_and_threads():
    session = setup(seed=0, threads=2, dtype=torch.float32)
    assert torch.get_default_dtype() == torch.float32 and torch.randn(2).dtype == torch.float32
    assert torch.get_num_threads() == 2
    assert session.threads == 2 and session.dtype == torch.float32


def test_setup_makes_all_generators_reproducible():
    setup(seed=3)
    r1, n1, t1 = draws()
    setup(seed=3)
    r2, n2, t2 = draws()
    assert (r1, n1) == (r2, n2) and torch.equal(t1, t2)
    setup(seed=4)
    r3, n3, t3 = draws()
    assert r3 != r1 and n3 != n1 and not torch.equal(t3, t1)
    # the same as seeding torch directly
    torch.manual_seed(3)
    assert torch.equal(torch.randn(4), t1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"seed": True}, "seed must be a non-negative integer, got True"),
        ({"seed": "0"}, "seed must be a non-negative integer"),
        ({"seed": None}, "seed must be a non-negative integer"),
        ({"threads": 0}, "threads must be a positive integer, got 0"),
        ({"threads": True}, "threads must be a positive integer"),
        ({"threads": 2.0}, "threads must be a positive integer"),
        ({"dtype": torch.float16}, "dtype must be torch.float32 or torch.float64"),
        ({"dtype": torch.int64}, "dtype must be torch.float32 or torch.float64"),
        ({"dtype": "float64"}, "dtype must be torch.float32 or torch.float64"),
    ],
)
def test_setup_rejects_bad_arguments_without_side_effects(kwargs, match):
    torch.manual_seed(11)
    state = torch.get_rng_state()
    with pytest.raises(ValueError, match=match):
        setup(**{"seed": 5, **kwargs})
    assert torch.equal(torch.get_rng_state(), state)  # nothing was re-seeded
    assert torch.get_default_dtype() == torch.float64
    assert torch.get_num_threads() == 1


def test_setup_applies_the_book_style_unless_asked_not_to():
    mpl.rcParams["font.size"] = 7
    mpl.rcParams["figure.dpi"] = 55
    setup(seed=0, style=False)
    assert mpl.rcParams["font.size"] == 7 and mpl.rcParams["figure.dpi"] == 55
    setup(seed=0)
    assert mpl.rcParams["font.size"] == 10 and mpl.rcParams["figure.dpi"] == 100
    assert mpl.rcParams["svg.hashsalt"] == "flowapprox"


def test_environment_record():
    env = environment()
    assert set(env) == {"os", "python", "flowapprox", "torch", "torchdiffeq", "numpy",
                        "scipy", "matplotlib", "cpu"}
    assert all(isinstance(v, str) and v for v in env.values())
    assert env["python"] == platform.python_version()
    assert platform.release() not in env["os"]  # no host kernel string (make book leaves git clean)
    assert env["torch"] == torch.__version__
    assert env["numpy"] == np.__version__
    assert env["matplotlib"] == mpl.__version__
    assert env["flowapprox"] == flowapprox.__version__
    assert env["flowapprox"] != "not installed"


def test_environment_reports_missing_packages(monkeypatch):
    import flowapprox.reproducibility as repro

    monkeypatch.setattr(repro, "_PACKAGES", ("numpy", "surely-not-a-real-package-xyz"))
    repro._environment.cache_clear()  # environment() caches its (slow) version look-ups
    try:
        env = repro.environment()
    finally:
        repro._environment.cache_clear()
    assert env["surely-not-a-real-package-xyz"] == "not installed"
    assert env["numpy"] == np.__version__


def test_session_records_the_environment():
    session = setup(seed=2)
    assert session.environment == environment()
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.seed = 3  # type: ignore[misc]


def test_session_generators_are_fresh_and_reproducible():
    session = setup(seed=2)
    a = torch.randn(5, generator=session.generator())
    b = torch.randn(5, generator=session.generator())  # a fresh generator, same stream
    assert torch.equal(a, b)
    c = torch.randn(5, generator=session.generator(3))
    assert not torch.equal(a, c)
    assert torch.equal(c, torch.randn(5, generator=torch.Generator().manual_seed(5)))
    # the generators are independent of the global RNG
    torch.manual_seed(99)
    assert torch.equal(torch.randn(5, generator=session.generator(3)), c)
    assert torch.equal(torch.randn(5, generator=Session(seed=2, threads=1,
                                                        dtype=torch.float64).generator()), a)


def test_setup_in_a_kernel_announces_itself_and_records_the_environment(monkeypatch, capsys):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display",
                        lambda *args, **kwargs: shown.append((args, kwargs)))
    session = setup(seed=3)
    ((args, kwargs),) = shown
    assert args == ({"text/plain": f"flowapprox {flowapprox.__version__} | seed 3 | float64 | "
                                   "1 torch thread(s)"},)
    assert kwargs["raw"] is True
    record = kwargs["metadata"]["flowapprox.environment"]
    assert record == {**session.environment, "seed": "3"}
    assert capsys.readouterr().out == ""


def test_setup_outside_a_kernel_is_silent(capsys):
    setup(seed=1)
    assert capsys.readouterr().out == ""


def test_setup_shows_warnings_without_paths():
    import warnings

    import flowapprox as fa

    fa.setup(seed=0, style=False)
    text = warnings.formatwarning("a test warning", RuntimeWarning, "/some/path.py", 3)
    assert text == "RuntimeWarning: a test warning\n"
