"""flowapprox: flows, ResNets and their approximation power.

The shared library of the book *Deep learning via dynamical systems: an executable
companion*. The public API is re-exported here; the submodules hold one concept each:

* ``flowapprox.families``: control families :math:`f(x;\\theta)`;
* ``flowapprox.controls``: piecewise-constant controls;
* ``flowapprox.flows``: flow maps, ResNets, reference solvers, closed forms;
* ``flowapprox.piecewise``: piecewise-linear functions and their exact 1-D flows;
* ``flowapprox.metrics``: errors, grids, Jacobians, rates;
* ``flowapprox.training``: the training loop;
* ``flowapprox.splitting``: exact neuron flows, Lie/Strang splitting, time rescaling;
* ``flowapprox.wells``: well functions from ReLU sums, smooth approximations, Gronwall;
* ``flowapprox.monotone``: increasing maps in one dimension: isotonic bounds, exact
  representation of increasing piecewise-linear maps by neuron flows, minimal time costs;
* ``flowapprox.node1d``: one-dimensional neural ODEs with piecewise-constant controls;
* ``flowapprox.collapse``: collapse of cells onto their centres by multi-well flows;
* ``flowapprox.construction``: the book's explicit 2-D construction (zoom, shear, read out);
* ``flowapprox.cost``: neuron counts of ReLU controls;
* ``flowapprox.baselines``: non-universal families (affine and additive fits);
* ``flowapprox.node``: neural ODEs with piecewise-constant controls, trained;
* ``flowapprox.obstructions``: certified lower bounds on sup errors (degree, maximum principle);
* ``flowapprox.annuli``: the concentric-annuli data set and (augmented) neural ODEs;
* ``flowapprox.claims``: checked claims;
* ``flowapprox.plotting``: the book's figures;
* ``flowapprox.reproducibility``: :func:`setup` and the environment record.
"""

from importlib.metadata import PackageNotFoundError, version

from . import (
    annuli,
    baselines,
    claims,
    collapse,
    construction,
    cost,
    monotone,
    node,
    node1d,
    obstructions,
    plotting,
    splitting,
    wells,
)
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
from .piecewise import PiecewiseLinear, cell_centres, cell_index, multiwell, pl_flow
from .reproducibility import Session, environment, setup
from .training import train

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
    "PiecewiseLinear",
    "ResidualBlock",
    "RidgeReLU",
    "Session",
    "annuli",
    "baselines",
    "claims",
    "collapse",
    "construction",
    "cost",
    "depth_errors",
    "cell_centres",
    "cell_index",
    "environment",
    "fit_loglog",
    "flow",
    "gauss_legendre",
    "grid",
    "jacobian_determinants",
    "lp_error",
    "max_error",
    "monotone",
    "multiwell",
    "node",
    "node1d",
    "obstructions",
    "pl_flow",
    "plotting",
    "reference_flow",
    "resnet",
    "ridge_flow",
    "setup",
    "sobol_points",
    "splitting",
    "train",
    "wells",
]
