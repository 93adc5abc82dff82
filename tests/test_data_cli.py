"""``framescope data``: validate lists every problem with file and line; stats and convert."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.labels.dataset import from_dataset, split_documents, to_dataset
from framescope.labels.sample import load_sample, sample_path

_register()
runner = CliRunner()


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_validate_reports_three_errors_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    write_jsonl(
        bad,
        [
            {
                "id": "a",
                "lang": "de",
                "text": "Kurzer Text.",
                "spans": [{"start": 0, "end": 40, "technique": "Loaded_Language"}],
            },
            {
                "id": "b",
                "lang": "en",
                "text": "Some text.",
                "spans": [{"start": 0, "end": 4, "technique": "Propaganda_Magic"}],
            },
            {"id": "a", "lang": "de", "text": "Noch ein Text.", "spans": []},
        ],
    )
    result = runner.invoke(app, ["data", "validate", str(bad)])
    assert result.exit_code == 1
    out = result.output
    errors = [line for line in out.splitlines() if line.startswith("error")]
    assert len(errors) == 3, out
    assert f"{bad}:1" in out and "past the end" in out
    assert f"{bad}:2" in out and "Propaganda_Magic" in out
    assert f"{bad}:3" in out and "duplicate id 'a'" in out and f"first at {bad}:1" in out


def test_validate_bad_json_line_names_line(tmp_path):
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"id": "x", "text": "ok"}\n{"id": "y", "text": \n', encoding="utf-8")
    result = runner.invoke(app, ["data", "validate", str(bad)])
    assert result.exit_code == 1 and f"{bad}:2" in result.output


def test_sample_corpus_validates_and_covers_the_brief():
    result = runner.invoke(app, ["data", "validate", str(sample_path())])
    assert result.exit_code == 0, result.output
    docs = load_sample()
    langs = {d.lang for d in docs}
    techniques = {s.technique for d in docs for s in d.spans}
    assert len(docs) >= 80 and {"de", "en"} <= langs and len(techniques) >= 15
    assert {"Loaded_Language", "Name_Calling-Labeling", "Flag_Waving"} <= techniques
    de = sum(d.lang == "de" for d in docs)
    assert 0.4 <= de / len(docs) <= 0.6


def test_stats_json_counts_overlaps():
    result = runner.invoke(app, ["data", "stats", str(sample_path()), "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert stats["articles"] == len(load_sample())
    assert stats["overlapping_spans"] > 0 and set(stats["per_lang"]) == {"de", "en"}


def test_convert_roundtrip_and_refuses_bad_input(tmp_path):
    out = tmp_path / "brat"
    result = runner.invoke(app, ["data", "convert", str(sample_path()), "--to", "brat", "-o", str(out)])
    assert result.exit_code == 0, result.output
    back = tmp_path / "back.jsonl"
    result = runner.invoke(app, ["data", "convert", str(out), "--from", "brat", "--to", "jsonl", "-o", str(back)])
    assert result.exit_code == 0, result.output
    a = sorted(load_sample(), key=lambda d: d.id)
    from framescope.labels.io import read_documents

    b = sorted(read_documents(back), key=lambda d: d.id)
    assert [(d.id, d.text, sorted(d.spans)) for d in a] == [(d.id, d.text, sorted(d.spans)) for d in b]
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, [{"id": "a", "text": "x", "spans": [{"start": 0, "end": 9, "technique": "Doubt"}]}])
    target = tmp_path / "never.jsonl"
    result = runner.invoke(app, ["data", "convert", str(bad), "-o", str(target)])
    assert result.exit_code == 2 and not target.exists()  # an input error: nothing written


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).output.startswith("framescope ")
    assert runner.invoke(app, ["data", "--help"]).exit_code == 0
    assert "--int8" in runner.invoke(app, ["export-onnx", "--help"]).output


@pytest.mark.slow
def test_registering_commands_leaves_torch_unloaded():
    """--help, --version and `data` must answer in a blink: torch (~2 s to import) loads only when a command needs it."""
    code = "import sys; from framescope.cli import _register; _register(); print(sorted(m for m in ('torch', 'transformers', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_dataset_roundtrip_and_article_level_split():
    docs = load_sample()
    ds = to_dataset(docs)
    span_feature = ds.features["spans"]
    record = span_feature[0] if isinstance(span_feature, list) else span_feature.feature
    assert record["technique"].dtype == "string" and record["start"].dtype == "int32"
    back = from_dataset(ds)
    assert [(d.id, d.text, d.spans) for d in back] == [(d.id, d.text, d.spans) for d in docs]
    train, dev = split_documents(docs, 0.2, seed=0)
    assert not {d.id for d in train} & {d.id for d in dev}
    assert len(train) + len(dev) == len(docs)
    for lang in ("de", "en"):
        n = sum(d.lang == lang for d in docs)
        assert sum(d.lang == lang for d in dev) == round(n * 0.2)
    # deterministic, and adding articles never moves the old ones
    train2, dev2 = split_documents(docs, 0.2, seed=0, stratify_by_lang=False)
    _, dev3 = split_documents(docs[:50], 0.2, seed=0, stratify_by_lang=False)
    assert {d.id for d in dev3} <= {d.id for d in dev2}
