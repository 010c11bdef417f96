"""Tests of flowapprox.controls.PiecewiseConstantControl: validation, accessors, random."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from flowapprox import Affine, PiecewiseConstantControl, ResidualBlock, RidgeReLU

T = torch.tensor


def ridge_params():
    """Two pieces of the ridge family in R^3."""
    return {
        "v": T([[1.0, 2.0, 2.0], [0.0, -3.0, 4.0]]),
        "w": T([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]),
        "b": T([0.5, -1.0]),
    }


def ridge_control(durations=(0.25, 0.5)):
    return PiecewiseConstantControl(RidgeReLU(), T(list(durations)), ridge_params())


# ------------------------------------------------------------------ accessors


def test_accessors():
    control = ridge_control()
    assert control.num_pieces == 2
    assert control.horizon == 0.75
    assert isinstance(control.horizon, float)
    assert control.dim == 3
    piece = control.piece(1)
    assert set(piece) == {"v", "w", "b"}
    assert torch.equal(piece["v"], T([0.0, -3.0, 4.0]))
    assert torch.equal(piece["w"], T([2.0, 0.0, 0.0]))
    assert piece["b"].shape == () and float(piece["b"]) == -1.0
    assert torch.equal(control.piece(0)["v"], T([1.0, 2.0, 2.0]))


@pytest.mark.parametrize("j", [-1, 2, 10])
def test_piece_index_out_of_range(j):
    with pytest.raises(IndexError, match=r"piece index must be in \[0, 2\)"):
        ridge_control().piece(j)


def test_dim_of_each_family():
    block = ResidualBlock(width=7)
    assert PiecewiseConstantControl.random(block, 4, pieces=2).dim == 4
    assert PiecewiseConstantControl.random(Affine(), 1, pieces=3).dim == 1
    assert PiecewiseConstantControl.random(RidgeReLU(), 5, pieces=1).dim == 5


def test_lipschitz_bounds_per_piece():
    control = ridge_control()
    bounds = control.lipschitz_bounds()
    assert bounds.shape == (2,)
    assert bounds.dtype == control.durations.dtype
    # |v_j| |w_j|: 3 * 1 and 5 * 2
    torch.testing.assert_close(bounds, T([3.0, 10.0]), rtol=1e-15, atol=0)


def test_lipschitz_bounds_match_the_family_bound(gen):
    family = ResidualBlock(width=3, activation="sigmoid")
    control = PiecewiseConstantControl.random(family, 2, pieces=4, generator=gen)
    expected = [family.lipschitz_bound(control.piece(j)) for j in range(4)]
    assert control.lipschitz_bounds().tolist() == expected
    assert len(set(expected)) == 4  # the pieces really differ


def test_control_is_frozen():
    control = ridge_control()
    with pytest.raises(dataclasses.FrozenInstanceError):
        control.durations = T([1.0, 1.0])  # type: ignore[misc]


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("durations", "error", "match"),
    [
        (lambda: T([0.25, -0.5]), ValueError, "durations must be non-negative"),
        (lambda: T([-1e-300, 0.5]), ValueError, "durations must be non-negative"),
        (lambda: T([float("nan"), 0.5]), ValueError, "durations must be finite"),
        (lambda: T([float("inf"), 0.5]), ValueError, "durations must be finite"),
        (lambda: T([[0.25, 0.5]]), ValueError, "durations must have 1 dimension"),
        (lambda: T(0.5), ValueError, "durations must have 1 dimension"),
        (lambda: T([1, 2]), TypeError, "durations must have a floating dtype"),
        (lambda: [0.25, 0.5], TypeError, "durations must be a torch.Tensor"),
        (lambda: T([0.25, 0.5, 0.5]), ValueError, r"params\['v'\] must have shape \(3, 3\)"),
        (lambda: T([0.25]), ValueError, r"params\['v'\] must have shape \(1, 3\)"),
        (lambda: T([0.25, 0.5], dtype=torch.float32), TypeError, "dtype"),
    ],
)
def test_durations_are_validated(durations, error, match):
    with pytest.raises(error, match=match):
        PiecewiseConstantControl(RidgeReLU(), durations(), ridge_params())


def test_empty_durations_rejected():
    params = {"v": torch.zeros(0, 3), "w": torch.zeros(0, 3), "b": torch.zeros(0)}
    with pytest.raises(ValueError, match="at least one piece"):
        PiecewiseConstantControl(RidgeReLU(), torch.zeros(0), params)


def test_zero_durations_are_allowed():
    control = ridge_control((0.0, 0.0))
    assert control.horizon == 0.0 and control.num_pieces == 2


def changed(**changes):
    def build():
        params = ridge_params()
        for key, value in changes.items():
            if value is None:
                del params[key]
            else:
                params[key] = value()
        return params

    return build


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (changed(extra=lambda: torch.ones(2)), ValueError, r"must have keys \['b', 'v', 'w'\]"),
        (changed(v=None), ValueError, r"must have keys \['b', 'v', 'w'\]"),
        (changed(w=None), ValueError, "must have keys"),
        (changed(v=lambda: torch.ones(2, 4)), ValueError, r"params\['v'\] must have shape"),
        (changed(b=lambda: torch.ones(2, 1)), ValueError, r"params\['b'\] must have shape \(2\)"),
        (changed(w=lambda: torch.ones(3, 3)), ValueError,
         r"params\['w'\] must have shape \(2, 3\), got \(3, 3\)"),
        (changed(v=lambda: torch.ones(2, 3, dtype=torch.float32)), TypeError,
         r"params\['v'\] has dtype torch.float32"),
        (changed(b=lambda: T([0.0, float("nan")])), ValueError, r"params\['b'\] must be finite"),
        (changed(b=lambda: T([0, 1])), TypeError, r"params\['b'\] must have a floating dtype"),
        (lambda: list(ridge_params().items()), TypeError, "params must be a mapping"),
    ],
    ids=["extra-key", "missing-key", "missing-dim-key", "wrong-shape", "wrong-bias-shape",
         "wrong-piece-count", "dtype", "nan", "int", "not-mapping"],
)
def test_params_are_validated(params, error, match):
    with pytest.raises(error, match=match):
        PiecewiseConstantControl(RidgeReLU(), T([0.25, 0.5]), params())


@pytest.mark.parametrize("family", [RidgeReLU, "ridge", None, lambda x, t: x],
                         ids=["class", "str", "none", "callable"])
def test_family_must_be_a_control_family_instance(family):
    with pytest.raises(TypeError, match="family must be a ControlFamily"):
        PiecewiseConstantControl(family, T([0.25, 0.5]), ridge_params())


def test_float32_controls_are_consistent():
    params = {key: value.float() for key, value in ridge_params().items()}
    control = PiecewiseConstantControl(RidgeReLU(), T([0.25, 0.5], dtype=torch.float32), params)
    assert control.lipschitz_bounds().dtype == torch.float32


# ------------------------------------------------------------------ random


@pytest.mark.parametrize("pieces", [1, 3, 7])
def test_random_control(pieces, gen):
    family = ResidualBlock(width=4)
    control = PiecewiseConstantControl.random(family, 2, pieces=pieces, horizon=1.5,
                                              generator=gen)
    assert control.num_pieces == pieces
    assert control.dim == 2
    assert control.family is family
    assert control.durations.dtype == torch.float64
    torch.testing.assert_close(control.durations, torch.full((pieces,), 1.5 / pieces),
                               rtol=0, atol=0)
    assert control.horizon == pytest.approx(1.5, abs=1e-14)
    assert control.params["W"].shape == (pieces, 2, 4)


def test_random_control_uses_random_params_and_is_seeded():
    family = Affine()

    def draw(seed, **kwargs):
        return PiecewiseConstantControl.random(
            family, 3, pieces=2, scale=0.5, generator=torch.Generator().manual_seed(seed),
            **kwargs)

    a, b, c = draw(3), draw(3), draw(4)
    expected = family.random_params(3, pieces=2, scale=0.5,
                                    generator=torch.Generator().manual_seed(3))
    for key in expected:
        assert torch.equal(a.params[key], expected[key])
        assert torch.equal(a.params[key], b.params[key])
        assert not torch.equal(a.params[key], c.params[key])
    as32 = draw(3, dtype=torch.float32)
    assert as32.durations.dtype == torch.float32
    assert all(value.dtype == torch.float32 for value in as32.params.values())


def test_random_control_zero_horizon():
    control = PiecewiseConstantControl.random(RidgeReLU(), 2, pieces=3, horizon=0.0)
    assert torch.equal(control.durations, torch.zeros(3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pieces": 0}, "pieces must be a positive integer"),
        ({"pieces": True}, "pieces must be a positive integer"),
        ({"pieces": 2, "horizon": -1.0}, "horizon must be non-negative"),
        ({"pieces": 2, "horizon": float("inf")}, "horizon must be finite"),
        ({"pieces": 2, "scale": 0.0}, "scale must be positive"),
    ],
)
def test_random_control_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PiecewiseConstantControl.random(RidgeReLU(), 2, **kwargs)
