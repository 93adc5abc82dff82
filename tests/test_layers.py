"""The layers hold: labels <- model <- (training | inference) <- root; the stages never meet.

``lint-imports`` (import-linter) checks the contracts in pyproject.toml against every
import, lazy ones inside functions included. Its import graph (grimp) walks one package
directory, while pyproject maps framescope's subpackages from top-level folders
(``labels/``, ``model/``, ...), so the test first lays the sources out as the installed
package would (a copy under ``tmp_path/framescope``) and lints that copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _installed_layout(dest: Path) -> Path:
    """Copy every mapped package's ``.py`` files to where an installed ``framescope`` has them."""
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        top = max((p for p in mapping if package == p or package.startswith(p + ".")), key=len)
        src = ROOT / mapping[top] / package[len(top) :].lstrip(".").replace(".", "/")
        out = dest / package.replace(".", "/")
        out.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.py"):
            shutil.copy2(f, out / f.name)
    return dest


def _lint(tmp_path: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("importlinter")
    tree = _installed_layout(tmp_path / "src")
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(
        [sys.executable, "-c", LINT, str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_import_contracts_hold(tmp_path):
    proc = _lint(tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout and "KEPT" in proc.stdout


@pytest.mark.slow
def test_import_contracts_catch_a_lazy_cross_stage_import(tmp_path):
    """The check is not vacuous: one function-level import of inference from training breaks it."""
    tree = _installed_layout(tmp_path / "src")
    victim = tree / "framescope" / "training" / "train.py"
    victim.write_text(
        victim.read_text(encoding="utf-8")
        + "\n\ndef _leak():\n    from framescope.inference import exports  # noqa: F401\n",
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run(
        [sys.executable, "-c", LINT, str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout[-4000:]
    assert "BROKEN" in proc.stdout and "framescope.training.train" in proc.stdout


_FORBIDDEN = {"inference": "framescope.training", "training": "framescope.inference"}


@pytest.mark.parametrize("stage", sorted(_FORBIDDEN))
def test_no_cross_stage_import_text(stage):
    """The grep of the issue: no ``framescope.training`` under inference/, no ``framescope.inference`` under training/."""
    pattern = re.compile(rf"^\s*(from|import)\s+{re.escape(_FORBIDDEN[stage])}\b", re.M)
    hits = [
        f"{f.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for f in sorted((ROOT / stage).rglob("*.py"))
        for text in [f.read_text(encoding="utf-8")]
        for m in pattern.finditer(text)
    ]
    assert not hits, hits
