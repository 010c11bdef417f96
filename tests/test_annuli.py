"""Tests of flowapprox.annuli: the concentric-annuli data set and (augmented) neural ODEs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowapprox import PiecewiseConstantControl, ResidualBlock, Solver, annuli, metrics
from flowapprox.models import FlowModel


def test_data_set_matches_the_reference_defaults(gen):
    x, y = annuli.concentric_annuli(gen)
    assert x.shape == (2000, 2) and y.shape == (2000,) and x.dtype == y.dtype == torch.float64
    r = x.norm(dim=1)
    assert bool((y[:500] == -1).all()) and bool((y[500:] == 1).all())
    assert float(r[:500].max()) <= 0.5 and float(r[500:].min()) >= 1.0
    assert float(r[500:].max()) <= 1.5
    assert torch.equal(annuli.annuli_target(x), y)


def test_radius_law_and_directions(gen):
    x, _ = annuli.concentric_annuli(gen, num_inner=20000, num_outer=20000)
    r_in, r_out = x[:20000].norm(dim=1), x[20000:].norm(dim=1)
    # inner: uniform on the disk, P(r <= 0.25) = 1/4; outer: r = 0.5 sqrt(U) + 1
    assert float((r_in <= 0.25).double().mean()) == pytest.approx(0.25, abs=0.015)
    assert float((r_out <= 1.125).double().mean()) == pytest.approx(0.0625, abs=0.01)
    angles = torch.atan2(x[:, 1], x[:, 0])
    assert float(angles.cos().mean()) == pytest.approx(0.0, abs=0.02)
    assert float(angles.sin().mean()) == pytest.approx(0.0, abs=0.02)


def test_data_set_is_reproducible_and_works_in_other_dimensions():
    a = annuli.concentric_annuli(torch.Generator().manual_seed(3), num_inner=5, num_outer=7)
    b = annuli.concentric_annuli(torch.Generator().manual_seed(3), num_inner=5, num_outer=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    x, y = annuli.concentric_annuli(torch.Generator().manual_seed(0), num_inner=10,
                                    num_outer=10, dim=3, inner_range=(0.2, 0.3))
    assert x.shape == (20, 3) and float(x[:10].norm(dim=1).min()) >= 0.2


def test_target_support_and_grid():
    x = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.75, 0.0], [0.0, 1.0], [2.0, 0.0]])
    assert annuli.annuli_target(x).tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
    assert annuli.in_support(x).tolist() == [True, True, False, True, False]
    points = annuli.support_grid(5, 8)
    assert points.shape == (80, 2) and bool(annuli.in_support(points).all())
    radii = set(np.round(points.norm(dim=1).numpy(), 12).tolist())
    assert {0.0, 0.5, 1.0, 1.5} <= radii


def test_training_fits_and_is_reproducible():
    x, y = annuli.concentric_annuli(torch.Generator().manual_seed(0), num_inner=64,
                                    num_outer=64)
    runs = [
        annuli.train_flow_model(x, y, augment_dim=1, width=8, pieces=2, rk4_steps=4, epochs=15,
                                batch_size=32, lr=2e-2, progress=False,
                                generator=torch.Generator().manual_seed(5))
        for _ in range(2)
    ]
    assert np.array_equal(runs[0].losses, runs[1].losses)
    model = runs[0]
    assert model.losses.shape == (15 * 4,) and model.control.dim == 3
    assert model.losses[-4:].mean() < 0.5 * model.losses[:4].mean()
    assert model.embed(x[:2]).tolist() == [x[0].tolist() + [0.0], x[1].tolist() + [0.0]]
    # a finer RK4 barely changes the trained map
    assert float((model(x) - model(x, refine=4)).abs().max()) < 5e-2
    assert annuli.sample_error(model, x, y) < annuli.sample_error(lambda z: 0 * z[:, 0], x, y)


def test_one_extra_dimension_contains_shallow_networks():
    # The field (0, 0, -4|x1| - 4|x2|), four ReLU neurons, is a ReLU block on R^3 whose flow
    # is the shear z <- z + t (-4|x1| - 4|x2|); with the readout y3 + 1 the augmented model
    # equals psi(x) = 1 - 4|x1| - 4|x2|, which has an interior maximum: no maximum principle.
    a = torch.tensor([[[4.0, 0.0, 0.0], [-4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, -4.0, 0.0]]])
    b = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    w = torch.zeros(1, 3, 4)
    w[0, 2] = torch.tensor([-1.0, -1.0, -1.0, -1.0])
    control = PiecewiseConstantControl(ResidualBlock(4, "relu"), torch.tensor([1.0]),
                                       {"W": w, "A": a, "b": b})
    model = FlowModel(control, torch.tensor([0.0, 0.0, 1.0]), torch.tensor(1.0), Solver("rk4", 1),
                      1, np.zeros(0))
    points = torch.cat([torch.zeros(1, 2), metrics.circle((0, 0), 0.5, 64)])
    psi = 1.0 - 4.0 * points.abs().sum(1)
    assert float((model(points) - psi).abs().max()) < 1e-12  # RK4 is exact for a shear
    assert float(model(points[:1])) > float(model(points[1:]).max())  # interior maximum


def test_sample_error():
    x = torch.zeros(4, 2)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert annuli.sample_error(lambda z: z[:, 0], x, y) == pytest.approx(1.0)
    assert annuli.sample_error(lambda z: z[:, 0] + 1, x, y, p=1) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x, y: annuli.concentric_annuli(0), TypeError, "generator must be a torch"),
        (lambda x, y: annuli.concentric_annuli(torch.Generator(), inner_range=(0.5, 0.2)),
         ValueError, "inner_range must satisfy min radius < max radius"),
        (lambda x, y: annuli.concentric_annuli(torch.Generator(), outer_range=(0.4, 1.0)),
         ValueError, "inner_range must end before outer_range starts"),
        (lambda x, y: annuli.concentric_annuli(torch.Generator(), num_inner=0), ValueError,
         "num_inner must be a positive integer"),
        (lambda x, y: annuli.annuli_target(torch.zeros(3)), ValueError, "x must have shape"),
        (lambda x, y: annuli.support_grid(1, 8), ValueError, "n_radial must be at least 2"),
        (lambda x, y: annuli.train_flow_model(x, y, generator=None), TypeError,
         "generator must be a torch.Generator"),
        (lambda x, y: annuli.train_flow_model(x.float(), y, generator=torch.Generator()),
         TypeError, "x and y must be float64"),
        (lambda x, y: annuli.train_flow_model(x, y[:3], generator=torch.Generator()),
         ValueError, r"y must have shape \(4\)"),
        (lambda x, y: annuli.train_flow_model(x, y, augment_dim=-1, generator=torch.Generator()),
         ValueError, "augment_dim must be a non-negative integer"),
        (lambda x, y: annuli.train_flow_model(x, y, rk4_steps=6, pieces=4,
                                              generator=torch.Generator()),
         ValueError, "rk4_steps must be a multiple of pieces=4"),
        (lambda x, y: annuli.train_flow_model(x, y, lr=0.0, generator=torch.Generator()),
         ValueError, "lr must be positive"),
        (lambda x, y: annuli.sample_error(3, x, y), TypeError, "model must be callable"),
        (lambda x, y: annuli.sample_error(lambda z: z[:, 0], x, y, p=0.5), ValueError,
         "p must satisfy 1 <= p"),
        (lambda x, y: annuli.sample_error(lambda z: z, x, y), ValueError,
         r"model\(x\) must have shape \(4\)"),
    ],
)
def test_bad_input(call, error, match):
    x = torch.rand(4, 2, dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0])
    with pytest.raises(error, match=match):
        call(x, y)


def test_model_rejects_points_of_the_wrong_dimension():
    x, y = annuli.concentric_annuli(torch.Generator().manual_seed(0), num_inner=4, num_outer=4)
    model = annuli.train_flow_model(x, y, augment_dim=2, width=2, pieces=1, rk4_steps=1,
                                    epochs=1, generator=torch.Generator(), progress=False)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\)"):
        model(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="refine must be a positive integer"):
        model(x, refine=0)
    assert math.isfinite(float(model(x).sum()))
