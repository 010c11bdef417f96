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
