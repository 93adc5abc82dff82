"""Trends that do not mislead: three days, five outlets and the edge cases of a real feed, end to end.

The feed has a repeated article, an edited one (same id, new text), an RFC 2822 date on
a Sunday evening (a Monday in Berlin and on Kiritimati), a missing and an unparseable
date, and an outlet name with a trailing blank. Checked: the shared views give the same
weeks under any session time zone, undated articles form their own bucket, the default
views hold one row per id, outlets are normalised, the dashboard's numbers are the views'
numbers, the report over the dataset resolves every example link, and the dataset reader
refuses what it did not write.
"""

from __future__ import annotations

import html
import json
import os
import re
from importlib import resources
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.inference import dashboard as dash
from framescope.inference import dataset as ds
from framescope.inference import views
from framescope.inference.batch import run_score
from framescope.inference.inputs import Fields

EXAMPLES = resources.files("framescope.inference") / "examples"
DE = (EXAMPLES / "de_article.txt").read_text(encoding="utf-8")
EN = (EXAMPLES / "en_article.txt").read_text(encoding="utf-8")
ZONES = ("UTC", "Europe/Berlin", "Pacific/Kiritimati")
OUTLETS = {"Le Veilleur", "Der Bote", "The Herald", "Daily Post", "Il Corriere"}

_register()


def _art(i: int, outlet: str, published, text: str = DE, lang: str = "de") -> dict:
    rec = {
        "id": f"a-{i}",
        "text": f"{text}\n\nNummer {i}.",
        "lang": lang,
        "source": outlet,
        "title": f"Title {i}",
        "url": f"https://news.example/{i}",
    }
    if published is not None:
        rec["published_at"] = published
    return rec


def _days() -> list[list[dict]]:
    """Three daily feeds; weeks 2026-11-02 and 2026-11-16 have articles, 2026-11-09 none."""
    day1 = [
        _art(1, "Le Veilleur", "2026-11-03T09:00:00Z"),
        _art(2, "Le Veilleur ", "2026-11-04"),  # trailing blank: the same outlet
        _art(3, "Der Bote", "Sun, 08 Nov 2026 23:30:00 +0000", EN, "en"),  # RFC 2822, Monday in Berlin
        _art(4, "The Herald", "2026-11-02", EN, "en"),
    ]
    day2 = [
        _art(5, "Daily Post", "2026-11-17", EN, "en"),
        _art(6, "Il Corriere", None),  # no date
        _art(7, "Il Corriere", "next Tuesday-ish"),  # unparseable
        _art(8, "Der  Bote", "2026-11-18T23:59:00-01:00"),  # inner double blank; Thursday 00:59 UTC
    ]
    edited = {**day1[0], "text": day1[0]["text"] + " Aktualisiert."}
    day3 = [day1[1], edited, _art(9, "The Herald", "2026-11-19", EN, "en")]  # a repeat, an edit, a new one
    return [day1, day2, day3]


@pytest.fixture(scope="module")
def world(model_dir, tmp_path_factory):
    """The dataset of the three days (with HTML reports per day), and the report over the whole dataset."""
    from framescope.model.tagger import SpanTagger

    tmp = tmp_path_factory.mktemp("trends")
    scorer = SpanTagger.from_pretrained(model_dir)
    data = tmp / "dataset"
    for n, records in enumerate(_days(), 1):
        feed = tmp / f"day{n}.jsonl"
        feed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        run_score([str(feed)], scorer=scorer, out=tmp / f"day{n}", fields=Fields(), show_progress=False)
        ds.append_run(tmp / f"day{n}", data)
    return tmp, data


def _views(data: Path, zone: str, database: str = ":memory:"):
    con, _ = views.connect(data, database=database)
    con.execute(f"SET TimeZone = '{zone}'")
    return con


