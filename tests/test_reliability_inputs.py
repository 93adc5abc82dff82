"""Reliability of ``framescope score`` against hostile or careless inputs.

One bad record never stops a run (it becomes an error row naming its file, line and field);
dates of any year round-trip through every export; every check that can refuse a run comes
before anything is written (the ``--out`` and ``--dataset`` trees are unchanged, to the
mtime); paragraphs split on every Unicode line boundary; annotation readers and converters
say what they leave out.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli_checks import one_error_line
from framescope.cli import _register, app
from framescope.inference import exports as ex
from framescope.inference.inputs import Article, InputError, iter_inputs
from framescope.inference.metadata import format_timestamp, parse_meta_option, parse_timestamp
from framescope.labels.paragraphs import paragraph_offsets

_register()
runner = CliRunner()

GOOD = "Die feigen Verräter lügen immer, sagt der Minister."


def score(*args, input=None):
    return runner.invoke(app, ["score", "-q", *map(str, args)], input=input)


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _errors(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ex.ERRORS_JSONL).read_text(encoding="utf-8").splitlines()]


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ex.RESULTS_FILE).read_text(encoding="utf-8").splitlines()]


# -- one bad record is an error row, the rest of the run is exported ---------------------------

# a JSON-escaped lone surrogate: valid JSON, but no UTF-8 text can hold it
SURROGATE_RECORDS = {
    "text": '{"id": "bad", "text": "Die feigen \\ud800 Verräter."}',
    "id": '{"id": "b\\udc80d", "text": "Die feigen Verräter."}',
    "title": '{"id": "bad", "text": "Die feigen Verräter.", "title": "x\\ud800"}',
    "source": '{"id": "bad", "text": "Die feigen Verräter.", "source": "\\udfff"}',
    "lang": '{"id": "bad", "text": "Die feigen Verräter.", "lang": "d\\ud800"}',
}


@pytest.mark.parametrize("field", sorted(SURROGATE_RECORDS))
def test_lone_surrogate_in_any_field_is_an_error_row_naming_line_and_field(tmp_path, field):
    feed = _jsonl(
        tmp_path / "feed.jsonl",
        [f'{{"id": "ok1", "text": "{GOOD}"}}', SURROGATE_RECORDS[field], f'{{"id": "ok2", "text": "{GOOD}"}}'],
    )
    items = list(iter_inputs([str(feed)], lang="de"))
    assert [i.id for i in items if isinstance(i, Article)] == ["ok1", "ok2"]
    (err,) = [i for i in items if isinstance(i, InputError)]
    assert err.source == f"{feed}:2"
    assert repr(field) in err.reason and "surrogate" in err.reason
    json.dumps(err.to_dict(), ensure_ascii=False).encode("utf-8")  # the row itself is writable


@pytest.mark.parametrize("value", ['{"a": 1}', "[1, 2]"])
def test_object_or_array_id_is_refused_naming_the_field(tmp_path, value):
    feed = _jsonl(tmp_path / "feed.jsonl", [f'{{"id": {value}, "text": "{GOOD}"}}'])
    (err,) = list(iter_inputs([str(feed)], lang="de"))
    assert isinstance(err, InputError) and err.source == f"{feed}:1"
    assert "'id'" in err.reason and ("object" in err.reason or "array" in err.reason)


def test_scalar_ids_keep_their_text(tmp_path):
    feed = _jsonl(tmp_path / "feed.jsonl", [f'{{"id": 7, "text": "{GOOD}"}}', f'{{"id": true, "text": "{GOOD}"}}'])
    assert [a.id for a in iter_inputs([str(feed)], lang="de")] == ["7", "true"]


def test_non_utf8_file_name_is_an_error_row_not_a_crash(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text(GOOD, encoding="utf-8")
    bad = os.fsencode(folder) + b"/b\xffd.txt"
    try:
        with open(bad, "wb") as fh:
            fh.write(GOOD.encode("utf-8"))
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    items = list(iter_inputs([str(folder)], lang="de"))
    assert [i.id for i in items if isinstance(i, Article)] == ["ok.txt"]
    (err,) = [i for i in items if isinstance(i, InputError)]
    json.dumps(err.to_dict(), ensure_ascii=False).encode("utf-8")
    assert "\\xff" in err.source and "UTF-8" in err.reason


def test_score_exports_the_good_records_and_a_rerun_does_not_fail_again(model_dir, tmp_path):
    feed = _jsonl(
        tmp_path / "feed.jsonl",
        [
            f'{{"id": "ok", "text": "{GOOD}"}}',
            SURROGATE_RECORDS["text"],
            f'{{"id": {{"a": 1}}, "text": "{GOOD}"}}',
            SURROGATE_RECORDS["title"],
        ],
    )
    out = tmp_path / "out"
    for _ in range(2):  # the rerun resumes from the journal and meets the same bad records
        res = score(feed, "--model", model_dir, "--out", out, "--lang", "de")
        assert res.exit_code == 1, res.output
        assert [r["id"] for r in _results(out)] == ["ok"]
        errors = _errors(out)
        assert [(e["source"], e["level"]) for e in errors] == [
            (f"{feed}:2", "error"),
            (f"{feed}:3", "error"),
            (f"{feed}:4", "error"),
        ]
        assert "'text'" in errors[0]["reason"] and "'id'" in errors[1]["reason"] and "'title'" in errors[2]["reason"]


# -- dates of any year round-trip --------------------------------------------------------------

YEARS = (1, 999, 1000, 9999)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_timestamps_of_any_year_round_trip(dt):
    dt = dt.replace(microsecond=0, tzinfo=timezone.utc)
    text = format_timestamp(dt)
    assert len(text) == 20 and text[4] == "-"  # zero-padded YYYY-MM-DDTHH:MM:SSZ
    assert parse_timestamp(text) == dt
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == dt


def test_published_at_of_every_year_round_trips_through_every_export(model_dir, tmp_path):
    lines = [json.dumps({"id": f"y{y}", "text": GOOD, "published_at": f"{y:04d}-03-04T05:06:07Z"}) for y in YEARS]
    # a date before year 1 once converted to UTC
    lines.append(f'{{"id": "tz", "text": "{GOOD}", "published_at": "0001-01-01T00:30:00+01:00"}}')
    feed = _jsonl(tmp_path / "feed.jsonl", lines)
    out = tmp_path / "out"
    res = score(feed, "--model", model_dir, "--out", out, "--lang", "de", "--format", "all")
    assert res.exit_code == 0, res.output
    want = {f"y{y}": datetime(y, 3, 4, 5, 6, 7, tzinfo=timezone.utc) for y in YEARS} | {"tz": None}
    got_jsonl = {r["id"]: r["published_at"] for r in _results(out)}
    assert got_jsonl == {k: (format_timestamp(v) if v else None) for k, v in want.items()}
    assert got_jsonl["y1"] == "0001-03-04T05:06:07Z"
    manifest = json.loads((out / ex.MANIFEST_FILE).read_text())
    techniques, categories = manifest["techniques"], manifest["categories"]
    schema = ex.articles_schema(techniques, categories)
    tables = (ex.validate_parquet(out / ex.ARTICLES_PARQUET, schema), ex.validate_csv(out / ex.ARTICLES_CSV, schema))
    for table in tables:
        rows = {r["id"]: r["published_at"] for r in table.select(["id", "published_at"]).to_pylist()}
        assert rows == want
    ex.validate_jsonl(out / ex.RESULTS_FILE, ex.results_schema(techniques, categories))
    (warning,) = [e for e in _errors(out) if e["id"] == "tz"]
    assert warning["level"] == "warning" and "published_at" in warning["reason"]


# -- every refusal comes before anything is written --------------------------------------------


def snapshot(*roots: Path) -> dict:
    """Every path under ``roots``: kind, size, mtime and symlink target (``None`` when absent)."""
    state: dict = {}
    for root in roots:
        paths = [root, *root.rglob("*")] if root.exists() or root.is_symlink() else [root]
        for p in paths:
            if not (p.exists() or p.is_symlink()):
                state[str(p)] = None
                continue
            st_ = p.lstat()
            state[str(p)] = (
                "link" if p.is_symlink() else "dir" if p.is_dir() else "file",
                os.readlink(p) if p.is_symlink() else None,
                None if p.is_dir() else st_.st_size,
                st_.st_mtime_ns,
            )
    return state


@pytest.fixture(scope="module")
def scored_run(model_dir, tmp_path_factory) -> tuple[Path, Path]:
    """A feed and an ``--out`` folder that one successful run wrote (copied by each test)."""
    tmp = tmp_path_factory.mktemp("scored-run")
    feed = _jsonl(tmp / "feed.jsonl", [f'{{"id": "a", "text": "{GOOD}"}}'])
    res = score(feed, "--model", model_dir, "--out", tmp / "out", "--lang", "de")
    assert res.exit_code == 0, res.output
    return feed, tmp / "out"


def _prepare(scored_run, tmp_path: Path) -> tuple[Path, Path]:
    feed, out = scored_run
    shutil.copytree(out, tmp_path / "out", symlinks=True)
    return feed, tmp_path / "out"


def _not_a_dataset(tmp: Path) -> Path:
    (tmp / "ds").mkdir()
    (tmp / "ds" / "notes.txt").write_text("mine")
    return tmp / "ds"


def _dataset_file(tmp: Path) -> Path:
    (tmp / "ds").write_text("a file, not a folder")
    return tmp / "ds"


def _other_techniques(tmp: Path) -> Path:
    (tmp / "ds").mkdir()
    info = {
        "format": "framescope-dataset",
        "dataset_version": 1,
        "schema_version": "1.1",
        "techniques": ["Other"],
        "categories": ["other"],
        "partitioning": ["scored_date"],
    }
    (tmp / "ds" / "dataset.json").write_text(json.dumps(info))
    return tmp / "ds"


def _other_major(tmp: Path) -> Path:
    ds = _other_techniques(tmp)
    info = json.loads((ds / "dataset.json").read_text())
    (ds / "dataset.json").write_text(json.dumps({**info, "schema_version": "2.0"}))
    return ds


def _same_as_out(tmp: Path) -> Path:
    return tmp / "out"


def _inside_out(tmp: Path) -> Path:
    return tmp / "out" / "dataset"


DATASET_REFUSALS = {
    "a file": (_dataset_file, 2, "not a folder"),
    "not a dataset": (_not_a_dataset, 2, "not a framescope dataset"),
    "other techniques": (_other_techniques, 2, "other techniques"),
    "other major version": (_other_major, 2, "is not one this framescope reads"),
    "same as --out": (_same_as_out, 2, "--out"),
    "inside --out": (_inside_out, 2, "--out"),
}


@pytest.mark.parametrize("case", sorted(DATASET_REFUSALS))
def test_dataset_refusals_leave_out_and_dataset_unchanged(scored_run, model_dir, tmp_path, case):
    feed, out = _prepare(scored_run, tmp_path)
    make, code, says = DATASET_REFUSALS[case]
    dataset = make(tmp_path)
    new_feed = _jsonl(tmp_path / "new.jsonl", [f'{{"id": "b", "text": "{GOOD}"}}'])  # something new to publish
    before = snapshot(out, dataset)
    res = score(new_feed, "--model", model_dir, "--out", out, "--lang", "de", "--dataset", dataset)
    assert res.exit_code == code, res.output
    line = one_error_line(res)
    assert "--dataset" in line and says in " ".join(res.output.split())
    assert snapshot(out, dataset) == before


def test_read_only_dataset_is_refused_before_writing(scored_run, model_dir, tmp_path, monkeypatch):
    """Root writes anywhere, so the file system's answer is simulated where the test runs as root."""
    feed, out = _prepare(scored_run, tmp_path)
    dataset = tmp_path / "ro"
    dataset.mkdir()
    dataset.chmod(0o555)
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, *a, **k: False if Path(p) == dataset and mode & os.W_OK else real(p, mode, *a, **k),
        )
    new_feed = _jsonl(tmp_path / "new.jsonl", [f'{{"id": "b", "text": "{GOOD}"}}'])
    before = snapshot(out, dataset)
    try:
        res = score(new_feed, "--model", model_dir, "--out", out, "--lang", "de", "--dataset", dataset)
    finally:
        dataset.chmod(0o755)
    assert res.exit_code == 3, res.output
    assert "not writable" in one_error_line(res)
    assert snapshot(out, dataset) == before


