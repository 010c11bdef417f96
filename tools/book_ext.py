"""Sphinx extension for the book's generated appendix pages.

Directives (used in ``appendix/*.md``); each reads the *committed* chapter notebooks at
build time, so the pages can never disagree with the outputs they describe:

``claims-ledger``
    One table per chapter of every claim recorded by ``flowapprox.claims.check`` (the
    ``flowapprox.claim`` output metadata): id linked to the cell that checks it, statement,
    measured value, criterion, verdict; with counts. A failed claim, or a chapter notebook
    without claims, is reported as a warning, which fails the book's ``-W`` build.
``notebook-parameters``
    The papermill parameters of each notebook (``papermill.inspect_notebook``).
``execution-times``
    Per-notebook execution times from the last ``make book`` run on this machine
    (``_build/execution-report.json``), if there is one.
``build-environment``
    The environment recorded by ``flowapprox.setup`` in the notebooks' outputs, the library
    version and the date of the last commit of the notebooks (book status).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

CLAIM_KEY = "flowapprox.claim"
ENVIRONMENT_KEY = "flowapprox.environment"


def _cell(text: object) -> str:
    """Make a value safe inside an RST list-table cell (one line, escaped)."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("`", "'") \
        .replace("*", "\\*").replace("_", "\\_")


class _BookDirective(SphinxDirective):
    """Shared helpers: the chapter notebooks of the book and RST rendering."""

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

    def parse_rst(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="generated"), self.content_offset,
                                container)
        return container.children

    @staticmethod
    def list_table(header: list[str], rows: list[list[str]], widths: str = "auto") -> list[str]:
        lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
        for row in [header, *rows]:
            lines.append(f"   * - {row[0]}")
            lines.extend(f"     - {cell}" for cell in row[1:])
        return lines + [""]


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
        total = held = 0
        for docname, path in self.notebooks():
            claims = read_claims(path)
            if not claims:
                logger.warning(f"notebook {docname} records no claims", location=self.get_location())
            for claim in claims:
                by_chapter[str(Path(docname).parent)].append((docname, claim))
                total += 1
                held += bool(claim["passed"])
                if not claim["passed"]:
                    logger.warning(
                        f"claim {claim['id']!r} in {docname} failed: {claim['value']} violates "
                        f"{claim['criterion']}", location=self.get_location(),
                    )
        lines = [f"**{total} claims in {len(by_chapter)} chapters; {held} hold, "
                 f"{total - held} fail.**", ""]
        for chapter in sorted(by_chapter):
            entries = by_chapter[chapter]
            ok = sum(bool(c["passed"]) for _, c in entries)
            title = self.chapter_title(entries[0][0])
            lines += [f".. rubric:: {_cell(title)} ({ok} of {len(entries)} hold)", ""]
            rows = [
                [f"`{claim['id']} <{self.link(doc, 'claim-' + claim['id'])}>`__",
                 _cell(claim["statement"]), f"``{claim['value']}``", f"``{claim['criterion']}``",
                 "holds" if claim["passed"] else "**fails**"]
                for doc, claim in entries
            ]
            lines += self.list_table(["claim", "statement", "measured", "criterion", "verdict"],
                                     rows, widths="22 40 10 20 8")
        return self.parse_rst(lines)


class NotebookParameters(_BookDirective):
    """The papermill parameters of every chapter notebook."""

    def run(self) -> list[nodes.Node]:
        import papermill

        lines: list[str] = []
        for docname, path in self.notebooks():
            params = papermill.inspect_notebook(str(path))
            lines += [f".. rubric:: `{docname}.ipynb <{self.link(docname)}>`__", ""]
            rows = [[f"``{name}``", f"``{p['default']}``", _cell(p["inferred_type_name"]),
                     _cell(p["help"]) or "-"] for name, p in params.items()]
            lines += self.list_table(["parameter", "default", "type", "meaning"], rows,
                                     widths="20 20 12 48")
        return self.parse_rst(lines)


class ExecutionTimes(_BookDirective):
    """Execution times of the last ``make book`` run, if the report exists."""

    def run(self) -> list[nodes.Node]:
        report = Path(self.env.srcdir) / "_build" / "execution-report.json"
        self.env.note_dependency(str(report))
        if not report.exists():
            return self.parse_rst([
                "No execution report on this machine yet: ``make book`` writes one "
                "(``_build/execution-report.json``).", ""])
        entries = json.loads(report.read_text(encoding="utf-8"))
        entries = entries.get("notebooks", entries) if isinstance(entries, dict) else entries
        rows = [[f"``{e['notebook']}``", f"{float(e['seconds']):.1f}", _cell(e.get("status", ""))]
                for e in entries]
        total = sum(float(e["seconds"]) for e in entries)
        rows.append(["**total**", f"**{total:.1f}**", ""])
        return self.parse_rst(self.list_table(["notebook", "seconds", "status"], rows,
                                              widths="60 20 20"))


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
        lines = [
            f"- **Book version**: {flowapprox.__version__} (the version of the ``flowapprox`` "
            "library, which is versioned with the book)",
            f"- **Committed outputs dated**: {_outputs_date(Path(self.env.srcdir))} "
            "(last commit of the chapter notebooks)", "",
        ]
        for key, docs in environments.items():
            env = records[key]
            lines += [f"Environment that produced the outputs of {len(docs)} notebook(s):", ""]
            lines += self.list_table(["component", "version"],
                                     [[_cell(k), f"``{v}``"] for k, v in env.items()],
                                     widths="30 70")
        return self.parse_rst(lines)


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
    app.add_directive("notebook-parameters", NotebookParameters)
    app.add_directive("execution-times", ExecutionTimes)
    app.add_directive("build-environment", BuildEnvironment)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
