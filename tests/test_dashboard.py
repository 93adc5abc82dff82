"""``framescope dashboard``: trends per week and outlet, filters, escaping, and a headless-Chromium render.

The ``browser`` test is skipped where ``chromium`` is not installed (``apt-get install
-y chromium``), like tests/test_report.py.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date
from importlib import resources

import pytest
from typer.testing import CliRunner

from framescope.cli import _register, app
from framescope.inference import dashboard as dash
from framescope.inference.batch import run_score
from framescope.inference.inputs import Fields

EXAMPLES = resources.files("framescope.inference") / "examples"
DE = (EXAMPLES / "de_article.txt").read_text(encoding="utf-8")
EN = (EXAMPLES / "en_article.txt").read_text(encoding="utf-8")
EVIL_OUTLET = "Der Bote <script>document.title='pwned'</script>"
EVIL_TITLE = 'Verrat"><img src=x onerror="document.body.dataset.pwned=1">'

_register()


@pytest.fixture(scope="module")
def exports(model_dir, tmp_path_factory):
    """One export folder (with the HTML report) of five articles, three outlets, three weeks."""
    from framescope.model.tagger import SpanTagger

    tmp = tmp_path_factory.mktemp("dash")
    records = [
        {
            "id": "de-1",
            "text": DE,
            "lang": "de",
            "source": EVIL_OUTLET,
            "title": EVIL_TITLE,
            "published_at": "2026-10-05",
        },
        {
            "id": "de-2",
            "text": DE + "\n<script>document.title='pwned'</script>",
            "lang": "de",
            "source": EVIL_OUTLET,
            "published_at": "2026-10-14T10:00:00+02:00",
        },
        {
            "id": "en-1",
            "text": EN,
            "lang": "en",
            "source": "The Herald",
            "title": "Herald one",
            "published_at": "2026-10-13",
        },
        {"id": "en-2", "text": EN + " Again.", "lang": "en", "source": "Daily $Money$", "published_at": "2026-10-21"},
        {
            "id": "calm",
            "text": "A calm sentence about the weather.",
            "lang": "en",
            "source": "The Herald",
            "published_at": "2026-10-22",
        },
    ]
    feed = tmp / "feed.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp / "run"
    run_score(
        [str(feed)],
        scorer=SpanTagger.from_pretrained(model_dir),
        out=out,
        html=True,
        fields=Fields(),
        show_progress=False,
    )
    return out


def test_loads_weeks_outlets_and_filters(exports):
    data = dash.load(exports)
    a = data.articles.set_index("id")
    assert len(a) == data.total == 5
    assert {str(w)[:10] for w in a["week"]} == {"2026-10-05", "2026-10-12", "2026-10-19"}
    assert str(a.loc["de-2", "week"])[:10] == "2026-10-12"  # 10:00+02:00 on a Wednesday, week from Monday
    assert set(a["outlet"]) == {EVIL_OUTLET, "The Herald", "Daily $Money$"}
    assert data.techniques and len(data.examples) > 0
    assert data.examples.groupby("technique").size().max() <= dash.EXAMPLES_PER_TECHNIQUE
    assert len(dash.load(exports, dash.Filters(langs=["en"])).articles) == 3
    assert len(dash.load(exports, dash.Filters(outlets=["The Herald"])).articles) == 2
    window = dash.Filters(since=date(2026, 10, 13), until=date(2026, 10, 21))
    assert sorted(dash.load(exports, window).articles["id"]) == ["de-2", "en-1", "en-2"]


@pytest.mark.slow
def test_page_shares_links_and_escaping(exports, tmp_path):
    data = dash.load(exports)
    page = dash.write_dashboard(exports, tmp_path / "page").read_text(encoding="utf-8")
    assert page.count("<svg") == 4 + len(data.categories)  # and one outlet-by-week chart per category
    for chart in ("chart-category-week", "chart-technique-week", "chart-technique-outlet", "chart-category-outlet"):
        assert f'id="{chart}"' in page
    assert "default-src 'none'; style-src 'unsafe-inline'; img-src data:" in page
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page
    # the share shown for a technique in a week equals the articles' own scores
    t = data.techniques[0]
    a = data.articles
    week = a[a["week"] == a["week"].min()]
    assert f"{(week[f'score_{t}'] > 0).mean():.0%}" in page or (week[f"score_{t}"] > 0).mean() == 0
    # example links reach the report's article pages next to the exports
    hrefs = re.findall(r'<a href="([^"]+/articles/[0-9a-f]{20}\.html)"', page)
    assert hrefs and all((tmp_path / "page" / html.unescape(h)).resolve().is_file() for h in hrefs)


def test_texts_come_from_the_run_and_links_name_the_reports_pages(exports, tmp_path):
    """`score --html` pages show the article texts, and the dashboard's example sentences come from
    the run itself (its journal), not from the Label Studio export; example links use the report's
    own page names."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(exports, copy, symlinks=True)
    for p in [copy / "labelstudio.json", *copy.glob("generations/*/labelstudio.json")]:
        p.unlink()
    before, after = dash.load(exports).examples, dash.load(copy).examples
    assert (before["context_before"] + before["context_after"]).str.len().sum() > 0
    assert list(after["context_before"]) == list(before["context_before"])
    assert list(after["context_after"]) == list(before["context_after"])
    from framescope.inference.report import page_name

    pages = {p.name: p.read_text(encoding="utf-8") for p in (exports / "articles").iterdir()}
    for article_id, text in (("en-1", EN), ("calm", "A calm sentence about the weather.")):
        assert html.escape(text.split("\n")[0], quote=False) in pages[page_name(article_id)]
    assert dash._report_href("r", "de-1") == "r/articles/" + page_name("de-1")


def test_cli_errors_exit_2(exports, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["dashboard", str(tmp_path), "--out", str(tmp_path / "p")])
    assert res.exit_code == 2 and "neither a dataset" in res.output
    res = runner.invoke(app, ["dashboard", str(exports), "--out", str(tmp_path / "p"), "--since", "May 1"])
    assert res.exit_code == 2 and "expected a date YYYY-MM-DD" in res.output
    res = runner.invoke(app, ["dashboard", str(exports), "--out", str(tmp_path / "p"), "--lang", "fr"])
    assert res.exit_code == 0 and "No articles match" in (tmp_path / "p" / "index.html").read_text()


# --------------------------------------------------------------------------------------
# headless browser
# --------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.browser
def test_dashboard_in_headless_chromium(exports, tmp_path, chromium):
    page = dash.write_dashboard(exports, tmp_path / "page")
    dom = chromium(page.as_uri(), "--dump-dom", timeout=90).stdout
    shot = tmp_path / "dashboard.png"
    chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1280,1600", timeout=90)
    assert 'id="chart-technique-outlet"' in dom, dom[:2000]
    # four inline SVG charts and one outlet-by-week chart per category (heatmap images are <image>, lines <path>)
    assert len(re.findall(r"<svg\b", dom)) == 4 + len(dash.load(exports).categories)
    assert re.search(r'<section class="card chart[^"]*" id="chart-technique-week"[\s\S]*?<svg[\s\S]*?<image', dom)
    # no payload ran or became an element: title untouched, body not marked, payloads shown as text
    title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert html.unescape(title).startswith("framescope trends")
    assert not re.search(r"<body[^>]*data-pwned", dom)
    assert "<script" not in dom.lower() and "<img" not in dom.lower()
    assert "Der Bote &lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert html.escape(EVIL_TITLE, quote=False) in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