def test_weeks_are_utc_under_any_session_zone(world):
    _, data = world
    got = {}
    for zone in ZONES:
        con = _views(data, zone)
        got[zone] = con.execute("SELECT * FROM outlet_week_technique ORDER BY ALL").fetchall()
        weeks = dict(con.execute("SELECT id, week FROM articles_latest").fetchall())
        con.close()
        assert str(weeks["a-3"]) == "2026-11-02"  # Sunday 23:30 UTC, whatever the zone says
        assert str(weeks["a-8"]) == "2026-11-16"
    assert got["UTC"] == got["Europe/Berlin"] == got["Pacific/Kiritimati"] and got["UTC"]


def test_undated_bucket_latest_version_and_outlets(world):
    _, data = world
    con = _views(data, "UTC")
    latest = con.execute("SELECT id, outlet, week FROM articles_latest").fetchall()
    n_all = con.execute("SELECT count(*) FROM articles_all").fetchone()[0]
    weeks = {r[0] for r in con.execute("SELECT DISTINCT week FROM outlet_week_technique").fetchall()}
    undated = con.execute(
        "SELECT outlet, max(articles) FROM outlet_week_technique WHERE week IS NULL GROUP BY ALL"
    ).fetchall()
    edited = con.execute("SELECT count(*) FROM articles_all WHERE id = 'a-1'").fetchone()[0]
    latest_text = con.execute("SELECT text FROM texts_latest WHERE article_id = 'a-1'").fetchone()[0]
    orphans = con.execute(
        "SELECT count(*) FROM spans_latest s ANTI JOIN articles_latest a ON s.article_id = a.id"
    ).fetchone()[0]
    con.close()
    ids = [r[0] for r in latest]
    assert len(ids) == len(set(ids)) == 9 and n_all == 10 and edited == 2  # the edit is kept, counted once
    assert latest_text.endswith("Aktualisiert.")
    assert {r[1] for r in latest} == OUTLETS  # "Le Veilleur " and "Der  Bote" normalised
    assert {str(w) for w in weeks} == {"2026-11-02", "2026-11-16", "None"}  # no phantom scoring week
    assert undated == [("Il Corriere", 2)]
    assert orphans == 0


def test_dashboard_numbers_are_the_views_numbers(world, tmp_path):
    _, data = world
    d = dash.load(data)
    con = _views(data, "Europe/Berlin")
    view_rows = con.execute("SELECT week, technique, articles, share FROM week_technique").fetchall()
    per_outlet = dict(con.execute("SELECT outlet, count(*) FROM articles_latest GROUP BY ALL").fetchall())
    con.close()
    mine = {(dash._day(r.week), r.technique): (r.articles, r.share) for r in d.week_technique.itertuples()}
    assert len(mine) == len(view_rows) > 0
    for week, technique, n, share in view_rows:
        got_n, got_share = mine[(week, technique)]
        assert got_n == n and got_share == pytest.approx(share)
    assert d.total == 9 and d.versions == 10 and len(d.articles) == 9
    page = dash.write_dashboard(data, tmp_path / "page", focus=["Appeal_to_Fear-Prejudice"]).read_text(encoding="utf-8")
    assert 'id="chart-outlet-week-Appeal_to_Fear-Prejudice"' in page and 'id="outlet-week"' in page
    assert "1 without articles (2026-11-09)" in page  # the empty week stays on the axis
    assert '<span id="undated"><b>2</b> undated' in page
    rows = re.findall(
        r'<tr class="outlet-row"><td>([^<]*)</td><td class="num">(\d+)</td><td class="num">(\d+)</td>'
        r"<td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>",
        page,
    )
    table = {html.unescape(o): (int(n), int(u), first, last) for o, n, u, first, last in rows}
    assert {o: v[0] for o, v in table.items()} == per_outlet
    assert table["Il Corriere"] == (2, 2, "–", "–")  # the last date ignores undated articles
    assert table["Der Bote"][3] == "2026-11-19"
    # examples come with their sentence around the span
    assert re.search(r'<span class="context">[^<]+<q>', page)


