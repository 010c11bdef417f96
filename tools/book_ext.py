"""Sphinx extension for the book's generated appendix pages.

Directives (used in ``appendix/*.md``); each reads the *committed* chapter notebooks at
build time, so the pages can never disagree with the outputs they describe:

``claims-ledger``
    One table per chapter of every claim recorded by ``flowapprox.claims.check`` (the
    ``flowapprox.claim`` output metadata): id linked to the cell that checks it, statement,
    measured value, criterion, what would make it fail (derived from the criterion, e.g.
    "fails if value > 1"), verdict; with counts. A failed claim, or a chapter notebook
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
    The library version, the date of the last commit of the notebooks, whether the notebooks
    being built differ from that commit, and the environment recorded by ``flowapprox.setup``
    in their outputs.

Also: the version in every page footer, and the ``flowapprox`` bibliography style
(author-year labels matching the in-text citations; DOI and arXiv links).
``glued-figure``
    A figure glued (``display=False``) in a notebook of another page, ``nb.ipynb::key``:
    the static alternative to the explorers on the chapter pages (tabs of figures).
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
import posixpath
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

from flowapprox.claims import failure_condition

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


def read_notebook(path: Path) -> Any:
    """The notebook at ``path``; ``None``, with a warning naming the file, if it cannot be read
    (not valid JSON, not a notebook): the build goes on and a strict build fails cleanly."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - JSON, nbformat and OS errors alike
        logger.warning(f"cannot read notebook {path}: {type(exc).__name__}: {exc}")
        return None


def _outputs(path: Path) -> Iterator[dict[str, Any]]:
    notebook = read_notebook(path)
    if notebook is None:
        return
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
                 _literal(failure_condition(str(claim["criterion"]))),
                 "holds" if claim["passed"] else nodes.strong(text="fails")]
                for doc, claim in chapter_entries
            ]
            out.append(_table(
                ["claim", "statement", "measured", "criterion", "would fail if", "verdict"],
                rows, [20, 34, 9, 17, 14, 6]))
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


def _type_name(parameter: dict[str, Any], value: Any = None) -> str:
    """Declared type of a papermill parameter, else the type of its value in the cell."""
    declared = parameter.get("inferred_type_name")
    if declared and declared != "None":
        return str(declared)
    if value is None:
        try:
            value = ast.literal_eval(str(parameter["default"]))
        except (ValueError, SyntaxError):
            return "-"
    if isinstance(value, list) and value:
        kinds = sorted({type(v).__name__ for v in value})
        return f"list[{' | '.join(kinds)}]"
    return type(value).__name__


def _parameter_values(path: Path) -> dict[str, Any]:
    """Values assigned by the notebook's parameters cell (plain assignments, run in isolation),
    so that ``2**17`` or a list comprehension get their real type; {} if the cell cannot run."""
    notebook = read_notebook(path)
    if notebook is None:
        return {}
    for cell in notebook.cells:
        if "parameters" in cell.metadata.get("tags", []):
            namespace: dict[str, Any] = {}
            try:
                exec(compile(cell.source, str(path), "exec"), namespace)  # noqa: S102
            except Exception:  # noqa: BLE001 - the table falls back to the literal default
                return {}
            return {k: v for k, v in namespace.items() if not k.startswith("__")}
    return {}


class NotebookParameters(_BookDirective):
    """The papermill parameters of every chapter notebook."""

    def run(self) -> list[nodes.Node]:
        import papermill

        out: list[nodes.Node] = []
        for docname, path in self.notebooks():
            params = papermill.inspect_notebook(str(path))
            values = _parameter_values(path)
            out.append(_paragraph(nodes.strong("", "", _link(f"{docname}.ipynb",
                                                             self.link(docname)))))
            rows = [[_literal(name), _literal(p["default"]), _type_name(p, values.get(name)),
                     p["help"] or "-"] for name, p in params.items()]
            out.append(_table(["parameter", "default", "type", "meaning"], rows,
                              [20, 20, 12, 48]))
        return out


