"""Tests of tools/notebooks.py: normalise, hygiene checks, parameters and atomic execution.

Notebooks are built in ``tmp_path`` with nbformat (a committed .ipynb fixture under
the book root would be picked up by the book build as a page).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python -m pytest` adds the root; plain `pytest` does not
    sys.path.insert(0, str(ROOT))

from tools import notebooks as nbt  # noqa: E402

# ------------------------------------------------------------------------- builders


def source_notebook() -> NotebookNode:
    """An unexecuted notebook following the book's conventions."""
    params = new_code_cell("n = 2\nscale = 0.5", metadata={"tags": ["parameters"]})
    result = new_code_cell(
        "import os\nprint(os.path.basename(os.getcwd()), n * scale)",
        metadata={"tags": ["nbval-check-output"]},
    )
    nb = new_notebook(cells=[new_markdown_cell("# Tiny"), params, result])
    nb.metadata.kernelspec = dict(nbt.KERNELSPEC)
    nb.metadata.language_info = {"name": "python"}
    return nb


def clean_notebook() -> NotebookNode:
    """``source_notebook`` as a fresh run would leave it: counts 1..n and outputs."""
    nb = source_notebook()
    nb.cells[1].execution_count = 1
    nb.cells[2].execution_count = 2
    nb.cells[2].outputs = [new_output("stream", name="stdout", text="ch 1.0\n")]
    return nb


