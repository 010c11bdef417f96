"""Run a notebook over a grid of parameters (a sweep), on local processes or on Dask.

Usage (from the repository root; ``make sweep`` wraps it)::

    python tools/sweep.py NOTEBOOK GRID [--workers N] [--scheduler ADDRESS|local]
                          [--out DIR] [--summary-dir DIR] [--no-progress]

``GRID`` is a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file mapping parameter names
of the notebook's ``parameters`` cell to lists of values, plus an optional ``seeds:`` list
(values of the parameter ``seed``)::

    seeds: [0, 1, 2]
    width: [8, 16]
    pieces: [[4, 8], [16]]     # a list-valued parameter: each value is a list

The sweep runs every point of the Cartesian product. Before anything runs the grid is
checked against the notebook (``papermill.inspect_notebook``): unknown names, empty or
non-list entries, duplicated values and values whose type differs from the default's are
errors (exit status 2).

Each point is executed with papermill into
``OUT/<chapter>--<stem>/<point-slug>/`` (``OUT`` defaults to ``_build/sweeps``): the
executed notebook, ``claims.json`` (every claim with its raw value) and ``point.json``
(parameters, status, seconds). A point is written to a temporary folder that is renamed
into place when it is complete, so an interrupted sweep leaves no half-written point,
and a repeated sweep skips the points already done (unless the notebook's code changed).
The committed notebook is never touched.

Claims are data in a sweep: workers set ``FLOWAPPROX_CLAIMS=record``, so a failing claim
is recorded with its raw value and the notebook goes on (:func:`flowapprox.claims.record_only`).
The driver writes ``summary.csv`` (one row per point and claim) and ``summary.json`` next
to the points and prints, per claim, the pass rate and the min/median/max of its value.

Execution goes through a ``concurrent.futures`` executor: local processes by default (at
most one per core), or Dask distributed with ``--scheduler`` (``local`` starts a
``LocalCluster``; otherwise the address of a running scheduler). Every worker runs one
point at a time with one BLAS/torch thread.

The module is importable; ``main(argv)`` returns the exit status.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import csv
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python tools/sweep.py` puts tools/, not the root, on the path
    sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
import papermill  # noqa: E402
import yaml  # noqa: E402
from papermill.iorw import NoDatesSafeLoader  # noqa: E402

from tools.notebooks import (  # noqa: E402
    KERNEL_NAME,
    display_path,
    normalise,
    require_kernel,
    serialise,
)

DEFAULT_OUT = ROOT / "_build" / "sweeps"
SEEDS_KEY = "seeds"
SEED_PARAMETER = "seed"
POINT_FILE = "point.json"
CLAIMS_FILE = "claims.json"
NOTEBOOK_FILE = "notebook.ipynb"
TMP_PREFIX = ".tmp-"
MAX_SLUG = 100

# The environment of every point's kernel: one BLAS/torch thread (see the engineering
# notes), claims as data, no progress bars, stable hashes; the inline plotting backend.
WORKER_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "FLOWAPPROX_CLAIMS": "record",
    "FLOWAPPROX_PROGRESS": "0",
    "PYTHONHASHSEED": "0",
}


class SweepError(Exception):
    """A problem the user must fix (bad grid, unknown notebook, ...); exit status 2."""


# --------------------------------------------------------------------------- the grid


class _GridLoader(NoDatesSafeLoader):
    """papermill's YAML loader (dates stay strings) that also reads ``1e-3`` as a float.

    YAML 1.1 resolves only floats with a dot (``1.0e-3``); YAML 1.2 and TOML also
    accept ``1e-3``, which is how the notebooks write learning rates.
    """


_GridLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)(?:\.\d*)?[eE][-+]?\d+$"),
    list("-+0123456789"),
)


@dataclass
class Grid:
    """A parsed grid file: parameter -> values (file order) and the optional seeds."""

    path: Path
    values: dict[str, Any]
    seeds: Any = None
    text: str = ""


def read_grid(path: Path | str) -> Grid:
    """Read a YAML or TOML grid file; raise :class:`SweepError` if it is not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"no such grid file: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.load(text, Loader=_GridLoader)
        else:
            raise SweepError(f"{path}: a grid file ends in .yaml, .yml or .toml")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise SweepError(f"{path}: cannot parse the grid: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise SweepError(f"{path}: a grid is a non-empty mapping of parameter names to lists of values")
    seeds = data.pop(SEEDS_KEY, None)
    return Grid(path, dict(data), seeds, text)


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the parameters given to the notebook and its folder name."""

    parameters: dict[str, Any] = field(hash=False)
    slug: str


def notebook_defaults(notebook: Path) -> dict[str, tuple[str, Any]]:
    """Declared parameters of ``notebook``: name -> (default as written, evaluated default).

    The evaluated default is ``NotImplemented`` when the expression cannot be evaluated
    with literals, arithmetic and ``int``/``float``/``range``/``list``/``tuple``.
    """
    try:
        declared = papermill.inspect_notebook(str(notebook))
    except ValueError as exc:  # e.g. no kernelspec or language in the notebook's metadata
        raise SweepError(f"{display_path(notebook)}: cannot read its parameters: {exc}") from None
    safe = {"int": int, "float": float, "range": range, "list": list, "tuple": tuple, "len": len}
    result = {}
    for name, info in declared.items():
        text = str(info["default"])
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            try:  # simple expressions such as 2**17 or [float(t) for t in range(13)]
                value = eval(compile(text, "<default>", "eval"), {"__builtins__": safe}, {})  # noqa: S307
            except Exception:
                value = NotImplemented
        result[name] = (text, value)
    return result


def _kind(value: Any) -> str:
    return type(value).__name__


def _coerce(name: str, value: Any, default: Any, default_text: str) -> tuple[Any, str | None]:
    """Check ``value`` against the type of ``default``; return (value to use, problem or None).

    Integers are accepted for float parameters (and become floats); ``bool`` is never an
    ``int`` here. A list default also fixes the element type when its elements share one.
    """
    if default is NotImplemented or default is None:
        return value, None
    problem = (
        f"parameter {name!r}: value {value!r} is of type {_kind(value)}, but the notebook's "
        f"default {default_text} is of type {_kind(default)}"
    )
    if isinstance(default, bool):
        return value, None if isinstance(value, bool) else problem
    if isinstance(default, int):
        return value, None if isinstance(value, int) and not isinstance(value, bool) else problem
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), None
        return value, problem
    if isinstance(default, (list, tuple)):
        if not isinstance(value, list):
            return value, problem
        kinds = {type(item) for item in default}
        if len(kinds) != 1:
            return value, None
        (element,) = kinds
        items = []
        for item in value:
            coerced, item_problem = _coerce(name, item, element(), f"{default_text} (its elements)")
            if item_problem:
                return value, (
                    f"parameter {name!r}: element {item!r} of {value!r} is of type {_kind(item)}, "
                    f"but the elements of the notebook's default {default_text} are of type {element.__name__}"
                )
            items.append(coerced)
        return items, None
    return value, None if isinstance(value, type(default)) else problem


def expand(notebook: Path | str, grid: Grid) -> list[Point]:
    """Validate ``grid`` against the parameters cell of ``notebook``; return the points.

    Every problem is collected and reported at once in one :class:`SweepError`. The
    points are the Cartesian product of the value lists in file order, the seeds last.
    """
    notebook = Path(notebook)
    if not notebook.is_file() or notebook.suffix != ".ipynb":
        raise SweepError(f"no such notebook: {notebook}")
    defaults = notebook_defaults(notebook)
    valid = ", ".join(defaults) if defaults else "none (no cell tagged 'parameters')"
    where = display_path(grid.path)
    problems: list[str] = []
    axes: dict[str, list[Any]] = {}
    for name, values in grid.values.items():
        if name not in defaults:
            problems.append(f"unknown parameter {name!r}; valid names: {valid}")
            continue
        if name == SEED_PARAMETER and grid.seeds is not None:
            problems.append(f"parameter {name!r} is given both as {name!r} and as {SEEDS_KEY!r}: keep one")
            continue
        if not isinstance(values, list):
            problems.append(
                f"parameter {name!r}: expected a list of values, got {values!r} (write [{values!r}] for one value)"
            )
            continue
        if not values:
            problems.append(f"parameter {name!r}: empty list of values (a sweep over it has no points)")
            continue
        text, default = defaults[name]
        coerced = []
        for value in values:
            value, problem = _coerce(name, value, default, text)
            if problem:
                problems.append(problem)
            coerced.append(value)
        keys = [json.dumps(v, sort_keys=True) for v in coerced]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            problems.append(f"parameter {name!r}: repeated value(s) {', '.join(duplicates)}")
        axes[name] = coerced
    if grid.seeds is not None:
        if SEED_PARAMETER not in defaults:
            problems.append(f"{SEEDS_KEY!r} given, but the notebook has no parameter {SEED_PARAMETER!r}; valid names: {valid}")
        elif not isinstance(grid.seeds, list) or not grid.seeds:
            problems.append(f"{SEEDS_KEY!r}: expected a non-empty list of non-negative integers, got {grid.seeds!r}")
        elif not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in grid.seeds):
            problems.append(f"{SEEDS_KEY!r}: every seed must be a non-negative integer, got {grid.seeds!r}")
        elif len(set(grid.seeds)) != len(grid.seeds):
            problems.append(f"{SEEDS_KEY!r}: repeated seeds in {grid.seeds!r}")
        else:
            axes[SEED_PARAMETER] = list(grid.seeds)
    if problems:
        raise SweepError(f"{where} does not fit {display_path(notebook)}:\n  " + "\n  ".join(problems))
    names = list(axes)
    points = [Point(dict(zip(names, combo)), "") for combo in itertools.product(*axes.values())]
    return _with_slugs(points)


def _slug_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "-".join(_slug_value(v) for v in value) or "empty"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def point_slug(parameters: dict[str, Any]) -> str:
    """Folder name of a point, e.g. ``width=16,seed=0``.

    Characters other than letters, digits and ``._+-`` are dropped; when that loses
    information or the name is long, an 8-character hash of the parameters is appended.
    """
    raw = ",".join(f"{name}={_slug_value(value)}" for name, value in parameters.items()) or "defaults"
    slug = re.sub(r"[^A-Za-z0-9._+=,-]", "", raw)
    if slug != raw or len(slug) > MAX_SLUG:
        slug = f"{slug[:MAX_SLUG]}~{_digest(parameters)}"
    return slug


def _digest(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:8]


def _with_slugs(points: list[Point]) -> list[Point]:
    """Name the points; names that would collide get the hash of their parameters."""
    slugs = [point_slug(p.parameters) for p in points]
    return [
        Point(p.parameters, s if slugs.count(s) == 1 else f"{s}~{_digest(p.parameters)}")
        for p, s in zip(points, slugs)
    ]


def sweep_directory(notebook: Path | str, out: Path | str = DEFAULT_OUT) -> Path:
    """``out/<chapter>--<stem>``: where the points of ``notebook`` are written."""
    notebook = Path(notebook).resolve()
    return Path(out) / f"{notebook.parent.name}--{notebook.stem}"


def source_digest(nb: nbformat.NotebookNode) -> str:
    """Hash of the notebook's code (outputs and markdown excluded): a point run with other
    code is stale and runs again."""
    code = "\n\x00".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()


# ------------------------------------------------------------------------- one point


def run_point(notebook: str, source: str, parameters: dict[str, Any], kernel_name: str = KERNEL_NAME) -> dict[str, Any]:
    """Execute one point; runs in a worker (local process or Dask worker).

    ``source`` is the notebook's text (so a remote worker needs no copy of it); the
    kernel runs in the notebook's folder when that exists on the worker, else in a
    temporary folder. Returns a JSON-ready dict: status (``ok``/``failed``), error,
    seconds, host, the executed and normalised notebook text and the recorded claims
    (raw values). Exceptions of the notebook are caught and reported in the result.
    """
    saved = {key: os.environ.get(key) for key in [*WORKER_ENVIRONMENT, "FLOWAPPROX_CLAIMS_FILE", "MPLBACKEND"]}
    os.environ.update(WORKER_ENVIRONMENT)
    os.environ.pop("MPLBACKEND", None)  # the kernel must pick the inline backend
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="flowapprox-sweep-") as tmp:
            claims_file = Path(tmp) / "claims.jsonl"
            os.environ["FLOWAPPROX_CLAIMS_FILE"] = str(claims_file)
            folder = Path(notebook).parent
            cwd = folder if folder.is_dir() else Path(tmp)
            output = Path(tmp) / "executed.ipynb"
            status, error = "ok", None
            with _stderr_to(Path(tmp) / "stderr.txt") as stderr:
                try:
                    papermill.execute_notebook(
                        nbformat.reads(source, as_version=4), str(output), parameters=parameters,
                        kernel_name=kernel_name, cwd=str(cwd), progress_bar=False,
                    )
                except Exception as exc:  # the notebook failed: report it, keep the sweep going
                    status = "failed"
                    error = f"{type(exc).__name__}: {exc}".strip()
            text = serialise(normalise(nbformat.read(output, as_version=4))) if output.exists() else ""
            claims = _read_claims(claims_file)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {
        "status": status,
        "error": error,
        "seconds": round(time.perf_counter() - start, 2),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "stderr": stderr.text,
        "notebook": text,
        "claims": claims,
    }


# ipykernel's notice on every start; the rest of the kernel's stderr is kept in point.json.
_STDERR_NOISE = re.compile(r".*Kernel is running over TCP without encryption.*\n?")


class _Captured:
    text = ""


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[_Captured]:
    """Send file descriptor 2 of this process, and so the kernel's stderr, to ``path``.

    The kernel's log lines would otherwise cut through the driver's progress bar. What
    remains after dropping ipykernel's start-up notice (at most 4000 characters, the
    last ones) is in ``.text`` afterwards.
    """
    captured = _Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    captured.text = _STDERR_NOISE.sub("", path.read_text(encoding="utf-8", errors="replace"))[-4000:]


def _read_claims(path: Path) -> list[dict[str, Any]]:
    """Claims appended by :func:`flowapprox.claims.check`; a re-checked claim keeps its last
    record and moves to the end (as in :func:`flowapprox.claims.recorded`)."""
    if not path.exists():
        return []
    records: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        records.pop(record["id"], None)
        records[record["id"]] = record
    return list(records.values())


# -------------------------------------------------------------------- point folders


def read_point(directory: Path, point: Point) -> dict[str, Any] | None:
    """The stored record of ``point`` under ``directory``, or None if it is not there."""
    try:
        record = json.loads((directory / point.slug / POINT_FILE).read_text(encoding="utf-8"))
        record["claims"] = json.loads((directory / point.slug / CLAIMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("parameters") == point.parameters else None


def write_point(directory: Path, point: Point, record: dict[str, Any]) -> Path:
    """Write a point's folder atomically: a temporary folder, renamed when complete.

    An older folder of the same point (failed or stale) is replaced.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{point.slug}.", dir=directory))
    meta = {k: v for k, v in record.items() if k not in ("notebook", "claims")}
    try:
        (tmp / NOTEBOOK_FILE).write_text(record["notebook"], encoding="utf-8")
        (tmp / CLAIMS_FILE).write_text(json.dumps(record["claims"], indent=1) + "\n", encoding="utf-8")
        (tmp / POINT_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        target = directory / point.slug
        if target.exists():
            old = target.rename(directory / f"{TMP_PREFIX}{point.slug}.old")
            shutil.rmtree(old)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def remove_leftovers(directory: Path) -> int:
    """Delete temporary folders left by an interrupted sweep; return how many."""
    leftovers = [p for p in directory.glob(f"{TMP_PREFIX}*") if p.is_dir()] if directory.is_dir() else []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return len(leftovers)


# ------------------------------------------------------------------------- executors


def available_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _local_workers(workers: int | None) -> int:
    cores = available_cores()
    if workers is None:
        return cores
    if workers < 1:
        raise SweepError(f"--workers must be a positive integer, got {workers}")
    if workers > cores:
        raise SweepError(
            f"--workers {workers} exceeds the {cores} core(s) of this machine: each worker runs "
            "one single-threaded kernel, and more workers than cores only slow each other down"
        )
    return workers


@contextlib.contextmanager
def open_executor(workers: int | None, scheduler: str | None) -> Iterator[tuple[concurrent.futures.Executor, str]]:
    """A ``concurrent.futures`` executor and its description.

    ``scheduler`` None: a process pool (``workers`` processes, default one per core).
    ``"local"``: a Dask ``LocalCluster`` with ``workers`` single-threaded worker processes.
    Otherwise the address of a running Dask scheduler, whose workers must each have one
    thread (``dask worker ADDRESS --nthreads 1``): papermill changes the process's
    working directory and the points set environment variables.
    """
    if scheduler is None:
        n = _local_workers(workers)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=n, mp_context=context) as executor:
            yield executor, f"{n} local process(es)"
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise SweepError(
            f"--scheduler needs Dask distributed ({exc}); install the pinned requirements "
            "(`pip install -r requirements.txt`) or the extra: pip install -e '.[sweep]'"
        ) from None
    register_by_value()
    cluster = None
    if scheduler == "local":
        n = _local_workers(workers)
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        client = Client(cluster)
        description = f"Dask LocalCluster with {n} worker(s)"
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        client.wait_for_workers(1, timeout=120)
        threads = {address: info["nthreads"] for address, info in client.scheduler_info()["workers"].items()}
        many = sorted(address for address, n in threads.items() if n != 1)
        if many:
            client.close()
            raise SweepError(
                f"Dask workers with more than one thread: {', '.join(many)}; start them with --nthreads 1"
            )
        description = f"Dask scheduler {scheduler} with {len(threads)} worker(s)"
    try:
        yield _ByValue(client.get_executor(pure=False)), description
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def register_by_value() -> None:
    """Have cloudpickle ship this module and the notebook tool by value: the Dask scheduler
    and workers need the pinned environment and the registered kernel, not this
    repository on their ``sys.path``."""
    import cloudpickle

    for module in (sys.modules[__name__], sys.modules[normalise.__module__]):
        if module.__name__ not in ("__main__", "__mp_main__"):
            cloudpickle.register_pickle_by_value(module)


