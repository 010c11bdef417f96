"""Tests of flowapprox.node1d: training a 1-D neural ODE with piecewise-constant controls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowapprox import PiecewiseConstantControl, ResidualBlock, flow
from flowapprox.models import FlowModel
from flowapprox.node1d import evaluate, fit_node1d

X = torch.linspace(-1.0, 1.0, 32, dtype=torch.float64).unsqueeze(1)


def small_fit(**kwargs) -> FlowModel:
    options = dict(width=3, pieces=2, steps=40, lr=0.05, progress=False,
                   generator=torch.Generator().manual_seed(0))
    options.update(kwargs)
    return fit_node1d(lambda x: -x, X, **options)


def test_training_decreases_the_loss_and_keeps_the_map_increasing():
    fit = small_fit(steps=60)
    assert fit.losses.shape == (60,)
    assert fit.losses[-1] < fit.losses[0]
    # An increasing map stays at least the isotonic optimum (mean squared error 1/3) away.
    assert fit.losses.min() > 1.0 / 3.0 * 0.9
    with torch.no_grad():  # the default steps per piece is 4; refine them to 32
        y = fit(torch.linspace(-1.0, 1.0, 501).unsqueeze(1), refine=8)[:, 0]
    assert bool((torch.diff(y) > 0).all())


def test_snapshots_equal_shorter_training_runs():
    long = small_fit(steps=30, checkpoints=(10, 20))
    short = small_fit(steps=10)
    assert sorted(long.snapshots) == [10, 20, 30]
    for key, value in short.control.params.items():
        assert torch.equal(long.snapshots[10].params[key], value)
    assert long.snapshots[30] is long.control
    np.testing.assert_array_equal(long.losses[:10], short.losses)


def test_fit_is_a_flow_of_the_residual_block_family():
    fit = small_fit(width=5, pieces=3, horizon=2.0, activation="relu", steps=5)
    control = fit.control
    assert isinstance(control.family, ResidualBlock)
    assert control.family.width == 5 and control.family.activation == "relu"
    assert control.num_pieces == 3 and abs(control.horizon - 2.0) < 1e-12
    assert not any(p.requires_grad for p in control.params.values())
    x = torch.linspace(-1.0, 1.0, 7).unsqueeze(1)
    expected = flow(control, x, method="rk4", steps_per_piece=fit.steps_per_piece)
    assert torch.equal(fit(x), expected)
    assert torch.equal(evaluate(control, x, steps_per_piece=4), expected)


def test_seeded_runs_are_reproducible():
    a, b = small_fit(steps=15), small_fit(steps=15)
    np.testing.assert_array_equal(a.losses, b.losses)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"width": 0}, ValueError, "width must be a positive integer"),
        ({"pieces": 1.5}, ValueError, "pieces must be a positive integer"),
        ({"horizon": -1.0}, ValueError, "horizon must be positive"),
        ({"activation": "gelu"}, ValueError, "activation must be one of"),
        ({"steps": 0}, ValueError, "steps must be a positive integer"),
        ({"steps_per_piece": 0}, ValueError, "steps_per_piece must be a positive integer"),
        ({"init_scale": 0.0}, ValueError, "init_scale must be positive"),
        ({"checkpoints": (0,)}, ValueError, "checkpoint must be a positive integer"),
        ({"checkpoints": (50,)}, ValueError, "checkpoints must be at most steps=40"),
    ],
)
def test_fit_bad_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        small_fit(**kwargs)


def test_fit_bad_points_and_target():
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 1\)"):
        fit_node1d(lambda x: x, torch.zeros(4, 2), width=2, pieces=1, progress=False)
    with pytest.raises(ValueError, match=r"target\(x\) must be a tensor of shape"):
        fit_node1d(lambda x: x[:, 0], X, width=2, pieces=1, progress=False)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        fit_node1d(lambda x: x, [0.0, 1.0], width=2, pieces=1, progress=False)


def test_evaluate_bad_inputs():
    control = PiecewiseConstantControl.random(ResidualBlock(width=2), 1, pieces=1)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 1\)"):
        evaluate(control, torch.zeros(3), steps_per_piece=2)
    with pytest.raises(ValueError, match="steps_per_piece must be a positive integer"):
        evaluate(control, torch.zeros(3, 1), steps_per_piece=0)
