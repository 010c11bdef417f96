"""flowapprox: flows, ResNets and their approximation power.

The shared library of the book *Deep learning via dynamical systems: an executable
companion*. The public API of the core is re-exported here; every submodule holds one
concept. **Core** modules serve every chapter and never import a chapter module; a
**chapter** module may import the core and the modules of its own or earlier chapters
(``tests/test_library_map.py`` checks both rules, and ``CONTRIBUTING.md`` has the table).

Core:

* ``flowapprox.families``: control families :math:`f(x;\\theta)` and their time rates;
* ``flowapprox.controls``: piecewise-constant controls (``horizon``, ``time_cost``);
* ``flowapprox.flows``: flow maps, ResNets, reference solvers, closed forms;
* ``flowapprox.piecewise``: piecewise-linear functions and their exact 1-D flows;
* ``flowapprox.metrics``: errors, point sets, grids, Jacobians, rates;
* ``flowapprox.training``: the training loop;
* ``flowapprox.models``: trained flow models (control, readout, solver) and their fit;
* ``flowapprox.cost``: neuron counts of ReLU controls;
* ``flowapprox.claims``: checked claims;
* ``flowapprox.plotting``: the book's figures;
* ``flowapprox.reproducibility``: :func:`setup` and the environment record.

Chapter 2: ``flowapprox.splitting`` (exact neuron flows, Lie/Strang splitting, time
rescaling) and ``flowapprox.wells`` (well functions, smooth approximations, Gronwall).

Chapter 3: ``flowapprox.monotone`` (increasing maps: isotonic bounds, exact representation
by neuron flows, minimal time costs), ``flowapprox.node1d`` (one-dimensional neural ODEs) and
``flowapprox.collapse`` (collapse of cells onto their centres by multi-well flows).

Chapter 4: ``flowapprox.construction`` (the explicit construction: zoom, shear, read
out), ``flowapprox.profiles`` (the construction from sigmoid, tanh or well units),
``flowapprox.baselines`` (non-universal families),
``flowapprox.node`` (trained neural ODEs) and ``flowapprox.examples`` (shared targets).

Explorers: ``flowapprox.explorers`` (interactive views of Chapters 1-4 for JupyterLab:
figures for given parameters, a safe parser for typed targets, ipywidgets builders).

Chapter 5: ``flowapprox.obstructions`` (certified lower bounds on sup errors) and
``flowapprox.annuli`` (the concentric-annuli data set and augmented neural ODEs).

Chapter 6: ``flowapprox.rates`` (certified lower bounds on the time cost, error-against-time
sweeps of the constructions, adversarial Jacobians, frontiers).

Chapter 7: ``flowapprox.interpolation`` (finite-ensemble control: flows that move finitely
many points exactly onto targets, their counts and time costs).
"""


from importlib.metadata import PackageNotFoundError, version

from . import (
    annuli,
    baselines,
    claims,
    collapse,
    construction,
    cost,
    examples,
    explorers,
    interpolation,
    models,
    monotone,
    node,
    node1d,
    obstructions,
    plotting,
    profiles,
    rates,
    splitting,
    wells,
)
from .controls import PiecewiseConstantControl
from .families import Affine, ControlFamily, ResidualBlock, RidgeReLU
from .flows import METHODS, FlowBlowUpError, Solver, flow, reference_flow, resnet, ridge_flow
from .metrics import (
    Box,
    ExponentialFit,
    LineFit,
    LogLogFit,
    ball_points,
    circle,
    depth_errors,
    edge_grid,
    fit_exponential,
    fit_loglog,
    gauss_legendre,
    graded_rule,
    grid,
    jacobian_determinants,
    lp_error,
    max_error,
    pointwise_error,
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
    "ExponentialFit",
    "FlowBlowUpError",
    "LineFit",
    "LogLogFit",
    "METHODS",
    "PiecewiseConstantControl",
    "PiecewiseLinear",
    "ResidualBlock",
    "RidgeReLU",
    "Session",
    "Solver",
    "annuli",
    "ball_points",
    "baselines",
    "cell_centres",
    "cell_index",
    "circle",
    "claims",
    "collapse",
    "construction",
    "cost",
    "depth_errors",
    "edge_grid",
    "environment",
    "examples",
    "explorers",
    "fit_exponential",
    "fit_loglog",
    "flow",
    "gauss_legendre",
    "graded_rule",
    "grid",
    "interpolation",
    "jacobian_determinants",
    "lp_error",
    "max_error",
    "models",
    "monotone",
    "multiwell",
    "node",
    "node1d",
    "obstructions",
    "pl_flow",
    "plotting",
    "pointwise_error",
    "profiles",
    "rates",
    "reference_flow",
    "resnet",
    "ridge_flow",
    "setup",
    "sobol_points",
    "splitting",
    "train",
    "wells",
]