class ExecutionTimes(_BookDirective):
    """Execution times of the last ``make book`` run on this machine, if the report exists."""

    def run(self) -> list[nodes.Node]:
        report = Path(self.env.srcdir) / "_build" / "execution-report.json"
        self.env.note_dependency(str(report))
        if not report.exists():
            return [_paragraph("No execution report on this machine yet: ", _literal("make book"),
                               " writes one (", _literal("_build/execution-report.json"), ").")]
        data = json.loads(report.read_text(encoding="utf-8"))
        entries = data.get("notebooks", []) if isinstance(data, dict) else data
        rows = [[_literal(e["notebook"]), f"{float(e['seconds']):.1f}", e.get("status", "")]
                for e in entries]
        total = sum(float(e["seconds"]) for e in entries)
        rows.append([nodes.strong(text="total"), nodes.strong(text=f"{total:.1f}"), ""])
        out: list[nodes.Node] = []
        if isinstance(data, dict) and data.get("finished_utc"):
            out.append(_paragraph("Run finished ", nodes.strong(text=data["finished_utc"]),
                                  " (UTC) on the machine that built this page."))
        out.append(_table(["notebook", "seconds", "status"], rows, [60, 20, 20]))
        if isinstance(data, dict) and data.get("environment"):
            out.append(_paragraph("Environment of that run:"))
            out.append(_table(["component", "version"],
                              [[k, _literal(v)] for k, v in data["environment"].items()], [30, 70]))
        return out


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


def _uncommitted_notebooks(srcdir: Path) -> list[str] | None:
    """Chapter notebooks that differ from the last commit (None: not a git checkout)."""
    try:
        result = subprocess.run(
            ["git", "status", "--porcelain", "--", "chapters"],
            cwd=srcdir, capture_output=True, text=True, timeout=20, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted(line[3:].strip() for line in result.stdout.splitlines()
                  if line[3:].strip().endswith(".ipynb"))


# Keys of older environment records that describe the host rather than the environment
# (the kernel release string); never shown.
HOST_KEYS = frozenset({"platform"})


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
    """Book version, the commit the outputs come from, and the environment that produced them.

    Says so when the notebooks being built differ from the last commit (a local re-run or
    an edit that is not committed), so that the date and the environment shown are never
    silently those of two different things.
    """

    def run(self) -> list[nodes.Node]:
        import flowapprox

        srcdir = Path(self.env.srcdir)
        environments: dict[str, list[str]] = defaultdict(list)
        records: dict[str, dict[str, str]] = {}
        for docname, path in self.notebooks():
            env = read_environment(path)
            if env is None:
                logger.warning(f"notebook {docname} did not record its environment "
                               "(call flowapprox.setup)", location=self.get_location())
                continue
            env = {k: v for k, v in env.items() if k != "seed" and k not in HOST_KEYS}
            key = json.dumps(env, sort_keys=True)
            environments[key].append(docname)
            records[key] = env
        uncommitted = _uncommitted_notebooks(srcdir)
        items = nodes.bullet_list()
        for label, value, note in (
            ("Book version", flowapprox.__version__,
             " (the version of the flowapprox library, which is versioned with the book; "
             "one place: pyproject.toml)"),
            ("Last commit of the chapter notebooks", _outputs_date(srcdir), ""),
            ("Outputs in this build", "the committed ones" if not uncommitted else
             f"{len(uncommitted)} notebook(s) differ from the last commit",
             "" if not uncommitted else
             " (a local re-run or edit, not committed: " + ", ".join(uncommitted) +
             "; their outputs and environment records below are those of the working tree)"),
        ):
            item = nodes.list_item()
            item += _paragraph(nodes.strong(text=label), ": ", value, note)
            items += item
        out: list[nodes.Node] = [items]
        for key, docs in environments.items():
            out.append(_paragraph(f"Environment recorded in the outputs of {len(docs)} "
                                  "notebook(s) (by flowapprox.setup when they were executed):"))
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


def _version_footer(app: Sphinx, config: Any) -> None:
    """Show the book's version (the package's, the one place it is kept) in every footer."""
    import flowapprox

    options = dict(config.html_theme_options or {})
    footer = (f"<p>flowapprox {flowapprox.__version__} &middot; MIT licence &middot; "
              "cite with the repository's CITATION.cff</p>")
    if footer not in options.get("extra_footer", ""):
        options["extra_footer"] = options.get("extra_footer", "") + footer
    config.html_theme_options = options


def _register_author_year_style() -> None:
    """A pybtex style whose bibliography labels read like the in-text author-year citations.

    The text cites in author-year form (``bibtex_reference_style: author_year``); with this
    style (``bibtex_default_style: flowapprox``) the bibliography lists "Li et al., 2023"
    instead of alphanumeric keys such as [LLS23], and links DOIs and arXiv ids (``doi`` and
    ``eprint`` fields) through the unsrt style's web references.
    """
    from pybtex.plugin import register_plugin
    from pybtex.richtext import Text
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries: Any) -> Iterator[str]:
            labels = list(self._labels(sorted_entries))
            # Same authors and year ("Cheng et al., 2025" twice): 2025a, 2025b, in order.
            counts = {label: labels.count(label) for label in labels}
            seen: dict[str, int] = defaultdict(int)
            for label in labels:
                if counts[label] > 1:
                    seen[label] += 1
                    label += "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
                yield label

        def _labels(self, sorted_entries: Any) -> Iterator[str]:
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = ["".join(p.last_names) or "".join(p.first_names) for p in people]
                # BibTeX markup to text: "{\\'A}lvarez" is "Álvarez" (pybtex's LaTeX reader).
                names = [Text.from_latex(n).render_as("text") for n in names]
                if len(names) > 2:
                    who = f"{names[0]} et al."
                elif len(names) == 2:
                    who = f"{names[0]} and {names[1]}"
                else:
                    who = names[0] if names else entry.key
                yield f"{who}, {entry.fields.get('year', 'n.d.')}"

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.formatting", "flowapprox", AuthorYearStyle, force=True)


