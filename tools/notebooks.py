"""Execute, normalise and check the book's chapter notebooks.

Usage (from the repository root; ``make`` wraps the common cases)::

    python tools/notebooks.py execute [NOTEBOOK ...] [-p NAME VALUE ...] [--report PATH] [--runs-dir DIR]
    python tools/notebooks.py normalise NOTEBOOK ...      # alias: strip
    python tools/notebooks.py check [NOTEBOOK ...]
    python tools/notebooks.py times [--report PATH]
    python tools/notebooks.py figures [NOTEBOOK ...] [--out DIR]

Without notebook arguments, ``execute`` and ``check`` act on every chapter
notebook (``chapters/*/*.ipynb``, sorted). ``execute`` replaces each notebook
atomically by its executed, normalised version; with ``-p`` it writes to a new
run directory ``_build/runs/<UTC time>[-<chapter>--<stem>]/`` instead (one
directory per run, each executed copy named ``<chapter>--<stem>.ipynb``, with the
run's own ``execution-report.json``). A failing notebook is left untouched, the
others still run, and the exit status is 1. Exit status 2 means a usage error
(unknown parameter, a parameter that the chosen ``fidelity`` sets, missing file,
unregistered kernel) found before anything ran. Kernels talk to papermill over IPC
sockets in a private temporary folder (no unencrypted TCP, no warning).

Fidelity rule: a parameters cell may declare, in its metadata
``flowapprox.fidelity``, the values that a ``fidelity`` level sets, e.g.
``{"full": {"steps": 2000, "lr": 0.005}}``. Passing ``-p fidelity full``
together with one of those names is refused (the level would override it).

Conventions enforced here (see ``hygiene_problems``): committed notebooks are a
fresh top-to-bottom run (execution counts 1..n) with outputs, carry no volatile
metadata (papermill timings, execution timestamps, widget state, Python
version), use the ``flowapprox`` kernel, have exactly one ``parameters`` cell
and at least one ``nbval-check-output`` cell, and leak no machine paths.

The module is importable; ``main(argv)`` returns the exit status.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime
import json
import math
import os
import re
import sys
import tempfile
import time
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
from IPython.core.displayhook import DisplayHook
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbconvert.preprocessors import CoalesceStreamsPreprocessor
from papermill.exceptions import PapermillExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_GLOB = "chapters/*/*.ipynb"
#: Interactive explorers (chapters/*/explore.ipynb): opened in JupyterLab, never executed by
#: the tools, not pages of the book, committed without outputs (see explorer_problems).
EXPLORER_NAME = "explore.ipynb"
REPORT_NAME = "execution-report.json"
DEFAULT_REPORT = ROOT / "_build" / REPORT_NAME
DEFAULT_RUNS_DIR = ROOT / "_build" / "runs"

KERNEL_NAME = "flowapprox"
KERNELSPEC = {"name": KERNEL_NAME, "display_name": "Python (flowapprox)", "language": "python"}
REGISTER_KERNEL_HINT = (
    f".venv/bin/python -m ipykernel install --sys-prefix --name {KERNEL_NAME} "
    f'--display-name "{KERNELSPEC["display_name"]}"  (or run `make`, which does it)'
)

VOLATILE_CELL_METADATA = ("papermill", "execution", "ExecuteTime")
VOLATILE_NOTEBOOK_METADATA = ("papermill", "widgets")

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
CHECK_OUTPUT_TAG = "nbval-check-output"

MAX_NOTEBOOK_BYTES = 1_500_000
FIDELITY_KEY = "flowapprox"  # parameters-cell metadata: {"fidelity": {level: {name: value}}}

# Machine-specific absolute paths. The first look-behind keeps URLs
# (https://host/home/...) and relative paths (data/tmp/...) from matching; the
# second starts site-packages matches at a token start, which keeps the search
# linear in the length of the text.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.:/~-])/(?:root|home|tmp|work|Users|private/var)/\S*"
    r"|(?<!\S)\S*?(?:site|dist)-packages\S*"
    r"|\b[A-Z]:\\\S*"
)


class NotebookToolError(Exception):
    """A problem the user must fix; ``main`` prints it without a traceback."""


# --------------------------------------------------------------------------- paths


def discover_notebooks(root: Path = ROOT) -> list[Path]:
    """Return the chapter notebooks under ``root``, sorted (checkpoints are never matched).

    The explorers (``EXPLORER_NAME``) are not chapter notebooks: see :func:`discover_explorers`.
    """
    return sorted(p for p in root.glob(NOTEBOOK_GLOB)
                  if ".ipynb_checkpoints" not in p.parts and p.name != EXPLORER_NAME)


def discover_explorers(root: Path = ROOT) -> list[Path]:
    """Return the explorer notebooks ``chapters/*/explore.ipynb`` under ``root``, sorted."""
    return sorted(root.glob(f"chapters/*/{EXPLORER_NAME}"))


