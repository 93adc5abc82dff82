"""``score --dataset``: a Hive-partitioned Parquet dataset that grows run by run, without duplicates."""

from __future__ import annotations

import json
import os
from importlib import resources

import duckdb
import pandas as pd
import pyarrow.dataset as pads
import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.inference import dataset as ds
from framescope.inference.batch import run_score
from framescope.inference.inputs import Fields

EXAMPLES = resources.files("framescope.inference") / "examples"
DE = (EXAMPLES / "de_article.txt").read_text(encoding="utf-8")
EN = (EXAMPLES / "en_article.txt").read_text(encoding="utf-8")

_register()


@pytest.fixture(scope="module")
def scorer(model_dir):
    from framescope.model.tagger import SpanTagger

    return SpanTagger.from_pretrained(model_dir)


def _feed(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _article(i, text, outlet="Bote", day="2026-11-02"):
    return {"id": f"art-{i}", "text": f"{text}\n\n({i})", "lang": "de", "source": outlet, "published_at": day}


def _run(scorer, tmp_path, name, records):
    feed = _feed(tmp_path / f"{name}.jsonl", records)
    out = tmp_path / name
    run_score([str(feed)], scorer=scorer, out=out, formats="parquet", fields=Fields(), show_progress=False)
    return out


def _one(sql):
    with duckdb.connect() as con:
        return con.execute(sql).fetchone()[0]


def _count(dataset, table, what="count(*)"):
    return _one(f"SELECT {what} FROM {ds.read_sql(dataset, table)}")


def test_three_days_one_table_no_duplicates(scorer, tmp_path):
    data = tmp_path / "dataset"
    day1 = [_article(i, DE) for i in range(3)]
    day2 = [_article(i, EN, "Herald") for i in range(3, 5)]
    day3 = [day1[0], day1[1], _article(5, EN, "Herald"), {**day1[2], "text": day1[2]["text"] + " (edited)"}]
    added = [
        ds.append_run(_run(scorer, tmp_path, f"day{n}", recs), data) for n, recs in enumerate((day1, day2, day3), 1)
    ]
    assert [(a.articles, a.skipped) for a in added] == [(3, 0), (2, 0), (2, 2)]  # the edited article is new
    assert _count(data, "articles") == 7
    assert _count(data, "articles", "count(DISTINCT (id, text_sha256))") == 7
    spans = _count(data, "spans")
    assert spans == sum(a.spans for a in added) > 0
    # spans join their article version by id and text hash
    orphans = _one(
        f"SELECT count(*) FROM {ds.read_sql(data, 'spans')} s ANTI JOIN {ds.read_sql(data, 'articles')} a "
        "ON s.article_id = a.id AND s.text_sha256 = a.text_sha256"
    )
    assert orphans == 0
    with duckdb.connect() as con:
        cols = [d[0] for d in con.execute(f"SELECT * FROM {ds.read_sql(data, 'articles')} LIMIT 0").description]
    assert {"source", "url", "title", "published_at", "scored_date", "score_Loaded_Language"} <= set(cols)
    # pandas and pyarrow datasets read the same table
    assert len(pd.read_parquet(data / "articles")) == 7
    assert pads.dataset(data / "spans", format="parquet", partitioning="hive").count_rows() == spans
    info = json.loads((data / ds.DATASET_FILE).read_text())
    assert info["schema_version"] == "1.1" and info["partitioning"] == ["scored_date"]
    assert not list((data / ds.STAGING).iterdir())


@pytest.mark.slow
def test_cli_dataset_option_adds_parquet_and_appends(model_dir, tmp_path):
    feed = _feed(tmp_path / "feed.jsonl", [_article(1, DE), _article(2, EN)])
    runner = CliRunner()
    args = ["score", "-q", str(feed), "--model", str(model_dir), "--format", "jsonl", "--dataset", str(tmp_path / "d")]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o1")])
    assert res.exit_code == 0, res.output
    assert "2 new articles" in " ".join(res.output.split()) and (tmp_path / "o1" / "articles.parquet").is_file()
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o2")])
    said = " ".join(res.output.split())  # rich wraps long lines
    assert res.exit_code == 0 and "0 new articles" in said and "2 already there" in said
    assert _count(tmp_path / "d", "articles") == 2


def test_schema_and_model_mismatch_refused_nothing_written(scorer, tmp_path):
    data = tmp_path / "dataset"
    run = _run(scorer, tmp_path, "day1", [_article(1, DE)])
    ds.append_run(run, data)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    manifest = json.loads((run / "manifest.json").read_text())
    other = {**manifest, "schema_version": "2.0"}
    (run / "manifest.json").write_text(json.dumps(other))
    with pytest.raises(ds.DatasetError, match="another major version"):
        ds.append_run(run, data)
    (run / "manifest.json").write_text(json.dumps({**manifest, "techniques": manifest["techniques"][:3]}))
    with pytest.raises(ds.DatasetError, match="other techniques"):
        ds.append_run(run, data)
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    (tmp_path / "notads").mkdir()
    (tmp_path / "notads" / "x.txt").write_text("x")
    with pytest.raises(ds.DatasetError, match="not a framescope dataset"):
        ds.append_run(run, tmp_path / "notads")
    with pytest.raises(ds.DatasetError, match="no manifest.json"):
        ds.append_run(tmp_path, data)


@pytest.mark.slow
def test_kill_before_commit_leaves_nothing_visible(scorer, tmp_path, monkeypatch):
    data = tmp_path / "dataset"
    run = _run(scorer, tmp_path, "day1", [_article(1, DE), _article(2, EN)])

    def killed(stage):
        raise KeyboardInterrupt  # as if killed while the staged files were written

    monkeypatch.setattr(ds, "_commit", killed)
    with pytest.raises(KeyboardInterrupt):
        ds.append_run(run, data)
    assert not list(data.glob("articles/*/*.parquet")) and not list(data.glob("spans/*/*.parquet"))
    monkeypatch.undo()
    assert ds.append_run(run, data).articles == 2
    assert _count(data, "articles") == 2 and not list((data / ds.STAGING).iterdir())


@pytest.mark.slow
def test_kill_while_publishing_is_rolled_forward(scorer, tmp_path, monkeypatch):
    """Killed after the commit marker, between two renames: the next append finishes the job."""
    data = tmp_path / "dataset"
    run = _run(scorer, tmp_path, "day1", [_article(1, DE), _article(2, EN)])
    real_replace = os.replace
    calls = []

    def replace_then_die(src, dst):
        if str(dst).endswith(".parquet"):
            calls.append(dst)
            if len(calls) == 2:  # the spans file is in place, the articles file is not
                raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(ds.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        ds.append_run(run, data)
    monkeypatch.undo()
    # spans are published first: no article row is visible without its spans
    assert list(data.glob("spans/*/*.parquet")) and not list(data.glob("articles/*/*.parquet"))
    again = ds.append_run(run, data)  # recovers, then finds both articles present
    assert (again.articles, again.skipped) == (0, 2)
    assert _count(data, "articles") == 2
    assert _count(data, "spans") == _one(f"SELECT count(*) FROM read_parquet('{run / 'spans.parquet'}')")


@pytest.mark.slow
def test_documented_weekly_share_query(scorer, tmp_path):
    """docs/monitoring.md's query for "share of articles per outlet and week using each technique" runs on the
    shipped views and is right."""
    import re
    from pathlib import Path

    from framescope.inference import views

    doc = (Path(__file__).resolve().parents[1] / "docs" / "monitoring.md").read_text(encoding="utf-8")
    query = re.findall(r"```sql\n(.+?)```", doc, flags=re.S)[0]
    assert "FROM outlet_week_technique" in query
    data = tmp_path / "dataset"
    ds.append_run(
        _run(scorer, tmp_path, "day1", [_article(1, DE), _article(2, EN, "Herald"), _article(3, DE, day="2026-11-12")]),
        data,
    )
    con, _ = views.connect(data)
    with con:
        rows = con.execute(query).fetchall()
        articles = con.execute("SELECT * FROM articles_latest").df()
    got = {(o, str(w), t): (n, share) for o, w, t, n, _, share, _ in rows}
    technique = "Appeal_to_Fear-Prejudice"
    assert {k[2] for k in got} == {technique}
    assert len(got) == 3  # (Bote, week 45), (Bote, week 46), (Herald, week 45)
    bote_w45 = articles[(articles["source"] == "Bote") & (articles["id"] == "art-1")]
    assert articles[f"prob_{technique}"].notna().all()  # the model has an article stage
    n, share = got[("Bote", "2026-11-02", technique)]
    assert n == 1 and share == pytest.approx(float(bote_w45[f"prob_{technique}"].iloc[0]))


@pytest.mark.slow
def test_kill_9_while_publishing_then_the_next_append_completes(scorer, tmp_path):
    """A real SIGKILL between two renames: the OS drops the lock, the next append rolls the commit forward."""
    import signal
    import subprocess
    import sys
    import time

    data, marker = tmp_path / "dataset", tmp_path / "published-one"
    run = _run(scorer, tmp_path, "day1", [_article(1, DE), _article(2, EN)])
    script = (
        "import os, time\n"
        "from framescope.inference import dataset as ds\n"
        "real = os.replace\n"
        "def slow(src, dst):\n"
        "    real(src, dst)\n"
        "    if str(dst).endswith('.parquet'):\n"
        f"        open({str(marker)!r}, 'w').close()\n"
        "        time.sleep(120)\n"
        "ds.os.replace = slow\n"
        f"ds.append_run({str(run)!r}, {str(data)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while not marker.exists():
        assert proc.poll() is None and time.time() < deadline, "the append did not reach its first rename"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert list(data.glob("spans/*/*.parquet")) and not list(data.glob("articles/*/*.parquet"))
    again = ds.append_run(run, data)
    assert (again.articles, again.skipped) == (0, 2)
    assert _count(data, "articles") == 2 and _count(data, "spans") == _one(
        f"SELECT count(*) FROM read_parquet('{run / 'spans.parquet'}')"
    )
    assert not list((data / ds.STAGING).iterdir())
