"""Tests of tools/format_notebooks.py (``make format-notebooks``) on notebooks in tmp_path."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python -m pytest` adds the root; plain `pytest` does not
    sys.path.insert(0, str(ROOT))

from tools import format_notebooks as fmt  # noqa: E402
from tools.notebooks import KERNELSPEC  # noqa: E402

PARAMETERS = "seed = 0  # seed of the draws\nsizes = [1, 2]  # a list parameter"
LONG_CALL = ("result = dict(alpha=1.0, beta=2.0, gamma=3.0, delta=4.0, epsilon=5.0, "
             "zeta=6.0, eta=7.0, theta=8.0, iota=9.0)")
assert len(LONG_CALL) > 88
LONG_STRING = 'print("' + "word " * 20 + '")'


def write(folder: Path, *sources: str, parameters: str = PARAMETERS) -> Path:
    cells = [new_markdown_cell("# Tiny"),
             new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(s, outputs=[new_output("stream", name="stdout", text="kept\n")])
              for s in sources]
    path = folder / "nb.ipynb"
    nb = new_notebook(cells=cells)
    nb.metadata.kernelspec = dict(KERNELSPEC)
    nbformat.write(nb, path)
    return path


def codes(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_long_code_is_wrapped_and_nothing_else_changes(tmp_path: Path) -> None:
    path = write(tmp_path, LONG_CALL, "glue_me = 1\n%matplotlib inline")
    before = nbformat.read(path, as_version=4)
    assert fmt.main([str(path)]) == 0
    after = nbformat.read(path, as_version=4)
    assert all(len(line) <= fmt.LINE_LENGTH for s in codes(path) for line in s.splitlines())
    assert codes(path)[1] != LONG_CALL  # wrapped, with the same syntax tree
    assert ast.dump(ast.parse(codes(path)[1])) == ast.dump(ast.parse(LONG_CALL))
    assert "%matplotlib inline" in codes(path)[2]
    assert [c.get("outputs") for c in after.cells] == [c.get("outputs") for c in before.cells]
    assert codes(path)[0] == before.cells[1].source  # the parameters cell
    assert fmt.main(["--check", str(path)]) == 0


def test_lines_the_formatter_cannot_shorten_are_listed(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, LONG_STRING)
    assert fmt.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "wrap these strings and comments by hand" in out and "nb.ipynb cell 2" in out


def test_a_long_parameters_line_is_refused_before_formatting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = "n_points = 256  # " + "a very long description of this parameter " * 2 + "\n"
    path = write(tmp_path, LONG_CALL, parameters=long)
    text = path.read_text()
    assert fmt.main([str(path)]) == 1
    assert "shorten their comments by hand" in capsys.readouterr().out
    assert path.read_text() == text  # nothing was formatted
    # Why: the formatter would wrap the value in parentheses and papermill lose the help.
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = "n_points = (\n    256  # the help\n)"
    nbformat.write(nb, path)
    assert papermill.inspect_notebook(str(path))["n_points"]["help"] == ""


def test_check_mode_reports_without_writing(tmp_path: Path) -> None:
    path = write(tmp_path, LONG_CALL)
    text = path.read_text()
    assert fmt.main(["--check", str(path)]) == 1
    assert path.read_text() == text


def test_missing_notebook_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        fmt.main([str(tmp_path / "missing.ipynb")])
    assert exit_info.value.code == 2


def test_default_notebooks_are_the_chapters_and_start_here() -> None:
    names = [p.relative_to(ROOT).as_posix() for p in fmt.default_notebooks()]
    assert names[-1] == "start-here.ipynb"
    assert all(n.startswith("chapters/") for n in names[:-1]) and len(names) > 1
