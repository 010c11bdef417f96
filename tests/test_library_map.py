"""The library's map, kept true by tests: API page, theory-to-code map, module layering."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import flowapprox
from tools.book_ext import book_labels, implemented_labels, library_implementations

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "flowapprox"
PUBLIC = sorted(info.name for info in pkgutil.iter_modules(flowapprox.__path__)
                if not info.name.startswith("_"))
#: Modules documented in the ``flowapprox`` section of the API page (re-exported there).
REEXPORTED = {"controls", "families", "flows", "metrics", "piecewise", "reproducibility",
              "training"}


def test_api_page_documents_every_public_submodule():
    page = (ROOT / "appendix" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. automodule:: flowapprox\.(\w+)", page, re.MULTILINE))
    missing = [name for name in PUBLIC if name not in documented and name not in REEXPORTED]
    assert not missing, f"appendix/api.md lacks an automodule section for {missing}"
    assert ".. automodule:: flowapprox\n" in page


def test_package_docstring_lists_every_public_submodule():
    listed = set(re.findall(r"``flowapprox\.(\w+)``", flowapprox.__doc__ or ""))
    assert set(PUBLIC) <= listed, sorted(set(PUBLIC) - listed)


def test_every_implemented_label_is_a_result_of_the_book():
    labels = book_labels(ROOT)
    table = library_implementations()
    assert table, "no library object says which result it implements"
    unknown = {label: names for label, names in table.items() if label not in labels}
    assert not unknown, unknown


def test_implemented_labels_reads_implements_sentences_only():
    doc = "See :prf:ref:`a-x`.\n\nImplements :prf:ref:`b-y` and :prf:ref:`c-z`. Also :prf:ref:`d`."
    assert implemented_labels(doc) == ["b-y", "c-z"]
    assert implemented_labels(None) == []


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported relative to the package, names) for every import of a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.append((node.module or "", [alias.name for alias in node.names]))
            elif node.module and node.module.startswith("flowapprox"):
                found.append((node.module.removeprefix("flowapprox").lstrip("."),
                              [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


@pytest.mark.parametrize("path", sorted(LIB.glob("*.py")), ids=lambda p: p.stem)
def test_no_module_imports_another_modules_private_names(path):
    for module, names in _imports(path):
        if module in ("_validation", "_types"):
            continue  # the shared private layer
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{path.name} imports private names {private} from {module}"


#: Presentation modules: they may import plotting (explorers draws its views with it).
PRESENTATION = {"plotting", "reproducibility", "claims", "explorers"}
DOMAIN = sorted(set(PUBLIC) - PRESENTATION)


@pytest.mark.parametrize("name", DOMAIN)
def test_domain_modules_do_not_import_plotting_or_matplotlib(name):
    imports = _imports(LIB / f"{name}.py")
    bad = [m for m, _ in imports if m == "plotting" or m.startswith("matplotlib")]
    assert not bad, f"flowapprox.{name} imports {bad}; figures belong in flowapprox.plotting"


@pytest.mark.parametrize("name", sorted(PRESENTATION - {"plotting"}))
def test_only_plotting_imports_matplotlib(name):
    bad = [m for m, _ in _imports(LIB / f"{name}.py") if m.startswith("matplotlib")]
    assert not bad, f"flowapprox.{name} imports {bad}; only flowapprox.plotting may"


def test_public_submodules_import():
    for name in PUBLIC:
        importlib.import_module(f"flowapprox.{name}")


#: Core modules (serve every chapter) and the chapter of every other public module. Keep in
#: step with the package docstring and the table in CONTRIBUTING.md.
CORE = {"_types", "_validation", "claims", "controls", "cost", "families", "flows", "metrics",
        "models", "piecewise", "plotting", "reproducibility", "training"}
CHAPTER = {"splitting": 2, "wells": 2, "monotone": 3, "node1d": 3, "collapse": 3,
           "construction": 4, "profiles": 4, "baselines": 4, "node": 4, "examples": 4,
           "explorers": 4,
           "obstructions": 5, "annuli": 5, "rates": 6, "interpolation": 7}


def test_every_module_is_core_or_belongs_to_a_chapter():
    modules = {path.stem for path in LIB.glob("*.py")} - {"__init__"}
    assert modules == CORE | set(CHAPTER), sorted(modules ^ (CORE | set(CHAPTER)))


@pytest.mark.parametrize("path", sorted(LIB.glob("*.py")), ids=lambda p: p.stem)
def test_imports_follow_the_layering(path):
    """Core imports only core; a chapter module imports core and its own or earlier chapters."""
    name = path.stem
    for module, _ in _imports(path):
        target = module.split(".")[0]
        if target not in CORE and target not in CHAPTER:
            continue  # third-party
        if name in CORE or name == "__init__":
            allowed = target in CORE or (name == "__init__")
        else:
            allowed = target in CORE or CHAPTER.get(target, 99) <= CHAPTER[name]
        assert allowed, f"flowapprox.{name} may not import flowapprox.{target}"


def test_every_supported_label_is_a_result_of_the_book():
    from tools.book_ext import read_claims

    labels = book_labels(ROOT)
    for notebook in sorted(ROOT.glob("chapters/*/*.ipynb")):
        for claim in read_claims(notebook):
            unknown = [label for label in claim.get("supports", []) if label not in labels]
            assert not unknown, f"{notebook.name}: claim {claim['id']} supports unknown {unknown}"


def test_docstrings_hold_no_control_characters():
    """A TeX macro in a non-raw docstring ("\\approx", "\\text") becomes a control character
    and breaks the math in the API reference; docstrings with TeX must be raw strings."""
    import ast

    bad = []
    for path in sorted(LIB.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False) or ""
                if any(ch in doc for ch in "\a\b\f\v\r\t"):
                    bad.append(f"{path.name}:{getattr(node, 'name', '<module>')}")
    assert not bad, f"docstrings with control characters (use r'''...'''): {bad}"
