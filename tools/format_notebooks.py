"""Format the code cells of the book's notebooks to the page width (88 characters).

Runs ``ruff format --line-length 88`` over the notebooks (it rewrites only code cells'
sources and keeps outputs, metadata and the file's JSON layout), then lists the lines it
could not shorten (long strings and comments), which are wrapped by hand::

    .venv/bin/python tools/format_notebooks.py [--check] [NOTEBOOK ...]
    make format-notebooks [NB=path]

Without paths it formats every chapter notebook and ``start-here.ipynb``. The exit status
is 1 if a line is still too long (or, with ``--check``, if a notebook would change).

The ``parameters`` cell is checked first and never reformatted while it has a long line:
papermill takes a parameter's help text (the book's parameters tables) from the comment
on the line of its assignment, and the formatter would move such a comment into
parentheses of its own, where papermill drops it. Shorten those comments by hand.

Formatting changes no computation (ruff's formatter preserves the syntax tree); re-execute
a formatted notebook (``tools/notebooks.py execute``) and check that ``git diff`` shows
no change of outputs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.notebooks import discover_notebooks  # noqa: E402

#: Width of a code line in a notebook (tests/test_notebook_hygiene.py checks it).
LINE_LENGTH = 88
START_HERE = ROOT / "start-here.ipynb"


def default_notebooks() -> list[Path]:
    """Every chapter notebook, then ``start-here.ipynb`` if present."""
    return discover_notebooks(ROOT) + ([START_HERE] if START_HERE.exists() else [])


def long_lines(path: Path, *, parameters_only: bool = False) -> list[str]:
    """``'path cell i: line'`` for each code line longer than :data:`LINE_LENGTH`."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if parameters_only and "parameters" not in cell.metadata.get("tags", []):
            continue
        for line in cell.source.splitlines():
            if len(line) > LINE_LENGTH:
                found.append(f"{_display(path)} cell {index} ({len(line)}): {line.strip()}")
    return found


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def ruff_format(paths: Sequence[Path], *, check: bool = False) -> int:
    """Run ``ruff format`` (the environment's ruff) on ``paths``; its exit status."""
    command = [sys.executable, "-m", "ruff", "format", "--line-length", str(LINE_LENGTH)]
    command += ["--check"] if check else []
    return subprocess.run([*command, *map(str, paths)], cwd=ROOT, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook")
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or default_notebooks()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    parameters = [line for p in paths for line in long_lines(p, parameters_only=True)]
    if parameters:
        print(f"parameters cells with lines over {LINE_LENGTH} characters; shorten their "
              "comments by hand (papermill reads a parameter's help from its line):")
        print("  " + "\n  ".join(parameters))
        return 1
    status = ruff_format(paths, check=args.check)
    remaining = [line for p in paths for line in long_lines(p)]
    if remaining:
        print(f"lines over {LINE_LENGTH} characters the formatter cannot shorten "
              "(wrap these strings and comments by hand):")
        print("  " + "\n  ".join(remaining))
    return 1 if (remaining or status) else 0


if __name__ == "__main__":
    sys.exit(main())