_PRF_DIRECTIVE = re.compile(r"^[`:]{3,}\{prf:(\w+)\}[ \t]*(.*)\n((?:[ \t]*:[\w-]+:.*\n)*)", re.M)


def proof_titles(source: str) -> dict[str, tuple[str, str]]:
    """``{label: (kind, title)}`` of the labelled ``prf:`` directives in a MyST source."""
    found = {}
    for match in _PRF_DIRECTIVE.finditer(source):
        label = re.search(r":label:\s*(\S+)", match.group(3))
        if label:
            found[label.group(1)] = (match.group(1), match.group(2).strip())
    return found


def _proof_index_generate(self: Any, docnames: Any = None) -> tuple[list[Any], bool]:
    """sphinx-proof's index as a table of results: grouped by chapter, in reading order,
    each entry "Kind: title" (the directive's title) instead of the bare label."""
    env = self.domain.env
    proofs = getattr(env, "proof_list", {})
    titles: dict[str, tuple[str, str]] = {}
    for docname in sorted({v["docname"] for v in proofs.values()}):
        path = Path(env.doc2path(docname))
        if path.suffix == ".md" and path.exists():
            titles.update(proof_titles(path.read_text(encoding="utf-8")))
    groups: dict[str, list[list[Any]]] = defaultdict(list)
    order = sorted(proofs.items(), key=lambda item: item[1]["docname"])  # stable: source order
    for anchor, values in order:
        kind, title = titles.get(anchor, (values["realtype"], ""))
        heading = _document_title(env, values["docname"])
        title = re.sub(r"\$([^$]*)\$", r"\1", title)  # the index page typesets no math
        name = f"{kind.capitalize()}: {title}" if title else f"{kind.capitalize()} ({anchor})"
        groups[heading].append([name, 0, values["docname"], anchor, "", "", ""])
    return list(groups.items()), False


GLUE_PNG = "application/papermill.record/image/png"


def glued_png(notebook: Path, key: str) -> bytes | None:
    """The PNG bytes of the figure glued as ``key`` (``myst_nb.glue``) in ``notebook``."""
    import base64

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name == key and GLUE_PNG in output.get("data", {}):
                return base64.b64decode(output["data"][GLUE_PNG])
    return None


class GluedFigure(SphinxDirective):
    """A figure glued (``display=False``) in another page's notebook: ``path::key``.

    myst-nb's ``{glue:figure}`` reads only the page's own notebook, and its cross-page
    ``{glue}`` role references an image file that is never written when the figure is not
    displayed on its own page. This directive reads the committed notebook, writes the
    PNG next to myst-nb's outputs (``_build/jupyter_execute/glued/<sha256>.png``) and makes
    a figure of it, so HTML and LaTeX builders copy it like any image. Options: ``alt``,
    ``name`` (a label), ``width``; the content is the caption. Used for the tabs of static
    figures on the chapter pages (the explorers' figures for a few parameter values).
    """

    required_arguments = 1
    has_content = True
    option_spec = {"alt": lambda a: a, "name": lambda a: a, "width": lambda a: a}

    def run(self) -> list[nodes.Node]:
        import hashlib

        path, sep, key = self.arguments[0].partition("::")
        here = Path(self.env.doc2path(self.env.docname)).parent
        notebook = (here / path).resolve()
        if not sep or notebook.suffix != ".ipynb" or not notebook.is_file():
            raise self.error(f"glued-figure: expected <notebook.ipynb>::<key>, got "
                             f"{self.arguments[0]!r}")
        self.env.note_dependency(str(notebook))
        data = glued_png(notebook, key)
        if data is None:
            raise self.error(f"glued-figure: no figure glued as {key!r} in {path}")
        folder = Path(self.env.srcdir) / "_build" / "jupyter_execute" / "glued"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{hashlib.sha256(data).hexdigest()}.png"
        if not target.exists():
            target.write_bytes(data)
        uri = "/" + target.relative_to(Path(self.env.srcdir)).as_posix()
        image = nodes.image(uri=uri, alt=self.options.get("alt", key))
        if "width" in self.options:
            image["width"] = self.options["width"]
        figure = nodes.figure("", image)
        self.set_source_info(figure)
        if self.content:
            holder = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, holder)
            first = holder[0]
            if isinstance(first, nodes.paragraph):
                figure += nodes.caption(first.rawsource, "", *first.children)
        if "name" in self.options:
            self.add_name(figure)
        return [figure]