class _ByValue(concurrent.futures.Executor):
    """Dask's ``concurrent.futures`` executor, with every call shipped by value.

    Dask pickles a task by reference when plain ``pickle`` can: the scheduler and the
    workers would then have to import ``tools.sweep``. A closure cannot be pickled by
    reference, so Dask falls back to cloudpickle, which ships the closure and the
    modules registered with ``cloudpickle.register_pickle_by_value`` (this one and the
    notebook tool) by value.
    """

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self._executor = executor

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        def call():  # type: ignore[no-untyped-def]
            return fn(*args, **kwargs)

        return self._executor.submit(call)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait)


# -------------------------------------------------------------------------- summary

CLAIM_FIELDS = ("claim", "value", "criterion", "passed", "shown_value", "statement")


def summary_fields(points: Sequence[Point]) -> list[str]:
    """Columns of ``summary.csv``: the point, its parameters, then the claim's fields."""
    names = list(dict.fromkeys(name for p in points for name in p.parameters))
    return ["point", *names, *CLAIM_FIELDS]


def summary_rows(points: Sequence[Point], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (completed point, claim), in point order then claim order."""
    names = list(dict.fromkeys(name for p in points for name in p.parameters))
    rows = []
    for point in points:
        record = records.get(point.slug)
        if record is None or record["status"] != "ok":
            continue
        for claim in record["claims"]:
            row = {"point": point.slug}
            row.update({name: point.parameters.get(name) for name in names})
            row.update(
                claim=claim["id"], value=claim["value"], criterion=claim["criterion"], passed=claim["passed"],
                shown_value=claim["shown_value"], statement=claim["statement"],
            )
            rows.append(row)
    return rows


def claim_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per claim (first-seen order): points, passes, pass rate, min/median/max of the raw value."""
    by_claim: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_claim.setdefault(row["claim"], []).append(row)
    table = []
    for claim, claim_rows in by_claim.items():
        values = [r["value"] for r in claim_rows]
        passed = sum(bool(r["passed"]) for r in claim_rows)
        table.append({
            "claim": claim, "criterion": claim_rows[0]["criterion"], "points": len(claim_rows),
            "passed": passed, "pass_rate": passed / len(claim_rows),
            "min": min(values), "median": statistics.median(values), "max": max(values),
        })
    return table


def format_claim_table(table: Sequence[dict[str, Any]]) -> str:
    """The per-claim table as aligned text."""
    if not table:
        return "no claims recorded"
    width = max(len("claim"), *(len(t["claim"]) for t in table))
    lines = [f"{'claim':<{width}}  {'passed':>9}  {'rate':>5}  {'min':>10}  {'median':>10}  {'max':>10}  criterion"]
    for t in table:
        lines.append(
            f"{t['claim']:<{width}}  {t['passed']:>4d}/{t['points']:<4d}  {t['pass_rate']:>5.0%}  "
            f"{t['min']:>10.4g}  {t['median']:>10.4g}  {t['max']:>10.4g}  {t['criterion']}"
        )
    return "\n".join(lines)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)  # shortest string that reads back as the same float
    return value


