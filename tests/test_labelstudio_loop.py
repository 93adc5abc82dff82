"""The annotation loop: how a Label Studio export's tasks are read, and that every rule is counted.

Each kind of task that is not simply "one submitted annotation" (several annotations, a
skipped task, a prediction-only task, an unlabeled task) has a documented rule in
``framescope.labels.formats.labelstudio``; ``data validate``, ``data stats`` and ``train``
print how many tasks each rule applied to.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.labels.formats import labelstudio
from framescope.labels.taxonomy import load_taxonomy

_register()
runner = CliRunner()

TEXT = "They are traitors. Act now or lose everything!"
TRAITORS = (9, 17)  # "traitors"
ACT_NOW = (19, 26)  # "Act now"


def _result(span: tuple[int, int], technique: str) -> dict:
    start, end = span
    return {
        "type": "labels",
        "from_name": "label",
        "to_name": "text",
        "value": {"start": start, "end": end, "text": TEXT[start:end], "labels": [technique]},
    }


def _annotation(aid: int, results: list[dict], updated: str, cancelled: bool = False) -> dict:
    return {
        "id": aid,
        "was_cancelled": cancelled,
        "result": results,
        "created_at": "2026-01-05T09:00:00.000000Z",
        "updated_at": updated,
    }


def export_tasks() -> list[dict]:
    """One task of each kind: plain, two annotations, skipped, prediction-only, unlabeled."""
    prediction = {"model_version": "framescope", "result": [_result(TRAITORS, "Doubt")]}
    return [
        {
            "id": 1,
            "data": {"text": TEXT, "id": "plain"},
            "annotations": [_annotation(10, [_result(TRAITORS, "Name_Calling-Labeling")], "2026-01-05T10:00:00Z")],
        },
        # listed first but older: the second annotator's later annotation is the one read
        {
            "id": 2,
            "data": {"text": TEXT, "id": "two"},
            "annotations": [
                _annotation(20, [_result(TRAITORS, "Doubt")], "2026-01-05T10:00:00Z"),
                _annotation(21, [_result(ACT_NOW, "Slogans")], "2026-01-06T08:00:00Z"),
            ],
        },
        {
            "id": 3,
            "data": {"text": TEXT, "id": "skipped"},
            "annotations": [_annotation(30, [], "2026-01-05T10:00:00Z", cancelled=True)],
            "predictions": [prediction],
        },
        {"id": 4, "data": {"text": TEXT, "id": "predicted"}, "annotations": [], "predictions": [prediction]},
        {"id": 5, "data": {"text": TEXT, "id": "unlabeled"}, "annotations": [], "predictions": []},
    ]


def write_export(tmp_path: Path, tasks: list[dict] | None = None) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_tasks() if tasks is None else tasks, indent=2), encoding="utf-8")
    return path


def test_each_rule_is_applied_and_counted(tmp_path):
    docs, counts = labelstudio.read_counted(write_export(tmp_path), [])
    by_id = {d.id: d for d in docs}
    assert [(s.start, s.end, s.technique) for s in by_id["two"].spans] == [(*ACT_NOW, "Slogans")]
    for unlabeled in ("skipped", "predicted", "unlabeled"):
        assert by_id[unlabeled].spans == [] and by_id[unlabeled].meta == {"labeled": False}
    assert (counts.tasks, counts.annotated, counts.several, counts.unused_annotations) == (5, 2, 1, 1)
    assert (counts.skipped, counts.prediction_only, counts.unlabeled, counts.from_predictions) == (1, 1, 1, 0)
    assert counts.unlabeled_total == 3
    assert counts.lines()[1:] == [
        "1 task(s) with several submitted annotations: the most recent of each read, 1 other annotation(s) not used",
        "1 skipped task(s) (every annotation cancelled): unlabeled, not counted as articles",
        "1 unlabeled task(s) (no annotation): not counted as articles",
        "1 prediction-only task(s) (predictions, no submitted annotation): not gold, unlabeled;"
        " review and submit them in Label Studio to use them",
    ]


def test_predictions_are_gold_only_when_asked(tmp_path):
    docs, counts = labelstudio.read_counted(write_export(tmp_path), [], use_predictions=True)
    by_id = {d.id: d for d in docs}
    assert [s.technique for s in by_id["predicted"].spans] == ["Doubt"]
    assert by_id["skipped"].spans == [], "a skipped task's predictions are not gold either"
    assert (counts.prediction_only, counts.from_predictions, counts.unlabeled_total) == (1, 1, 2)
    assert "1 prediction-only task(s) read from their predictions as gold (use_predictions)" in counts.lines()


def test_predictions_listed_by_id_are_prediction_only(tmp_path):
    """Label Studio 1.23.2's JSON export lists predictions by id: still not an unlabeled task."""
    tasks = [
        {"id": 6, "data": {"text": TEXT, "id": "a2"}, "annotations": [], "predictions": [6]},
        {"id": 7, "data": {"text": TEXT, "id": "a3"}, "annotations": [], "predictions": [], "total_predictions": 1},
    ]
    docs, counts = labelstudio.read_counted(write_export(tmp_path, tasks), [], use_predictions=True)
    assert (counts.prediction_only, counts.from_predictions, counts.unlabeled) == (2, 0, 0)
    assert all(d.meta == {"labeled": False} and not d.spans for d in docs)


def test_undated_annotations_keep_the_first_listed(tmp_path):
    task = export_tasks()[1]
    for ann in task["annotations"]:
        del ann["created_at"], ann["updated_at"]
    docs, counts = labelstudio.read_counted(write_export(tmp_path, [task]), [])
    assert [s.technique for s in docs[0].spans] == ["Doubt"] and counts.several == 1