def display_path(path: Path) -> str:
    """Return ``path`` relative to the repository root when it lies inside it."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _where(index: int, cell: nbformat.NotebookNode) -> str:
    """Human-readable cell position: 1-based index plus the cell id when present."""
    cell_id = cell.get("id")
    return f"cell {index + 1}" + (f" (id {cell_id})" if cell_id else "")


# ---------------------------------------------------------------- normalise / write


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove volatile metadata from ``nb`` in place and return it.

    Drops the cell metadata keys in ``VOLATILE_CELL_METADATA`` and empty ``tags``
    lists (papermill adds them to every cell), the notebook metadata keys in
    ``VOLATILE_NOTEBOOK_METADATA`` and ``language_info.version``, and sets the
    kernelspec to the flowapprox one. Consecutive stream outputs of a cell are merged
    (nbconvert's ``CoalesceStreamsPreprocessor``): how a kernel splits printed text into
    messages depends on timing, which would otherwise make re-executed notebooks differ.
    Tags, outputs and execution counts are kept.
    """
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
    for key in VOLATILE_NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata.get("language_info", {}).pop("version", None)
    nb.metadata["kernelspec"] = nbformat.from_dict(dict(KERNELSPEC))
    return nb


def serialise(nb: nbformat.NotebookNode) -> str:
    """Serialise ``nb`` exactly as Jupyter saves it (one trailing newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically.

    The text goes to a temporary file in the same directory, which then replaces
    ``path`` with ``os.replace``: readers see the old or the new file, never a
    partial one, and on any error the temporary file is removed and ``path`` is
    untouched. The file mode of an existing ``path`` is preserved.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(_target_mode(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _target_mode(path: Path) -> int:
    """Mode for a file replacing ``path``: its current mode, else 0o666 minus the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def normalise_file(path: Path) -> bool:
    """Normalise the notebook at ``path`` in place; return whether the file changed."""
    original = Path(path).read_text(encoding="utf-8")
    text = serialise(normalise(nbformat.reads(original, as_version=4)))
    if text == original:
        return False
    atomic_write_text(Path(path), text)
    return True


# ------------------------------------------------------------------------- execute


@dataclass
class RunRecord:
    """Outcome of executing one notebook (one entry of the execution report)."""

    notebook: str
    seconds: float
    parameters: dict[str, Any]
    status: str  # "ok" or "failed"
    output: str
    error: str | None = None


_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?")
_WORDS = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}
#: Words that YAML 1.1 (papermill's ``-y``) reads as booleans although they look like strings.
_AMBIGUOUS_WORDS = {"yes", "no", "on", "off", "y", "n"}


