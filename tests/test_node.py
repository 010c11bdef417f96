"""Tests of flowapprox.node: neural ODEs with piecewise-constant controls, trained by Adam."""

from __future__ import annotations

import pytest
import torch

from flowapprox import Box, lp_error
from flowapprox.models import FlowModel
from flowapprox.node import train_node

UNIT = Box.cube(2)


def target(x):
    return torch.sin(3 * x[:, 0]) * x[:, 1]


def test_training_reduces_the_loss_and_the_model_is_its_flow(gen):
    model = train_node(target, UNIT, pieces=2, width=6, steps=150, n_train=128,
                       method="rk4", steps_per_piece=4, generator=gen, progress=False)
    assert isinstance(model, FlowModel)
    assert model.losses.shape == (150,) and model.losses[-1] < 0.2 * model.losses[0]
    assert model.neurons == 12 and model.horizon == pytest.approx(1.0) and model.time_cost > 0
    x = torch.rand(64, 2, generator=gen, dtype=torch.float64)
    assert model(x).shape == (64,)
    # the integrator used for training agrees with torchdiffeq on the trained control
    assert (model(x) - model.reference(x)).abs().max() < 5e-3
    error = lp_error(target, model, UNIT, n_points=2**10)
    assert error < 0.5 * lp_error(target, lambda x: torch.zeros(len(x)), UNIT, n_points=2**10)


def test_training_is_reproducible():
    runs = [
        train_node(target, UNIT, pieces=1, width=3, steps=20, n_train=32, progress=False,
                   generator=torch.Generator().manual_seed(7)).losses
        for _ in range(2)
    ]
    assert (runs[0] == runs[1]).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target": 3}, TypeError, "target must be callable"),
        ({"box": (0, 1)}, TypeError, "box must be a flowapprox.Box"),
        ({"pieces": 0}, ValueError, "pieces must be a positive integer"),
        ({"width": 1.5}, ValueError, "width must be a positive integer"),
        ({"horizon": 0.0}, ValueError, "horizon must be positive"),
        ({"method": "dopri5"}, ValueError, "method must be one of"),
        ({"n_train": 100}, ValueError, "n_points must be a power of two"),
        ({"target": lambda x: x}, ValueError, "target\\(x\\) must have shape"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"target": target, "box": UNIT, "pieces": 1, "width": 2, "steps": 1, "n_train": 16,
            "progress": False, **kwargs}
    with pytest.raises(error, match=match):
        train_node(args.pop("target"), args.pop("box"), **args)


def test_plateau_stops_training_and_is_reported(gen):
    from flowapprox.training import Plateau

    rule = Plateau(window=20, tol=0.05)
    model = train_node(target, UNIT, pieces=1, width=3, steps=2000, n_train=32, progress=False,
                       generator=torch.Generator().manual_seed(7), plateau=rule)
    assert model.converged is True and model.adam_steps == model.losses.size < 2000
    assert rule.first_step(model.losses) == model.adam_steps
    assert set(model.snapshots) == {model.adam_steps}
    capped = train_node(target, UNIT, pieces=1, width=3, steps=30, n_train=32, progress=False,
                        generator=torch.Generator().manual_seed(7), plateau=rule)
    assert capped.converged is False and capped.adam_steps == 30
    plain = train_node(target, UNIT, pieces=1, width=3, steps=30, n_train=32, progress=False,
                       generator=torch.Generator().manual_seed(7))
    assert plain.converged is None
    # the same steps as without the criterion, up to the stop
    assert (plain.losses == capped.losses).all()
    with pytest.raises(TypeError, match="plateau must be"):
        train_node(target, UNIT, pieces=1, width=3, steps=5, n_train=32, progress=False,
                   plateau=0.1)  # type: ignore[arg-type]
