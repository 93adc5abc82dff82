"""framescope.inference.exports: the versioned schema, enforced on every written format."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from framescope.inference import exports as ex

EXAMPLES = resources.files("framescope.inference") / "examples"
SCHEMA_DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


@pytest.fixture(scope="module")
def written(model_dir, tmp_path_factory):
    from framescope.model.tagger import SpanTagger

    scorer = SpanTagger.from_pretrained(model_dir)
    texts = {name: (EXAMPLES / name).read_text(encoding="utf-8") for name in ("de_article.txt", "en_article.txt")}
    texts["plain.txt"] = "A short, calm sentence."
    techniques = scorer.techniques
    categories = ex.categories_of(scorer.taxonomy, techniques)
    out = tmp_path_factory.mktemp("exports")
    results = scorer.score(list(texts.values()), list(texts), ["de", "en", None])
    with ex.ExportWriter(out, ex.FORMATS, techniques, categories) as w:
        for r in results:
            r.text_sha256 = "0" * 64
            w.add(r.to_dict(), r.text)
    ex.write_errors(out, [{"id": None, "source": "x.jsonl:3", "reason": "not valid JSON"}], ex.FORMATS)
    return out, texts, techniques, categories


def test_every_file_matches_its_schema(written):
    out, texts, techniques, categories = written
    art_schema = ex.articles_schema(techniques, categories)
    a_pq = ex.validate_parquet(out / ex.ARTICLES_PARQUET, art_schema)
    a_csv = ex.validate_csv(out / ex.ARTICLES_CSV, art_schema)
    s_pq = ex.validate_parquet(out / ex.SPANS_PARQUET, ex.SPANS_SCHEMA)
    s_csv = ex.validate_csv(out / ex.SPANS_CSV, ex.SPANS_SCHEMA)
    res = ex.validate_jsonl(out / ex.RESULTS_FILE, ex.results_schema(techniques, categories))
    ex.validate_csv(out / ex.ERRORS_CSV, ex.ERRORS_SCHEMA)
    assert a_pq.equals(a_csv) and s_pq.equals(s_csv)  # CSV round-trips to the same values
    assert a_pq.num_rows == res.num_rows == 3
    assert s_pq.num_rows == sum(len(r["spans"]) for r in res.to_pylist()) > 0
    assert a_pq.column("n_spans").to_pylist() == [len(r["spans"]) for r in res.to_pylist()]
    assert set(a_pq.column("schema_version").to_pylist()) == {ex.SCHEMA_VERSION}
    cols = a_pq.column_names
    assert [c for c in cols if c.startswith("score_")] == [f"score_{t}" for t in techniques]
    assert [c for c in cols if c.startswith("category_")] == [f"category_{c}" for c in categories]
    errors = [json.loads(line) for line in (out / ex.ERRORS_JSONL).read_text(encoding="utf-8").splitlines()]
    assert errors == [
        {
            "id": None,
            "source": "x.jsonl:3",
            "reason": "not valid JSON",
            "level": "error",
            "schema_version": ex.SCHEMA_VERSION,
        }
    ]


def test_scores_follow_the_documented_definition(written):
    out, *_ = written
    for rec in map(json.loads, (out / ex.RESULTS_FILE).read_text(encoding="utf-8").splitlines()):
        for tech, ts in rec["techniques"].items():
            mine = [s["confidence"] for s in rec["spans"] if s["technique"] == tech]
            assert ts["score"] == max(mine, default=0.0) and ts["spans"] == len(mine)
            assert 0.0 <= ts["coverage"] <= 1.0
        for cat, score in rec["categories"].items():
            assert score == max((s["confidence"] for s in rec["spans"] if s["category"] == cat), default=0.0)
        assert rec["overall"] == max(rec["categories"].values())


def test_span_text_is_the_article_slice(written):
    out, texts, *_ = written
    spans = pq.read_table(out / ex.SPANS_PARQUET).to_pylist()
    assert spans
    for s in spans:
        assert texts[s["article_id"]][s["start"] : s["end"]] == s["text"]
    for rec in map(json.loads, (out / ex.RESULTS_FILE).read_text(encoding="utf-8").splitlines()):
        for s in rec["spans"]:
            assert texts[rec["id"]][s["start"] : s["end"]] == s["text"]
    tasks = json.loads((out / ex.LABELSTUDIO_FILE).read_text(encoding="utf-8"))
    assert [t["data"]["id"] for t in tasks] == list(texts)
    for t in tasks:
        for r in t["predictions"][0]["result"]:
            v = r["value"]
            assert t["data"]["text"][v["start"] : v["end"]] == v["text"] and 0 <= r["score"] <= 1


def test_validators_reject_drift(written, tmp_path):
    out, _, techniques, categories = written
    schema = ex.articles_schema(techniques, categories)
    table = pq.read_table(out / ex.ARTICLES_PARQUET)
    pq.write_table(table.drop_columns(["n_spans"]), tmp_path / "a.parquet")
    with pytest.raises(ex.SchemaError):
        ex.validate_parquet(tmp_path / "a.parquet", schema)
    pq.write_table(table.set_column(0, "id", pa.array([1, 2, 3])), tmp_path / "b.parquet")
    with pytest.raises(ex.SchemaError):
        ex.validate_parquet(tmp_path / "b.parquet", schema)
    lines = (out / ex.ARTICLES_CSV).read_text(encoding="utf-8").splitlines()
    (tmp_path / "c.csv").write_text(
        "\n".join([lines[0].replace('"n_spans"', '"spans"')] + lines[1:]) + "\n", encoding="utf-8"
    )
    with pytest.raises(ex.SchemaError):
        ex.validate_csv(tmp_path / "c.csv", schema)
    rec = json.loads((out / ex.RESULTS_FILE).read_text(encoding="utf-8").splitlines()[0])
    rec["extra"] = 1
    (tmp_path / "d.jsonl").write_text(json.dumps(rec) + "\n", encoding="utf-8")
    with pytest.raises(ex.SchemaError):
        ex.validate_jsonl(tmp_path / "d.jsonl", ex.results_schema(techniques, categories))


def test_parse_formats():
    assert ex.parse_formats(None) == list(ex.FORMATS) == ex.parse_formats("all")
    assert ex.parse_formats("csv, JSONL,csv") == ["csv", "jsonl"]
    with pytest.raises(ValueError, match="unknown format 'xlsx'"):
        ex.parse_formats("csv,xlsx")


def test_schema_doc_covers_every_field():
    doc = SCHEMA_DOC.read_text(encoding="utf-8")
    assert f'`SCHEMA_VERSION = "{ex.SCHEMA_VERSION}"`' in doc or f"schema version {ex.SCHEMA_VERSION}" in doc.lower()
    documented = set(re.findall(r"^\| `([^`]+)`", doc, flags=re.M))
    fixed = [f.name for f in ex.articles_schema([], [])]
    needed = set(fixed) | {"score_<Technique>", "category_<id>"}
    needed |= set(ex.SPANS_SCHEMA.names) | set(ex.ERRORS_SCHEMA.names)
    needed |= set(ex.results_schema([], []).names) | {
        "techniques.<Technique>.score",
        "techniques.<Technique>.spans",
        "techniques.<Technique>.coverage",
        "categories.<id>",
    }
    needed |= {f"spans[].{n}" for n in ex.SPAN_STRUCT.names}
    needed |= {"prob_<Technique>", "techniques.<Technique>.probability"}
    needed |= {f"paragraphs[].{n}" for n in ex.paragraph_struct([]).names}
    needed |= set(ex.paragraphs_schema([]).names)
    assert needed <= documented, sorted(needed - documented)


def test_csv_with_a_span_text_across_lines_validates(tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table(
        {
            "article_id": ["a"],
            "technique": ["Doubt"],
            "category": ["attack_on_reputation"],
            "start": [0],
            "end": [12],
            "text": ["first line\r\nsecond"],
            "confidence": [0.5],
            "schema_version": [ex.SCHEMA_VERSION],
        },
        schema=ex.SPANS_SCHEMA,
    )
    path = tmp_path / "spans.csv"
    pacsv.write_csv(table, path)
    back = ex.validate_csv(path, ex.SPANS_SCHEMA)
    assert back.column("text").to_pylist() == ["first line\r\nsecond"]


def test_probabilities_and_paragraphs_tables(written):
    """Schema 1.1: a model with an article stage exports calibrated probabilities per article
    (prob_<T>) and per paragraph (the paragraphs table, the same numbers as results.jsonl)."""
    out, texts, techniques, categories = written
    arts = ex.validate_parquet(out / ex.ARTICLES_PARQUET, ex.articles_schema(techniques, categories)).to_pylist()
    p_pq = ex.validate_parquet(out / ex.PARAGRAPHS_PARQUET, ex.paragraphs_schema(techniques))
    p_csv = ex.validate_csv(out / ex.PARAGRAPHS_CSV, ex.paragraphs_schema(techniques))
    assert p_pq.equals(p_csv)
    res = [json.loads(line) for line in (out / ex.RESULTS_FILE).read_text(encoding="utf-8").splitlines()]
    for row, rec, text in zip(arts, res, texts.values()):
        assert row["profile"] == rec["profile"] == "balanced"
        for t in techniques:
            p = row[f"prob_{t}"]
            assert p is not None and 0.0 <= p <= 1.0
            assert p == rec["techniques"][t]["probability"]
        lines = [(a, b) for a, b in _lines(text)]
        assert [(p["start"], p["end"]) for p in rec["paragraphs"]] == lines
        assert [p["index"] for p in rec["paragraphs"]] == list(range(len(lines)))
    rows = p_pq.to_pylist()
    assert len(rows) == sum(len(r["paragraphs"]) for r in res) > 3
    first = res[0]["paragraphs"][0]
    assert rows[0]["article_id"] == res[0]["id"] and rows[0]["paragraph"] == 0
    assert all(rows[0][f"prob_{t}"] == first["probabilities"][t] for t in techniques)


def _lines(text):
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            yield pos, pos + len(line)
        pos += len(line) + 1


def test_a_folder_without_article_stage_exports_null_probabilities(model_dir, tmp_path):
    """Folders trained before 1.1 have no stage: they still load, with null probabilities."""
    import shutil

    from framescope.model.article_stage import STAGE_SETTINGS, STAGE_WEIGHTS
    from framescope.model.tagger import SpanTagger

    old = tmp_path / "old-model"
    shutil.copytree(model_dir, old)
    (old / STAGE_SETTINGS).unlink()
    (old / STAGE_WEIGHTS).unlink()
    scorer = SpanTagger.from_pretrained(old)
    assert scorer.stage is None
    result = scorer.score(["Die feigen Verräter lügen.\nZweite Zeile."], ["a"], ["de"])[0]
    result.text_sha256 = "0" * 64
    rec = result.to_dict()
    assert all(ts["probability"] is None for ts in rec["techniques"].values())
    assert rec["paragraphs"] == []
    techniques = scorer.techniques
    categories = ex.categories_of(scorer.taxonomy, techniques)
    out = tmp_path / "out"
    out.mkdir()
    with ex.ExportWriter(out, ["parquet", "jsonl"], techniques, categories) as w:
        w.add(rec)
    row = ex.validate_parquet(out / ex.ARTICLES_PARQUET, ex.articles_schema(techniques, categories)).to_pylist()[0]
    assert all(row[f"prob_{t}"] is None for t in techniques)
    assert ex.validate_parquet(out / ex.PARAGRAPHS_PARQUET, ex.paragraphs_schema(techniques)).num_rows == 0
    ex.validate_jsonl(out / ex.RESULTS_FILE, ex.results_schema(techniques, categories))
