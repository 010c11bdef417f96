"""flowapprox: flows, ResNets and their approximation power.

The shared library of the book *Deep learning via dynamical systems: an executable
companion*. The public API is re-exported here; the submodules hold one concept each:

* :mod:`flowapprox.families`: control families :math:`f(x;\\theta)`;
* :mod:`flowapprox.controls`: piecewise-constant controls;
* :mod:`flowapprox.flows`: flow maps, ResNets, reference solvers, closed forms;
* :mod:`flowapprox.metrics`: errors, grids, Jacobians, rates;
* :mod:`flowapprox.claims`: checked claims;
* :mod:`flowapprox.plotting`: the book's figures;
* :mod:`flowapprox.reproducibility`: :func:`setup` and the environment record.
"""

from importlib.metadata import PackageNotFoundError, version

from . import claims, plotting
from .controls import PiecewiseConstantControl
from .families import Affine, ControlFamily, ResidualBlock, RidgeReLU
from .flows import METHODS, FlowBlowUpError, flow, reference_flow, resnet, ridge_flow
from .metrics import (
    Box,
    LogLogFit,
    depth_errors,
    fit_loglog,
    gauss_legendre,
    grid,
    jacobian_determinants,
    lp_error,
    max_error,
    sobol_points,
)
from .reproducibility import Session, environment, setup

try:
    __version__ = version("flowapprox")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Affine",
    "Box",
    "ControlFamily",
    "FlowBlowUpError",
    "LogLogFit",
    "METHODS",
    "PiecewiseConstantControl",
    "ResidualBlock",
    "RidgeReLU",
    "Session",
    "claims",
    "depth_errors",
    "environment",
    "fit_loglog",
    "flow",
    "gauss_legendre",
    "grid",
    "jacobian_determinants",
    "lp_error",
    "max_error",
    "plotting",
    "reference_flow",
    "resnet",
    "ridge_flow",
    "setup",
    "sobol_points",
]