def write(nb: NotebookNode, path: Path) -> Path:
    """Write ``nb`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def stdout_cell(text: str) -> NotebookNode:
    """An executed code cell printing ``text``."""
    return new_code_cell("print(...)", execution_count=3, outputs=[new_output("stream", name="stdout", text=text)])


# -------------------------------------------------------------------------- hygiene


def test_clean_notebook_has_no_problems(tmp_path: Path) -> None:
    assert nbt.hygiene_problems(write(clean_notebook(), tmp_path / "nb.ipynb")) == []


def _set_count(nb: NotebookNode) -> None:
    nb.cells[2].execution_count = 5


def _unexecuted(nb: NotebookNode) -> None:
    nb.cells[2].execution_count = None


def _empty_cell(nb: NotebookNode) -> None:
    nb.cells.append(new_code_cell(""))


def _error_output(nb: NotebookNode) -> None:
    nb.cells[2].outputs.append(new_output("error", ename="ValueError", evalue="boom", traceback=[]))


def _cell_metadata(key: str) -> Callable[[NotebookNode], None]:
    return lambda nb: nb.cells[1].metadata.update({key: {"end_time": "2026-01-01T00:00:00Z"}})


def _notebook_metadata(key: str) -> Callable[[NotebookNode], None]:
    return lambda nb: nb.metadata.update({key: {}})


def _python_version(nb: NotebookNode) -> None:
    nb.metadata.language_info["version"] = "3.11.7"


def _path_in_output(text: str) -> Callable[[NotebookNode], None]:
    return lambda nb: nb.cells.append(stdout_cell(text))


def _path_in_html(nb: NotebookNode) -> None:
    data = {"text/html": "<b>/work/main/data.csv</b>", "text/plain": "x"}
    nb.cells[2].outputs.append(new_output("display_data", data=data))


def _no_parameters(nb: NotebookNode) -> None:
    nb.cells[1].metadata.tags = []


def _two_parameters(nb: NotebookNode) -> None:
    nb.cells[2].metadata.tags = ["parameters", "nbval-check-output"]


def _no_checked_cell(nb: NotebookNode) -> None:
    nb.cells[2].metadata.tags = []


def _checked_cell_without_output(nb: NotebookNode) -> None:
    nb.cells[2].outputs = []


def _checked_cell_ends_with_semicolon(nb: NotebookNode) -> None:
    nb.cells[2].source = "print(1)\nsummary(x);  # hide the return value"


def _wrong_kernel(nb: NotebookNode) -> None:
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _injected(nb: NotebookNode) -> None:
    cell = new_code_cell("# Parameters\nn = 3\n", execution_count=2, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(2, cell)
    nb.cells[3].execution_count = 3


def _too_large(nb: NotebookNode) -> None:
    nb.cells[2].outputs.append(new_output("stream", name="stdout", text="x" * 1_600_000))


DEFECTS = {
    "wrong execution count": (_set_count, r"cell 3 .*execution_count is 5, expected 2"),
    "unexecuted cell": (_unexecuted, r"cell 3 .*execution_count is None, expected 2"),
    "empty code cell": (_empty_cell, r"cell 4 .*empty code cell"),
    "error output": (_error_output, r"cell 3 .*error output ValueError: boom"),
    "papermill cell metadata": (_cell_metadata("papermill"), r"cell 2 .*volatile cell metadata papermill"),
    "execution cell metadata": (_cell_metadata("execution"), r"cell 2 .*volatile cell metadata execution"),
    "ExecuteTime cell metadata": (_cell_metadata("ExecuteTime"), r"cell 2 .*volatile cell metadata ExecuteTime"),
    "papermill notebook metadata": (_notebook_metadata("papermill"), r"volatile notebook metadata papermill"),
    "widgets notebook metadata": (_notebook_metadata("widgets"), r"volatile notebook metadata widgets"),
    "python version": (_python_version, r"volatile notebook metadata language_info.version"),
    "/root path": (_path_in_output("saved to /root/x.pt\n"), r"cell 4 .*machine-specific path '/root/x.pt'"),
    "/home path": (_path_in_output("/home/ann/book\n"), r"machine-specific path '/home/ann/book'"),
    "/tmp path": (_path_in_output("cache in /tmp/abc\n"), r"machine-specific path '/tmp/abc'"),
    "/work path": (_path_in_output("/work/main/chapters\n"), r"machine-specific path '/work/main/chapters'"),
    "/Users path": (_path_in_output("/Users/ann/x\n"), r"machine-specific path '/Users/ann/x'"),
    "site-packages": (_path_in_output("lib/python3.11/site-packages/torch: w\n"), r"specific path .*site-packages"),
    "windows path": (_path_in_output("C:\\Users\\ann\\x\n"), r"machine-specific path 'C:"),
    "path in html": (_path_in_html, r"cell 3 .*machine-specific path '/work/main/data.csv</b>'"),
    "no parameters cell": (_no_parameters, r"0 cells tagged 'parameters' \(none\), expected exactly 1"),
    "two parameters cells": (_two_parameters, r"2 cells tagged 'parameters' \(cell 2 .*cell 3 .*\)"),
    "no checked cell": (_no_checked_cell, r"no cell tagged 'nbval-check-output'"),
    "checked cell without output": (_checked_cell_without_output, r"cell 3 .*no output to compare"),
    "checked cell ends with ';'": (_checked_cell_ends_with_semicolon, r"cell 3 .*ends with ';'.*nbval issue #194"),
    "wrong kernel": (_wrong_kernel, r"kernelspec name is 'python3', expected 'flowapprox'"),
    "injected parameters": (_injected, r"cell 3 .*'injected-parameters' cell"),
    "too large": (_too_large, r"file is 1\.\d\d MB, over the 1\.5 MB limit"),
}


@pytest.mark.parametrize(("defect", "expected"), DEFECTS.values(), ids=DEFECTS.keys())
def test_each_defect_is_reported(tmp_path: Path, defect: Callable[[NotebookNode], None], expected: str) -> None:
    nb = clean_notebook()
    defect(nb)
    problems = nbt.hygiene_problems(write(nb, tmp_path / "nb.ipynb"))
    assert len(problems) == 1, problems
    assert re.search(expected, problems[0]), problems[0]


@pytest.mark.parametrize(
    "text",
    [
        "see https://example.org/home/page and file://x\n",
        "relative data/tmp/run.csv and ~/notes\n",
        "loss 0.25 after 10 steps\n",
    ],
)
def test_no_false_positive_paths(tmp_path: Path, text: str) -> None:
    nb = clean_notebook()
    nb.cells.append(stdout_cell(text))
    assert nbt.hygiene_problems(write(nb, tmp_path / "nb.ipynb")) == []


def test_base64_images_are_not_scanned_for_paths(tmp_path: Path) -> None:
    nb = clean_notebook()
    image = {"image/png": "iVBORw0K/tmp/Gg/home/AAAA==", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    nb.cells[2].outputs.append(new_output("display_data", data=image))
    assert nbt.hygiene_problems(write(nb, tmp_path / "nb.ipynb")) == []


def test_unreadable_notebook_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json", encoding="utf-8")
    [problem] = nbt.hygiene_problems(path)
    assert problem.startswith("not a valid notebook")


def test_check_command_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(clean_notebook(), tmp_path / "good.ipynb")
    bad_nb = clean_notebook()
    _wrong_kernel(bad_nb)
    bad = write(bad_nb, tmp_path / "bad.ipynb")
    assert nbt.main(["check", str(good)]) == 0
    assert nbt.main(["check", str(good), str(bad)]) == 1
    assert "bad.ipynb: kernelspec name is 'python3'" in capsys.readouterr().out


# ------------------------------------------------------------------------ normalise


def papermill_style(nb: NotebookNode) -> NotebookNode:
    """``nb`` with the volatile metadata a papermill run in JupyterLab leaves behind."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.papermill = {"duration": 0.01, "status": "completed"}
        cell.metadata.execution = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
        cell.metadata.ExecuteTime = {"end_time": "2026-01-01T00:00:00Z"}
    nb.metadata.papermill = {"parameters": {}, "duration": 1.0}
    nb.metadata.widgets = {"application/vnd.jupyter.widget-state+json": {}}
    nb.metadata.language_info["version"] = "3.11.7"
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_normalise_strips_volatile_metadata_and_keeps_the_rest() -> None:
    expected = clean_notebook()
    nb = nbt.normalise(papermill_style(expected))
    assert nb == expected  # tags, outputs, execution counts and ids untouched
    assert nb.metadata.kernelspec == nbt.KERNELSPEC


