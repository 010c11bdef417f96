"""Checks of the built HTML against the committed notebooks (``make test`` stage 3).

The claims ledger is generated at build time from the notebooks' outputs; these tests read
the rendered page and make sure that every claim a notebook recorded is on it, with the
same value and verdict, and that every claim links to the cell that checks it.
"""

from __future__ import annotations

import html.parser
from pathlib import Path

import pytest
import yaml

from tools.book_ext import read_claims

pytestmark = pytest.mark.built

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
LEDGER = HTML / "appendix" / "claims.html"


class _Rows(html.parser.HTMLParser):
    """Collect the text of every table row and every link target of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a":
            self.links.extend(v for k, v in attrs if k == "href" and v)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def ledger() -> _Rows:
    if not LEDGER.exists():
        pytest.skip("no built book (run make html)")
    parser = _Rows()
    parser.feed(LEDGER.read_text(encoding="utf-8"))
    return parser


def book_notebooks() -> list[Path]:
    """The notebooks listed in ``_toc.yml`` (the ones that are part of the book)."""
    def files(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["file"]] if "file" in node else []
            return found + [f for value in node.values() for f in files(value)]
        if isinstance(node, list):
            return [f for item in node for f in files(item)]
        return []

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [ROOT / f"{f}.ipynb" for f in files(toc) if (ROOT / f"{f}.ipynb").exists()]


def recorded_claims() -> list[tuple[Path, dict]]:
    return [(path, claim) for path in book_notebooks() for claim in read_claims(path)]


def test_every_recorded_claim_is_on_the_ledger_and_holds(ledger: _Rows) -> None:
    # the claims tables (six columns); the theory map above them has three
    rows = {row[0]: row for row in ledger.rows if len(row) == 6 and row[0] != "claim"}
    claims = recorded_claims()
    assert claims, "the notebooks record no claims"
    missing = [c["id"] for _, c in claims if c["id"] not in rows]
    assert not missing, f"claims missing from the ledger page: {missing}"
    for _, claim in claims:
        _, statement, value, criterion, fails_if, verdict = rows[claim["id"]]
        assert (value, criterion) == (claim["value"], claim["criterion"]), claim["id"]
        assert fails_if.startswith("fails if value "), f"{claim['id']}: would fail if {fails_if!r}"
        assert verdict == "holds", f"{claim['id']}: {verdict}"
    assert len(rows) == len(claims), "the ledger lists claims that no notebook records"


def test_every_ledger_entry_links_to_its_cell(ledger: _Rows) -> None:
    for path, claim in recorded_claims():
        page = path.relative_to(ROOT).with_suffix(".html").as_posix()
        target = f"../{page}#claim-{claim['id']}"
        assert target in ledger.links, f"no link {target}"
        assert f'id="claim-{claim["id"]}"' in (HTML / page).read_text(encoding="utf-8")


def test_the_theory_map_lists_results_with_objects_and_claims(ledger: _Rows) -> None:
    from tools.book_ext import library_implementations

    rows = [row for row in ledger.rows if len(row) == 3 and row[0] != "result"]
    assert rows, "the theory map is empty"
    shown = " ".join(" ".join(row) for row in rows)
    for label, names in library_implementations().items():
        assert label in shown, f"the theory map lacks {label}"
        for name in names:
            assert name in shown, f"the theory map lacks {name}"
    supported = {label for _, claim in recorded_claims() for label in claim.get("supports", [])}
    assert supported and all(label in shown for label in supported)


@pytest.mark.parametrize("page", ["chapters/01-resnets-as-flows/index.html",
                                  "chapters/02-flows-and-control-families/index.html",
                                  "chapters/03-one-dimension/index.html",
                                  "chapters/04-universal-approximation/index.html"])
def test_chapter_pages_show_the_explorers_figures_in_tabs(page: str) -> None:
    """Tabs (sphinx-design) over figures glued by the notebooks; every image file exists."""
    import re

    path = HTML / page
    if not path.exists():
        pytest.skip("no built book (run make html)")
    text = path.read_text(encoding="utf-8")
    assert text.count('class="sd-tab-content') == 3, "three tabs expected"
    images = re.findall(r'<img alt="[^"]+" src="([^"]+/[0-9a-f]{64}\.png)"', text)
    assert len(images) >= 3
    for src in images:
        assert (path.parent / src).resolve().is_file(), f"{page}: missing image {src}"
    assert not list(HTML.glob("chapters/*/explore.html")), "explorers are not pages"
