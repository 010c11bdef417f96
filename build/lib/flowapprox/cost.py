r"""How the book counts the size of a ReLU flow: neurons (the time cost is on the control).

A piecewise-constant control of the ReLU residual-block family
:math:`f(x;\theta_j) = \sum_k v_{jk}\,\mathrm{relu}(w_{jk}\cdot x + b_{jk})` (the columns
:math:`v_{jk}` of ``W`` and rows :math:`w_{jk}` of ``A``, book Chapter 4) is measured by

* its **neuron count**: the number of units that contribute a non-zero field, i.e.
  :math:`v_{jk}\ne0` and the unit is not identically zero (:math:`w_{jk}\ne0` or
  :math:`b_{jk}>0`), summed over the pieces; zero units (padding) are not counted;
* its **time cost** :attr:`PiecewiseConstantControl.time_cost
  <flowapprox.PiecewiseConstantControl.time_cost>`
  :math:`\sum_j t_j \sum_k |v_{jk}|\,|w_{jk}|` (book, :prf:ref:`ch2-def-time-cost`): the
  time the control needs if every unit is run on its own with normalised weights
  (:math:`|v|\,|w|\le1`, the Lipschitz constant of one neuron); constant units
  (translations, :math:`w_{jk}=0`) are free. Rescaling a piece's weights by :math:`\lambda`
  and its duration by :math:`1/\lambda` leaves the flow and this cost unchanged, whereas the
  horizon :math:`T=\sum_j t_j` changes; this is why the book reports the cost next to
  :math:`T`.

Examples
--------
>>> import torch
>>> from flowapprox import PiecewiseConstantControl, ResidualBlock
>>> from flowapprox.cost import neuron_count
>>> params = {"W": torch.tensor([[[2.0, 0.0, 3.0], [0.0, 0.0, 0.0]]]),
...           "A": torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]),
...           "b": torch.tensor([[0.0, 0.0, 1.0]])}
>>> control = PiecewiseConstantControl(ResidualBlock(3, "relu"), torch.tensor([0.5]), params)
>>> neuron_count(control), control.time_cost  # unit 2 has v = 0; unit 3 is a free translation
(2, 1.0)
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validation import check_control
from .controls import PiecewiseConstantControl
from .families import ResidualBlock


def _check_relu_control(control: object) -> PiecewiseConstantControl:
    control = check_control("control", control)
    family = control.family
    if not (isinstance(family, ResidualBlock) and family.activation == "relu"):
        raise ValueError(
            f"control must belong to the ReLU residual-block family, got {family.name}"
        )
    return control


def _unit_rates(control: PiecewiseConstantControl) -> Tensor:
    """Per-piece, per-unit speed :math:`|v|\\,|w|` (or :math:`|v|\\,relu(b)` if w = 0)."""
    v = torch.linalg.vector_norm(control.params["W"], dim=1)  # (pieces, width)
    w = torch.linalg.vector_norm(control.params["A"], dim=2)  # (pieces, width)
    return v * torch.where(w > 0, w, torch.relu(control.params["b"]))


def neuron_count(control: PiecewiseConstantControl) -> int:
    """Number of units of a ReLU residual-block control that contribute a non-zero field.

    Implements :prf:ref:`ch4-def-cost`.
    """
    return int((_unit_rates(_check_relu_control(control)) > 0).sum())