def test_normalise_file_is_idempotent_and_keeps_the_mode(tmp_path: Path) -> None:
    path = write(papermill_style(clean_notebook()), tmp_path / "nb.ipynb")
    path.chmod(0o644)
    assert nbt.normalise_file(path) is True
    first = path.read_bytes()
    assert nbt.normalise_file(path) is False
    assert path.read_bytes() == first
    assert path.stat().st_mode & 0o777 == 0o644
    assert nbt.hygiene_problems(path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["nb.ipynb"]


def test_strip_is_an_alias_of_normalise(tmp_path: Path) -> None:
    path = write(papermill_style(clean_notebook()), tmp_path / "nb.ipynb")
    assert nbt.main(["strip", str(path)]) == 0
    assert nbt.hygiene_problems(path) == []


def test_atomic_write_failure_leaves_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "nb.ipynb"
    target.write_text("original", encoding="utf-8")
    with pytest.raises(TypeError):
        nbt.atomic_write_text(target, None)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["nb.ipynb"]


# ----------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("0.5", 0.5),
        ("1e-3", 1e-3),
        ("true", True),
        ("True", True),
        ("null", None),
        ("[16, 32]", [16, 32]),
        ("rk4", "rk4"),
        ("2024-01-01", "2024-01-01"),
        ("", ""),
    ],
)
def test_parameter_values_are_parsed_like_yaml(text: str, value: object) -> None:
    assert nbt.parse_parameter_value(text) == value


def test_unparsable_parameter_value_is_rejected() -> None:
    with pytest.raises(nbt.NotebookToolError, match="cannot parse parameter value '\\[1,'"):
        nbt.parse_parameter_value("[1,")


def test_unknown_parameter_is_rejected_before_execution(tmp_path: Path) -> None:
    path = write(source_notebook(), tmp_path / "nb.ipynb")
    with pytest.raises(nbt.NotebookToolError, match=r"unknown parameter\(s\) nn; valid names: n, scale"):
        nbt.check_parameter_names(path, {"nn": 3})
    nbt.check_parameter_names(path, {"n": 3, "scale": 1.0})


