"""Tests of flowapprox.training: the Adam loop and its progress switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowapprox import train
from flowapprox.training import progress_enabled


def test_train_minimises_and_records_every_step():
    w = torch.zeros(2, requires_grad=True)
    target = torch.tensor([1.0, -2.0])
    losses = train({"w": w}, lambda: ((w - target) ** 2).sum(), steps=400, lr=0.05,
                   progress=False)
    assert isinstance(losses, np.ndarray) and losses.shape == (400,)
    assert losses[-1] < 1e-6 < losses[0]
    assert torch.allclose(w.detach(), target, atol=1e-3)


def test_train_is_deterministic():
    def run():
        w = torch.ones(3, requires_grad=True)
        return train({"w": w}, lambda: (w**4).sum(), steps=50, progress=False), w.detach()

    (l1, w1), (l2, w2) = run(), run()
    assert np.array_equal(l1, l2) and torch.equal(w1, w2)


def test_non_finite_loss_names_the_step():
    w = torch.ones(1, requires_grad=True)
    calls = []

    def loss():
        calls.append(1)
        return (w * (float("nan") if len(calls) == 3 else 1.0)).sum()

    with pytest.raises(FloatingPointError, match="at step 2"):
        train({"w": w}, loss, steps=10, progress=False)


def test_progress_switch(monkeypatch):
    monkeypatch.setenv("FLOWAPPROX_PROGRESS", "0")
    assert progress_enabled() is False and progress_enabled(True) is True
    monkeypatch.setenv("FLOWAPPROX_PROGRESS", "1")
    assert progress_enabled() is True and progress_enabled(False) is False


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"parameters": {}}, ValueError, "parameters must be a non-empty mapping"),
        ({"parameters": {"w": torch.zeros(1)}}, ValueError, r"parameters\['w'\] must be a leaf"),
        ({"steps": 0}, ValueError, "steps must be a positive integer"),
        ({"lr": -1.0}, ValueError, "lr must be positive"),
        ({"loss": lambda: torch.zeros(2, requires_grad=True)}, ValueError,
         "loss\\(\\) must return a scalar"),
    ],
)
def test_bad_input(kwargs, error, match):
    w = torch.zeros(1, requires_grad=True)
    args = {"parameters": {"w": w}, "loss": lambda: (w**2).sum(), "steps": 2, **kwargs}
    with pytest.raises(error, match=match):
        train(args.pop("parameters"), args.pop("loss"), progress=False, **args)


# ------------------------------------------------------------------ convergence: Plateau


def test_plateau_reached_and_first_step():
    from flowapprox.training import Plateau

    rule = Plateau(window=10, tol=0.01)
    assert not rule.reached(np.ones(19))  # fewer than two windows
    assert rule.reached(np.ones(20))
    assert not rule.reached(np.linspace(2.0, 1.0, 40))  # still falling by > 1% per window
    history = np.r_[np.linspace(2.0, 1.0, 30), np.ones(40)]
    step = rule.first_step(history)
    assert step is not None and rule.reached(history[:step]) and not rule.reached(history[: step - 1])
    assert all(not rule.reached(history[:s]) for s in range(1, step))
    assert rule.first_step(np.linspace(2.0, 1.0, 40)) is None


def test_train_stops_at_plateau_with_steps_as_cap():
    from flowapprox.training import Plateau

    w = torch.zeros(1, requires_grad=True)
    rule = Plateau(window=20, tol=1e-3)
    losses = train({"w": w}, lambda: ((w - 1.0) ** 2).sum() + 1.0, steps=5000, lr=0.05,
                   progress=False, stop=rule)
    assert 40 <= losses.size < 5000 and rule.reached(losses)
    assert rule.first_step(losses) == losses.size
    capped = train({"w": torch.zeros(1, requires_grad=True)}, lambda: (w * 0).sum() + 1.0,
                   steps=30, progress=False, stop=Plateau(window=20, tol=1e-3))
    assert capped.size == 30  # a cap below two windows: the criterion cannot be met


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"window": 0, "tol": 0.1}, ValueError, "window"),
        ({"window": 2.5, "tol": 0.1}, (TypeError, ValueError), "window"),
        ({"window": 10, "tol": 0.0}, ValueError, "tol"),
        ({"window": 10, "tol": 1.5}, ValueError, "tol"),
        ({"window": 10, "tol": float("nan")}, ValueError, "tol"),
    ],
)
def test_plateau_rejects_bad_arguments(kwargs, error, match):
    from flowapprox.training import Plateau

    with pytest.raises(error, match=match):
        Plateau(**kwargs)


def test_plateau_rejects_bad_histories_and_train_rejects_bad_stop():
    from flowapprox.training import Plateau

    with pytest.raises(ValueError, match="losses must be one-dimensional"):
        Plateau(5, 0.1).reached(np.ones((3, 3)))
    with pytest.raises(ValueError, match="losses must be one-dimensional"):
        Plateau(5, 0.1).first_step(np.ones((3, 3)))
    w = torch.zeros(1, requires_grad=True)
    with pytest.raises(TypeError, match="stop must be"):
        train({"w": w}, lambda: (w**2).sum(), steps=3, progress=False, stop=5)  # type: ignore[arg-type]
