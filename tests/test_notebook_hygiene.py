"""Every committed chapter notebook passes the hygiene checks of tools/notebooks.py.

A failure lists each problem; most are fixed by re-running the notebook with
`python tools/notebooks.py execute NOTEBOOK` (or `make book`), which executes it
top to bottom and normalises its metadata.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python -m pytest` adds the root; plain `pytest` does not
    sys.path.insert(0, str(ROOT))

from tools.notebooks import NOTEBOOK_GLOB, discover_notebooks, hygiene_problems  # noqa: E402

NOTEBOOKS = discover_notebooks(ROOT)


@pytest.mark.parametrize(
    "notebook",
    [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in NOTEBOOKS]
    or [pytest.param(None, marks=pytest.mark.skip(reason=f"no chapter notebooks yet ({NOTEBOOK_GLOB})"))],
)
def test_notebook_hygiene(notebook: Path) -> None:
    problems = hygiene_problems(notebook)
    assert not problems, f"{notebook.relative_to(ROOT)}:\n  " + "\n  ".join(problems)
