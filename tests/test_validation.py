"""Bad input, by class: each case asserts the error type and that the message names the argument.

Classes: bad shapes, dtypes, non-finite values, empty input, reversed intervals, mutation after
construction, user-defined families, extreme exponents, stiff fields, malformed claims and
parameters of the tools.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import flowapprox as fa
from flowapprox import annuli, construction, metrics, obstructions, wells

torch.set_default_dtype(torch.float64)
BOX1 = fa.Box((0.0,), (1.0,))
BOX2 = fa.Box((0.0, 0.0), (1.0, 1.0))


def ident(x):
    return x


def control(seed: int = 0) -> fa.PiecewiseConstantControl:
    return fa.PiecewiseConstantControl.random(
        fa.ResidualBlock(width=4), dim=2, pieces=2, generator=torch.Generator().manual_seed(seed)
    )


def affine_control(rate: float, dim: int = 1) -> fa.PiecewiseConstantControl:
    return fa.PiecewiseConstantControl(
        fa.Affine(), torch.tensor([1.0]),
        {"A": (rate * torch.eye(dim)).unsqueeze(0), "b": torch.zeros(1, dim)},
    )


# ----------------------------------------------------------------- extreme exponents


@pytest.mark.parametrize(("gap", "p"), [(1e-3, 200.0), (1e-3, 5000.0), (2.0, 2000.0), (1e5, 400.0)])
def test_lp_error_is_scaled_for_large_p(gap, p):
    value = metrics.lp_error(lambda x: x[:, 0] + gap, lambda x: x[:, 0], BOX1, p=p, n_points=64)
    assert value == pytest.approx(gap, rel=1e-12)


def test_lp_error_p_inf_is_the_sup_over_the_points():
    def f(x):
        return x[:, 0] ** 2

    value = metrics.lp_error(f, lambda x: 0 * x[:, 0], BOX1, p=math.inf, n_points=256)
    x = fa.sobol_points(BOX1, 256)
    assert value == pytest.approx(float(f(x).max()))
    assert metrics.lp_error(f, lambda x: 0 * x[:, 0], BOX1, p=2.0) == pytest.approx(
        5**-0.5, rel=1e-4)


def test_lp_error_on_a_box_of_volume_other_than_one_and_large_p():
    box = fa.Box((0.0,), (4.0,))  # |f - g| = 3 everywhere: ||.||_p = 3 * 4^(1/p)
    for p in (1.0, 2.0, 300.0):
        value = metrics.lp_error(lambda x: x[:, 0] + 3, lambda x: x[:, 0], box, p=p)
        assert value == pytest.approx(3 * 4 ** (1 / p), rel=1e-12)


@pytest.mark.parametrize("p", [0.5, 0.0, -1.0, math.nan, -math.inf])
def test_lp_error_rejects_bad_p(p):
    with pytest.raises(ValueError, match="p must"):
        metrics.lp_error(ident, ident, BOX1, p=p)


@pytest.mark.parametrize("p", [2000.0, math.inf])
def test_annuli_sample_error_is_scaled_for_large_p(p):
    x = torch.rand(7, 2, generator=torch.Generator().manual_seed(0))
    value = annuli.sample_error(lambda z: torch.full((z.shape[0],), 2.0), x, torch.zeros(7), p=p)
    assert value == pytest.approx(2.0, rel=1e-12)


def test_weighted_lp_norm_of_zero_errors_is_zero():
    assert metrics.weighted_lp_norm(torch.zeros(3), torch.ones(3), 5.0) == 0.0


def test_lp_error_gauss_counts_nodes_before_allocating():
    with pytest.raises(ValueError, match=r"order=64 on a 8-D box needs 64\*\*8"):
        metrics.lp_error(ident, ident, fa.Box.cube(8), rule="gauss", order=64)


# ----------------------------------------------------------------------- empty input


@pytest.mark.parametrize("call", [
    lambda x: metrics.max_error(ident, ident, x),
    lambda x: metrics.pointwise_error(ident, ident, x),
    lambda x: metrics.jacobian_determinants(ident, x),
    lambda x: annuli.sample_error(lambda z: z[:, 0], x, torch.zeros(0), p=2.0),
])
def test_empty_batches_are_refused(call):
    with pytest.raises(ValueError, match="x must contain at least one point"):
        call(torch.zeros(0, 2))


def test_depth_errors_names_the_bad_depth():
    c, x = control(), torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"depths\[i\] must be a positive integer"):
        metrics.depth_errors(c, x, x, method="rk4", depths=[4, 0])


# ----------------------------------------------------------------- shapes and dtypes


@pytest.mark.parametrize(("lower", "upper", "error", "match"), [
    (0.0, 1.0, TypeError, "lower must be a sequence of reals"),
    ((0.0,), 1.0, TypeError, "upper must be a sequence of reals"),
    ("0", "1", TypeError, "lower must be a sequence of reals"),
])
def test_box_needs_sequences(lower, upper, error, match):
    with pytest.raises(error, match=match):
        fa.Box(lower, upper)


def test_callables_are_named():
    with pytest.raises(TypeError, match="f must be callable"):
        metrics.lp_error(3, ident, BOX1)
    with pytest.raises(TypeError, match="mapping must be callable"):
        metrics.jacobian_determinants(3, torch.zeros(2, 2))


def test_control_with_missing_dimension_key_names_params():
    with pytest.raises(ValueError, match="params for affine must have keys"):
        fa.PiecewiseConstantControl(fa.Affine(), torch.tensor([1.0]), {"A": torch.zeros(1, 1, 1)})


# ------------------------------------------------------------ mutation after construction


@pytest.mark.parametrize("integrate", [
    lambda c, x: fa.flow(c, x),
    lambda c, x: fa.resnet(c, x),
    lambda c, x: fa.reference_flow(c, x),
    lambda c, x: c.time_cost,
    lambda c, x: c.horizon,
])
def test_durations_edited_in_place_are_refused(integrate):
    c = control()
    c.durations.mul_(-1.0)
    with pytest.raises(ValueError, match="control.durations must be finite and non-negative"):
        integrate(c, torch.zeros(3, 2))


def test_params_edited_in_place_to_nan_are_refused():
    c = control()
    c.params["A"][0, 0, 0] = math.nan
    with pytest.raises(ValueError, match=r"control.params\['A'\] must be finite"):
        fa.flow(c, torch.zeros(3, 2))


def test_params_replaced_by_another_shape_are_refused():
    c = control()
    c.params["b"] = torch.zeros(2, 5)  # type: ignore[index]
    with pytest.raises(ValueError, match="changed shape after the control was created"):
        fa.flow(c, torch.zeros(3, 2))


def test_params_edited_in_place_to_valid_values_are_used():
    c = control()
    before = fa.flow(c, torch.ones(3, 2))
    with torch.no_grad():
        c.params["W"].mul_(2.0)
    assert not torch.equal(fa.flow(c, torch.ones(3, 2)), before)


# -------------------------------------------------------------------- user families


class ColumnFamily(fa.ControlFamily):
    """A user family whose field wrongly returns one column: broadcasting would hide it."""

    name = "column"
    dim_param = "b"

    def param_shapes(self, dim):
        return {"b": (dim,)}

    def field(self, x, theta):
        return x[:, :1] * 0 + 1.0

    def lipschitz_bound(self, theta):
        return 0.0


class GoodFamily(ColumnFamily):
    name = "translation"

    def field(self, x, theta):
        return theta["b"].expand(x.shape[0], -1)


@pytest.mark.parametrize("integrate", [
    lambda c, x: fa.flow(c, x, method="euler"),
    lambda c, x: fa.flow(c, x, method="rk4", steps_per_piece=3),
    lambda c, x: fa.reference_flow(c, x),
])
def test_user_family_with_wrong_field_shape_is_refused(integrate):
    c = fa.PiecewiseConstantControl(ColumnFamily(), torch.tensor([1.0]), {"b": torch.zeros(1, 2)})
    with pytest.raises(ValueError, match=r"field of family 'column' \(piece 0\) must return"):
        integrate(c, torch.zeros(4, 2))


def test_user_family_with_right_field_shape_is_integrated():
    c = fa.PiecewiseConstantControl(GoodFamily(), torch.tensor([0.5]), {"b": torch.ones(1, 2)})
    assert torch.allclose(fa.flow(c, torch.zeros(4, 2)), torch.full((4, 2), 0.5))


# ---------------------------------------------------------------------- stiff fields


def test_unstable_fixed_step_integration_warns():
    with pytest.warns(RuntimeWarning, match=r"steps_per_piece=1 .* exceeds the stability bound"):
        fa.flow(affine_control(-1000.0), torch.ones(3, 1))


def test_stable_fixed_step_integration_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fa.flow(affine_control(-1000.0), torch.ones(3, 1), steps_per_piece=400)
        fa.resnet(affine_control(-1000.0), torch.ones(3, 1))  # the network itself: no warning


def test_reference_flow_has_a_step_limit_that_names_the_piece():
    with pytest.raises(RuntimeError, match=r"max_steps=200 steps on piece 0"):
        fa.reference_flow(affine_control(-1e6), torch.ones(2, 1), max_steps=200)
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        fa.reference_flow(affine_control(-1.0), torch.ones(2, 1), max_steps=0)


# ------------------------------------------------------------- preconditions detected


def test_jacobian_detects_a_map_that_mixes_rows():
    with pytest.raises(ValueError, match="mapping must act row-wise"):
        metrics.jacobian_determinants(lambda x: x + 0.1 * x.sum(0, keepdim=True), torch.rand(4, 2))


def test_jacobian_of_a_map_without_gradient_is_a_clear_error():
    with pytest.raises(ValueError, match=r"mapping\(x\) does not depend on x"):
        metrics.jacobian_determinants(lambda x: torch.zeros_like(x) + 1.0, torch.rand(4, 2))


def test_jacobian_of_a_map_with_a_constant_component():
    dets = metrics.jacobian_determinants(
        lambda x: torch.stack([x[:, 0], 0 * x[:, 0] + 1], 1), torch.rand(3, 2))
    assert torch.equal(dets, torch.zeros(3))


def test_understated_lipschitz_constant_is_refused():
    with pytest.raises(ValueError, match="lipschitz=0.01 is understated"):
        obstructions.max_principle_bound(lambda x: 100 * x[:, 0], (0.0, 0.0), 1.0, lipschitz=0.01)
    with pytest.raises(ValueError, match="lipschitz=0.5 is understated"):
        obstructions.degree_bound(lambda x: 3 * x, (0.0, 0.0), 1.0, lipschitz=0.5)


def test_tanh_readout_warns_with_the_clipped_part():
    with pytest.warns(UserWarning, match=r"readout='tanh'.* largest clipped part is 1\.25"):
        construction.construct(lambda x: 3 * x[:, 0], BOX2, 2, readout="tanh")


# ------------------------------------------------------------------- foreign errors


def test_training_loss_errors_name_the_loss():
    a = torch.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"loss\(\) must return a scalar torch.Tensor"):
        fa.train({"a": a}, lambda: 1.0, steps=1, progress=False)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match=r"loss\(\) must depend on the parameters"):
        fa.train({"a": a}, lambda: torch.tensor(1.0), steps=1, progress=False)


def test_overflows_are_named():
    with pytest.raises(OverflowError, match="lipschitz \\* t"):
        wells.gronwall_bound(1.0, 1000.0, 1000.0)
    field = fa.PiecewiseLinear(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]), right_slope=1.0)
    with pytest.raises(FloatingPointError, match="pl_flow overflowed.*t=800"):
        fa.pl_flow(field, torch.tensor([1.0]), 800.0)


def test_polytope_well_refuses_tensors_that_require_grad():
    with pytest.raises(ValueError, match="normals must not require grad"):
        wells.polytope_well(torch.eye(2, requires_grad=True), torch.ones(2), torch.ones(2))


def test_train_node_names_n_train():
    with pytest.raises(ValueError, match="n_train must be a positive integer"):
        fa.node.train_node(fa.examples.bump, BOX2, pieces=1, width=2, steps=1, n_train=0)


# -------------------------------------------------------------------- reversed intervals


@pytest.mark.parametrize(("lower", "upper"), [(1.0, 0.0), (1.0, 1.0), (math.nan, 1.0)])
def test_cells_need_an_interval(lower, upper):
    with pytest.raises(ValueError, match="lower"):
        fa.cell_centres(3, lower=lower, upper=upper)
    with pytest.raises(ValueError, match="lower"):
        fa.cell_index(torch.rand(4), 3, lower=lower, upper=upper)


def test_collapse_times_are_named():
    with pytest.raises(ValueError, match=r"times\[0\] must be non-negative"):
        fa.collapse.collapse_curve(3, 0.1, [-1.0], n_points=64, grid_points=11)


def test_fitting_on_an_empty_sample_is_refused():
    with pytest.raises(ValueError, match="x must contain at least one point"):
        fa.models.fit_flow_model(torch.zeros(0, 2), torch.zeros(0), family=fa.ResidualBlock(2),
                                 pieces=1, steps=1)


def test_fits_need_two_distinct_abscissae():
    with pytest.raises(ValueError, match="t must take at least two distinct values"):
        fa.fit_exponential([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="x must take at least two distinct values"):
        fa.fit_loglog([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])


def test_stability_warning_uses_the_ridge_eigenvalue():
    """A ridge neuron's Jacobian has the one eigenvalue w.v: a shear (w perpendicular to v) is
    integrated exactly by any Runge-Kutta step, however large |v||w|; w.v = -1000 is stiff."""
    family = fa.RidgeReLU()

    def ridge(v, w):
        params = {"v": torch.tensor([v]), "w": torch.tensor([w]), "b": torch.tensor([1.0])}
        return fa.PiecewiseConstantControl(family, torch.tensor([1.0]), params)

    shear = ridge([1000.0, 0.0], [0.0, 1.0])
    assert family.stiffness_bound(shear.piece(0)) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fa.flow(shear, torch.zeros(3, 2))
    assert torch.allclose(out, fa.ridge_flow(shear, torch.zeros(3, 2)))
    with pytest.warns(RuntimeWarning, match="stiffness bound is 1e\\+03"):
        fa.flow(ridge([-1000.0, 0.0], [1.0, 0.0]), torch.zeros(3, 2))
