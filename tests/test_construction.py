"""Tests of flowapprox.construction: the explicit zoom-shear-readout construction."""

from __future__ import annotations

import math

import pytest
import torch

from flowapprox import (
    Box,
    PiecewiseLinear,
    flow,
    jacobian_determinants,
    lp_error,
    metrics,
    reference_flow,
    sobol_points,
)
from flowapprox.construction import (
    Construction,
    construct,
    construct_cube,
    construct_lifted,
    graded_lp_error,
    lift,
    shear_flows,
    significant_kinks,
    zoom_schedule,
)
from flowapprox.cost import neuron_count

UNIT = Box.cube(2)


def random_target(seed: int):
    """A random smooth function on the plane: a sum of 4 random plane waves."""
    g = torch.Generator().manual_seed(seed)
    freq = 6.0 * torch.randn(4, 2, generator=g, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(4, generator=g, dtype=torch.float64)
    amp = torch.randn(4, generator=g, dtype=torch.float64)
    return lambda x: torch.cos(x @ freq.T + phase) @ amp


def sincos(x):
    return torch.sin(2 * math.pi * x[:, 0]) * torch.cos(2 * math.pi * x[:, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_error_decreases_with_cells_on_random_targets(seed):
    target = random_target(seed)
    errors = [
        lp_error(target, construct(target, UNIT, n, 3 + 2 * math.log(n)), UNIT, n_points=2**12)
        for n in (4, 8, 16, 32)
    ]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.3 * errors[0]


def test_values_at_centres_and_plateau_at_piecewise_constant_error():
    c = construct(sincos, UNIT, 8, 30.0)
    # the centres themselves are fixed by the zooms and mapped onto the target values
    assert torch.allclose(c(c.centres), sincos(c.centres), atol=1e-12)
    x = sobol_points(UNIT, 2**12)
    pc = lp_error(sincos, c.approximant, UNIT, n_points=2**12)
    assert lp_error(sincos, c, UNIT, n_points=2**12) == pytest.approx(pc, rel=1e-3)
    short = construct(sincos, UNIT, 8, 0.5)
    assert lp_error(sincos, short, UNIT, n_points=2**12) > 1.5 * pc
    # away from the boundary layers the error is tiny: ratio of points matching the approximant
    close = (c(x) - c.approximant(x)).abs() < 1e-6
    assert close.double().mean() > 0.99


def test_general_box_rectangular_grid_and_readouts():
    box = Box([-2.0, 1.0], [1.0, 1.5])
    target = random_target(3)
    c = construct(target, box, (12, 5), 25.0)
    assert c.cells == (12, 5) and c.centres.shape == (60, 2)
    assert torch.allclose(c(c.centres), target(c.centres), atol=1e-10)
    assert c.horizon == pytest.approx(52.0)
    # a column-shaped, single-precision target works the same
    column = construct(lambda x: target(x).unsqueeze(1).float(), box, (12, 5), 25.0)
    assert torch.allclose(column(c.centres), c(c.centres), atol=1e-6)
    t = construct(lambda x: 3 * target(x), box, 6, 20.0, readout="tanh")
    out = t(sobol_points(box, 256))
    assert out.abs().max() < 1
    expected = (3 * target(t.centres)).clamp(-1, 1)
    assert torch.allclose(t(t.centres), expected, atol=1e-5)


def test_identity_readout_handles_coinciding_values():
    def reflection(x):
        return torch.stack([1 - x[:, 0], x[:, 1]], dim=1)

    c = construct(reflection, UNIT, 8, 40.0, readout="identity")
    assert c.horizon == pytest.approx(83.0)
    assert torch.allclose(c(c.centres), reflection(c.centres), atol=1e-3 / 8 + 1e-9)
    # the first coordinates were made distinct: the last shear's knots are strictly increasing
    assert c.stages[-1].name == "set y2"
    pc = lp_error(reflection, c.approximant, UNIT, n_points=2**12)
    assert lp_error(reflection, c, UNIT, n_points=2**12) == pytest.approx(pc, rel=2e-2)
    # a constant map: every value coincides
    const = construct(lambda x: torch.full_like(x, 0.3), UNIT, 4, 40.0, readout="identity")
    assert lp_error(lambda x: torch.full_like(x, 0.3), const, UNIT, n_points=2**12) < 1e-3


def test_control_reproduces_the_flow_map():
    c = construct(sincos, UNIT, 4, 4.0)
    control = c.control()
    assert control.num_pieces == 4 and control.horizon == pytest.approx(c.horizon)
    assert neuron_count(control) == c.neurons and control.time_cost == c.time_cost
    x = sobol_points(UNIT, 256)
    exact = c.flow_map(x)
    assert (reference_flow(control, x, rtol=1e-10, atol=1e-12) - exact).abs().max() < 1e-7
    assert (flow(control, x, method="rk4", steps_per_piece=400) - exact).abs().max() < 1e-5


def test_units_sum_to_the_stage_fields():
    c = construct(random_target(4), UNIT, 5, 2.0, readout="tanh")
    x = 3 * torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for stage in c.stages:
        v, w, b = stage.units()
        field = torch.relu(x @ w.T + b) @ v
        expected = torch.zeros_like(x)
        expected[:, stage.axis] = stage.field(x[:, stage.source])
        assert torch.allclose(field, expected, atol=1e-9), stage.name


def test_neuron_count_and_time_cost_by_hand():
    c = construct(sincos, UNIT, 4, 1.0)
    counts = [stage.units()[0].shape[0] for stage in c.stages]
    # zoom: 2 (N - 1) kinks + 2 units for the slope -1 + 1 constant; the separating shear is
    # linear between the first and last centre: 2 kinks
    assert counts[:3] == [9, 9, 2]
    assert c.neurons == sum(counts)
    # zoom rate per unit time: sum of |slope jumps| = 2 (N - 1) / delta, + 2 |a|; the
    # constant unit (|b| = 1/8) is free (book, ch2-def-time-cost), and so are the shears'
    zoom_rate = 2 * 3 / 0.05 + 2
    shear_rates = sum(s.field.total_variation_of_slope() for s in c.stages[2:])
    assert c.time_cost == pytest.approx(2 * zoom_rate + shear_rates)


def test_lift_and_lifted_construction():
    assert torch.equal(lift(torch.tensor([1.0, 2.0])), torch.tensor([[1.0, 0.0], [2.0, 0.0]]))
    assert lift(torch.ones(3, 1)).shape == (3, 2)
    interval = Box([-1.0], [1.0])
    lifted = construct_lifted(lambda x: -x[:, 0], interval, 64, 10.0)
    assert isinstance(lifted.construction, Construction)
    assert lifted.construction.cells == (64, 1)
    error = lp_error(lambda x: -x[:, 0], lifted, interval, n_points=2**12)
    pc = lp_error(lambda x: -x[:, 0], lifted.approximant, interval, n_points=2**12)
    assert error == pytest.approx(pc, rel=1e-3)
    assert error == pytest.approx(math.sqrt(2 / 3) / 64, rel=0.02)  # h / sqrt(12) * sqrt(2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target": 1.0}, TypeError, "target must be callable"),
        ({"box": Box.cube(3)}, ValueError, "box must be a 2-D"),
        ({"box": "unit"}, TypeError, "box must be a flowapprox.Box"),
        ({"cells": 0}, ValueError, "cells"),
        ({"cells": (4,)}, ValueError, "cells must be a positive integer or a pair"),
        ({"cells": (4, 2.5)}, ValueError, r"cells\[1\]"),
        ({"cells": True}, ValueError, "cells"),
        ({"zoom_time": -1.0}, ValueError, "zoom_time must be non-negative"),
        ({"readout": "relu"}, ValueError, "readout must be one of"),
        ({"delta": 1.0}, ValueError, "delta must lie in"),
        ({"tie_spread": 0.0}, ValueError, "tie_spread must be positive"),
        ({"target": lambda x: x}, ValueError, "target\\(centres\\) must have shape"),
        ({"target": lambda x: x[:, 0], "readout": "identity"}, ValueError, "target\\(centres\\)"),
        ({"target": lambda x: x[:, 0] / 0}, ValueError, "finite"),
    ],
)
def test_construct_rejects_bad_input(kwargs, error, match):
    args = {"target": sincos, "box": UNIT, "cells": 4, "zoom_time": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        construct(args.pop("target"), args.pop("box"), args.pop("cells"), args.pop("zoom_time"),
                  **args)


def test_evaluation_rejects_bad_points():
    c = construct(sincos, UNIT, 2, 1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        c(torch.zeros(3, 3, dtype=torch.float64))
    assert c(torch.zeros(3, 2, dtype=torch.float32)).dtype == torch.float32  # converted
    with pytest.raises(ValueError, match="x must have shape"):
        lift(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="interval must be a 1-D"):
        construct_lifted(lambda x: x[:, 0], UNIT, 4, 1.0)
    with pytest.raises(TypeError, match="target must be callable"):
        construct_lifted(None, Box([0.0], [1.0]), 4, 1.0)


# ------------------------------------------------------- regressions (issue 8 defects)


def rotation(x):
    return torch.stack([-x[:, 1], x[:, 0]], dim=1)


@pytest.mark.parametrize("n", [8, 16, 32, 64])
@pytest.mark.parametrize("box", [UNIT, Box.cube(2, -1.0, 1.0)], ids=["unit", "centred"])
def test_neuron_count_of_the_rotation_is_exact(n, box):
    # zooms 2 (2N + 1), separating shear 2, value shears 2 N + 1 each: 8 N + 6 whatever the
    # round-off of the tie-broken knots F1 + rank * eta (eta = 1e-3 / N^3)
    c = construct(rotation, box, n, readout="identity")
    assert c.neurons == 8 * n + 6
    x = 1.5 * torch.randn(2000, 2, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    for stage in c.stages:  # the units still sum to the field, up to the slopes' round-off
        v, w, b = stage.units()
        expected = torch.zeros_like(x)
        expected[:, stage.axis] = stage.field(x[:, stage.source])
        scale = float(stage.field.values.abs().max())
        assert (torch.relu(x @ w.T + b) @ v - expected).abs().max() < 1e-6 * scale, stage.name


def test_significant_kinks_keep_real_jumps_and_carry_round_off():
    field = PiecewiseLinear(torch.tensor([0.0, 1.0, 1.0 + 1e-13, 2.0], dtype=torch.float64),
                            torch.tensor([0.0, 1.0, 1.0 + 1e-13 * (1 + 1e-6), 1.0],
                                         dtype=torch.float64))
    c, k = significant_kinks(field)
    _, _, jumps, _ = field.relu_expansion()
    assert c.sum().item() == pytest.approx(float(jumps.sum()), abs=1e-12)  # far slope exact
    assert k.numel() < 4


def test_lp_error_of_a_construction_under_float32_default():
    c = construct(sincos, UNIT, 4, 6.0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        error32 = lp_error(sincos, c, UNIT, n_points=2**10)
        y = c(torch.rand(5, 2))
        assert y.dtype == torch.float32
    finally:
        torch.set_default_dtype(previous)
    assert error32 == pytest.approx(lp_error(sincos, c, UNIT, n_points=2**10), rel=1e-5)


def test_jacobian_determinants_through_a_construction_match_finite_differences():
    c = construct(lambda x: x[:, 0] * x[:, 1], UNIT, 4, 6.0)
    x = sobol_points(UNIT, 512)
    dets = jacobian_determinants(c.flow_map, x)
    assert bool(torch.isfinite(dets).all())
    h, cols = 1e-7, []
    for k in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[k] = h
        cols.append((c.flow_map(x + e) - c.flow_map(x - e)) / (2 * h))
    fd = torch.linalg.det(torch.stack(cols, dim=2))
    assert ((dets - fd).abs() / fd.abs()).max() < 1e-4


def test_zoom_schedule_is_the_default_and_short_identity_horizons_warn():
    assert zoom_schedule(8) == pytest.approx(3 + 2 * math.log(8))
    assert zoom_schedule(8, "identity") == pytest.approx(8 + 5 * math.log(8))
    assert zoom_schedule(8, offset=1.0, slope=1.0) == pytest.approx(1 + math.log(8))
    assert construct(sincos, UNIT, 8).horizon == pytest.approx(2 * zoom_schedule(8) + 2)
    with pytest.warns(UserWarning, match="below the identity readout's schedule"):
        construct(rotation, UNIT, 8, 5.0, readout="identity")
    with pytest.raises(ValueError, match="cells must be a positive integer"):
        zoom_schedule(0)
    with pytest.raises(ValueError, match="readout must be one of"):
        zoom_schedule(4, "relu")


def test_shear_flows_converge_uniformly_at_second_order():
    def s(t):
        return 0.3 * torch.sin(math.pi * t)

    def target(x):
        y1 = x[:, 0] + s(x[:, 1])
        return torch.stack([y1, x[:, 1] + s(y1)], dim=1)

    grid = metrics.edge_grid(Box.cube(2), 8, 4)
    errors = [metrics.max_error(target, shear_flows([(0, s, (0.0, 1.0)), (1, s, (-0.3, 1.3))], k),
                                grid) for k in (8, 16)]
    assert errors[1] < errors[0] / 3.5
    approx = shear_flows([(0, s, (0.0, 1.0))], 8)
    assert approx.control().num_pieces == 1 and approx.time_cost > 0


@pytest.mark.parametrize(
    ("shears", "pieces", "name"),
    [([], 4, "shears"), ([(2, torch.sin, (0.0, 1.0))], 4, "axis"),
     ([(0, torch.sin, (1.0, 0.0))], 4, "interval"), ([(0, torch.sin, (0.0, 1.0))], 0, "pieces"),
     ([(0, 1.0, (0.0, 1.0))], 4, "s")],
)
def test_shear_flows_validates(shears, pieces, name):
    with pytest.raises((TypeError, ValueError), match=name):
        shear_flows(shears, pieces)


def test_construct_cube_agrees_with_construct_in_the_plane_and_runs_in_3d():
    def target(x):
        return x[:, 0] * x[:, 1]

    x = sobol_points(UNIT, 256, seed=0)
    cube = construct_cube(target, UNIT, 4, 8.0)
    plane = construct(target, UNIT, 4, 8.0)
    assert torch.equal(cube(x), plane(x))
    assert cube.time_cost == pytest.approx(plane.time_cost)
    box3 = Box.cube(3)
    c3 = construct_cube(lambda z: z.sum(1), box3, 4, 12.0)
    z = sobol_points(box3, 512, seed=1)
    assert float((c3(z) - c3.approximant(z)).abs().mean()) < 1e-2
    assert len(c3.stages) == 3 + 2 + 1


@pytest.mark.parametrize(
    ("args", "name"),
    [((Box.cube(1), 4, 1.0), "box"), ((UNIT, 0, 1.0), "cells"), ((UNIT, 4, -1.0), "zoom_time"),
     (("box", 4, 1.0), "box")],
)
def test_construct_cube_validates(args, name):
    with pytest.raises((TypeError, ValueError), match=name):
        construct_cube(lambda z: z[:, 0], *args)


# ------------------------------------------------------------------ graded L^p error


def _bump(x):
    return torch.exp(-8 * ((x[:, 0] - 0.4) ** 2 + (x[:, 1] - 0.6) ** 2))


def test_graded_lp_error_agrees_with_sobol_points():
    c = construct(_bump, Box.cube(2), 4, 2.0, delta=0.25)
    graded = graded_lp_error(c, [1, 2], target=_bump)
    sobol = [lp_error(_bump, c, Box.cube(2), p=p, n_points=2**16) for p in (1, 2)]
    for a, b in zip(graded, sobol):
        assert abs(a - b) <= 0.01 * b


def test_graded_lp_error_is_resolved_in_the_layers():
    # at delta = 1/4 and p = 6 > lambda = 3 the deep layers carry the distance to F_N: a finer
    # rule (deeper, more nodes per piece, finer grading) changes it by well under 1 %
    c = construct(_bump, Box.cube(2), 8, 2 * math.log(8), delta=0.25)
    coarse = graded_lp_error(c, 6)
    fine = graded_lp_error(c, 6, depth=(1e-4, 1e-13), ratio=0.2, order=6)
    assert isinstance(coarse, float)
    assert abs(coarse / fine - 1) < 5e-3
    # far from the layers' scale the distance to F_N vanishes with T
    assert graded_lp_error(construct(_bump, Box.cube(2), 8, 30.0, delta=0.25), 1) < 1e-10


def test_graded_lp_error_vector_readout():
    def fold(x):
        return torch.stack([(2 * x[:, 0] - 1).abs(), x[:, 1]], dim=1)

    c = construct(fold, Box.cube(2), 4, zoom_schedule(4, "identity"), readout="identity")
    assert graded_lp_error(c, 2) < graded_lp_error(c, 2, target=fold)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("not a construction", 2), {}, TypeError, "construction"),
        ((None, 0.5), {}, ValueError, "p must"),
        ((None, []), {}, ValueError, "p must"),
        ((None, 2), {"depth": 1e-3}, ValueError, "depth"),
        ((None, 2), {"target": 3}, TypeError, "target"),
        ((None, 2), {"ratio": 2.0}, ValueError, "ratio"),
    ],
)
def test_graded_lp_error_rejects_bad_arguments(args, kwargs, error, match):
    c = construct(_bump, Box.cube(2), 2, 1.0)
    args = (c if args[0] is None else args[0], *args[1:])
    with pytest.raises(error, match=match):
        graded_lp_error(*args, **kwargs)
