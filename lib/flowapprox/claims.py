r"""Claims: every statement the book makes about a measurement is checked where it is made.

A notebook states a claim with :func:`check`: an id, the statement in words, the measured
value and a :class:`Criterion`. The claim is

* recorded (:func:`recorded` lists the claims of this kernel, in order);
* glued under its id for the prose (``{glue:text}`id``` in the notebook, or
  ``{glue:text}`notebook.ipynb::id``` from another page), as the rounded value;
* shown as one rounded row, to be placed in a cell tagged ``nbval-check-output`` so that
  nbval compares it when the notebook is re-run; in the HTML book the row carries the
  anchor ``#claim-<id>``, and its output metadata (key ``flowapprox.claim``) holds the
  record from which the claims ledger is built;
* and raises :class:`ClaimFailed` when the criterion does not hold, so a book whose
  numbers stop supporting its text does not build.

In a parameter sweep (``tools/sweep.py``) claims are data: with the environment variable
``FLOWAPPROX_CLAIMS=record`` a failing claim does not raise (the notebook goes on), and
with ``FLOWAPPROX_CLAIMS_FILE`` set every claim is also appended to that file as a JSON
line holding its raw, unrounded value (:func:`record_only`).

A claim names the labelled results of the book it supports (``supports=("ch3-thm-budget",)``);
the claims ledger lists, for each label, the library objects that implement it (docstrings
that say "Implements" followed by a ``prf:ref`` role for the label) and the claims that
support it. Glue needs the book's stack (``myst_nb``); without it the claim is still
checked, recorded and shown.

Rounding makes the rows stable across machines: values are shown with ``fmt`` (three
significant digits by default); quantities at round-off level use ``fmt="bound"``, which
shows the smallest power of ten above the value (e.g. ``< 1e-13``).

Examples
--------
>>> from flowapprox import claims
>>> claim = claims.check("demo-order", "Euler has order one", 1.0213, claims.Within(1.0, 0.1))
PASS  demo-order  1.02  [|value - 1| <= 0.1]  Euler has order one
>>> claim.passed
True
"""

from __future__ import annotations

import html
import json
import math
import numbers
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_ID = re.compile(r"[a-z0-9][a-z0-9.\-]*")
#: Pattern of the labels of the book's results, ``ch<N>-<kind>-<name>``
#: (e.g. ``ch2-def-time-cost``).
LABEL = re.compile(r"ch[0-9]+-[a-z]+-[a-z0-9\-]+")
_REGISTRY: dict[str, Claim] = {}


def _number(value: float) -> str:
    return f"{value:g}"


#: The largest magnitude of a criterion's bounds; beyond it a criterion such as
#: ``Within(0, 1e300)`` or ``AtMost(1e308)`` could not fail for any measured value.
MAX_BOUND = 1e100