def _latex_doctree(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """LaTeX builder only (``make pdf``): generated tables, their links, and proofs.

    The generated tables' column widths become ``p{}`` columns (``colwidths-given``), so long statements
    wrap instead of running off the page. The directives' links are relative ``.html``
    URLs of the HTML book (``_BookDirective.link``): a link to a whole page becomes a link
    to that chapter of the PDF; one to an anchor in a notebook's output (a claim's cell,
    which the PDF does not label) becomes plain text.
    """
    if app.builder.format != "latex":
        return
    for table in doctree.findall(nodes.table):
        if "flowapprox-generated" in table["classes"]:
            table["classes"].append("colwidths-given")
    here = posixpath.dirname(docname)
    for ref in list(doctree.findall(nodes.reference)):
        uri = ref.get("refuri", "")
        if not ref.get("internal") or "://" in uri or not uri.split("#")[0].endswith(".html"):
            continue
        page, _, anchor = uri.partition("#")
        target = posixpath.normpath(posixpath.join(here, page))[: -len(".html")]
        if anchor or target not in app.env.all_docs:
            ref.replace_self(nodes.inline("", "", *ref.children))
        else:
            ref["refuri"] = "%" + target  # the LaTeX writer's internal link to a document
    _latex_proofs(doctree)


def _latex_proofs(doctree: nodes.document) -> None:
    """Proofs as in a printed book: sphinx-proof gives a ``prf:proof`` no title, so the
    LaTeX writer drew it as a note box with an empty title bar. Instead: the body as plain
    text, "Proof." in italics, and a closing square."""
    from sphinx_proof.nodes import proof_node

    def raw(tex: str) -> nodes.raw:
        return nodes.raw("", tex, format="latex")

    for proof in list(doctree.findall(proof_node)):
        for box in [child for child in proof.children if isinstance(child, nodes.admonition)]:
            body = list(box.children)
            first = body[0] if body and isinstance(body[0], nodes.paragraph) else None
            if first is not None and isinstance(first[0], nodes.Text) and \
                    first[0].astext().startswith("Proof. "):
                rest = first[0].astext()[len("Proof. "):]
                first.replace(first[0], nodes.Text(rest))
                first.insert(0, nodes.emphasis(text="Proof."))
                first.insert(1, nodes.Text(" "))
            qed = raw(r"\nobreak\hfill\ensuremath{\square}")
            if body and isinstance(body[-1], nodes.paragraph):
                body[-1] += qed
            else:
                body.append(nodes.paragraph("", "", qed))
            box.replace_self([raw("\n\\par\\medskip\n"), *body, raw("\n\\par\\medskip\n")])


def _document_title(env: Any, docname: str) -> str:
    title = env.titles.get(docname)
    return title.astext() if title is not None else docname


def setup(app: Sphinx) -> dict[str, Any]:
    _register_author_year_style()
    from sphinx_proof.domain import ProofIndex

    ProofIndex.generate = _proof_index_generate
    app.connect("config-inited", _version_footer)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("doctree-resolved", _latex_doctree)
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_directive("theory-map", TheoryMap)
    app.add_directive("notebook-parameters", NotebookParameters)
    app.add_directive("execution-times", ExecutionTimes)
    app.add_directive("build-environment", BuildEnvironment)
    app.add_directive("book-status", BookStatus)
    app.add_directive("glued-figure", GluedFigure)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