def write_summary(directory: Path, fields: Sequence[str], rows: Sequence[dict[str, Any]], report: dict[str, Any]) -> None:
    """``summary.csv`` (rows) and ``summary.json`` (the report) in ``directory``, atomically."""
    from tools.notebooks import atomic_write_text

    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_cell(value) for key, value in row.items()})
    atomic_write_text(directory / "summary.csv", buffer.getvalue())
    atomic_write_text(directory / "summary.json", json.dumps(report, indent=1) + "\n")


# ---------------------------------------------------------------------------- sweep


@dataclass
class SweepResult:
    """What :func:`run_sweep` did."""

    directory: Path
    points: list[Point]
    ran: list[str]
    skipped: list[str]
    failed: list[str]
    rows: list[dict[str, Any]]
    table: list[dict[str, Any]]
    seconds: float
    executor: str


def run_sweep(
    notebook: Path | str,
    grid_path: Path | str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    out: Path | str = DEFAULT_OUT,
    summary_dir: Path | str | None = None,
    progress: bool = True,
) -> SweepResult:
    """Validate the grid, run the points not yet done, write and return the summary."""
    notebook = Path(notebook)
    grid = read_grid(grid_path)
    points = expand(notebook, grid)
    require_kernel()
    source = notebook.read_text(encoding="utf-8")
    digest = source_digest(nbformat.reads(source, as_version=4))
    directory = sweep_directory(notebook, out)
    leftovers = remove_leftovers(directory)
    if leftovers:
        print(f"removed {leftovers} half-written point(s) of an interrupted sweep", flush=True)

    records: dict[str, dict[str, Any]] = {}
    stale = 0
    for point in points:
        record = read_point(directory, point)
        if record is None or record.get("status") != "ok":
            continue
        if record.get("source_sha256") != digest:
            stale += 1
            continue
        records[point.slug] = record
    skipped = [p.slug for p in points if p.slug in records]
    todo = [p for p in points if p.slug not in records]
    print(
        f"sweep of {display_path(notebook)}: {len(points)} point(s), {len(skipped)} already done, "
        f"{len(todo)} to run" + (f" ({stale} stale: the notebook's code changed)" if stale else ""),
        flush=True,
    )

    from tqdm.auto import tqdm

    start = time.perf_counter()
    ran, failed, description = [], [], "no workers (every point was done before)"
    if todo:
        with open_executor(workers, scheduler) as (executor, description):
            print(f"running on {description}; points in {display_path(directory)}", flush=True)
            futures = {
                executor.submit(run_point, str(notebook.resolve()), source, p.parameters): p for p in todo
            }
            bar = tqdm(total=len(points), initial=len(skipped), unit="point", disable=not progress,
                       desc=notebook.stem, file=sys.stderr, mininterval=0.5)
            try:
                for future in concurrent.futures.as_completed(futures):
                    point = futures[future]
                    try:
                        record = future.result()
                    except Exception as exc:  # the worker itself died (not the notebook)
                        record = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "seconds": None,
                                  "host": None, "pid": None, "stderr": "", "notebook": "", "claims": []}
                    record.update(slug=point.slug, parameters=point.parameters, source_sha256=digest,
                                  notebook_path=display_path(notebook))
                    write_point(directory, point, record)
                    records[point.slug] = record
                    ran.append(point.slug)
                    if record["status"] != "ok":
                        failed.append(point.slug)
                        bar.write(f"FAILED {point.slug}: {record['error']}")
                    bar.set_postfix(failed=len(failed))
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                bar.close()
    seconds = round(time.perf_counter() - start, 2)

    rows = summary_rows(points, records)
    table = claim_table(rows)
    report = {
        "notebook": display_path(notebook),
        "grid": display_path(Path(grid_path)),
        "grid_text": grid.text,
        "source_sha256": digest,
        "executor": description,
        "seconds": seconds,
        "points": [
            {"slug": p.slug, "parameters": p.parameters,
             **{k: records.get(p.slug, {}).get(k) for k in ("status", "error", "seconds")}}
            for p in points
        ],
        "claims": table,
        "rows": rows,
    }
    write_summary(directory, summary_fields(points), rows, report)
    if summary_dir is not None:
        write_summary(Path(summary_dir), summary_fields(points), rows, report)
    return SweepResult(directory, points, ran, skipped, failed, rows, table, seconds, description)


