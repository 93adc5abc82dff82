"""Article metadata (outlet, url, title, published_at) from JSONL/CSV records into the exports."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from importlib import resources

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.inference import exports as ex
from framescope.inference.metadata import (
    DEFAULT_META,
    MetaField,
    extract_metadata,
    parse_meta_option,
    parse_timestamp,
)

EXAMPLES = resources.files("framescope.inference") / "examples"
DE = (EXAMPLES / "de_article.txt").read_text(encoding="utf-8")
EN = (EXAMPLES / "en_article.txt").read_text(encoding="utf-8")

_register()
runner = CliRunner()


def score(*args):
    return runner.invoke(app, ["score", "-q", *map(str, args)])


def test_meta_option():
    assert parse_meta_option(None) == DEFAULT_META
    assert parse_meta_option("source=outlet, desk,meta_topic") == (
        MetaField("source", "outlet"),
        MetaField("desk", "desk"),
        MetaField("topic", "meta_topic"),
    )
    assert [f.output_name for f in parse_meta_option("title,desk")] == ["title", "meta_desk"]
    with pytest.raises(ValueError, match="not a column name"):
        parse_meta_option("a-b")
    with pytest.raises(ValueError, match="named twice"):
        parse_meta_option("url,url=link")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-05-01", "2024-05-01T00:00:00"),
        ("2024-05-01T08:30:00+02:00", "2024-05-01T06:30:00"),
        ("2024-05-01T06:30:00.750Z", "2024-05-01T06:30:00"),
        ("2024-05-01 06:30", "2024-05-01T06:30:00"),
        ("Wed, 01 May 2024 08:30:00 +0200", "2024-05-01T06:30:00"),
        ("Wed, 01 May 2024 08:30:00 GMT", "2024-05-01T08:30:00"),
    ],
)
def test_dates_parse_to_utc(text, expected):
    assert parse_timestamp(text) == datetime.fromisoformat(expected).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "32.05.2024", "Wed, 99 Foo 2024"])
def test_bad_dates_are_none(text):
    assert parse_timestamp(text) is None


def test_extract_keeps_types_and_warns_on_bad_dates():
    meta = parse_meta_option("source,published_at,desk,tags")
    values, warnings = extract_metadata(
        {"source": "Blatt", "published_at": "soon", "desk": 7, "tags": ["a", "b"]}, meta
    )
    assert values == {
        "source": "Blatt",
        "url": None,
        "title": None,
        "published_at": None,
        "meta_desk": "7",
        "meta_tags": '["a", "b"]',
    }
    assert len(warnings) == 1 and "published_at: cannot parse 'soon'" in warnings[0]


def test_jsonl_and_csv_metadata_reach_every_export(model_dir, tmp_path):
    jsonl = tmp_path / "feed.jsonl"
    records = [
        {
            "id": "de-1",
            "text": DE,
            "lang": "de",
            "source": "Der Bote",
            "url": "https://bote.example/1",
            "title": "Verrat <b>!</b>",
            "published_at": "2026-11-02T08:00:00+01:00",
            "desk": "politik",
        },
        {"id": "en-1", "text": EN, "lang": "en", "source": "The Herald", "published_at": "last tuesday"},
    ]
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    table = tmp_path / "feed.csv"
    with open(table, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "outlet", "published_at", "desk"])
        w.writerow(["csv-1", "Ein ruhiger Satz über das Wetter.", "Landblatt", "Mon, 02 Nov 2026 09:15:00 +0100", ""])
    out = tmp_path / "out"
    res = score(jsonl, table, "--model", model_dir, "--out", out, "--meta", "source,url,title,published_at,desk")
    assert res.exit_code == 0, res.output  # a bad date is a warning, not a failure
    extra = ["meta_desk"]
    rows = ex.validate_parquet(
        out / ex.ARTICLES_PARQUET,
        ex.articles_schema(
            json.loads((out / "manifest.json").read_text())["techniques"],
            json.loads((out / "manifest.json").read_text())["categories"],
            extra,
        ),
    ).to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert by_id["de-1"]["source"] == "Der Bote" and by_id["de-1"]["title"] == "Verrat <b>!</b>"
    assert by_id["de-1"]["published_at"] == datetime(2026, 11, 2, 7, tzinfo=timezone.utc)
    assert by_id["de-1"]["meta_desk"] == "politik"
    assert by_id["en-1"]["published_at"] is None and by_id["en-1"]["meta_desk"] is None
    # the CSV file has no `source` column: --meta source reads `source`, so outlet is not taken
    assert by_id["csv-1"]["source"] is None
    assert by_id["csv-1"]["published_at"] == datetime(2026, 11, 2, 8, 15, tzinfo=timezone.utc)
    assert pq.read_schema(out / ex.ARTICLES_PARQUET).field("published_at").type == pa.timestamp("ms", tz="UTC")
    manifest = json.loads((out / "manifest.json").read_text())
    schema = ex.results_schema(manifest["techniques"], manifest["categories"], extra)
    results = ex.validate_jsonl(out / ex.RESULTS_FILE, schema).to_pylist()
    assert results[0]["published_at"] == "2026-11-02T07:00:00Z" and results[0]["url"] == "https://bote.example/1"
    assert ex.validate_csv(
        out / ex.ARTICLES_CSV, ex.articles_schema(manifest["techniques"], manifest["categories"], extra)
    )
    errors = [json.loads(line) for line in (out / ex.ERRORS_JSONL).read_text().splitlines()]
    assert [(e["id"], e["source"]) for e in errors] == [("en-1", f"{jsonl}:2")]
    assert "cannot parse 'last tuesday'" in errors[0]["reason"]

    # column=field maps another field onto a standard column
    out2 = tmp_path / "out2"
    assert score(table, "--model", model_dir, "--out", out2, "--meta", "source=outlet").exit_code == 0
    assert pq.read_table(out2 / ex.ARTICLES_PARQUET).column("source").to_pylist() == ["Landblatt"]


def test_txt_inputs_have_null_metadata_and_bad_meta_is_a_usage_error(model_dir, tmp_path):
    (tmp_path / "de.txt").write_text(DE, encoding="utf-8")
    out = tmp_path / "out"
    assert score(tmp_path / "de.txt", "--model", model_dir, "--out", out).exit_code == 0
    row = pq.read_table(out / ex.ARTICLES_PARQUET).to_pylist()[0]
    assert (row["source"], row["url"], row["title"], row["published_at"]) == (None, None, None, None)
    res = score(tmp_path / "de.txt", "--model", model_dir, "--out", tmp_path / "o2", "--meta", "bad name")
    assert res.exit_code == 2 and "not a column name" in res.output
    assert not (tmp_path / "o2").exists()


def test_resumed_run_exports_the_metadata_without_rescoring(model_dir, tmp_path):
    """Metadata is applied once, at export: the journal keeps none, so a rerun exports this run's
    (corrected) metadata and scores nothing."""
    feed = tmp_path / "feed.jsonl"

    def write(title):
        feed.write_text(
            json.dumps(
                {"id": "a", "text": DE, "lang": "de", "source": "Bote", "title": title, "published_at": "2026-11-02"}
            )
            + "\n",
            encoding="utf-8",
        )

    out = tmp_path / "out"
    write("first title")
    first = score(feed, "--model", model_dir, "--out", out)
    assert first.exit_code == 0
    journal = next((out / ".framescope-journal").glob("chunk-*.jsonl")).read_text(encoding="utf-8")
    stored = json.loads(journal.splitlines()[0])["record"]
    assert (stored["source"], stored["title"], stored["published_at"]) == (None, None, None)
    write("corrected title")
    second = score(feed, "--model", model_dir, "--out", out)
    assert second.exit_code == 0
    assert len(list((out / ".framescope-journal").glob("chunk-*.jsonl"))) == 1  # nothing scored again
    rec = json.loads((out / ex.RESULTS_FILE).read_text(encoding="utf-8"))
    assert (rec["source"], rec["title"], rec["published_at"]) == ("Bote", "corrected title", "2026-11-02T00:00:00Z")
