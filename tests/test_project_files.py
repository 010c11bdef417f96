"""Licence, citation metadata and changelog: present and agreeing with the package version.

The version lives in one place, ``pyproject.toml`` (read at run time as
``flowapprox.__version__``); ``CITATION.cff`` and the changelog's latest release repeat it,
and the built book shows it in its footer (checked by the ``built`` test below).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

import flowapprox

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_package_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert flowapprox.__version__ == declared["version"]


def test_licence_is_mit_as_declared() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "MIT" in str(declared["license"])


def test_citation_file() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert str(cff["version"]) == flowapprox.__version__
    assert cff["license"] == "MIT"
    assert {"title", "authors", "message"} <= set(cff)
    [paper] = cff["references"]
    assert paper["doi"] == "10.4171/JEMS/1221"
    assert [a["family-names"] for a in paper["authors"]] == ["Li", "Lin", "Shen"]


def test_changelog_latest_release_is_the_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(\d[^\]]*)\]", text, re.M)
    assert releases and releases[0] == flowapprox.__version__


@pytest.mark.built
def test_footer_shows_the_version() -> None:
    page = ROOT / "_build" / "html" / "intro.html"
    if not page.exists():
        pytest.skip("no built book (make html)")
    assert f"flowapprox {flowapprox.__version__}" in page.read_text(encoding="utf-8")