def test_views_database_file(world, tmp_path):
    _, data = world
    out = tmp_path / "trends.duckdb"
    res = CliRunner().invoke(app, ["dataset", "views", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with duckdb.connect(str(out), read_only=True) as con:
        con.execute("SET TimeZone = 'Pacific/Kiritimati'")
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        rows = con.execute("SELECT * FROM outlet_week_technique ORDER BY ALL").fetchall()
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'outlet_week_technique'"
            ).fetchall()
        )
        n = con.execute("SELECT count(*) FROM articles_latest").fetchone()[0]
        spans_cols = {d[0] for d in con.execute("SELECT * FROM spans_latest LIMIT 0").description}
        paragraphs = con.execute("SELECT count(*) FROM paragraphs_latest").fetchone()[0]
    assert {"articles_latest", "spans_latest", "paragraphs_latest", "outlet_week_technique"} <= tables
    assert types == {
        "outlet": "VARCHAR",
        "week": "DATE",
        "technique": "VARCHAR",
        "articles": "INTEGER",
        "articles_with_technique": "INTEGER",
        "share": "DOUBLE",
        "mean_prob": "DOUBLE",
    }
    con = _views(data, "UTC")
    assert rows == con.execute("SELECT * FROM outlet_week_technique ORDER BY ALL").fetchall()
    con.close()
    assert n == 9 and {"article_id", "technique", "start", "end", "text"} <= spans_cols and paragraphs > 0
    # a file that is not a views database is not replaced
    other = tmp_path / "mine.duckdb"
    other.write_text("not a database")
    res = CliRunner().invoke(app, ["dataset", "views", str(data), "--out", str(other)])
    assert res.exit_code == 2 and other.read_text() == "not a database"


def test_report_over_the_dataset_resolves_every_dashboard_link(world, tmp_path):
    _, data = world
    site = tmp_path / "site"
    res = CliRunner().invoke(
        app, ["report", "--dataset", str(data), "--out", str(site), "--rank-by", "prob_Loaded_Language"]
    )
    assert res.exit_code == 0, res.output
    index = (site / "index.html").read_text(encoding="utf-8")
    pages = list((site / "articles").glob("*.html"))
    assert len(pages) == 9 == index.count('class="article-row"')  # each article once
    values = [float(v) for v in re.findall(r'data-rank-value="([\d.]+)"', index)]
    assert values == sorted(values, reverse=True) and "calibrated probability of Loaded_Language" in index
    assert "Title 5" in index and "Daily Post" in index and "https://news.example/5" in index
    edited = next(p for p in pages if 'id="article-id">a-1<' in p.read_text(encoding="utf-8"))
    assert "Aktualisiert." in edited.read_text(encoding="utf-8")  # the latest version's text
    page = dash.write_dashboard(data, tmp_path / "page", report=os.path.relpath(site, tmp_path / "page"))
    hrefs = re.findall(r'<a href="([^"]+/articles/[0-9a-f]{20}\.html)"', page.read_text(encoding="utf-8"))
    assert hrefs and all((page.parent / html.unescape(h)).resolve().is_file() for h in hrefs)


