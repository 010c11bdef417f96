"""Doctest set-up: every docstring example starts from the book's defaults.

``flowapprox.setup`` fixes float64 as the default dtype (so tensors print without a
``dtype=`` suffix), one torch thread and the seeds, whatever ran before.
"""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _book_defaults() -> None:
    import flowapprox

    flowapprox.setup(seed=0)