def _bound(criterion: str, name: str, value: object) -> float:
    """A bound of a criterion: a real number (not a string or bool), finite and not huge."""
    if isinstance(value, (str, bytes, bool)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{criterion} {name} must be a real number, got {type(value).__name__} {value!r}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(
            f"{criterion} {name} must be finite, got {number}: a claim with this criterion "
            "could not fail"
        )
    if abs(number) > MAX_BOUND:
        raise ValueError(
            f"{criterion} {name} must be at most {MAX_BOUND:g} in magnitude, got {number:g}: "
            "a claim with this criterion could not fail for any measured value"
        )
    return number


_FAILS = [
    (re.compile(r"\|value - (\S+)\| <= (\S+)"),
     lambda m: f"fails if value < {_number(float(m[1]) - float(m[2]))} "
               f"or value > {_number(float(m[1]) + float(m[2]))}"),
    (re.compile(r"(\S+) <= value <= (\S+)"),
     lambda m: f"fails if value < {m[1]} or value > {m[2]}"),
    (re.compile(r"value <= (\S+)"), lambda m: f"fails if value > {m[1]}"),
    (re.compile(r"value >= (\S+)"), lambda m: f"fails if value < {m[1]}"),
]


def failure_condition(criterion: str) -> str:
    """What makes a claim fail, from its criterion in words (:meth:`Criterion.describe`).

    >>> failure_condition("value <= 1")
    'fails if value > 1'
    >>> failure_condition("|value - 1| <= 0.1")
    'fails if value < 0.9 or value > 1.1'
    """
    for pattern, say in _FAILS:
        match = pattern.fullmatch(criterion.strip())
        if match:
            return say(match)
    return f"fails unless {criterion}"


class Criterion(ABC):
    """A pass/fail rule for a measured value."""

    @abstractmethod
    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the criterion."""

    @abstractmethod
    def describe(self) -> str:
        """The rule in words, e.g. ``|value - 1| <= 0.1``."""

    def fails_if(self) -> str:
        """What makes a claim with this criterion fail, e.g. ``fails if value > 1``."""
        return failure_condition(self.describe())

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Within(Criterion):
    """``|value - target| <= tol``."""

    target: float
    tol: float

    def __post_init__(self) -> None:
        target = _bound("Within", "target", self.target)
        tol = _bound("Within", "tol", self.tol)
        if tol < 0:
            raise ValueError(f"Within tol must be >= 0, got {tol}")
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "tol", tol)

    def holds(self, value: float) -> bool:
        return abs(value - self.target) <= self.tol

    def describe(self) -> str:
        return f"|value - {_number(self.target)}| <= {_number(self.tol)}"


@dataclass(frozen=True)
class Between(Criterion):
    """``low <= value <= high``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low = _bound("Between", "low", self.low)
        high = _bound("Between", "high", self.high)
        if not low <= high:
            raise ValueError(f"Between needs low <= high, got {low} and {high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def describe(self) -> str:
        return f"{_number(self.low)} <= value <= {_number(self.high)}"


@dataclass(frozen=True)
class AtMost(Criterion):
    """``value <= bound``."""

    bound: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "bound", _bound("AtMost", "bound", self.bound))

    def holds(self, value: float) -> bool:
        return value <= self.bound

    def describe(self) -> str:
        return f"value <= {_number(self.bound)}"


@dataclass(frozen=True)
class AtLeast(Criterion):
    """``value >= bound``."""

    bound: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "bound", _bound("AtLeast", "bound", self.bound))

    def holds(self, value: float) -> bool:
        return value >= self.bound

    def describe(self) -> str:
        return f"value >= {_number(self.bound)}"


class ClaimFailed(AssertionError):
    """A claim's measured value does not satisfy its criterion."""


def format_value(value: float, fmt: str = ".3g") -> str:
    """Round ``value`` for display: a format spec, or ``"bound"`` for ``< 10^k``.

    Integer specs such as ``"d"`` accept integral values (counts).
    """
    if fmt == "bound":
        if value <= 0:
            return "0" if value == 0 else format(value, ".1e")
        return f"< 1e{math.floor(math.log10(value)) + 1:d}"
    if fmt[-1:] in ("b", "d", "o", "x", "X", "n") and float(value).is_integer():
        return format(int(value), fmt)  # integer formats (counts) accept integral floats
    return format(value, fmt)


