"""The one article result record: one serialiser (``ArticleResult.to_dict``), one parser back
(``ArticleResult.from_dict``), and every output projected from it: results.jsonl, the flat
tables, the journal, the pyfunc's rows and the report's reader."""

from __future__ import annotations

import json

import pytest

from framescope.model.result import ArticleResult, ParagraphResult, ScoredSpan, TechniqueScore, article_row

TEXT = "Die feigen Verräter lügen.\nZweite Zeile."


def _result(**kw) -> ArticleResult:
    spans = [ScoredSpan("Name_Calling-Labeling", "Attack", 4, 19, TEXT[4:19], 0.91234567)]
    techniques = {
        "Name_Calling-Labeling": TechniqueScore(0.91234567, 1, 15 / len(TEXT), 0.8765432101),
        "Doubt": TechniqueScore(0.0, 0, 0.0, None),
    }
    paragraphs = [ParagraphResult(0, 0, 26, {"Name_Calling-Labeling": 0.71234567, "Doubt": 0.1})]
    return ArticleResult(
        "a1",
        "de",
        TEXT,
        spans,
        techniques,
        {"Attack": 0.91234567, "Justification": 0.0},
        0.91234567,
        "quickstart",
        "0.9.0",
        "precise",
        paragraphs,
        scored_at="2026-12-01T10:11:12.345+01:00",
        **kw,
    )


def test_to_dict_follows_the_export_schema_and_rounds_once():
    rec = _result(metadata={"title": "T", "meta_desk": "Politik"}).to_dict()
    assert list(rec)[:12] == [
        "schema_version",
        "id",
        "lang",
        "model",
        "model_version",
        "scored_at",
        "n_chars",
        "text_sha256",
        "source",
        "url",
        "title",
        "published_at",
    ]
    assert rec["meta_desk"] == "Politik" and rec["source"] is None and rec["title"] == "T"
    assert rec["scored_at"] == "2026-12-01T09:11:12Z"
    assert rec["n_chars"] == len(TEXT) and len(rec["text_sha256"]) == 64
    assert rec["techniques"]["Name_Calling-Labeling"]["probability"] == 0.876543
    assert rec["techniques"]["Doubt"]["probability"] is None
    assert rec["spans"][0]["confidence"] == 0.912346
    assert rec["paragraphs"][0]["probabilities"]["Name_Calling-Labeling"] == 0.712346


def test_a_record_survives_the_round_trip_byte_for_byte():
    """What the journal stores is read back and written again at export: nothing may change."""
    rec = _result(metadata={"url": "https://example.org/a", "meta_desk": None}).to_dict()
    line = json.dumps(rec, ensure_ascii=False)
    again = ArticleResult.from_dict(json.loads(line), text=TEXT).to_dict()
    assert json.dumps(again, ensure_ascii=False) == line
    without_text = ArticleResult.from_dict(json.loads(line))  # results.jsonl has no text
    assert without_text.text == "" and json.dumps(without_text.to_dict(), ensure_ascii=False) == line


def test_from_dict_is_tolerant_and_names_where_a_row_is_not_an_object():
    with pytest.raises(ValueError, match="x.jsonl:3"):
        ArticleResult.from_dict(["not", "an", "object"], "x.jsonl:3")
    # a flat row: spans as a JSON string without texts, no technique scores, overall_score
    row = {"id": 7, "text": TEXT, "overall_score": "0.5", "spans": json.dumps([{"technique": "Doubt", "start": 4}])}
    row["spans"] = json.dumps([{"technique": "Doubt", "start": 4, "end": 10, "confidence": "0.5"}, {"start": 1}])
    result = ArticleResult.from_dict(row, "row")
    assert result.id == "7" and result.overall == 0.5
    assert [(s.text, s.confidence) for s in result.spans] == [(TEXT[4:10], 0.5)]
    assert result.techniques["Doubt"].spans == 1 and result.techniques["Doubt"].coverage == 6 / len(TEXT)
    assert result.text_sha256 is None and result.n_chars is None and result.metadata == {}


def test_article_row_is_the_table_and_the_pyfunc_projection():
    rec = _result(metadata={"published_at": "2026-11-30T00:00:00Z"}).to_dict()
    table = article_row(rec)
    served = article_row(rec, timestamps=False)
    assert table["scored_at"].isoformat() == "2026-12-01T09:11:12+00:00"
    assert served["scored_at"] == "2026-12-01T09:11:12Z" and served["published_at"] == "2026-11-30T00:00:00Z"
    assert table["score_Name_Calling-Labeling"] == served["score_Name_Calling-Labeling"] == 0.912346
    assert table["prob_Doubt"] is None and table["category_Attack"] == 0.912346
    assert (table["overall_score"], table["n_spans"], table["profile"]) == (0.912346, 1, "precise")


def test_the_journal_holds_no_metadata_and_the_export_applies_this_runs_once(model_dir, tmp_path):
    """Metadata is applied at export only: a rerun with a corrected title exports the new title
    for an article it does not score again."""
    from framescope.inference.batch import run_score
    from framescope.inference.inputs import Fields
    from framescope.inference.journal import JOURNAL_DIR
    from framescope.inference.metadata import parse_meta_option
    from framescope.model.tagger import SpanTagger

    tagger = SpanTagger.from_pretrained(model_dir)
    feed, out = tmp_path / "feed.jsonl", tmp_path / "out"
    for title in ("Erster Titel", "Korrigierter Titel"):
        record = {"id": "a", "lang": "de", "text": TEXT, "title": title, "desk": "Politik"}
        feed.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
        summary = run_score(
            [str(feed)],
            scorer=tagger,
            out=out,
            formats="jsonl",
            fields=Fields(meta=parse_meta_option("title,desk")),
            show_progress=False,
        )
    assert (summary.scored, summary.reused) == (0, 1)
    exported = json.loads((out / "results.jsonl").read_text(encoding="utf-8"))
    assert exported["title"] == "Korrigierter Titel" and exported["meta_desk"] == "Politik"
    (chunk,) = (out / JOURNAL_DIR).glob("chunk-*.jsonl")
    journaled = json.loads(chunk.read_text(encoding="utf-8"))["record"]
    assert journaled["title"] is None and "meta_desk" not in journaled
    assert {k: v for k, v in exported.items() if k not in ("title", "meta_desk")} == {
        k: v for k, v in journaled.items() if k != "title"
    }


def test_the_dataset_tables_read_back_into_the_same_record():
    """The dashboard and ``report --dataset`` read articles from the tables: the inverse of
    ``article_row`` and the span and paragraph rows gives the record the run wrote."""
    from framescope.inference.exports import paragraph_rows, span_rows
    from framescope.model.result import result_from_rows

    rec = _result().to_dict()
    back = result_from_rows(
        article_row(rec), span_rows(rec), paragraph_rows(rec), TEXT, list(rec["techniques"]), list(rec["categories"])
    )
    assert back.to_dict() == rec
