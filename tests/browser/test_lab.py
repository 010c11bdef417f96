"""The chapter notebooks as a reader sees them in JupyterLab, in headless Chromium.

A JupyterLab server from ``.venv`` is started on a free loopback port with a random token,
the settings ``make lab`` ships (``tools/lab/overrides.json``) and an empty user-settings
folder in which only notebook windowing is switched off (so every cell is rendered). Each
chapter notebook is opened; the test waits for jupyterlab-myst to render its markdown and
fails if a rendered markdown cell shows a raw MyST role (``{doc}``, ``{py:...}``,
``{glue:...}``, ``{prf:...}``, ``{cite}``, ...), raw ``$...$`` math, a MyST error, a
kernel other than the book's, or the Jupyter-news question that the shipped settings
switch off. A screenshot of the first chapter notebook goes to
``_build/screenshots/``. The server is stopped by its process id at the end. No request
leaves the machine: requests to other hosts are aborted and reported.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .conftest import CHROMIUM_FLAGS, ROOT, SCREENSHOTS, chromium_path

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("chapters/*/*.ipynb"))
# start-here.ipynb: what `make lab` opens (tests/test_lab.py checks it renders too)
LAB_PAGES = [*NOTEBOOKS, "start-here.ipynb"]
KERNEL_DISPLAY = "Python (flowapprox)"
LAB_OVERRIDES = ROOT / "tools" / "lab" / "overrides.json"
JUPYTER = Path(sys.executable).with_name("jupyter")
RAW_ROLE = re.compile(r"\{(?:doc|ref|numref|eq|py:\w+|glue(?::\w+)?|prf:\w+|cite(?::\w+)?|download|term)\}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[str, str]]:
    """A JupyterLab server on loopback: (base URL, token). Stopped by pid at the end."""
    port, token = _free_port(), secrets.token_hex(24)
    with tempfile.TemporaryDirectory(prefix="flowapprox-lab-") as tmp:
        user = Path(tmp) / "user-settings" / "@jupyterlab" / "notebook-extension"
        user.mkdir(parents=True)
        (user / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        app_settings = Path(tmp) / "app-settings"
        app_settings.mkdir()
        shutil.copy(LAB_OVERRIDES, app_settings / "overrides.json")  # what `make lab` installs
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(Path(tmp) / "user-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(Path(tmp) / "workspaces"),
                   JUPYTER_CONFIG_DIR=str(Path(tmp) / "config"), OMP_NUM_THREADS="1")
        log = open(Path(tmp) / "lab.log", "w+", encoding="utf-8")  # noqa: SIM115
        command = [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                   f"--IdentityProvider.token={token}", f"--LabApp.app_settings_dir={app_settings}",
                   "--ServerApp.port_retries=0", f"--ServerApp.root_dir={ROOT}"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        pytest.fail(f"JupyterLab did not start:\n{log.read()[-3000:]}")
                    time.sleep(0.5)
            yield base, token
        finally:
            proc.terminate()  # by pid: only the server this fixture started
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


# Text of every rendered markdown cell (jupyterlab-myst renders into `.myst`; plain Lab into
# `.jp-RenderedMarkdown`), without code, typeset math and the hidden editor.
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
_MARKDOWN_REPORT = """
() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell')].map((cell, index) => {
  const rendered = cell.querySelector('.myst, .jp-RenderedMarkdown');
  if (!rendered) return {index, rendered: false, text: '', errors: 0};
  const clone = rendered.cloneNode(true);
  clone.querySelectorAll('code, pre, .katex, mjx-container, script, style').forEach(e => e.remove());
  return {index, rendered: true, text: clone.innerText,
          math: rendered.querySelectorAll('.katex, mjx-container').length,
          errors: rendered.querySelectorAll('.myst-error, [class*="text-red"]').length};
})
"""


@pytest.mark.parametrize("notebook", LAB_PAGES)
def test_notebook_renders_in_lab(notebook: str, lab: tuple[str, str], chromium) -> None:  # type: ignore[no-untyped-def]
    base, token = lab
    expected = sum(c["cell_type"] == "markdown"
                   for c in json.loads((ROOT / notebook).read_text(encoding="utf-8"))["cells"])
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    host = urlparse(base).netloc

    def route(route):  # type: ignore[no-untyped-def]
        url = route.request.url
        if urlparse(url).netloc == host or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            problems.append(f"request leaves localhost: {url}")
            route.abort()

    page.route("**/*", route)
    try:
        # A workspace of its own per notebook: only this notebook is open.
        workspace = re.sub(r"\W+", "-", notebook)
        page.goto(f"{base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}",
                  wait_until="load")
        # Rendering is asynchronous: wait until every markdown cell has rendered output.
        page.wait_for_function(
            f"() => {{ const c = [...document.querySelectorAll('{PANEL} .jp-MarkdownCell')];"
            f" return c.length === {expected} && c.every(x => x.querySelector('.myst, .jp-RenderedMarkdown')); }}",
            timeout=90_000)
        page.wait_for_function(
            f"() => [...document.querySelectorAll('{PANEL} .jp-KernelName, {PANEL} .jp-Toolbar-kernelName')]"
            f".some(e => e.innerText.trim() === {json.dumps(KERNEL_DISPLAY)})", timeout=60_000)
        page.wait_for_timeout(1000)
        cells = page.evaluate(_MARKDOWN_REPORT)
        if "official Jupyter news" in page.evaluate("() => document.body.innerText"):
            problems.append("JupyterLab asks about Jupyter news (tools/lab/overrides.json not applied)")
        kernel = page.eval_on_selector_all(f"{PANEL} .jp-KernelName, {PANEL} .jp-Toolbar-kernelName",
                                           "els => els.map(e => e.innerText.trim())")
        if notebook == NOTEBOOKS[0]:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = "lab--" + Path(notebook).with_suffix(".png").as_posix().replace("/", "--")
            page.screenshot(path=str(SCREENSHOTS / name))
    finally:
        page.close()

    assert cells, f"{notebook}: no markdown cells found"
    for cell in cells:
        where = f"markdown cell {cell['index'] + 1}"
        if not cell["rendered"]:
            problems.append(f"{where}: not rendered")
            continue
        raw = sorted(set(RAW_ROLE.findall(cell["text"])))
        if raw:
            problems.append(f"{where}: raw MyST role(s) {raw}: {cell['text'][:160]!r}")
        if re.search(r"\$[^$\s][^$]*\$|\\\(|\\\[", cell["text"]):
            problems.append(f"{where}: raw TeX in {cell['text'][:160]!r}")
        if cell["errors"]:
            problems.append(f"{where}: {cell['errors']} MyST error(s)")
    if KERNEL_DISPLAY not in kernel:
        problems.append(f"kernel shown is {kernel}, expected {KERNEL_DISPLAY!r}")
    assert not problems, f"{notebook} in JupyterLab:\n  " + "\n  ".join(problems)