# ------------------------------------------------------------------------------ CLI


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="sweep.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    parser.add_argument("grid", type=Path, metavar="GRID", help="YAML or TOML: parameter -> list of values, seeds:")
    parser.add_argument("--workers", type=int, help="local processes or LocalCluster workers (default: one per core)")
    parser.add_argument("--scheduler", help="'local' (a Dask LocalCluster) or a Dask scheduler address")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"root of the sweep folders (default: {display_path(DEFAULT_OUT)})")
    parser.add_argument("--summary-dir", type=Path, help="also write summary.csv and summary.json here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; 0 if every point ran, 1 if a point failed, 2 for usage errors."""
    args = build_parser().parse_args(argv)
    try:
        result = run_sweep(args.notebook, args.grid, workers=args.workers, scheduler=args.scheduler,
                           out=args.out, summary_dir=args.summary_dir, progress=not args.no_progress)
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from tools.notebooks import NotebookToolError

        if isinstance(exc, NotebookToolError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
    print()
    print(format_claim_table(result.table))
    print()
    if result.ran:
        print(f"{len(result.ran)} point(s) ran, {len(result.skipped)} skipped (already done), "
              f"{len(result.failed)} failed, in {result.seconds:.1f} s on {result.executor}")
    else:
        print(f"all {len(result.skipped)} point(s) were done before: nothing ran")
    print(f"summary: {display_path(result.directory / 'summary.csv')}, {display_path(result.directory / 'summary.json')}")
    if result.failed:
        print(f"failed points (run again to retry them): {', '.join(result.failed)}", file=sys.stderr)
    return 1 if result.failed else 0


if __name__ == "__main__":
    # Re-import as tools.sweep, so that the worker function pickles as tools.sweep.run_point.
    from tools.sweep import main as _main

    sys.exit(_main())
