"""Tests of flowapprox.cost: neuron counts and the normalised time cost."""

from __future__ import annotations

import pytest
import torch

from flowapprox import PiecewiseConstantControl, ResidualBlock, RidgeReLU, flow
from flowapprox.cost import neuron_count


def relu_control(gen, pieces=3, width=5, horizon=2.0):
    return PiecewiseConstantControl.random(
        ResidualBlock(width, "relu"), 2, pieces=pieces, horizon=horizon, generator=gen,
        dtype=torch.float64,
    )


def test_time_cost_is_the_sum_of_lipschitz_constants_of_the_units(gen):
    control = relu_control(gen)
    params = control.params
    expected = sum(
        float(control.durations[j]) * sum(
            float(params["W"][j, :, k].norm() * params["A"][j, k].norm()) for k in range(5)
        )
        for j in range(3)
    )
    assert control.time_cost == pytest.approx(expected)
    assert neuron_count(control) == 15


def test_time_cost_is_invariant_under_time_rescaling_unlike_the_horizon(gen):
    control = relu_control(gen)
    lam = 3.0
    scaled = PiecewiseConstantControl(
        control.family, control.durations / lam,
        {"W": control.params["W"] * lam, "A": control.params["A"], "b": control.params["b"]},
    )
    x = torch.randn(20, 2, generator=gen, dtype=torch.float64)
    same = flow(control, x, steps_per_piece=200), flow(scaled, x, steps_per_piece=200)
    assert torch.allclose(*same, atol=1e-10)
    assert scaled.time_cost == pytest.approx(control.time_cost)
    assert scaled.horizon == pytest.approx(control.horizon / lam)


def test_padding_and_translations():
    W = torch.tensor([[[1.0, 0.0, 2.0, 5.0], [0.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    A = torch.tensor([[[0.0, 3.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.0, 0.5, -1.0]], dtype=torch.float64)
    control = PiecewiseConstantControl(ResidualBlock(4, "relu"), torch.tensor([2.0]),
                                       {"W": W, "A": A, "b": b})
    # unit 1: |v||w| = 3; unit 2: v = 0 (padding); unit 3: a translation, counted as a unit
    # but free in the time cost (book, ch2-def-time-cost); unit 4: relu(-1) = 0, identically zero
    assert neuron_count(control) == 2
    assert control.time_cost == pytest.approx(2.0 * 3.0)


def test_bad_input(gen):
    with pytest.raises(TypeError, match="control must be a PiecewiseConstantControl"):
        neuron_count("control")
    tanh = PiecewiseConstantControl.random(ResidualBlock(3, "tanh"), 2, pieces=1, generator=gen)
    with pytest.raises(ValueError, match="ReLU residual-block family"):
        neuron_count(tanh)
    ridge = PiecewiseConstantControl.random(RidgeReLU(), 2, pieces=1, generator=gen)
    with pytest.raises(ValueError, match="ReLU residual-block family"):
        neuron_count(ridge)
