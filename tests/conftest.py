"""Shared fixtures of the flowapprox tests.

Every test starts from ``flowapprox.setup(seed=0)``: one torch thread, float64 as the
default dtype, seeded RNGs and the book's matplotlib style. Figures are drawn with the
non-interactive Agg backend and closed after each test.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import flowapprox  # noqa: E402


@pytest.fixture(autouse=True)
def _book_setup():
    """Fresh seeds, float64, one thread and the book style for every test."""
    flowapprox.setup(seed=0)
    yield
    plt.close("all")
    # Tests of setup() itself change the dtype and thread count: restore the defaults.
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)


@pytest.fixture
def gen() -> torch.Generator:
    """A dedicated, seeded torch generator (independent of the global RNG)."""
    return torch.Generator().manual_seed(1234)
