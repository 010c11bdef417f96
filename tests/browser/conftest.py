"""Fixtures for the real-browser tests (``make test`` stage 4): the built book and JupyterLab.

The HTML in ``_build/html`` is served on localhost and visited with the system's headless
Chromium through Playwright (``executable_path``; Playwright never downloads a browser
here). Every request to another host is blocked and reported, so the test proves the book
works offline. The JupyterLab test (``test_lab.py``) starts its own server (see there).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    """The system Chromium (``CHROMIUM`` overrides), or None."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_chromium = "no system Chromium (install Debian's chromium; .ci/run does)"
    no_book = "no built book in _build/html (run make html first)"
    for item in items:
        if "browser" not in item.keywords:
            continue
        if chromium_path() is None:
            item.add_marker(pytest.mark.skip(reason=no_chromium))
        elif "base_url" in getattr(item, "fixturenames", ()) and not (HTML / "index.html").exists():
            item.add_marker(pytest.mark.skip(reason=no_book))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """Serve ``_build/html`` on an ephemeral localhost port."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()
