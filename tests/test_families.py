"""Tests of flowapprox.families: field values, Lipschitz bounds, parameters, validation."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from flowapprox import Affine, ControlFamily, ResidualBlock, RidgeReLU
from flowapprox.families import ACTIVATIONS

T = torch.tensor

SCALAR_ACTIVATIONS = {
    "relu": lambda z: max(z, 0.0),
    "tanh": math.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)),
}


def all_families() -> list[ControlFamily]:
    return [
        RidgeReLU(),
        ResidualBlock(width=5, activation="relu"),
        ResidualBlock(width=5, activation="tanh"),
        ResidualBlock(width=5, activation="sigmoid"),
        Affine(),
    ]


def one_piece(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value[0] for key, value in params.items()}


# ------------------------------------------------------------------ field values


def test_ridge_field_matches_hand_computation():
    theta = {"v": T([1.0, -2.0]), "w": T([3.0, 1.0]), "b": T(-1.0)}
    # s = 3 x1 + x2 - 1 at the four points: 3, -1, 0 (exactly on the hinge), 0.5
    x = T([[1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [0.5, 0.0]])
    expected = T([[3.0, -6.0], [0.0, 0.0], [0.0, 0.0], [0.5, -1.0]])
    out = RidgeReLU()(x, theta)
    assert out.shape == (4, 2)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_residual_block_field_matches_hand_computation(activation):
    W = [[1.0, 2.0, -0.5], [0.0, -1.0, 3.0]]  # (n=2, width=3)
    A = [[1.0, 0.0], [1.0, -1.0], [-2.0, 0.5]]  # (width=3, n=2)
    b = [0.0, 0.5, -0.25]
    points = [[1.0, 2.0], [-0.3, 0.7], [0.0, 0.0], [2.5, -1.5]]
    sigma = SCALAR_ACTIVATIONS[activation]
    expected = []
    for x in points:
        hidden = [sigma(sum(A[k][i] * x[i] for i in range(2)) + b[k]) for k in range(3)]
        expected.append([sum(W[i][k] * hidden[k] for k in range(3)) for i in range(2)])
    theta = {"W": T(W), "A": T(A), "b": T(b)}
    out = ResidualBlock(width=3, activation=activation)(T(points), theta)
    torch.testing.assert_close(out, T(expected), rtol=1e-14, atol=1e-14)


def test_affine_field_matches_hand_computation():
    theta = {"A": T([[0.0, 1.0], [-2.0, 3.0]]), "b": T([1.0, -1.0])}
    x = T([[2.0, -1.0], [0.0, 0.0], [1.0, 1.0]])
    expected = T([[0.0, -8.0], [1.0, -1.0], [2.0, 0.0]])
    assert torch.equal(Affine()(x, theta), expected)


def test_field_is_a_pure_function_of_x_and_theta(gen):
    family = ResidualBlock(width=4, activation="tanh")
    theta = one_piece(family.random_params(3, generator=gen))
    x = torch.randn(6, 3, generator=gen)
    first = family(x, theta)
    family(torch.randn(6, 3, generator=gen), one_piece(family.random_params(3, generator=gen)))
    assert torch.equal(family(x, theta), first)
    # rows are independent: evaluating a sub-batch gives the same rows
    assert torch.equal(family(x[2:4], theta), first[2:4])


def test_call_and_field_agree(gen):
    for family in all_families():
        theta = one_piece(family.random_params(2, generator=gen))
        x = torch.randn(5, 2, generator=gen)
        assert torch.equal(family(x, theta), family.field(x, theta))


# ------------------------------------------------------------------ Lipschitz bounds


@pytest.mark.parametrize("family", all_families(), ids=lambda f: f.name)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lipschitz_bound_bounds_difference_quotients(family, seed):
    g = torch.Generator().manual_seed(seed)
    dim = 3
    theta = one_piece(family.random_params(dim, scale=2.0, generator=g))
    bound = family.lipschitz_bound(theta)
    assert isinstance(bound, float) and bound > 0
    x = 2.0 * torch.randn(300, dim, generator=g)
    # far pairs and very close pairs (where the derivative is probed)
    y = torch.cat([2.0 * torch.randn(150, dim, generator=g),
                   x[150:] + 1e-4 * torch.randn(150, dim, generator=g)])
    ratio = (torch.linalg.vector_norm(family(x, theta) - family(y, theta), dim=1)
             / torch.linalg.vector_norm(x - y, dim=1))
    assert float(ratio.max()) <= bound * (1 + 1e-9)


def test_affine_lipschitz_bound_is_the_spectral_norm_and_is_attained(gen):
    family = Affine()
    theta = one_piece(family.random_params(4, generator=gen))
    bound = family.lipschitz_bound(theta)
    singular = torch.linalg.svdvals(theta["A"])
    assert bound == pytest.approx(float(singular[0]), rel=1e-14)
    # along the top right-singular vector the quotient equals the bound
    _, _, vh = torch.linalg.svd(theta["A"])
    x = torch.randn(1, 4, generator=gen)
    y = x + 0.3 * vh[0]
    ratio = torch.linalg.vector_norm(family(x, theta) - family(y, theta)) / 0.3
    assert float(ratio) == pytest.approx(bound, rel=1e-12)


def test_ridge_lipschitz_bound_is_attained_on_the_active_side():
    theta = {"v": T([1.0, 2.0, -2.0]), "w": T([0.0, 3.0, 4.0]), "b": T(1.0)}
    bound = RidgeReLU().lipschitz_bound(theta)
    assert bound == pytest.approx(3.0 * 5.0, rel=1e-15)
    x = T([[0.0, 1.0, 1.0]])
    y = x + 0.1 * theta["w"] / 5.0  # both points active, difference parallel to w
    ratio = torch.linalg.vector_norm(RidgeReLU()(x, theta) - RidgeReLU()(y, theta)) / 0.1
    assert float(ratio) == pytest.approx(bound, rel=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_residual_block_bound_uses_the_activation_constant_and_is_tight_in_1d(activation):
    # f(x) = W sigma(A x + b) in 1-D, width 1: |f'| <= |W A| L_sigma, attained at A x + b = 0
    # (tanh, sigmoid) or anywhere on the active side (relu).
    W, A, b = -1.5, 2.0, 0.4
    theta = {"W": T([[W]]), "A": T([[A]]), "b": T([b])}
    family = ResidualBlock(width=1, activation=activation)
    lip_sigma = ACTIVATIONS[activation][1]
    assert lip_sigma == {"relu": 1.0, "tanh": 1.0, "sigmoid": 0.25}[activation]
    bound = family.lipschitz_bound(theta)
    assert bound == pytest.approx(abs(W * A) * lip_sigma, rel=1e-15)
    centre = -b / A if activation != "relu" else 1.0
    eps = 1e-6
    x, y = T([[centre - eps]]), T([[centre + eps]])
    slope = float((family(y, theta) - family(x, theta)).abs().squeeze()) / (2 * eps)
    assert slope == pytest.approx(bound, rel=1e-6)


def test_lipschitz_bound_of_zero_parameters_is_zero():
    assert RidgeReLU().lipschitz_bound({"v": torch.zeros(2), "w": torch.ones(2),
                                        "b": T(0.0)}) == 0.0
    assert Affine().lipschitz_bound({"A": torch.zeros(2, 2), "b": torch.ones(2)}) == 0.0


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (RidgeReLU(), {"v": (3, 2), "w": (3, 2), "b": (3,)}),
        (ResidualBlock(width=5), {"W": (3, 2, 5), "A": (3, 5, 2), "b": (3, 5)}),
        (Affine(), {"A": (3, 2, 2), "b": (3, 2)}),
    ],
    ids=["ridge", "block", "affine"],
)
def test_random_params_shapes_and_dtype(family, expected):
    params = family.random_params(2, pieces=3)
    assert {key: tuple(value.shape) for key, value in params.items()} == expected
    assert all(value.dtype == torch.float64 for value in params.values())
    assert {key: shape[1:] for key, shape in expected.items()} == family.param_shapes(2)
    single = family.random_params(2)
    assert all(value.shape[0] == 1 for value in single.values())
    as32 = family.random_params(2, pieces=3, dtype=torch.float32)
    assert all(value.dtype == torch.float32 for value in as32.values())


@pytest.mark.parametrize("family", all_families(), ids=lambda f: f.name)
def test_random_params_seeding(family):
    def draw(seed):
        return family.random_params(3, pieces=2, generator=torch.Generator().manual_seed(seed))

    a, b, c = draw(7), draw(7), draw(8)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert all(not torch.equal(a[key], c[key]) for key in a)
    # without a generator the global RNG is used (and is seeded by setup)
    torch.manual_seed(5)
    d = family.random_params(3, pieces=2)
    torch.manual_seed(5)
    e = family.random_params(3, pieces=2)
    assert all(torch.equal(d[key], e[key]) for key in d)


def test_random_params_scale_over_sqrt_fan_in(gen):
    family = ResidualBlock(width=16)
    params = family.random_params(4, pieces=3000, scale=2.0, generator=gen)
    # W: (4, 16), fan-in 16; A: (16, 4), fan-in 4; biases: scale only
    assert float(params["W"].std()) == pytest.approx(2.0 / 4.0, rel=0.02)
    assert float(params["A"].std()) == pytest.approx(2.0 / 2.0, rel=0.02)
    assert float(params["b"].std()) == pytest.approx(2.0, rel=0.02)
    assert abs(float(params["W"].mean())) < 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0}, "dim must be a positive integer"),
        ({"dim": True}, "dim must be a positive integer"),
        ({"dim": 2.0}, "dim must be a positive integer"),
        ({"dim": 2, "pieces": 0}, "pieces must be a positive integer"),
        ({"dim": 2, "scale": 0.0}, "scale must be positive"),
        ({"dim": 2, "scale": -1.0}, "scale must be positive"),
        ({"dim": 2, "scale": float("nan")}, "scale must be finite"),
    ],
)
def test_random_params_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RidgeReLU().random_params(**kwargs)


# ------------------------------------------------------------------ state_dim


def test_state_dim():
    assert RidgeReLU().state_dim({"v": torch.ones(3), "w": torch.ones(3), "b": T(0.0)}) == 3
    block = ResidualBlock(width=6)
    stacked = block.random_params(4, pieces=2)
    assert block.state_dim(stacked, leading=1) == 4
    assert block.state_dim(one_piece(stacked)) == 4
    assert Affine().state_dim(Affine().random_params(5, pieces=3), leading=1) == 5


@pytest.mark.parametrize(
    "theta",
    [
        lambda: {"W": torch.ones(2, 3), "b": torch.ones(3)},  # no 'A'
        lambda: {"A": [[1.0, 2.0]], "W": torch.ones(2, 1), "b": torch.ones(1)},  # not a tensor
        lambda: {"A": torch.ones(3), "W": torch.ones(2, 3), "b": torch.ones(3)},  # no leading axis
        lambda: [("A", torch.ones(3, 2))],  # not a mapping
    ],
    ids=["missing", "not-tensor", "no-leading-axis", "not-mapping"],
)
def test_state_dim_rejects_parameters_without_the_dim_tensor(theta):
    with pytest.raises(ValueError, match="need a tensor 'A'"):
        ResidualBlock(width=3).state_dim(theta(), leading=1)


# ------------------------------------------------------------------ validation


def test_family_construction_is_validated():
    with pytest.raises(ValueError, match="width must be a positive integer"):
        ResidualBlock(width=0)
    with pytest.raises(ValueError, match="activation must be one of"):
        ResidualBlock(activation="gelu")
    with pytest.raises(TypeError):
        ControlFamily()  # abstract
    block = ResidualBlock(width=3, activation="sigmoid")
    assert block.name == "sigmoid block (width 3)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.width = 4  # type: ignore[misc]


def block_theta():
    return {"W": torch.ones(2, 3), "A": torch.ones(3, 2), "b": torch.zeros(3)}


def with_(**changes):
    return lambda: {**block_theta(), **{k: v() for k, v in changes.items()}}


def ones(*shape):
    return lambda: torch.ones(*shape)


# Tensors are built inside the test (after setup() made float64 the default dtype).
@pytest.mark.parametrize(
    ("x", "theta", "error", "match"),
    [
        (lambda: torch.ones(4, 2, dtype=torch.int64), block_theta, TypeError,
         "x must have a floating"),
        (ones(4), block_theta, ValueError, r"x must have shape \(\*, \*\)"),
        (lambda: T([[0.0, float("nan")]]), block_theta, ValueError, "x must be finite"),
        (lambda: [[0.0, 1.0]], block_theta, TypeError, "x must be a torch.Tensor"),
        (ones(4, 3), block_theta, ValueError, r"theta\['W'\] must have shape \(3, 3\)"),
        (ones(4, 2), with_(c=ones(1)), ValueError, "must have keys"),
        (ones(4, 2), lambda: {"W": torch.ones(2, 3), "A": torch.ones(3, 2)}, ValueError,
         "must have keys"),
        (ones(4, 2), with_(b=ones(4)), ValueError, r"theta\['b'\] must have shape \(3\)"),
        (ones(4, 2), with_(A=lambda: torch.ones(3, 2, dtype=torch.float32)), TypeError,
         r"theta\['A'\] has dtype torch.float32 but the points have dtype torch.float64"),
        (ones(4, 2), with_(b=lambda: T([0.0, float("inf"), 0.0])), ValueError,
         r"theta\['b'\] must be finite"),
        (ones(4, 2), lambda: [1.0, 2.0], TypeError, "theta must be a mapping"),
    ],
)
def test_call_validates_points_and_parameters(x, theta, error, match):
    with pytest.raises(error, match=match):
        ResidualBlock(width=3)(x(), theta())