@dataclass(frozen=True)
class Claim:
    """A checked statement: ``statement`` holds because ``value`` satisfies ``criterion``."""

    id: str
    statement: str
    value: float
    criterion: Criterion
    fmt: str = ".3g"
    supports: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether the criterion holds for the measured value."""
        return self.criterion.holds(self.value)

    @property
    def shown_value(self) -> str:
        """The rounded value as shown in the row and glued for the prose."""
        return format_value(self.value, self.fmt)

    def row(self) -> str:
        """One line: verdict, id, rounded value, criterion and statement."""
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.id}  {self.shown_value}  [{self.criterion}]  {self.statement}"

    def _ipython_display_(self) -> None:
        """Show nothing when a notebook cell ends with ``claims.check(...)``: the row is
        already shown by :func:`check` (and a trailing ``;`` is not honoured by nbval)."""

    def record(self) -> dict[str, object]:
        """A JSON-ready record (rounded value only, so it is stable across machines)."""
        return {
            "id": self.id,
            "statement": self.statement,
            "value": self.shown_value,
            "criterion": self.criterion.describe(),
            "passed": self.passed,
            "supports": list(self.supports),
        }


def check(
    id: str,
    statement: str,
    value: float,
    criterion: Criterion,
    *,
    fmt: str = ".3g",
    supports: Sequence[str] = (),
) -> Claim:
    """State, record, glue and show a claim; raise :class:`ClaimFailed` if it fails.

    Parameters
    ----------
    id
        Unique lower-case id (letters, digits, ``.`` and ``-``), also the glue key.
    statement
        The claim in words, as the book states it.
    value
        The measured number (a Python or NumPy/torch scalar; must be finite).
    criterion
        The rule the value must satisfy.
    fmt
        Format spec for the shown value (default three significant digits), or
        ``"bound"`` for round-off-level quantities.
    supports
        Labels of the book's results the claim supports (:data:`LABEL`, e.g.
        ``("ch4-prop-construction",)``); recorded with the claim and shown in the ledger.
    """
    if not isinstance(id, str) or not _ID.fullmatch(id):
        raise ValueError(f"id must match {_ID.pattern!r}, got {id!r}")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("statement must be a non-empty string")
    if not isinstance(criterion, Criterion):
        raise TypeError(f"criterion must be a Criterion, got {type(criterion).__name__}")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"value must be a real number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type,unused-ignore]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"value must be a real number, got {value!r}") from exc
    if not math.isfinite(number):
        raise ValueError(f"value of claim {id!r} must be finite, got {number}")
    if not isinstance(fmt, str) or not fmt:
        raise TypeError(f"fmt must be a non-empty format spec string, got {fmt!r}")
    try:
        format_value(number, fmt)  # fail early on a bad format spec
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"fmt={fmt!r} cannot format the value {number!r} of claim {id!r} ({exc}); use a "
            "float spec such as '.3g', 'd' for integral counts, or 'bound'"
        ) from exc
    if isinstance(supports, str) or not isinstance(supports, Sequence):
        raise TypeError(f"supports must be a sequence of labels, got {supports!r}")
    for label in supports:
        if not isinstance(label, str) or not LABEL.fullmatch(label):
            raise ValueError(
                f"supports must hold labels like 'ch2-def-time-cost', got {label!r}"
            )
    claim = Claim(id, statement.strip(), number, criterion, fmt, tuple(supports))
    _REGISTRY.pop(id, None)  # a re-checked claim moves to the end
    _REGISTRY[id] = claim
    _show(claim)
    if record_only():
        _append_raw(claim)
    elif not claim.passed:
        raise ClaimFailed(f"claim {id!r} failed: {claim.shown_value} violates {criterion}")
    return claim


def recorded() -> list[Claim]:
    """The claims checked in this process, in the order they were (last) checked."""
    return list(_REGISTRY.values())


def _show(claim: Claim) -> None:
    """Print the row; inside a kernel also glue the value and attach the record."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book
        get_ipython = None  # type: ignore[assignment,unused-ignore]
    if get_ipython is None or get_ipython() is None:
        print(claim.row())
        return
    from IPython.display import display

    try:
        from myst_nb import glue
    except ImportError:  # the library runs without the book's stack: no glue then
        pass
    else:
        glue(claim.id, claim.shown_value, display=False)
    row = claim.row()
    html_row = f'<pre class="flowapprox-claim" id="claim-{claim.id}">{html.escape(row)}</pre>'
    display(
        {"text/plain": row, "text/html": html_row},
        metadata={"flowapprox.claim": claim.record()},
        raw=True,
    )


RECORD_MODE_ENV = "FLOWAPPROX_CLAIMS"
RECORD_FILE_ENV = "FLOWAPPROX_CLAIMS_FILE"


def record_only() -> bool:
    """Whether claims are data here: ``FLOWAPPROX_CLAIMS=record`` (set by ``tools/sweep.py``).

    In record-only mode :func:`check` shows and records a failing claim but does not
    raise, and appends every claim with its raw value to ``$FLOWAPPROX_CLAIMS_FILE``
    when that is set. Unset or ``check`` (the book's default): failing claims raise.
    """
    mode = os.environ.get(RECORD_MODE_ENV, "check")
    if mode not in ("check", "record"):
        raise ValueError(f"{RECORD_MODE_ENV} must be 'check' or 'record', got {mode!r}")
    return mode == "record"


def _append_raw(claim: Claim) -> None:
    """Append the claim, with its unrounded value, as a JSON line to ``$FLOWAPPROX_CLAIMS_FILE``."""
    path = os.environ.get(RECORD_FILE_ENV)
    if not path:
        return
    line = dict(claim.record(), value=claim.value, shown_value=claim.shown_value, fmt=claim.fmt)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