def _model_named(model_dir: Path, tmp: Path, name) -> Path:
    folder = tmp / "model"
    shutil.copytree(model_dir, folder)
    settings_ = json.loads((folder / "framescope.json").read_text())
    (folder / "framescope.json").write_text(json.dumps({**settings_, "name": name}))
    return folder


@pytest.mark.parametrize("name", [42, ["x"], ""])
def test_model_with_a_non_string_name_is_refused_before_scoring(scored_run, model_dir, tmp_path, name):
    feed, out = _prepare(scored_run, tmp_path)
    model = _model_named(model_dir, tmp_path, name)
    new_feed = _jsonl(tmp_path / "new.jsonl", [f'{{"id": "b", "text": "{GOOD}"}}'])
    before = snapshot(out)
    res = score(new_feed, "--model", model, "--out", out, "--lang", "de")
    assert res.exit_code == 2, res.output
    assert "name" in one_error_line(res)
    assert snapshot(out) == before


def test_other_refusals_leave_out_unchanged(scored_run, model_dir, tmp_path):
    feed, out = _prepare(scored_run, tmp_path)
    new_feed = _jsonl(tmp_path / "new.jsonl", [f'{{"id": "b", "text": "{GOOD}", "desk": "x", "Desk": "y"}}'])
    inside = _jsonl(out / "mine.jsonl", [f'{{"id": "c", "text": "{GOOD}"}}'])
    cases = {
        "no model": ["--model", tmp_path / "missing"],
        "input inside --out": [inside, "--model", model_dir],
        "meta names equal but for case": ["--model", model_dir, "--meta", "desk,Desk"],
        "unknown format": ["--model", model_dir, "--format", "xlsx"],
    }
    for case, args in cases.items():
        before = snapshot(out)
        first = [] if case == "input inside --out" else [new_feed]
        res = score(*first, *args, "--out", out, "--lang", "de")
        assert res.exit_code == 2, (case, res.output)
        one_error_line(res)
        assert snapshot(out) == before, case


