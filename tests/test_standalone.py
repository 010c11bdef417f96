"""The library on its own: a wheel of flowapprox installs into a fresh virtual environment
with only its runtime dependencies and runs the README's example (issue: the library must
not need the book's stack). Uses the package index for the dependencies, with the book's
pins from requirements.txt as constraints so that the CPU build of torch is taken."""

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK_ONLY = ("myst_nb", "jupyter_book", "papermill", "nbformat", "IPython", "sphinx")


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"standalone-example: begin.*?```python\n(.*?)```", text, re.S)
    assert match, "README.md has no standalone example block"
    return match.group(1)


def test_readme_example_is_marked():
    assert "construct(target, box, 32)" in readme_example()


@pytest.mark.standalone
def test_library_installs_and_runs_alone(tmp_path):
    # Build from a copy of the sources, so that setuptools' build/ stays out of the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "lib", source / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(source)], check=True)
    (wheel,) = wheels.glob("flowapprox-*.whl")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(re.sub(r"\[.*?\]", "", line) + "\n" for line in
                                   (ROOT / "requirements.txt").read_text().splitlines()
                                   if line and not line.startswith(("#", "-e"))))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints),
                    str(wheel)], check=True)
    check = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print([m for m in "
         f"{BOOK_ONLY!r} if u.find_spec(m)])"], capture_output=True, text=True, check=True)
    assert check.stdout.strip() == "[]", f"book-only packages installed: {check.stdout}"
    run = subprocess.run([str(python), "-c", readme_example()], cwd=tmp_path,
                         capture_output=True, text=True, env={"MPLBACKEND": "Agg",
                                                              "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"L2 error 0\.012, 1157 neurons, time cost 9\.05e\+04\n", run.stdout), \
        run.stdout
    assert (tmp_path / "approximant.png").stat().st_size > 10_000