def test_validate_prints_the_counts_and_counts_only_annotated_articles(tmp_path):
    result = runner.invoke(app, ["data", "validate", str(write_export(tmp_path))])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "5 task(s), 2 read as annotated article(s)" in out
    assert (
        "1 task(s) with several submitted annotations: the most recent of each read, 1 other annotation(s) not used"
        in out
    )
    assert "1 skipped task(s) (every annotation cancelled)" in out
    assert "1 prediction-only task(s) (predictions, no submitted annotation): not gold" in out
    assert "1 unlabeled task(s) (no annotation)" in out
    assert (
        "ok 2 article(s), 2 span(s), no errors, 1 warning(s); 3 unlabeled document(s), not counted as articles" in out
    )
    assert "1 of them carry predictions only" in out  # the prediction-only warning (tests/test_reliability_inputs.py)


def test_stats_does_not_count_unlabeled_tasks_as_articles(tmp_path):
    result = runner.invoke(app, ["data", "stats", str(write_export(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert (stats["articles"], stats["unlabeled"], stats["spans"]) == (2, 3, 2)
    (ls,) = stats["labelstudio"]
    assert (ls["tasks"], ls["several"], ls["skipped"], ls["prediction_only"], ls["unlabeled"]) == (5, 1, 1, 1, 1)
    assert any("most recent of each read" in n for n in ls["notes"])
    table = runner.invoke(app, ["data", "stats", str(write_export(tmp_path))])
    out = " ".join(table.output.split())
    assert "unlabeled (not counted as articles) │ 3" in out and "1 skipped task(s)" in out


def test_train_data_loading_says_what_it_leaves_out(tmp_path):
    from framescope.training.config import Corpus
    from framescope.training.train import load_corpora

    heard: list[str] = []
    docs = load_corpora(
        [Corpus(str(write_export(tmp_path)), "labelstudio")],
        load_taxonomy("semeval2023"),
        None,
        heard.append,
    )
    assert sorted(d.id for d in docs) == ["plain", "two"]
    said = "\n".join(heard)
    assert "1 skipped task(s)" in said and "1 prediction-only task(s)" in said and "1 unlabeled task(s)" in said
    assert "most recent of each read, 1 other annotation(s) not used" in said
    assert "3 unlabeled document(s) left out" in said


def test_article_choices_are_kept_in_meta(tmp_path):
    task = export_tasks()[0]
    task["annotations"][0]["result"].append(
        {"type": "choices", "from_name": "article", "to_name": "text", "value": {"choices": ["Doubt", "Slogans"]}}
    )
    (doc,) = labelstudio.read(write_export(tmp_path, [task]), [])
    assert doc.meta["article_techniques"] == ["Doubt", "Slogans"] and len(doc.spans) == 1


def test_config_groups_by_category_in_the_report_colours():
    from framescope.inference.report import _Palette

    tax = load_taxonomy("semeval2023")
    root = ET.fromstring(labelstudio.labeling_config(tax.names, tax))
    palette = _Palette(tax)
    labels = root.find("Labels")
    assert (labels.get("name"), labels.get("toName")) == ("label", "text")
    headers = [e.get("value") for e in labels if e.tag == "Header"]
    assert headers == [str(c["name"]) for c in tax.categories.values()]
    painted = {e.get("value"): e.get("background") for e in labels if e.tag == "Label"}
    assert sorted(painted) == sorted(tax.names)
    for name, colour in painted.items():
        assert colour == palette.cats[tax.category_of(name)]["colour"], name
    choices = root.find("Choices")
    assert (choices.get("name"), choices.get("choice")) == ("article", "multiple")
    assert sorted(e.get("value") for e in choices if e.tag == "Choice") == sorted(tax.names)


def _model_folder(tmp_path: Path) -> Path:
    """What ``labelstudio config --model`` reads of a model folder: its settings and taxonomy (no weights)."""
    from framescope.model.settings import TaggerSettings, save_taxonomy

    tax = load_taxonomy("semeval2023")
    folder = tmp_path / "model"
    folder.mkdir()
    TaggerSettings("linear", list(reversed(tax.names))[:5], tax.identity.to_dict()).save(folder)
    save_taxonomy(tax, folder)
    return folder


def test_labelstudio_config_command(tmp_path):
    model_dir = _model_folder(tmp_path)
    by_tax = runner.invoke(app, ["labelstudio", "config", "--taxonomy", "semeval2023-categories"])
    assert by_tax.exit_code == 0, by_tax.output
    tax = load_taxonomy("semeval2023-categories")
    root = ET.fromstring(by_tax.output)
    assert [e.get("value") for e in root.find("Labels") if e.tag == "Label"] == tax.names
    by_model = runner.invoke(app, ["labelstudio", "config", "--model", str(model_dir)])
    assert by_model.exit_code == 0, by_model.output
    from framescope.model.settings import TaggerSettings

    techniques = TaggerSettings.load(model_dir).techniques
    assert sorted(e.get("value") for e in ET.fromstring(by_model.output).iter("Label")) == sorted(techniques)
    assert len(techniques) == 5
    both = runner.invoke(app, ["labelstudio", "config", "--model", str(model_dir), "--taxonomy", "ptc2020"])
    assert both.exit_code == 2 and "not both" in both.output
    missing = runner.invoke(app, ["labelstudio", "config", "--model", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "error:" in missing.output