def parse_parameter_value(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value strictly: a number, a word, a list or a string.

    Decimal integers (``3``), decimal floats (``0.5``, ``1e-3``), ``true``/``false``,
    ``null``, JSON or Python lists and dicts (``[16, 32]``), quoted strings and plain
    words (``rk4``, ``2024-01-01``, which stay strings). Values that YAML 1.1 would read
    surprisingly are refused with a message instead of being converted silently: leading
    zeros (``010`` is 8 in YAML 1.1), sexagesimal numbers (``1:30`` is 90), the boolean
    words ``yes``/``no``/``on``/``off``/``y``/``n``, and non-finite numbers. An empty value
    stays ``""``.
    """
    stripped = text.strip()
    if not stripped:
        return text
    if stripped in _WORDS:
        return _WORDS[stripped]
    if stripped.lower() in _AMBIGUOUS_WORDS:
        raise NotebookToolError(
            f"ambiguous parameter value {text!r}: write true or false for a boolean, or quote "
            f"it ('\"{stripped}\"') for a string"
        )
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        if re.fullmatch(r"[+-]?0[0-9]+", stripped):
            raise NotebookToolError(
                f"ambiguous parameter value {text!r}: an integer with a leading zero (YAML 1.1 "
                "reads 010 as the octal 8); write it without the leading zero, or quote it"
            )
        value = float(stripped)
        if not math.isfinite(value):
            raise NotebookToolError(f"parameter value {text!r} must be a finite number")
        return value
    if re.fullmatch(r"[+-]?[0-9][0-9_]*(:[0-9_]+)+(\.[0-9]*)?", stripped) or re.fullmatch(
        r"[+-]?(0[xXoObB][0-9a-fA-F_]+|[0-9]+_[0-9_]+)", stripped
    ):
        raise NotebookToolError(
            f"ambiguous parameter value {text!r}: YAML 1.1 would read it as a number "
            "(sexagesimal 1:30 = 90, hexadecimal, octal, underscores); write a plain decimal "
            "number, or quote it for a string"
        )
    if stripped.lower() in (".inf", "-.inf", "+.inf", ".nan", "inf", "-inf", "nan"):
        raise NotebookToolError(f"parameter value {text!r} must be a finite number")
    if stripped[0] in "[{":
        try:
            return json.loads(stripped)
        except ValueError:
            pass
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError) as exc:
            raise NotebookToolError(f"cannot parse parameter value {text!r}: {exc}") from exc
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    return text


def parse_parameters(pairs: Iterable[Sequence[str]] | None) -> dict[str, Any]:
    """Turn ``[(name, value), ...]`` from ``-p`` options into a parameter dict."""
    return {name: parse_parameter_value(value) for name, value in pairs or []}


def declared_parameters(path: Path) -> list[str]:
    """Names assigned in the notebook's ``parameters`` cell, as papermill sees them."""
    return list(papermill.inspect_notebook(str(path)))


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The first cell tagged ``parameters``, or None."""
    return next((c for c in nb.cells if PARAMETERS_TAG in c.metadata.get("tags", [])), None)


def assigned_names(source: str) -> list[str]:
    """Names assigned at top level in ``source`` (the Python reading of a parameters cell)."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def default_parameters(path: Path) -> dict[str, Any]:
    """The parameters cell's values with their Python types (``{"seed": 0, ...}``).

    The cell holds plain assignments (the book's convention), so it is executed in an
    empty namespace; papermill's own reading gives only strings.
    """
    cell = parameters_cell(nbformat.read(path, as_version=4))
    if cell is None:
        return {}
    namespace: dict[str, Any] = {}
    exec(compile(cell.source, f"{display_path(path)}:parameters", "exec"), namespace)  # noqa: S102
    return {name: namespace[name] for name in assigned_names(cell.source)}


def fidelity_presets(path: Path) -> dict[str, dict[str, Any]]:
    """``{level: {name: value}}`` that a ``fidelity`` level sets (parameters-cell metadata)."""
    cell = parameters_cell(nbformat.read(path, as_version=4))
    if cell is None:
        return {}
    return dict(cell.metadata.get(FIDELITY_KEY, {}).get("fidelity", {}))


def check_fidelity(path: Path, parameters: dict[str, Any]) -> None:
    """Refuse ``fidelity=LEVEL`` together with a parameter that the level sets.

    The notebook applies a level's values over the parameters cell, so an explicit value
    passed together with that level would be silently overridden. Raise
    ``NotebookToolError`` naming the parameters and the level's values instead.
    """
    level = parameters.get("fidelity")
    if level is None:
        return
    presets = fidelity_presets(path)
    clash = sorted(set(presets.get(str(level), {})) & set(parameters))
    if clash:
        values = ", ".join(f"{n}={presets[str(level)][n]!r}" for n in clash)
        raise NotebookToolError(
            f"{display_path(path)}: fidelity={level!r} sets {values}; passing "
            f"{', '.join(clash)} as well would be overridden. Pass either fidelity {level} "
            f"or explicit values (with the default fidelity), not both"
        )


def check_parameter_names(path: Path, parameters: dict[str, Any]) -> None:
    """Raise ``NotebookToolError`` unless every name in ``parameters`` is declared by ``path``."""
    if not parameters:
        return
    declared = declared_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if not unknown:
        return
    valid = ", ".join(declared) if declared else f"none (no cell tagged {PARAMETERS_TAG!r})"
    raise NotebookToolError(f"{display_path(path)}: unknown parameter(s) {', '.join(unknown)}; valid names: {valid}")


def require_kernel() -> None:
    """Raise ``NotebookToolError`` if the flowapprox kernelspec is not registered."""
    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise NotebookToolError(
            f"Jupyter kernel {KERNEL_NAME!r} is not registered; register it with:\n  {REGISTER_KERNEL_HINT}"
        ) from None


@contextlib.contextmanager
def _kernel_environment() -> Iterator[None]:
    """Prepare the kernel's environment for a reproducible, quiet run.

    Hide ``MPLBACKEND`` so ipykernel selects the inline backend (an inherited
    ``MPLBACKEND=Agg`` would make ``plt.show()`` silently produce no figure at all in
    the executed notebook), and switch off progress bars (``FLOWAPPROX_PROGRESS=0``,
    read by ``flowapprox.train``) unless the caller set it.
    """
    saved = os.environ.pop("MPLBACKEND", None)
    progress_was_set = "FLOWAPPROX_PROGRESS" in os.environ
    os.environ.setdefault("FLOWAPPROX_PROGRESS", "0")
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
        if not progress_was_set:
            os.environ.pop("FLOWAPPROX_PROGRESS", None)


@contextlib.contextmanager
def _ipc_kernel_config() -> Iterator[Any]:
    """Kernel-manager configuration: IPC sockets in a private temporary folder.

    Over TCP, ipykernel warns on every start that the connection is not encrypted; IPC
    sockets are files readable only by this user, and they are removed with the folder.
    """
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="flowapprox-kernel-") as folder:
        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(folder) / "kernel")
        yield config