def test_cli_rejects_unknown_parameter_without_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(source_notebook(), tmp_path / "ch" / "nb.ipynb")
    before = path.read_bytes()
    status = nbt.main(
        [
            "execute",
            str(path),
            "-p",
            "nn",
            "3",
            "--report",
            str(tmp_path / "r.json"),
            "--runs-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert status == 2
    assert "unknown parameter(s) nn; valid names: n, scale" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert not (tmp_path / "runs").exists() and not (tmp_path / "r.json").exists()


def test_default_parameters_keep_their_types(tmp_path: Path) -> None:
    nb = source_notebook()
    nb.cells[1].source = 'n = 2**3  # a power of two\nxs = [float(t) for t in range(2)]\nname = "a"'
    path = write(nb, tmp_path / "nb.ipynb")
    assert nbt.default_parameters(path) == {"n": 8, "xs": [0.0, 1.0], "name": "a"}


def fidelity_notebook(tmp_path: Path) -> Path:
    nb = source_notebook()
    nb.cells[1].source = 'fidelity = "fast"  # or "full"\nn = 2  # full: 20\nscale = 0.5'
    nb.cells[1].metadata["flowapprox"] = {"fidelity": {"full": {"n": 20}}}
    return write(nb, tmp_path / "ch" / "nb.ipynb")


def test_fidelity_refuses_explicit_values_it_would_override(tmp_path: Path) -> None:
    path = fidelity_notebook(tmp_path)
    with pytest.raises(nbt.NotebookToolError, match=r"fidelity='full' sets n=20; passing n as well"):
        nbt.check_fidelity(path, {"fidelity": "full", "n": 3})
    nbt.check_fidelity(path, {"fidelity": "full", "scale": 1.0})  # not set by the level
    nbt.check_fidelity(path, {"n": 3})  # default fidelity: explicit values are honoured
    nbt.check_fidelity(path, {"fidelity": "fast", "n": 3})


def test_cli_refuses_fidelity_clash_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = fidelity_notebook(tmp_path)
    runs = tmp_path / "runs"
    status = nbt.main(["execute", str(path), "-p", "fidelity", "full", "-p", "n", "3", "--runs-dir", str(runs)])
    assert status == 2
    assert "fidelity='full' sets n=20" in capsys.readouterr().err
    assert not runs.exists()


def test_notebook_without_parameters_cell_says_so(tmp_path: Path) -> None:
    nb = source_notebook()
    _no_parameters(nb)
    path = write(nb, tmp_path / "nb.ipynb")
    with pytest.raises(nbt.NotebookToolError, match="valid names: none \\(no cell tagged 'parameters'\\)"):
        nbt.check_parameter_names(path, {"n": 1})


# ------------------------------------------------------------------------ execution


@pytest.fixture(scope="session")
def flowapprox_kernel() -> None:
    """Make sure the flowapprox kernelspec exists (register it into this environment if not)."""
    try:
        KernelSpecManager().get_kernel_spec(nbt.KERNEL_NAME)
        return
    except NoSuchKernel:
        pass
    command = [
        sys.executable,
        "-m",
        "ipykernel",
        "install",
        "--sys-prefix",
        "--name",
        nbt.KERNEL_NAME,
        "--display-name",
        nbt.KERNELSPEC["display_name"],
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot register the {nbt.KERNEL_NAME!r} kernel: {result.stderr.strip()}")


def test_execute_replaces_notebook_atomically(flowapprox_kernel: None, tmp_path: Path) -> None:
    path = write(source_notebook(), tmp_path / "ch" / "nb.ipynb")
    report = tmp_path / "report.json"
    [record] = nbt.execute_all([path], {}, report_path=report, runs_dir=tmp_path / "runs")

    assert record.status == "ok" and record.seconds > 0
    assert [p.name for p in path.parent.iterdir()] == ["nb.ipynb"]  # no temp file left
    assert nbt.hygiene_problems(path) == []  # counts 1..n, normalised, no paths
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[2].outputs[0].text == "ch 1.0\n"  # ran in the notebook's folder
    written = json.loads(report.read_text())
    assert set(written) == {"finished_utc", "parameters", "environment", "notebooks"}
    assert "platform" not in written["environment"] and "cpu" in written["environment"]
    assert written["notebooks"][0] == {
        "notebook": str(path),
        "seconds": record.seconds,
        "parameters": {},
        "status": "ok",
        "output": str(path),
        "error": None,
    }
    assert not (tmp_path / "runs").exists()


def test_failing_notebook_is_left_byte_identical(
    flowapprox_kernel: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = source_notebook()
    nb.cells.append(new_code_cell("raise ValueError('boom')"))
    failing = write(nb, tmp_path / "ch" / "failing.ipynb")
    good = write(source_notebook(), tmp_path / "ch" / "good.ipynb")
    before = failing.read_bytes()

    status = nbt.main(["execute", str(failing), str(good), "--report", str(tmp_path / "r.json")])

    assert status == 1
    assert failing.read_bytes() == before
    assert sorted(p.name for p in failing.parent.iterdir()) == ["failing.ipynb", "good.ipynb"]
    assert nbt.hygiene_problems(good) == []  # the rest still ran after the failure
    failed, ok = json.loads((tmp_path / "r.json").read_text())["notebooks"]
    assert (failed["status"], ok["status"]) == ("failed", "ok")
    assert failed["error"].startswith("ValueError: boom")
    captured = capsys.readouterr()
    assert "FAILED" in captured.err and "failing.ipynb" in captured.err
    assert re.search(r"^total +\d+\.\d +1 failed$", captured.out, re.MULTILINE)


def test_parametrised_runs_get_one_directory_each(flowapprox_kernel: None, tmp_path: Path) -> None:
    path = write(source_notebook(), tmp_path / "ch" / "nb.ipynb")
    before = path.read_bytes()
    runs = tmp_path / "runs"

    assert nbt.main(["execute", str(path), "-p", "n", "4", "--runs-dir", str(runs)]) == 0
    assert nbt.main(["execute", str(path), "-p", "n", "5", "--runs-dir", str(runs)]) == 0

    assert path.read_bytes() == before
    first, second = sorted(runs.iterdir())  # the second run did not overwrite the first
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-ch--nb(-\d+)?", d.name) for d in (first, second))
    for run_dir, n in ((first, 4), (second, 5)):
        assert sorted(p.name for p in run_dir.iterdir()) == ["ch--nb.ipynb", "execution-report.json"]
        run = nbformat.read(run_dir / "ch--nb.ipynb", as_version=4)
        assert run.cells[2].metadata.tags == ["injected-parameters"]
        assert run.cells[3].outputs[0].text == f"ch {n * 0.5}\n"
        report = json.loads((run_dir / "execution-report.json").read_text())  # not the book's report
        [record] = report["notebooks"]
        assert (record["status"], record["parameters"], report["parameters"]) == ("ok", {"n": n}, {"n": n})


def test_run_names_distinguish_chapters(tmp_path: Path) -> None:
    a = write(source_notebook(), tmp_path / "01-a" / "experiments.ipynb")
    b = write(source_notebook(), tmp_path / "02-b" / "experiments.ipynb")
    assert (nbt.run_name(a), nbt.run_name(b)) == ("01-a--experiments", "02-b--experiments")
    import datetime

    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    dirs = [nbt.new_run_dir(tmp_path / "runs", [a], now) for _ in range(3)]
    assert [d.name for d in dirs] == ["20260102T030405Z-01-a--experiments",
                                      "20260102T030405Z-01-a--experiments-2",
                                      "20260102T030405Z-01-a--experiments-3"]
    assert nbt.new_run_dir(tmp_path / "runs", [a, b], now).name == "20260102T030405Z"


def test_in_place_run_of_some_notebooks_keeps_the_books_report(
    flowapprox_kernel: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book_report = tmp_path / "book-report.json"
    monkeypatch.setattr(nbt, "DEFAULT_REPORT", book_report)
    path = write(source_notebook(), tmp_path / "ch" / "nb.ipynb")
    assert nbt.main(["execute", str(path), "--runs-dir", str(tmp_path / "runs")]) == 0
    assert not book_report.exists()
    [run_dir] = (tmp_path / "runs").iterdir()
    assert [p.name for p in run_dir.iterdir()] == ["execution-report.json"]
    assert nbt.hygiene_problems(path) == []  # executed in place


# ---------------------------------------------------------------- report and sanitize


def test_time_table_is_aligned_with_total() -> None:
    records = [
        nbt.RunRecord("chapters/01-a/long-name.ipynb", 12.345, {}, "ok", "x"),
        nbt.RunRecord("chapters/02-b/b.ipynb", 1.0, {}, "failed", "y", "ValueError: boom"),
    ]
    lines = nbt.format_times(records).splitlines()
    col = lines[0].index("status")
    assert [line[col:] for line in lines] == ["status", "------", "ok", "failed", "1 failed"]
    assert [line[:col].split()[-1] for line in lines] == ["seconds", "--------", "12.3", "1.0", "13.3"]
    assert all(line[col - 2 : col] == "  " for line in lines)  # seconds right-aligned in one column


def test_sanitize_file_patterns() -> None:
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((ROOT / "tests" / "nbval-sanitize.cfg").read_text())
    text = (
        "<Flow object at 0x7f3a9c2b1d30>\n"
        "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ...\n"
        "error 1.23e-07\n"
    )
    for regex, replacement in patterns:
        text = re.sub(regex, replacement, text)
    assert text == "<Flow object at 0xADDRESS>\nerror 1.23e-07\n"


def test_normalise_merges_consecutive_stream_outputs() -> None:
    """How a kernel splits printed text into messages depends on timing; normalise undoes it."""
    nb = clean_notebook()
    nb.cells[2].outputs = [
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stdout", text="b\n"),
        new_output("stream", name="stderr", text="w\n"),
    ]
    outputs = nbt.normalise(nb).cells[2].outputs
    assert [(o.name, o.text) for o in outputs] == [("stdout", "a\nb\n"), ("stderr", "w\n")]


# ------------------------------------------------------------------ book extension


def test_every_labelled_result_has_a_title_for_the_proof_index() -> None:
    """The proof index lists "Kind: title" (tools/book_ext.py), so every labelled result needs one."""
    from tools import book_ext

    found = {}
    for page in sorted(ROOT.glob("chapters/*/index.md")):
        found.update(book_ext.proof_titles(page.read_text(encoding="utf-8")))
    assert found, "no labelled prf directives found"
    untitled = sorted(label for label, (_, title) in found.items() if not title)
    assert not untitled, f"labelled results without a title: {untitled}"


def test_proof_titles_parse_both_fence_styles() -> None:
    from tools import book_ext

    source = ("```{prf:theorem} Flow maps are homeomorphisms\n:label: thm-a\n:nonumber:\n\ntext\n```\n"
              ":::{prf:definition}\n:label: def-b\nbody\n:::\n")
    assert book_ext.proof_titles(source) == {"thm-a": ("theorem", "Flow maps are homeomorphisms"),
                                            "def-b": ("definition", "")}


def test_kernels_run_over_ipc_without_the_tcp_warning(
    flowapprox_kernel: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`make book` used to print ipykernel's unencrypted-TCP warning once per notebook."""
    path = write(source_notebook(), tmp_path / "ch" / "nb.ipynb")
    nbt.execute_notebook(path, path, {})
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
    assert nbformat.read(path, as_version=4).cells[2].outputs[0].text == "ch 1.0\n"
    assert [p.name for p in path.parent.iterdir()] == ["nb.ipynb"]  # no IPC socket files left


def test_appendix_parameter_types_come_from_the_cell(tmp_path: Path) -> None:
    from tools import book_ext

    nb = source_notebook()
    nb.cells[1].source = "n = 2**3  # points\nts = [float(t) for t in range(3)]\nname = 'a'"
    path = write(nb, tmp_path / "nb.ipynb")
    values = book_ext._parameter_values(path)
    no_decl = {"inferred_type_name": "None", "default": "?"}
    assert [book_ext._type_name(no_decl, values[k]) for k in ("n", "ts", "name")] == [
        "int", "list[float]", "str"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("010", "leading zero"),
        ("1:30", "sexagesimal"),
        ("off", "ambiguous parameter value 'off'"),
        ("Yes", "ambiguous parameter value 'Yes'"),
        ("0x10", "hexadecimal"),
        ("1_000", "underscores"),
        (".inf", "finite"),
        ("nan", "finite"),
    ],
)
def test_yaml_surprises_in_parameter_values_are_refused(text: str, match: str) -> None:
    with pytest.raises(nbt.NotebookToolError, match=match):
        nbt.parse_parameter_value(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("-3", -3), ("false", False), ('"off"', "off"), ("'010'", "010"),
     ('{"a": 1}', {"a": 1}), ("['a', 2]", ["a", 2]), ("1.", 1.0), (".5", 0.5)],
)
def test_strict_parameter_values(text: str, value: object) -> None:
    assert nbt.parse_parameter_value(text) == value


def test_ledger_reads_past_a_notebook_that_is_not_json(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A broken notebook is reported by name and skipped (the strict build then fails cleanly)."""
    from tools import book_ext

    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json", encoding="utf-8")
    warned: list[str] = []
    book_ext.logger.warning = lambda msg, *a, **k: warned.append(msg)  # type: ignore[method-assign]
    try:
        assert book_ext.read_claims(broken) == []
        assert book_ext.read_environment(broken) is None
        assert book_ext._parameter_values(broken) == {}
    finally:
        del book_ext.logger.warning
    assert warned and all(str(broken) in w for w in warned)


def test_ledger_says_what_would_make_a_claim_fail() -> None:
    from flowapprox.claims import failure_condition

    assert failure_condition("value <= 1") == "fails if value > 1"
    assert failure_condition("0.5 <= value <= 2") == "fails if value < 0.5 or value > 2"
