"""The notebooks: committed without outputs, and both run headless on the sample corpus.

Executed with nbclient in a tmp dir holding a freshly trained quickstart model and its
MLflow store; the kernel gets its settings from environment variables, as a user would
set them (see docs/notebooks.md).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"01-annotations.ipynb", "02-errors.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_stripped(path: Path) -> None:
    """No outputs, no execution counts: diffs stay readable and no data leaks into git."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert dirty == [], f"{path.name}: cells {dirty} have outputs or execution counts; strip them before committing"
    assert not nb.get("metadata", {}).get("widgets"), f"{path.name}: widget state stored"
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{path.name}: expected one cell tagged 'parameters' (papermill)"


def png_outputs(nb) -> int:
    return sum(
        "image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def errors(nb) -> list[str]:
    return [
        f"{o['ename']}: {o['evalue']}"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


@pytest.fixture(scope="module")
def workdir(tracked_quickstart) -> Path:
    return tracked_quickstart


def run_notebook(name: str, cwd: Path, env: dict[str, str]):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(cwd)}},
        )
        client.execute(cwd=str(cwd))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


@pytest.mark.slow
def test_notebooks_run_and_plot(workdir: Path) -> None:
    t0 = time.time()
    base = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "FRAMESCOPE_DATA": "",  # the sample corpus, whatever the developer's shell says
        "FRAMESCOPE_DATA_FORMAT": "",
    }
    nb1 = run_notebook("01-annotations.ipynb", workdir, base)
    assert errors(nb1) == []
    assert png_outputs(nb1) >= 4  # languages, techniques x languages, lengths, overlaps, meta
    nb2 = run_notebook("02-errors.ipynb", workdir, {**base, "FRAMESCOPE_MODEL_URI": "models:/framescope@candidate"})
    assert errors(nb2) == []
    assert png_outputs(nb2) >= 2  # precision/recall bars and the confusion matrix
    html = [
        o["data"]["text/html"]
        for c in nb2.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {})
    ]
    assert any("<mark" in h for h in html), "no highlighted false positives / negatives"
    assert time.time() - t0 < 120


def documented_script(marker: str) -> str:
    """The Python of the ``python - ... <<'PY'`` block of docs/notebooks.md that contains ``marker``."""
    import re

    doc = (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    bodies = [b for b in re.findall(r"<<'PY'\n(.*?)\nPY\n", doc, flags=re.S) if marker in b]
    assert len(bodies) == 1, f"expected one documented block with {marker!r}"
    return bodies[0]


def test_documented_commands_run_with_the_dev_install(tmp_path: Path) -> None:
    """The run and clear-outputs commands of docs/notebooks.md, as written, with nbclient/nbformat only."""
    import subprocess
    import sys

    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    env = dict(os.environ, FRAMESCOPE_DATA="", FRAMESCOPE_DATA_FORMAT="", MPLBACKEND="Agg")
    run = subprocess.run(
        [sys.executable, "-", str(ROOT / "notebooks" / "01-annotations.ipynb")],
        input=documented_script("NotebookClient"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "01-annotations.out.ipynb"
    nb = nbformat.read(out, as_version=4)
    assert errors(nb) == [] and any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    clear = subprocess.run(
        [sys.executable, "-", str(out)],
        input=documented_script("cell.execution_count"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clear.returncode == 0, clear.stderr[-3000:]
    test_committed_notebooks_are_stripped(out)