def _papermill(path: Path, parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """Run ``path`` with papermill in its own folder and return the executed notebook."""
    with _kernel_environment(), _ipc_kernel_config() as config:
        return papermill.execute_notebook(
            str(path),
            None,  # papermill writes nothing; callers write the result atomically
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(Path(path).parent),
            progress_bar=False,
            config=config,
        )


def execute_notebook(path: Path, output: Path, parameters: dict[str, Any]) -> None:
    """Execute ``path`` with papermill, normalise the result, write it atomically to ``output``.

    The kernel runs in the notebook's own folder. On any exception nothing is written.
    """
    nb = _papermill(path, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, serialise(normalise(nb)))


def _describe_failure(exc: Exception) -> str:
    """One-line description of an execution failure."""
    if isinstance(exc, PapermillExecutionError):
        return f"{exc.ename}: {exc.evalue} (in execution count {exc.exec_count})"
    return f"{type(exc).__name__}: {exc}"


def run_name(path: Path) -> str:
    """``<chapter folder>--<stem>``: unique among the book's notebooks (three are ``experiments``)."""
    path = Path(path).resolve()
    return f"{path.parent.name}--{path.stem}"


def new_run_dir(runs_dir: Path, paths: Sequence[Path], now: datetime.datetime | None = None) -> Path:
    """Create and return a fresh directory for one run under ``runs_dir``.

    Named after the UTC time (``20260101T120000Z``), plus ``-<chapter>--<stem>`` for a
    single notebook and ``-2``, ``-3``, ... if the name is taken: runs never overwrite
    each other.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    base = now.strftime("%Y%m%dT%H%M%SZ") + (f"-{run_name(paths[0])}" if len(paths) == 1 else "")
    runs_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise NotebookToolError(f"cannot create a new run directory in {display_path(runs_dir)}")


def write_report(report_path: Path, records: Sequence[RunRecord], parameters: dict[str, Any]) -> None:
    """Write the execution report atomically: when, with what, in which environment, times."""
    from flowapprox.reproducibility import environment

    report = {
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "parameters": parameters,
        "environment": environment(),
        "notebooks": [asdict(r) for r in records],
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(report_path, json.dumps(report, indent=2, default=str) + "\n")


def validate_run(paths: Sequence[Path], parameters: dict[str, Any]) -> None:
    """Everything checked before a run starts: the kernel, parameter names, the fidelity rule."""
    require_kernel()
    for path in paths:
        check_parameter_names(path, parameters)
        check_fidelity(path, parameters)


def execute_all(
    paths: Sequence[Path],
    parameters: dict[str, Any],
    report_path: Path | None = DEFAULT_REPORT,
    runs_dir: Path = DEFAULT_RUNS_DIR,
    run_dir: Path | None = None,
) -> list[RunRecord]:
    """Execute ``paths`` in order and write the JSON report.

    Without parameters each notebook is replaced by its executed version. With
    parameters the executed copies go to a new run directory under ``runs_dir``
    (:func:`new_run_dir`; or ``run_dir``), named ``<chapter>--<stem>.ipynb``, and the committed
    notebooks are left alone. ``report_path`` None means the run directory's
    ``execution-report.json`` (a run directory is then created even without
    parameters). Parameter names and the fidelity rule are checked for every
    notebook before anything runs. A failing notebook is reported and left
    byte-identical, and the remaining notebooks are still executed. The report is
    written once, atomically, after the last notebook.
    """
    validate_run(paths, parameters)
    if run_dir is None and (parameters or report_path is None):
        run_dir = new_run_dir(runs_dir, paths)
    if report_path is None:
        assert run_dir is not None
        report_path = run_dir / REPORT_NAME

    records = []
    for path in paths:
        output = run_dir / f"{run_name(path)}.ipynb" if parameters and run_dir else path
        print(f"executing {display_path(path)} ...", flush=True)
        start = time.perf_counter()
        error: str | None = None
        try:
            execute_notebook(path, output, parameters)
        except Exception as exc:  # report it, keep going with the other notebooks
            print(f"FAILED {display_path(path)}: {exc}", file=sys.stderr, flush=True)
            error = _describe_failure(exc)
        else:
            note = f" -> {display_path(output)} (committed notebook unchanged)" if parameters else ""
            print(f"  ok{note}", flush=True)
        seconds = round(time.perf_counter() - start, 2)
        status = "failed" if error else "ok"
        records.append(RunRecord(display_path(path), seconds, parameters, status, display_path(output), error))

    write_report(report_path, records, parameters)
    return records


def report_entries(report: Any) -> list[dict[str, Any]]:
    """The per-notebook entries of a report (current format, or the older plain list)."""
    return list(report["notebooks"] if isinstance(report, dict) else report)


def format_times(records: Sequence[RunRecord | dict[str, Any]]) -> str:
    """Aligned table of per-notebook execution times with a total line."""
    rows = [asdict(r) if isinstance(r, RunRecord) else r for r in records]
    width = max([len("notebook"), len("total")] + [len(r["notebook"]) for r in rows])
    lines = [f"{'notebook':<{width}}  {'seconds':>8}  status", f"{'-' * width}  {'-' * 8}  ------"]
    lines += [f"{r['notebook']:<{width}}  {r['seconds']:>8.1f}  {r['status']}" for r in rows]
    total = sum(r["seconds"] for r in rows)
    failed = sum(r["status"] != "ok" for r in rows)
    lines.append(f"{'total':<{width}}  {total:>8.1f}  " + (f"{failed} failed" if failed else "all ok"))
    return "\n".join(lines)


# -------------------------------------------------------------------------- hygiene


def _read_valid(path: Path) -> nbformat.NotebookNode | str:
    """The notebook at ``path``, or why it is not a valid one."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # unreadable JSON or schema violation
        return f"not a valid notebook: {type(exc).__name__}: {exc}"
    return nb


def hygiene_problems(path: Path | str) -> list[str]:
    """Return every hygiene problem of the committed notebook at ``path`` ([] if clean).

    Each message names the cell (1-based index and id) where it applies.
    """
    path = Path(path)
    nb = _read_valid(path)
    if isinstance(nb, str):
        return [nb]
    size = path.stat().st_size
    problems = []
    if size > MAX_NOTEBOOK_BYTES:
        problems.append(
            f"file is {size / 1e6:.2f} MB, over the {MAX_NOTEBOOK_BYTES / 1e6:.1f} MB limit "
            "(shrink figures or printed output)"
        )
    return problems + _metadata_problems(nb) + _tag_problems(nb) + _execution_problems(nb, path) + _output_problems(nb)


def explorer_problems(path: Path | str) -> list[str]:
    """Return every problem of the committed explorer notebook at ``path`` ([] if clean).

    An explorer is committed *without outputs* (widget state is volatile and needs a
    kernel): no outputs, no execution counts, no ``parameters`` cell, the book's kernelspec
    and no volatile metadata; it builds a ``flowapprox.explorers`` widget.
    """
    nb = _read_valid(Path(path))
    if isinstance(nb, str):
        return [nb]
    problems = _metadata_problems(nb)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, c in code:
        if c.get("outputs") or c.execution_count is not None:
            problems.append(f"{_where(i, c)}: outputs or an execution count: commit explorers "
                            "without outputs (Edit > Clear Outputs of All Cells)")
        if not c.source.strip():
            problems.append(f"{_where(i, c)}: empty code cell: delete it")
        if PARAMETERS_TAG in c.metadata.get("tags", []):
            problems.append(f"{_where(i, c)}: an explorer has no {PARAMETERS_TAG!r} cell")
    if not any("fa.explorers." in c.source for _, c in code):
        problems.append("no cell calls a builder of flowapprox.explorers (fa.explorers.*)")
    return problems


def _metadata_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Wrong kernelspec and volatile metadata that ``normalise`` would remove."""
    hint = "run `python tools/notebooks.py normalise` on it"
    problems = []
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != KERNEL_NAME:
        problems.append(f"kernelspec name is {kernel!r}, expected {KERNEL_NAME!r}: {hint}")
    found = [k for k in VOLATILE_NOTEBOOK_METADATA if k in nb.metadata]
    if "version" in nb.metadata.get("language_info", {}):
        found.append("language_info.version")
    if found:
        problems.append(f"volatile notebook metadata {', '.join(found)}: {hint}")
    for index, cell in enumerate(nb.cells):
        keys = [k for k in VOLATILE_CELL_METADATA if k in cell.metadata]
        if keys:
            problems.append(f"{_where(index, cell)}: volatile cell metadata {', '.join(keys)}: {hint}")
    return problems


def _tag_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Exactly one ``parameters`` cell, no injected one, at least one useful checked cell."""

    def tagged(tag: str) -> list[tuple[int, nbformat.NotebookNode]]:
        return [(i, c) for i, c in enumerate(nb.cells) if tag in c.metadata.get("tags", [])]

    problems = []
    parameter_cells = tagged(PARAMETERS_TAG)
    if len(parameter_cells) != 1:
        where = ", ".join(_where(i, c) for i, c in parameter_cells) or "none"
        problems.append(f"{len(parameter_cells)} cells tagged {PARAMETERS_TAG!r} ({where}), expected exactly 1")
    for i, c in tagged(INJECTED_TAG):
        problems.append(
            f"{_where(i, c)}: papermill {INJECTED_TAG!r} cell: this is a parametrised run; "
            "commit a run with default parameters (`make book`)"
        )
    checked = tagged(CHECK_OUTPUT_TAG)
    if not checked:
        problems.append(f"no cell tagged {CHECK_OUTPUT_TAG!r}: tag the cells printing headline results")
    for i, c in checked:
        if c.cell_type == "code" and not c.get("outputs"):
            problems.append(f"{_where(i, c)}: tagged {CHECK_OUTPUT_TAG!r} but has no output to compare")
        if c.cell_type == "code" and _ends_with_semicolon(c.source):
            problems.append(
                f"{_where(i, c)}: tagged {CHECK_OUTPUT_TAG!r} and ends with ';': under nbval the result "
                "is displayed anyway (nbval issue #194) and the comparison fails; "
                "end the cell with a statement such as `_ = ...`"
            )
    return problems


def _ends_with_semicolon(source: str) -> bool:
    """Whether IPython would suppress the cell's result because its last token is ';'."""
    try:
        return DisplayHook.semicolon_at_end_of_expression(source)
    except (SyntaxError, tokenize.TokenError):  # magics or unfinished code: judge the text
        return source.rstrip().endswith(";")


def _execution_problems(nb: nbformat.NotebookNode, path: Path) -> list[str]:
    """Code cells must be non-empty and numbered 1..n: a fresh top-to-bottom run."""
    problems = []
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, c in code:
        if not c.source.strip():
            problems.append(f"{_where(i, c)}: empty code cell (it is never executed): delete it")
    executed = [(i, c) for i, c in code if c.source.strip()]
    for expected, (i, c) in enumerate(executed, start=1):
        if c.execution_count != expected:
            problems.append(
                f"{_where(i, c)}: execution_count is {c.execution_count}, expected {expected}: "
                f"not a fresh top-to-bottom run; run `python tools/notebooks.py execute {display_path(path)}`"
            )
            break  # later counts are off too; one message is enough
    return problems


def _output_problems(nb: nbformat.NotebookNode) -> list[str]:
    """No error outputs and no machine-specific absolute paths in any output text."""
    problems = []
    for index, cell in enumerate(nb.cells):
        outputs = cell.get("outputs", [])
        for output in outputs:
            if output.output_type == "error":
                problems.append(f"{_where(index, cell)}: error output {output.ename}: {output.evalue}")
        texts = (text for output in outputs for text in _output_texts(output))
        match = next(filter(None, map(ABSOLUTE_PATH.search, texts)), None)
        if match:
            problems.append(
                f"{_where(index, cell)}: output contains the machine-specific path {match.group(0)[:80]!r}: "
                "fix or silence the warning that prints it, or print paths relative to the notebook"
            )
    return problems


def _output_texts(output: nbformat.NotebookNode) -> Iterator[str]:
    """Stream text and textual mime data of an output (never base64 images, never tracebacks)."""
    if output.output_type == "stream":
        yield output.text
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith(("json", "xml")):
            yield value if isinstance(value, str) else json.dumps(value)


# ------------------------------------------------------------------------------ CLI


def _existing(paths: Sequence[str]) -> list[Path]:
    """Turn CLI arguments into paths, failing clearly on missing or non-notebook files."""
    result = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise NotebookToolError(f"no such notebook: {name}")
        if path.suffix != ".ipynb":
            raise NotebookToolError(f"not a notebook (expected .ipynb): {name}")
        result.append(path)
    return result


def _selected(paths: Sequence[str]) -> list[Path]:
    """The notebooks named on the command line, or all chapter notebooks."""
    return _existing(paths) if paths else discover_notebooks()


def cmd_execute(args: argparse.Namespace) -> int:
    """``execute``: run notebooks, write them back (or to the runs dir), report times."""
    notebooks = _selected(args.notebooks)
    if not notebooks:
        print(f"no notebooks to execute (nothing matches {NOTEBOOK_GLOB})")
    explorers = [display_path(p) for p in notebooks if p.name == EXPLORER_NAME]
    if explorers:
        raise NotebookToolError(f"{', '.join(explorers)}: an explorer is not executed by the "
                                "tools; open it in JupyterLab (make lab)")
    parameters = parse_parameters(args.parameters)
    validate_run(notebooks, parameters)
    # Only a run of every notebook in place (what `make book` does) writes the book's
    # report; a parametrised run or a run of some notebooks gets its own run directory.
    everything = not args.notebooks and not parameters
    run_dir = None
    if parameters or not (args.report or everything):
        run_dir = new_run_dir(args.runs_dir, notebooks)
    report = args.report or (DEFAULT_REPORT if everything else run_dir / REPORT_NAME)
    records = execute_all(notebooks, parameters, report, args.runs_dir, run_dir=run_dir)
    print()
    print(format_times(records))
    print(f"report: {display_path(report)}")
    failed = [r.notebook for r in records if r.status != "ok"]
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def cmd_normalise(args: argparse.Namespace) -> int:
    """``normalise``: strip volatile metadata in place."""
    for path in _existing(args.notebooks):
        state = "normalised" if normalise_file(path) else "already normal"
        print(f"{display_path(path)}: {state}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``check``: print every hygiene problem; non-zero exit if there is any."""
    notebooks = _selected(args.notebooks) + ([] if args.notebooks else discover_explorers())
    bad = 0
    for path in notebooks:
        problems = explorer_problems(path) if path.name == EXPLORER_NAME else hygiene_problems(path)
        bad += bool(problems)
        for problem in problems:
            print(f"{display_path(path)}: {problem}")
    if bad:
        print(f"{bad} of {len(notebooks)} notebook(s) have hygiene problems", file=sys.stderr)
        return 1
    print(f"{len(notebooks)} notebook(s) clean")
    return 0


def figure_labels(nb: nbformat.NotebookNode) -> list[str | None]:
    """For each code cell that displays an image, its MyST figure label (``None`` if unlabelled).

    The label is the cell metadata ``mystnb.figure.name``, which the book uses for the
    figure's number, caption and cross-references (``{numref}``).
    """
    labels = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        images = sum(any(m.startswith("image/") for m in o.get("data", {})) for o in cell.get("outputs", []))
        name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
        labels += [name] * images
    return labels


def export_figures(paths: Sequence[Path], out: Path) -> dict[str, Any]:
    """Re-run ``paths`` (default parameters) and write every figure to ``out`` as PNG and PDF.

    The committed notebooks are not touched: papermill's result is discarded. In the kernel,
    ``flowapprox.setup`` sees ``FLOWAPPROX_FIGURES_DIR`` and saves each new figure after
    each cell (``flowapprox.plotting.export_new_figures``). Files are then renamed after
    the figure labels of the book (``<label>.png``, ``<label>.pdf``; figures are matched
    to labelled cells in order). The manifest names, for each figure, its label, the
    notebook, its parameters with their Python types, the seed, the library version and
    each file's sha256.
    """
    import hashlib
    import shutil
    from importlib.metadata import version

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    figures: list[dict[str, Any]] = []
    for path in paths:
        print(f"exporting figures of {display_path(path)} ...", flush=True)
        os.environ["FLOWAPPROX_FIGURES_DIR"] = str(out.resolve())
        os.environ["FLOWAPPROX_NOTEBOOK"] = display_path(path)
        try:
            executed = _papermill(path, {})
        finally:
            del os.environ["FLOWAPPROX_FIGURES_DIR"], os.environ["FLOWAPPROX_NOTEBOOK"]
        parameters = default_parameters(path)
        records_file = out / "records.jsonl"
        lines = records_file.read_text(encoding="utf-8").splitlines() if records_file.exists() else []
        records_file.unlink(missing_ok=True)
        if not lines:
            raise NotebookToolError(f"{display_path(path)} produced no figures (does it call fa.setup?)")
        records = [json.loads(line) for line in lines]
        labels = figure_labels(executed)
        if len(labels) != len(records):
            print(f"  warning: {len(records)} figures exported but {len(labels)} shown; "
                  "keeping the library's file names", file=sys.stderr)
            labels = [None] * len(records)
        for record, label in zip(records, labels):
            if label:
                record["files"] = [_rename(out, name, label) for name in record["files"]]
                record["figure"] = label
            record["label"] = label
            record["parameters"] = parameters
            record["files"] = {
                name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in record["files"]
            }
            figures.append(record)
    manifest = {"library_version": version("flowapprox"), "figures": figures}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return manifest


def _rename(folder: Path, name: str, label: str) -> str:
    """Rename ``folder/name`` to ``folder/<label><suffix>``; return the new name."""
    new = label + Path(name).suffix
    (folder / name).replace(folder / new)
    return new


def cmd_figures(args: argparse.Namespace) -> int:
    """``figures``: write every figure as PNG and PDF with a manifest."""
    require_kernel()
    manifest = export_figures(_selected(args.notebooks), args.out)
    print(f"{len(manifest['figures'])} figures (PNG and PDF) and manifest.json in {display_path(args.out)}")
    return 0


def cmd_times(args: argparse.Namespace) -> int:
    """``times``: print the time table of the last execution report."""
    report = args.report
    if not report.is_file():
        raise NotebookToolError(f"no execution report at {display_path(report)}: run `make book` first")
    print(format_times(report_entries(json.loads(report.read_text(encoding="utf-8")))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    report_default = display_path(DEFAULT_REPORT)
    parser = argparse.ArgumentParser(prog="notebooks.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("execute", help="execute notebooks with papermill and normalise them")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help=f"default: all {NOTEBOOK_GLOB}")
    run.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="override a parameter (YAML value); the result goes to --runs-dir, not over the notebook",
    )
    run.add_argument(
        "--report", type=Path, help=f"JSON report (default: {report_default} when every notebook runs in place; "
        f"otherwise RUNS_DIR/<run>/{REPORT_NAME})"
    )
    run.add_argument(
        "--runs-dir",
        type=Path,
        default=DEFAULT_RUNS_DIR,
        help=f"where run directories are created (default: {display_path(DEFAULT_RUNS_DIR)})",
    )
    run.set_defaults(func=cmd_execute)

    strip = commands.add_parser("normalise", aliases=["strip"], help="remove volatile metadata in place")
    strip.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    strip.set_defaults(func=cmd_normalise)

    check = commands.add_parser("check", help="report hygiene problems of committed notebooks")
    check.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help=f"default: all {NOTEBOOK_GLOB}")
    check.set_defaults(func=cmd_check)

    figures = commands.add_parser("figures", help="re-run notebooks, write all figures (PNG, PDF) + manifest")
    figures.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help=f"default: all {NOTEBOOK_GLOB}")
    figures.add_argument("--out", type=Path, default=ROOT / "_build" / "figures",
                         help="output folder (default: _build/figures; replaced)")
    figures.set_defaults(func=cmd_figures)

    times = commands.add_parser("times", help="print the time table of the last execution report")
    times.add_argument("--report", type=Path, default=DEFAULT_REPORT, help=f"JSON report (default: {report_default})")
    times.set_defaults(func=cmd_times)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (2 for usage errors such as unknown parameters)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NotebookToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
