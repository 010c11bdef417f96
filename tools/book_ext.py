"""Sphinx extension for the book's generated appendix pages.

Directives (used in ``appendix/*.md``); each reads the *committed* chapter notebooks at
build time, so the pages can never disagree with the outputs they describe:

``claims-ledger``
    One table per chapter of every claim recorded by ``flowapprox.claims.check`` (the
    ``flowapprox.claim`` output metadata): id linked to the cell that checks it, statement,
    measured value, criterion, verdict; with counts. A failed claim, or a chapter notebook
    without claims, is reported as a warning, which fails the book's ``-W`` build.
``theory-map``
    For each labelled result of the book (``prf:`` directives with a ``:label:``) that a
    library object implements or a claim supports: the result, the library objects whose
    docstrings say "Implements :prf:ref:`label`", and the ids of the claims recorded with
    ``supports=`` that label.
``notebook-parameters``
    The papermill parameters of each notebook (``papermill.inspect_notebook``).
``execution-times``
    Per-notebook execution times from the last ``make book`` run on this machine
    (``_build/execution-report.json``), if there is one.
``build-environment``
    The environment recorded by ``flowapprox.setup`` in the notebooks' outputs, the library
    version and the date of the last commit of the notebooks.
``book-status``
    One paragraph for the start page: book version, date of the committed outputs, and how
    many claims hold, linked to the ledger.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

CLAIM_KEY = "flowapprox.claim"
ENVIRONMENT_KEY = "flowapprox.environment"


def _literal(text: object) -> nodes.Node:
    return nodes.literal(text=str(text))


def _link(text: str, url: str) -> nodes.Node:
    return nodes.reference(text=text, refuri=url, internal=True)


def _paragraph(*parts: object) -> nodes.paragraph:
    """A paragraph of text pieces and nodes (``**x**``-free: use ``nodes.strong``)."""
    para = nodes.paragraph()
    for part in parts:
        para += part if isinstance(part, nodes.Node) else nodes.Text(str(part))
    return para


def _table(header: list[str], rows: list[list[object]], widths: list[int]) -> nodes.table:
    """A docutils table (the book's theme styles it like every other table)."""
    table = nodes.table(classes=["flowapprox-generated"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)

    def row_node(cells: list[object]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += _paragraph(cell)
            row += entry
        return row

    head = nodes.thead()
    head += row_node(list(header))
    body = nodes.tbody()
    for cells in rows:
        body += row_node(cells)
    group += head
    group += body
    return table


class _BookDirective(SphinxDirective):
    """Shared helpers: the chapter notebooks of the book, titles and links."""

    has_content = False

    def notebooks(self) -> list[tuple[str, Path]]:
        """(docname, path) of every notebook under ``chapters/`` that is in the book."""
        found = []
        for docname in sorted(self.env.found_docs):
            path = Path(self.env.doc2path(docname))
            if path.suffix == ".ipynb" and docname.startswith("chapters/"):
                found.append((docname, path))
                self.env.note_dependency(str(path))
        return found

    def chapter_title(self, docname: str) -> str:
        """The first heading of the chapter's ``index.md``, else its folder name."""
        folder = Path(self.env.srcdir) / Path(docname).parent
        index = folder / "index.md"
        if index.exists():
            for line in index.read_text(encoding="utf-8").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
        return folder.name

    def link(self, docname: str, anchor: str = "") -> str:
        """Relative URL from the current page to ``docname`` (HTML builder)."""
        here = Path(self.env.docname).parent
        target = os.path.relpath(f"{docname}.html", here).replace(os.sep, "/")
        return target + (f"#{anchor}" if anchor else "")


def _outputs(path: Path) -> Iterator[dict[str, Any]]:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            yield from cell.get("outputs", [])


def read_claims(path: Path) -> list[dict[str, Any]]:
    """The claim records stored in a notebook's outputs, in order."""
    return [dict(out["metadata"][CLAIM_KEY]) for out in _outputs(path)
            if CLAIM_KEY in out.get("metadata", {})]


def read_environment(path: Path) -> dict[str, str] | None:
    """The environment recorded by ``flowapprox.setup`` in a notebook, if any."""
    for out in _outputs(path):
        if ENVIRONMENT_KEY in out.get("metadata", {}):
            return dict(out["metadata"][ENVIRONMENT_KEY])
    return None


class ClaimsLedger(_BookDirective):
    """Tables of all claims of all chapter notebooks."""

    def run(self) -> list[nodes.Node]:
        by_chapter: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for docname, path in self.notebooks():
            claims = read_claims(path)
            if not claims:
                logger.warning(f"notebook {docname} records no claims", location=self.get_location())
            for claim in claims:
                by_chapter[str(Path(docname).parent)].append((docname, claim))
                if not claim["passed"]:
                    logger.warning(
                        f"claim {claim['id']!r} in {docname} failed: {claim['value']} violates "
                        f"{claim['criterion']}", location=self.get_location(),
                    )
        entries = [c for chapter in by_chapter.values() for _, c in chapter]
        held = sum(bool(c["passed"]) for c in entries)
        out: list[nodes.Node] = [_paragraph(nodes.strong(
            text=f"{len(entries)} claims in {len(by_chapter)} chapters; {held} hold, "
                 f"{len(entries) - held} fail."))]
        for chapter in sorted(by_chapter):
            chapter_entries = by_chapter[chapter]
            ok = sum(bool(c["passed"]) for _, c in chapter_entries)
            title = self.chapter_title(chapter_entries[0][0])
            out.append(nodes.rubric(text=f"{title} ({ok} of {len(chapter_entries)} hold)"))
            rows = [
                [_link(claim["id"], self.link(doc, "claim-" + claim["id"])), claim["statement"],
                 _literal(claim["value"]), _literal(claim["criterion"]),
                 "holds" if claim["passed"] else nodes.strong(text="fails")]
                for doc, claim in chapter_entries
            ]
            out.append(_table(["claim", "statement", "measured", "criterion", "verdict"],
                              rows, [22, 40, 10, 20, 8]))
        return out


_IMPLEMENTS = re.compile(r"Implements\s+(.*?)(?:\.\s|\.$|$)", re.DOTALL)
_PRF_REF = re.compile(r":prf:ref:`([^`<>]+)`")


def implemented_labels(doc: str | None) -> list[str]:
    """Labels named in the "Implements :prf:ref:`label` ..." sentences of a docstring."""
    found: list[str] = []
    for sentence in _IMPLEMENTS.findall(doc or ""):
        found += [label for label in _PRF_REF.findall(sentence) if label not in found]
    return found


def library_implementations(package: str = "flowapprox") -> dict[str, list[str]]:
    """Label -> qualified names of the public objects of ``package`` that implement it.

    Walks every public submodule, its public functions and classes (defined there) and the
    public methods and properties of those classes.
    """
    root = importlib.import_module(package)
    modules = [root] + [
        importlib.import_module(f"{package}.{info.name}")
        for info in pkgutil.iter_modules(root.__path__) if not info.name.startswith("_")
    ]
    table: dict[str, list[str]] = defaultdict(list)

    def note(name: str, obj: object) -> None:
        for label in implemented_labels(inspect.getdoc(obj)):
            if name not in table[label]:
                table[label].append(name)

    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            qualified = f"{module.__name__}.{name}"
            note(qualified, obj)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_"):
                        target = member.fget if isinstance(member, property) else member
                        if callable(target):
                            note(f"{qualified}.{attr}", target)
    return dict(table)


def book_labels(srcdir: Path) -> dict[str, str]:
    """Label -> docname of every ``:label:`` in the chapters' ``index.md`` pages."""
    labels: dict[str, str] = {}
    for index in sorted(Path(srcdir).glob("chapters/*/index.md")):
        docname = index.relative_to(srcdir).with_suffix("").as_posix()
        for match in re.finditer(r"^:label:\s*(\S+)\s*$", index.read_text(encoding="utf-8"),
                                 re.MULTILINE):
            labels[match.group(1)] = docname
    return labels


class TheoryMap(_BookDirective):
    """Result -> library objects -> claim ids, one table for the whole book."""

    def run(self) -> list[nodes.Node]:
        labels = book_labels(Path(self.env.srcdir))
        objects = library_implementations()
        claims: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for docname, path in self.notebooks():
            for claim in read_claims(path):
                for label in claim.get("supports", []):
                    claims[label].append((docname, claim["id"]))
        for label in sorted(set(objects) | set(claims)):
            if label not in labels:
                logger.warning(f"{label!r} is implemented or supported but no result has that "
                               "label", location=self.get_location())
        rows = []
        for label, docname in labels.items():
            if label not in objects and label not in claims:
                continue
            ref = addnodes.pending_xref("", nodes.inline(text=label), refdomain="prf",
                                        reftype="ref", reftarget=label, refexplicit=False,
                                        refdoc=self.env.docname, refwarn=True)
            names = nodes.inline()
            for k, name in enumerate(objects.get(label, [])):
                names += [nodes.Text(", ")] if k else []
                names += _literal(name)
            ids = nodes.inline()
            for k, (doc, claim_id) in enumerate(claims.get(label, [])):
                ids += [nodes.Text(", ")] if k else []
                ids += _link(claim_id, self.link(doc, "claim-" + claim_id))
            result = nodes.inline()
            result += [ref, nodes.Text(" "), _literal(label)]
            rows.append([result, names, ids])
        return [_paragraph(f"{len(rows)} labelled results are implemented in the library or "
                           "supported by claims."),
                _table(["result", "library objects", "claims"], rows, [26, 40, 34])]


def _type_name(parameter: dict[str, Any]) -> str:
    """Declared type of a papermill parameter, else the type of its literal default."""
    declared = parameter.get("inferred_type_name")
    if declared and declared != "None":
        return str(declared)
    try:
        return type(ast.literal_eval(str(parameter["default"]))).__name__
    except (ValueError, SyntaxError):
        return "-"


class NotebookParameters(_BookDirective):
    """The papermill parameters of every chapter notebook."""

    def run(self) -> list[nodes.Node]:
        import papermill

        out: list[nodes.Node] = []
        for docname, path in self.notebooks():
            params = papermill.inspect_notebook(str(path))
            out.append(_paragraph(nodes.strong("", "", _link(f"{docname}.ipynb",
                                                             self.link(docname)))))
            rows = [[_literal(name), _literal(p["default"]), _type_name(p),
                     p["help"] or "-"] for name, p in params.items()]
            out.append(_table(["parameter", "default", "type", "meaning"], rows,
                              [20, 20, 12, 48]))
        return out


class ExecutionTimes(_BookDirective):
    """Execution times of the last ``make book`` run, if the report exists."""

    def run(self) -> list[nodes.Node]:
        report = Path(self.env.srcdir) / "_build" / "execution-report.json"
        self.env.note_dependency(str(report))
        if not report.exists():
            return [_paragraph("No execution report on this machine yet: ", _literal("make book"),
                               " writes one (", _literal("_build/execution-report.json"), ").")]
        entries = json.loads(report.read_text(encoding="utf-8"))
        entries = entries.get("notebooks", entries) if isinstance(entries, dict) else entries
        rows = [[_literal(e["notebook"]), f"{float(e['seconds']):.1f}", e.get("status", "")]
                for e in entries]
        total = sum(float(e["seconds"]) for e in entries)
        rows.append([nodes.strong(text="total"), nodes.strong(text=f"{total:.1f}"), ""])
        return [_table(["notebook", "seconds", "status"], rows, [60, 20, 20])]


def _outputs_date(srcdir: Path) -> str:
    """Date of the last commit that touched the chapter notebooks (``git log``)."""
    try:
        result = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", "chapters"],
            cwd=srcdir, capture_output=True, text=True, timeout=20, check=True,
        )
        return result.stdout.strip() or "not committed yet"
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


class BookStatus(_BookDirective):
    """Book version, outputs date and the claim count, in one paragraph."""

    def run(self) -> list[nodes.Node]:
        import flowapprox

        claims = [c for _, path in self.notebooks() for c in read_claims(path)]
        held = sum(bool(c["passed"]) for c in claims)
        return [_paragraph(
            "Book version ", nodes.strong(text=flowapprox.__version__),
            " (the version of its library, ", _literal("flowapprox"), "); committed outputs dated ",
            nodes.strong(text=_outputs_date(Path(self.env.srcdir))), "; ",
            nodes.strong(text=f"{held} of {len(claims)}"), " checked claims hold (",
            _link("claims ledger", self.link("appendix/claims")), ").")]


class BuildEnvironment(_BookDirective):
    """Book version, outputs date and the environment that produced the outputs."""

    def run(self) -> list[nodes.Node]:
        import flowapprox

        environments: dict[str, list[str]] = defaultdict(list)
        records: dict[str, dict[str, str]] = {}
        for docname, path in self.notebooks():
            env = read_environment(path)
            if env is None:
                logger.warning(f"notebook {docname} did not record its environment "
                               "(call flowapprox.setup)", location=self.get_location())
                continue
            env = {k: v for k, v in env.items() if k != "seed"}
            key = json.dumps(env, sort_keys=True)
            environments[key].append(docname)
            records[key] = env
        items = nodes.bullet_list()
        for label, value, note in (
            ("Book version", flowapprox.__version__,
             " (the version of the flowapprox library, which is versioned with the book)"),
            ("Committed outputs dated", _outputs_date(Path(self.env.srcdir)),
             " (last commit of the chapter notebooks)"),
        ):
            item = nodes.list_item()
            item += _paragraph(nodes.strong(text=label), ": ", value, note)
            items += item
        out: list[nodes.Node] = [items]
        for key, docs in environments.items():
            out.append(_paragraph(f"Environment that produced the outputs of {len(docs)} "
                                  "notebook(s):"))
            out.append(_table(["component", "version"],
                              [[k, _literal(v)] for k, v in records[key].items()], [30, 70]))
        return out


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                    doctree: object) -> None:
    """Drop repeated script tags. Under jupyter-book 1.0.4, sphinx-thebe's and
    sphinx-togglebutton's inline scripts are registered twice (with different priorities),
    so every page threw "THEBE_JS_URL has already been declared" in the browser."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for script in context.get("script_files", []):
        # Same file and attributes (body included), whatever the priority: a duplicate.
        # Inline scripts come with filename None or "", depending on who added them.
        key = (str(getattr(script, "filename", script) or ""),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_directive("theory-map", TheoryMap)
    app.add_directive("notebook-parameters", NotebookParameters)
    app.add_directive("execution-times", ExecutionTimes)
    app.add_directive("build-environment", BuildEnvironment)
    app.add_directive("book-status", BookStatus)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