def test_meta_names_that_differ_only_in_case_are_refused():
    with pytest.raises(ValueError, match="case"):
        parse_meta_option("desk,Desk")
    with pytest.raises(ValueError, match="case"):
        parse_meta_option("Desk,meta_desk")
    assert [f.output_name for f in parse_meta_option("desk,Source")] == ["meta_desk", "meta_Source"]


def test_meta_columns_have_the_same_names_in_export_and_dataset(model_dir, tmp_path):
    feed = _jsonl(tmp_path / "feed.jsonl", [f'{{"id": "a", "text": "{GOOD}", "Desk": "x", "region": "y"}}'])
    res = score(
        feed,
        "--model",
        model_dir,
        "--out",
        tmp_path / "out",
        "--lang",
        "de",
        "--meta",
        "Desk,region",
        "--dataset",
        tmp_path / "ds",
    )
    assert res.exit_code == 0, res.output
    import duckdb

    from framescope.inference.dataset import read_sql

    exported = pq.read_schema(tmp_path / "out" / ex.ARTICLES_PARQUET).names
    in_dataset = duckdb.sql(f"SELECT * FROM {read_sql(tmp_path / 'ds', 'articles')}").columns
    assert [c for c in exported if c.startswith("meta_")] == ["meta_Desk", "meta_region"]
    assert [c for c in in_dataset if c.startswith("meta_")] == ["meta_Desk", "meta_region"]