# ------------------------------------------------------------- committed sweep summaries

#: Keys every sweep summary (``summary.json`` written by ``tools/sweep.py``) has.
SUMMARY_KEYS = ("notebook", "grid_text", "executor", "seconds", "points", "claims", "rows")


@dataclass(frozen=True)
class SweepSummary:
    """A committed sweep summary (``summary.json`` of ``tools/sweep.py``), read back as data.

    Attributes
    ----------
    notebook, grid_text, executor, seconds
        The swept notebook, the grid file's text, where it ran and its wall-clock seconds.
    points
        One entry per point: ``slug``, ``parameters``, ``status``, ``seconds``.
    table
        Per claim: ``claim``, ``criterion``, ``points``, ``passed``, ``pass_rate``, ``min``,
        ``median``, ``max``.
    rows
        One entry per (point, claim): the point's parameters, ``claim``, the raw ``value``,
        ``criterion``, ``passed``.
    """

    notebook: str
    grid_text: str
    executor: str
    seconds: float
    points: tuple[dict[str, object], ...]
    table: tuple[dict[str, object], ...]
    rows: tuple[dict[str, object], ...]

    def claim(self, claim_id: str) -> dict[str, object]:
        """The table entry of ``claim_id`` (pass rate, min/median/max); ``KeyError`` if absent."""
        for entry in self.table:
            if entry["claim"] == claim_id:
                return entry
        raise KeyError(f"claim_id {claim_id!r} is not in the summary of {self.notebook}")

    def pass_rate(self, claim_id: str) -> float:
        """The fraction of points at which ``claim_id`` passed."""
        return float(self.claim(claim_id)["pass_rate"])  # type: ignore[arg-type]

    def values(self, claim_id: str, **parameters: object) -> list[float]:
        """Raw values of ``claim_id`` over the points whose parameters equal ``parameters``."""
        self.claim(claim_id)
        return [
            float(row["value"])  # type: ignore[arg-type]
            for row in self.rows
            if row["claim"] == claim_id and all(row.get(k) == v for k, v in parameters.items())
        ]

    @property
    def seeds(self) -> list[object]:
        """The distinct values of the parameter ``seed`` over the points, in order."""
        return list(dict.fromkeys(p["parameters"].get("seed") for p in self.points))  # type: ignore[attr-defined]


def read_summary(path: str | Path) -> SweepSummary:
    """Read a committed sweep summary: ``summary.json``, or a folder holding one.

    Parameters
    ----------
    path
        The ``summary.json`` written by ``tools/sweep.py`` (``make sweep ... SUMMARY=dir``),
        or its folder.

    Raises
    ------
    FileNotFoundError
        If there is no such file (the message names ``path``).
    ValueError
        If the file is not a sweep summary (not JSON, or a key is missing).

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "summary.json").write_text(json.dumps({
    ...     "notebook": "nb.ipynb", "grid_text": "seeds: [0]", "executor": "1 process",
    ...     "seconds": 1.0, "points": [{"slug": "seed=0", "parameters": {"seed": 0}}],
    ...     "claims": [{"claim": "x", "pass_rate": 1.0}],
    ...     "rows": [{"seed": 0, "claim": "x", "value": 0.5, "passed": True}]}))
    >>> summary = read_summary(folder)
    >>> summary.pass_rate("x"), summary.values("x", seed=0), summary.seeds
    (1.0, [0.5], [0])
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}")
    file = os.fspath(path)
    if os.path.isdir(file):
        file = os.path.join(file, "summary.json")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"path: no sweep summary at {file!r}")
    try:
        with open(file, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"path: {file!r} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"path: {file!r} holds no sweep summary (not a JSON object)")
    missing = [key for key in SUMMARY_KEYS if key not in data]
    if missing:
        raise ValueError(
            f"path: {file!r} is not a sweep summary; missing keys: {', '.join(missing)}"
        )
    return SweepSummary(
        str(data["notebook"]), str(data["grid_text"]), str(data["executor"]),
        float(data["seconds"]),
        tuple(data["points"]), tuple(data["claims"]), tuple(data["rows"]),
    )
