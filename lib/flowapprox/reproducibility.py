"""One setup call per notebook and test: seeds, threads, dtype, plot style, environment record.

Every notebook of the book starts with ``env = flowapprox.setup(seed=SEED)``; see the
contributor notes (``CONTRIBUTING.md``). One torch thread is both faster and more
repeatable on small problems (``CONTRIBUTING.md``, "Machine facts"); float64 is the book's
dtype.

Examples
--------
>>> import torch
>>> from flowapprox import setup
>>> env = setup(seed=1)
>>> torch.get_default_dtype(), torch.get_num_threads()
(torch.float64, 1)
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import platform
import random
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ._validation import check_positive_int

_PACKAGES = ("flowapprox", "torch", "torchdiffeq", "numpy", "scipy", "matplotlib")


@functools.cache
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, str]:
    """Operating system, versions of Python and the book's main packages, and the CPU model.

    Nothing host-specific beyond these (no kernel release or build string), so that
    re-executing a notebook on another machine of the same kind leaves its record unchanged.
    """
    return dict(_environment())


@functools.cache
def _environment() -> dict[str, str]:
    record = {
        "os": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
    }
    for name in _PACKAGES:
        try:
            record[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            record[name] = "not installed"
    record["cpu"] = _cpu_model()
    return record


@dataclass(frozen=True)
class Session:
    """What :func:`setup` fixed, plus the environment it found."""

    seed: int
    threads: int
    dtype: torch.dtype
    environment: dict[str, str] = field(default_factory=environment)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh torch generator seeded with ``seed + offset`` (one per experiment)."""
        return torch.Generator().manual_seed(self.seed + offset)


def setup(
    seed: int = 0, *, threads: int = 1, dtype: torch.dtype = torch.float64, style: bool = True
) -> Session:
    """Seed Python, NumPy and torch, fix the torch thread count and default dtype.

    Parameters
    ----------
    seed
        Seed for ``random``, ``numpy.random`` and ``torch`` (non-negative integer).
    threads
        Number of torch intra-op threads (the book uses 1).
    dtype
        Default floating dtype of torch (``torch.float64`` or ``torch.float32``).
    style
        Also apply the book's figure style (:func:`flowapprox.plotting.use_book_style`).

    Notes
    -----
    Warnings are shown as "Category: message", without the file and line that Python
    prints by default, so that executed notebooks carry no machine-specific paths.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    threads = check_positive_int("threads", threads)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    warnings.formatwarning = _format_warning
    if style:
        from .plotting import use_book_style

        use_book_style()
    session = Session(seed=seed, threads=threads, dtype=dtype)
    _announce(session)
    return session


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int,
    line: str | None = None,
) -> str:
    """A warning as ``Category: message`` (no path: outputs are the same on every machine)."""
    return f"{category.__name__}: {message}\n"


def _announce(session: Session) -> None:
    """In a notebook, show one machine-independent line and record the environment.

    The environment (package versions, CPU) goes into the output's metadata under
    ``flowapprox.environment``, where the book's reproducibility appendix reads it.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book
        return
    shell = get_ipython()
    if shell is None:
        return
    from IPython.display import display

    if os.environ.get("FLOWAPPROX_FIGURES_DIR"):
        _install_figure_export(shell, session)

    line = (
        f"flowapprox {session.environment['flowapprox']} | seed {session.seed} | "
        f"{str(session.dtype).removeprefix('torch.')} | {session.threads} torch thread(s)"
    )
    record = dict(session.environment, seed=str(session.seed))
    display({"text/plain": line}, metadata={"flowapprox.environment": record}, raw=True)


def _install_figure_export(shell: object, session: Session) -> None:
    """After every cell, save new figures to ``$FLOWAPPROX_FIGURES_DIR`` (``make figures``).

    Files are named after ``$FLOWAPPROX_NOTEBOOK`` (the notebook's stem); each figure gets
    a JSON line in ``records.jsonl`` there, from which the manifest is assembled.
    """
    from pathlib import Path

    from .plotting import export_new_figures

    directory = Path(os.environ["FLOWAPPROX_FIGURES_DIR"])
    notebook = os.environ.get("FLOWAPPROX_NOTEBOOK", "notebook")
    prefix = Path(notebook).parent.name + "--" + Path(notebook).stem

    def export(_result: object = None) -> None:
        for record in export_new_figures(directory, prefix):
            record.update(notebook=notebook, seed=session.seed)
            with open(directory / "records.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    events = shell.events  # type: ignore[attr-defined]
    for callback in list(events.callbacks["post_run_cell"]):
        if getattr(callback, "__name__", "") == "export" and callback.__module__ == __name__:
            events.unregister("post_run_cell", callback)  # setup() called again
    events.register("post_run_cell", export)