# -- paragraphs: every Unicode line boundary, terminators outside the offsets ------------------


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"])
def test_paragraphs_split_on_every_line_boundary_and_exclude_it(sep):
    text = f"Erster Satz.{sep}Zweiter Satz.{sep}{sep}Dritter."
    paras = paragraph_offsets(text)
    assert [text[s:e] for s, e in paras] == ["Erster Satz.", "Zweiter Satz.", "Dritter."]
    assert [text[s:e] for s, e in paras] == [line for line in text.splitlines() if line.strip()]


def test_crlf_paragraph_ends_before_the_carriage_return():
    text = "Alpha beta.\r\nGamma.\r\n"
    assert paragraph_offsets(text) == [(0, 11), (13, 19)]


# -- annotation: what a reader or a converter leaves out is said, with counts -----------------


def _ls_task(n: int, annotations: list, predictions: list) -> dict:
    result = [
        {
            "type": "labels",
            "from_name": "label",
            "to_name": "text",
            "value": {"start": 0, "end": 3, "text": "Die", "labels": ["Loaded_Language"]},
        }
    ]
    return {
        "id": n,
        "data": {"text": "Die feigen Verräter."},
        "annotations": [{"was_cancelled": False, "result": result}] if annotations else [],
        "predictions": [{"model_version": "m", "result": result}] if predictions else [],
    }


def test_labelstudio_predictions_only_export_warns_with_counts(tmp_path):
    path = tmp_path / "export.json"
    tasks = [_ls_task(1, [], [1]), _ls_task(2, [], [1]), _ls_task(3, [1], []), _ls_task(4, [], [])]
    path.write_text(json.dumps(tasks))
    res = runner.invoke(app, ["data", "validate", str(path), "--from", "labelstudio"])
    said = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "warning" in said and "3 of 4 tasks have no annotation" in said and "2 of them" in said
    assert "prediction" in said


def test_labelstudio_fully_annotated_export_has_no_warning(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([_ls_task(1, [1], [1])]))
    res = runner.invoke(app, ["data", "validate", str(path), "--from", "labelstudio"])
    assert res.exit_code == 0 and "warning" not in res.output, res.output


def test_convert_to_ptc2020_warns_that_lang_is_dropped(tmp_path):
    src = tmp_path / "docs.jsonl"
    docs = [
        {"id": str(n), "text": "Die feigen Verräter.", "lang": lang, "spans": []}
        for n, lang in enumerate(["de", "de", "fr", "en", None])
    ]
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    convert = ["data", "convert", str(src), "--from", "jsonl", "--to"]
    res = runner.invoke(app, [*convert, "ptc2020", "--out", str(tmp_path / "ptc")])
    said = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "warning" in said and "lang" in said and "3 article(s)" in said
    res = runner.invoke(app, [*convert, "jsonl", "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 0 and "warning" not in res.output, res.output
