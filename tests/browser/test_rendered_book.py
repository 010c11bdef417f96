"""Drive headless Chromium over every page of the built book, offline.

A page fails if any math is left untypeset or MathJax reports an error, an image fails to
load, an internal link points to a missing page or anchor, the console shows an error, a
request leaves localhost, or (chapter pages) its numbered theorems/definitions or (notebook
pages) its figures are missing or have panels narrower than 200 px at 1280 px page width
(too many panels in one row). Screenshots of the start page and of Chapter 1 are saved
under ``_build/screenshots/`` for people to look at.
"""

from __future__ import annotations

import functools
import html.parser
import re
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from .conftest import HTML, SCREENSHOTS

pytestmark = pytest.mark.browser

SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html", "prf-prf.html"}


def book_pages() -> list[str]:
    if not HTML.exists():
        return []
    pages = []
    for path in sorted(HTML.rglob("*.html")):
        rel = path.relative_to(HTML).as_posix()
        if rel.startswith(("_static/", "_sources/", "_images/")) or rel in SKIP_PAGES:
            continue
        if path.stat().st_size < 2000 and "http-equiv" in path.read_text(errors="ignore"):
            continue  # redirect stub (index.html -> intro.html)
        pages.append(rel)
    return pages


class _Ids(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def anchors(rel_path: str) -> frozenset[str]:
    parser = _Ids()
    parser.feed((HTML / rel_path).read_text(encoding="utf-8"))
    return frozenset(parser.ids)


# JavaScript run in the page after MathJax finished.
_PAGE_REPORT = """
() => {
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, textarea, .highlight')
       .forEach(e => e.remove());
  const text = clone.innerText;
  const raw = [];
  for (const token of ['\\\\(', '\\\\[', '$$']) { if (text.includes(token)) raw.push(token); }
  const mathNodes = [...document.querySelectorAll('.math')];
  return {
    raw_math: raw,
    math_nodes: mathNodes.length,
    untypeset: mathNodes.filter(e => !e.querySelector('mjx-container')).length,
    mathjax_errors: document.querySelectorAll('mjx-merror').length,
    broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                                        .map(i => i.getAttribute('src')),
    images: document.querySelectorAll('main img, article img').length,
    numbered: [...document.querySelectorAll('.proof .caption-number, .admonition-title .caption-number')]
                .map(e => e.textContent.trim()),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    figures: [...document.querySelectorAll('.cell_output img')]
               .filter(i => i.complete && i.naturalWidth > 0)
               .map(i => ({src: i.getAttribute('src'), natural: i.naturalWidth,
                           rendered: i.getBoundingClientRect().width})),
  };
}
"""


@pytest.mark.parametrize("page_path", book_pages())
def test_page(page_path: str, browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    problems: list[str] = []
    host = urlparse(base_url).netloc

    def route(route):  # type: ignore[no-untyped-def]
        if urlparse(route.request.url).netloc == host or route.request.url.startswith("data:"):
            route.continue_()
        else:
            problems.append(f"request leaves localhost: {route.request.url}")
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: msg.type == "error" and problems.append(
        f"console error: {msg.text}"))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(
        f"HTTP {r.status} for {r.url}"))
    page.goto(base_url + page_path, wait_until="load")
    page.wait_for_function(
        "() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)", timeout=20000)
    page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
    report = page.evaluate(_PAGE_REPORT)

    if report["raw_math"]:
        problems.append(f"untypeset math delimiters in the text: {report['raw_math']}")
    if report["untypeset"]:
        problems.append(f"{report['untypeset']} of {report['math_nodes']} math nodes untypeset")
    if report["mathjax_errors"]:
        problems.append(f"{report['mathjax_errors']} MathJax errors")
    if report["broken_images"]:
        problems.append(f"images failed to load: {report['broken_images']}")
    problems += check_links(page_path, report["links"], base_url)
    if re.fullmatch(r"chapters/[^/]+/index\.html", page_path) and not any(
        re.match(r"(Theorem|Definition|Proposition)\s", n) for n in report["numbered"]
    ):
        problems.append(f"chapter page without numbered theorems/definitions: {report['numbered']}")
    if re.fullmatch(r"chapters/[^/]+/(?!index)[^/]+\.html", page_path) and report["images"] == 0:
        problems.append("notebook page without figures")

    problems += narrow_figures(report["figures"])

    if page_path in ("intro.html", "chapters/01-resnets-as-flows/index.html"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = Path(page_path).with_suffix(".png").as_posix().replace("/", "--")
        page.screenshot(path=str(SCREENSHOTS / name), full_page=False)
    page.close()
    assert not problems, f"{page_path}:\n  " + "\n  ".join(problems)


def check_links(page_path: str, links: list[str], base_url: str) -> list[str]:
    """Internal links must point to an existing page and, if given, an existing anchor."""
    problems = []
    for link in links:
        if not link.startswith(base_url):
            continue
        url, fragment = urldefrag(link)
        target = unquote(url[len(base_url):]) or "index.html"
        if target.endswith("/"):
            target += "index.html"
        if not (HTML / target).exists():
            problems.append(f"broken link to {target}")
        elif fragment and target.endswith(".html") and unquote(fragment) not in anchors(target):
            problems.append(f"broken anchor {target}#{fragment}")
    return problems


#: Natural width in pixels of one panel of a book figure (``plotting.PANEL_SIZE`` x ``DPI``).
PANEL_PIXELS = 420
#: Smallest rendered width of one panel (the viewport is 1280 px, narrower than 1400 px).
MIN_PANEL_PIXELS = 200


def narrow_figures(figures: list[dict[str, object]]) -> list[str]:
    """Figures whose panels render narrower than ``MIN_PANEL_PIXELS`` (too many in a row)."""
    problems = []
    for fig in figures:
        natural, rendered = float(fig["natural"]), float(fig["rendered"])  # type: ignore[arg-type]
        panels = max(1, round(natural / PANEL_PIXELS))
        if rendered / panels < MIN_PANEL_PIXELS:
            problems.append(
                f"figure {fig['src']}: {panels} panels in a row render {rendered / panels:.0f} px "
                f"wide each (at least {MIN_PANEL_PIXELS}): lay them out in rows"
            )
    return problems