def _copy(data: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(data, target)
    return target


@pytest.mark.parametrize("damage", ["foreign", "truncated", "corrupt", "schema"])
def test_dataset_reader_refuses_what_it_did_not_write(world, tmp_path, damage):
    import pandas as pd

    _, data = world
    data = _copy(data, tmp_path)
    part = sorted((data / "articles").glob("*/*.parquet"))[0]
    if damage == "foreign":
        bad = part.parent / "part-0000000000000000-9.parquet"
        pd.DataFrame({"id": ["x"], "text_sha256": ["y"]}).to_parquet(bad)
    elif damage == "truncated":
        bad = part
        bad.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    elif damage == "corrupt":
        bad = part
        raw = bytearray(part.read_bytes())
        raw[-12:-4] = b"\xff" * 8  # the footer length
        bad.write_bytes(bytes(raw))
    else:
        bad = data / ds.DATASET_FILE
        info = json.loads(bad.read_text())
        bad.write_text(json.dumps({**info, "schema_version": "1.1-beta"}))
    res = CliRunner().invoke(app, ["dashboard", str(data), "--out", str(tmp_path / "page")])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in res.output
    assert not (tmp_path / "page").exists()


def test_dashboard_out_follows_the_folder_rules(world, tmp_path):
    tmp, data = world
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<html>my own page</html>")
    before = {p: p.read_bytes() for p in mine.rglob("*")}
    res = CliRunner().invoke(app, ["dashboard", str(data), "--out", str(mine)])
    assert res.exit_code == 2 and "not written by framescope" in res.output
    assert {p: p.read_bytes() for p in mine.rglob("*")} == before
    report = tmp_path / "report"
    CliRunner().invoke(app, ["report", "--dataset", str(data), "--out", str(report)])
    before = (report / "index.html").read_bytes()
    res = CliRunner().invoke(app, ["dashboard", str(data), "--out", str(report)])
    assert res.exit_code == 2 and "report" in res.output and (report / "index.html").read_bytes() == before
    run = tmp / "day1"  # an export folder of score
    before = sorted(p.name for p in run.iterdir())
    res = CliRunner().invoke(app, ["dashboard", str(data), "--out", str(run)])
    assert res.exit_code == 2 and sorted(p.name for p in run.iterdir()) == before
    page = tmp_path / "page"  # an earlier dashboard is replaced
    assert CliRunner().invoke(app, ["dashboard", str(data), "--out", str(page)]).exit_code == 0
    assert CliRunner().invoke(app, ["dashboard", str(data), "--out", str(page)]).exit_code == 0


def test_no_orphan_spans_after_a_kill_between_renames(world, model_dir, tmp_path, monkeypatch):
    """Spans published, articles not yet: the views show neither until the append is completed."""
    tmp, _ = world
    data = tmp_path / "dataset"
    real = os.replace
    calls = []

    def die_before_articles(src, dst):
        if str(dst).endswith(".parquet") and "/articles/" in str(dst):
            calls.append(dst)
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(ds.os, "replace", die_before_articles)
    with pytest.raises(KeyboardInterrupt):
        ds.append_run(tmp / "day1", data)
    monkeypatch.undo()
    assert list(data.glob("spans/*/*.parquet")) and not list(data.glob("articles/*/*.parquet"))
    with pytest.raises(ds.DatasetError, match="no articles yet"):
        views.connect(data)
    ds.append_run(tmp / "day2", data)  # completes day 1 first
    con = _views(data, "UTC")
    assert con.execute("SELECT count(*) FROM articles_latest").fetchone()[0] == 8
    assert (
        con.execute("SELECT count(*) FROM spans_latest").fetchone()[0]
        == con.execute("SELECT count(*) FROM spans_all").fetchone()[0]
    )
    con.close()


@pytest.mark.browser
def test_dashboard_of_the_dataset_in_headless_chromium(world, tmp_path, chromium):
    _, data = world
    site = tmp_path / "site"
    assert CliRunner().invoke(app, ["report", "--dataset", str(data), "--out", str(site)]).exit_code == 0
    page = dash.write_dashboard(data, tmp_path / "page", report="../site")
    dom = chromium(page.as_uri(), "--dump-dom", timeout=90).stdout
    assert 'id="outlet-week"' in dom and re.search(r'id="chart-outlet-week-[^"]+"[\s\S]*?<svg', dom), dom[:2000]
    assert "2026-11-09" in dom and "without articles" in dom  # the empty week is on the axis
    hrefs = re.findall(r'<a href="([^"]+/articles/[0-9a-f]{20}\.html)"', dom)
    assert hrefs and all((page.parent / html.unescape(h)).resolve().is_file() for h in hrefs)
    first = (page.parent / html.unescape(hrefs[0])).resolve()
    assert 'id="article-text"' in chromium(first.as_uri(), "--dump-dom", timeout=90).stdout
