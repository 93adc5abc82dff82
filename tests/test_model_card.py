"""The model card: written into the model folder by `framescope train`, from the run's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framescope.training.model_card import fmt

pytestmark = pytest.mark.slow  # a quickstart trained by the CLI in a subprocess


@pytest.fixture(scope="module")
def quickstart(tracked_quickstart) -> Path:
    return tracked_quickstart


def card_rows(card: str) -> dict[str, list[str]]:
    """The per-technique table of the card: technique -> its cells."""
    section = card.split("### Per technique", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| technique"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_card_exists_and_holds_the_dev_report(quickstart: Path) -> None:
    folder = quickstart / "model"
    card = (folder / "README.md").read_text(encoding="utf-8")
    report = json.loads((folder / "dev_report.json").read_text(encoding="utf-8"))
    settings = json.loads((folder / "framescope.json").read_text(encoding="utf-8"))
    rows = card_rows(card)
    per = report["all"]["per_technique"]
    assert set(rows) == set(settings["techniques"])
    for tech, m in per.items():
        cells = rows[tech]
        assert cells[1:6] == [
            fmt(m["precision"]),
            fmt(m["recall"]),
            fmt(m["f1"]),
            str(m["n_pred"]),
            str(m["n_gold"]),
        ], tech
    # thresholds: calibrated ones are the folder's own, the others the global threshold
    for tech, cells in rows.items():
        if tech in settings["thresholds"]:
            assert cells[7:9] == [f"{settings['thresholds'][tech]:.2f}", "calibrated"], tech
        else:
            assert cells[7:9] == [f"{settings['global_threshold']:.2f}", "global"], tech
    # per-language summary, data and identity
    for group, g in report.items():
        assert (
            f"| {group} | {g['articles']} | {fmt(g['span_precision'])} | {fmt(g['span_recall'])} | {fmt(g['span_f1'])} |"
            in card
        )
    assert settings["taxonomy"]["sha256"] in card
    assert settings["extra"]["train_fingerprint"] in card
    assert "`builtin:sample`" in card
    for heading in (
        "## Model",
        "## Data",
        "## Taxonomy",
        "## Intended use",
        "## Known limits",
        "## How to load and score",
    ):
        assert heading in card
    assert "tuned on the same dev split" in card


def test_card_is_logged_to_mlflow(quickstart: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{quickstart / 'mlflow.db'}")
    version = client.get_model_version_by_alias("framescope", "candidate")
    names = [a.path for a in client.list_artifacts(version.run_id)]
    assert "README.md" in names
    # the registered model carries the card inside its folder, too
    assert list((quickstart / "mlruns").rglob("artifacts/model/README.md"))
