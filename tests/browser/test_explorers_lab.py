"""An explorer as a reader uses it: JupyterLab in headless Chromium, widgets in the browser.

A copy of the Chapter 4 explorer (under ``_build``, so that Lab's autosave never touches the
committed notebook) is opened in the JupyterLab server of ``test_lab.py`` (its fixture), its
one code cell is run with Shift-Enter once the kernel is idle, and the test waits for the widget's image; it then
types a rejected target (the summary says why and the image stays) and a valid one (a new
image). No request may leave localhost. A screenshot goes to ``_build/screenshots/``.
"""

from __future__ import annotations

import re
import shutil

import pytest

from .conftest import ROOT, SCREENSHOTS
from .test_lab import KERNEL_DISPLAY, PANEL, chromium, lab  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

NOTEBOOK = "chapters/04-universal-approximation/explore.ipynb"
COPY = "_build/lab-explorer/explore.ipynb"  # ignored by git; Lab may autosave it
IMAGE = f"{PANEL} .jp-OutputArea img"
SUMMARY = f"{PANEL} .jp-OutputArea .widget-html-content"


def test_construction_explorer_runs_in_lab(lab: tuple[str, str], chromium) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, token = lab
    (ROOT / COPY).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / NOTEBOOK, ROOT / COPY)
    page = chromium.new_page(viewport={"width": 1400, "height": 1200})
    left: list[str] = []
    host = base.split("//", 1)[1]

    def route(route):  # type: ignore[no-untyped-def]
        url = route.request.url
        if url.split("//", 1)[-1].startswith(host) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            left.append(url)
            route.abort()

    page.route("**/*", route)
    try:
        page.goto(f"{base}/lab/workspaces/explorer/tree/{COPY}?reset&token={token}",
                  wait_until="load")
        page.wait_for_function(
            f"() => [...document.querySelectorAll('{PANEL} .jp-KernelName, "
            f"{PANEL} .jp-Toolbar-kernelName')].some(e => e.innerText.trim() === "
            f"'{KERNEL_DISPLAY}')", timeout=90_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
            ".some(e => /\\| Idle/.test(e.innerText))", timeout=90_000)
        page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-editor").first.click()
        page.keyboard.press("Shift+Enter")
        page.wait_for_selector(IMAGE, timeout=60_000)
        page.wait_for_function(
            f"() => [...document.querySelectorAll('{SUMMARY}')]"
            ".some(e => e.innerText.includes('neurons'))", timeout=60_000)
        first = page.locator(IMAGE).first.get_attribute("src")
        box = page.locator(f"{PANEL} .jp-OutputArea .widget-text input").first
        box.fill("__import__('os').system('true')")
        box.press("Enter")
        page.wait_for_function(
            f"() => [...document.querySelectorAll('{SUMMARY}')]"
            ".some(e => e.innerText.includes('Not shown'))", timeout=60_000)
        assert page.locator(IMAGE).first.get_attribute("src") == first
        box.fill("abs(x1 - x2)")
        box.press("Enter")
        page.wait_for_function(
            f"() => [...document.querySelectorAll('{SUMMARY}')]"
            ".some(e => e.innerText.includes('neurons'))", timeout=60_000)
        page.wait_for_function(
            f"() => document.querySelector('{IMAGE}').src !== {first!r}", timeout=60_000)
        text = page.locator(SUMMARY).all_inner_texts()
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the last state, also on failure
        page.screenshot(path=str(SCREENSHOTS / "lab--explorer--chapter-04.png"))
        page.close()
    assert any(re.search(r"L2 error \d", t) for t in text), text
    assert not left, f"requests left localhost: {left}"
