"""Checks of the PDF built by ``make pdf`` (run by ``make test-pdf``, which builds it first).

The PDF is typeset by XeLaTeX from Sphinx's LaTeX output. These tests read the LaTeX log
and the PDF's text (``pdftotext``, from poppler-utils) and make sure that LaTeX reported
no error, no missing glyph and no unresolved reference, that every chapter and appendix of
``_toc.yml`` is in the PDF under its title, and that the theorems, proofs, figures,
claims ledger and bibliography survived the conversion without raw MyST left over.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.book_ext import read_claims

pytestmark = pytest.mark.built

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "_build" / "pdf" / "book.pdf"
LATEX = ROOT / "_build" / "latex"


def _require_pdf() -> None:
    if not PDF.exists():
        pytest.skip(f"no {PDF.relative_to(ROOT)}: run `make pdf` (or `make test-pdf`)")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not found (Debian: apt-get install poppler-utils)")


def _flat(text: str) -> str:
    """Text with the superscript p as a plain p, no spaces and no hyphenation breaks."""
    text = text.replace("ᵖ", "p").replace("-\n", "")
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def pages() -> list[str]:
    _require_pdf()
    out = subprocess.run(["pdftotext", "-layout", str(PDF), "-"], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return out.split("\f")


@pytest.fixture(scope="module")
def log() -> str:
    _require_pdf()
    return (LATEX / "book.log").read_text(encoding="utf-8", errors="replace")


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = []
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def _title(docname: str) -> str:
    for line in (ROOT / f"{docname}.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise AssertionError(f"{docname}.md has no title")


def test_pdf_is_newer_than_the_latex_it_came_from() -> None:
    _require_pdf()
    assert PDF.stat().st_mtime >= (LATEX / "book.tex").stat().st_mtime, \
        "book.pdf is older than book.tex: run make pdf"


def test_latex_log_has_no_errors_missing_glyphs_or_unresolved_references(log: str) -> None:
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert not errors, f"LaTeX errors: {errors[:5]}"
    missing = sorted(set(re.findall(r"Missing character: There is no (\S+ \(U\+\w+\))", log)))
    assert not missing, f"characters missing from the fonts: {missing}"
    for pattern in (r"Reference `[^']*' on page \d+ undefined", r"Citation `[^']*' .*undefined",
                    r"There were undefined references", r"Label\(s\) may have changed"):
        assert not re.search(pattern, log), f"LaTeX log: {re.search(pattern, log).group(0)}"


def test_every_chapter_and_appendix_is_in_the_pdf(pages: list[str]) -> None:
    chapters = [f for f in _toc_files() if f.endswith("/index") or f.startswith("appendix/")
                or f == "bibliography"]
    text = _flat("".join(pages))
    contents = _flat("".join(pages[:12]))  # the table of contents
    for docname in chapters:
        title = _flat(_title(docname))
        assert title in contents, f"{docname}: title {_title(docname)!r} not in the contents"
        assert text.count(title) >= 2, f"{docname}: title {_title(docname)!r} not in the body"


def test_theorems_proofs_and_cross_references_survive(pages: list[str]) -> None:
    text = "".join(pages)
    assert re.search(r"Theorem 1\.2\.1 \(Flow maps are orientation", text)
    assert len(re.findall(r"\bProof\. ", text)) >= 20
    # ({glue:text} is quoted as code in the prose, so it is no sign of unrendered markup.)
    for raw in ("{prf:ref}", "{prf:", "{cite}", "{numref}", "```", ":::", "\\(", "$$"):
        assert raw not in text, f"raw markup {raw!r} in the PDF"
    assert "??" not in text, "an unresolved LaTeX reference (??) in the PDF"


def test_every_figure_is_included() -> None:
    _require_pdf()
    tex = (LATEX / "book.tex").read_text(encoding="utf-8")
    graphics = re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{?([^}]+)\}", tex)
    assert len(graphics) >= 20
    for name in graphics:
        assert list(LATEX.glob(Path(name).name + "*")), f"figure file {name} missing"
    if shutil.which("pdfimages"):
        listing = subprocess.run(["pdfimages", "-list", str(PDF)], capture_output=True,
                                 text=True, check=True, timeout=120).stdout
        images = [row for row in listing.splitlines()[2:] if " image " in row]
        assert len(images) >= len(set(graphics))


def test_claims_ledger_lists_every_claim(pages: list[str]) -> None:
    text = _flat("".join(pages))
    claims = [c for path in sorted(ROOT.glob("chapters/*/*.ipynb")) for c in read_claims(path)]
    held = sum(bool(c["passed"]) for c in claims)
    assert _flat(f"{len(claims)} claims in") in text
    assert _flat(f"; {held} hold, {len(claims) - held} fail.") in text
    for claim in claims:
        assert _flat(claim["id"]) in text, f"claim {claim['id']} not in the PDF"


def test_bibliography_is_printed(pages: list[str]) -> None:
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    main = re.search(r"@\w+\{li2023deep,.*?title\s*=\s*[{\"](.+?)[}\"],\s*\n", bib, re.S)
    assert main, "references.bib has no li2023deep title"
    title = re.sub(r"[{}]", "", main.group(1))
    last = pages[-40:]
    assert any(_flat(title).lower()[:40] in _flat(page).lower() for page in last), \
        "the bibliography (title of li2023deep) is not near the end of the PDF"
    labels = re.findall(r"^\s*\[([^\]]+, \d{4}[a-z]?)\]", "".join(last), re.M)
    assert labels, "no author-year labels in the bibliography"
    assert not [label for label in labels if re.search(r"[\\{}]", label)], \
        "BibTeX markup in a bibliography label"
