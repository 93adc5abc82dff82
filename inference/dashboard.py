"""A trends dashboard over many scored articles: which outlets use which techniques, week by week.

``framescope dashboard SOURCE --out PAGE_DIR`` reads an export folder of ``framescope
score`` (``articles.parquet`` + ``spans.parquet``) or a dataset built with ``score
--dataset`` (:mod:`framescope.inference.dataset`) and writes one self-contained page,
``PAGE_DIR/index.html``:

* the share of articles using each technique and each category, per week and per
  outlet (heatmaps and a line chart), and per outlet week by week;
* the strongest example spans of each technique in their sentence, linked to the
  article pages of the HTML report (``--report``);
* the number of articles per outlet and per week.

How much an article *uses* a technique: its calibrated article probability
(``prob_<T>``, schema 1.1) when the model has an article stage, so a share is the
expected share of articles using the technique (calibration makes the mean probability
an estimate of the prevalence); for exports without probabilities, 1 when the model
found at least one span of it (``score_<T> > 0``) and 0 otherwise. A category counts
with the highest of its techniques' values. Weeks, outlets and versions follow the
shared views (:mod:`framescope.inference.views`): the ISO week of ``published_at`` in
UTC, whatever the session's zone; articles without a publication date in an own
"undated" bucket, never in the week they were scored; the latest version of an edited
article only; outlet names normalised. The per-week technique numbers are computed by
the views' own SQL over the filtered articles, so the page shows what
``outlet_week_technique`` holds.

The time axis has one slot per calendar week from the first to the last, so an empty
week is an empty slot, and every point shows its number of articles (marker area,
``n=``): a week of 2 articles does not pass for a week of 30.

Why it is built this way: the page carries the same Content-Security-Policy as the HTML
report (no scripts at all, inline styles only), so it opens from ``file://``, can be
mailed around, and article text that contains markup cannot run. Charts are therefore
drawn by matplotlib to static SVG and inlined (SVG text is XML-escaped by matplotlib;
every other piece of text goes through Jinja2's autoescaping), and the filters are
command-line options (``--lang``, ``--outlet``, ``--since``, ``--until``) that produce
the page for one view, rather than JavaScript widgets. Queries run in DuckDB over the
Parquet files, so a dataset of many days is read without loading every span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Sequence


from framescope.errors import EXIT_USAGE, FramescopeError

from framescope.inference.views import NO_OUTLET, UNDATED  # noqa: F401 - NO_OUTLET is public here too
from framescope.inference.dashboard_examples import (  # noqa: F401 - importable from here
    CONTEXT_CHARS,
    EXAMPLE_CHARS,
    SENTENCE_ENDS,
    _add_context,
    _examples,
    _report_href,
    span_context,
)
from framescope.inference.dashboard_charts import (  # noqa: F401 - the chart helpers, importable from here
    MAX_OUTLETS,
    _charts,
    _day,
    category_use,
    heatmap,
    lines,
    technique_use,
    week_axis,
)

EXAMPLES_PER_TECHNIQUE = 3


class DashboardError(FramescopeError):
    exit_code = EXIT_USAGE


@dataclass
class Filters:
    """The view: languages and outlets (any of, empty = all) and a date range (inclusive)."""

    langs: list[str] = field(default_factory=list)
    outlets: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None

    def describe(self) -> list[str]:
        out = []
        if self.langs:
            out.append("language " + ", ".join(self.langs))
        if self.outlets:
            out.append("outlet " + ", ".join(self.outlets))
        if self.since:
            out.append(f"from {self.since.isoformat()}")
        if self.until:
            out.append(f"until {self.until.isoformat()}")
        return out


# -- reading --------------------------------------------------------------------------


@dataclass
class Data:
    articles: Any  # pandas DataFrame, one row per article (latest version), with `week` and `outlet`
    examples: Any  # pandas DataFrame, the strongest spans per technique, with `context_before`/`context_after`
    techniques: list[str]
    categories: list[str]
    total: int  # articles (latest versions) before filtering
    week_technique: Any = None  # the views' aggregate over the filtered articles, per week and technique
    outlet_week_technique: Any = None  # the same per outlet, week and technique
    versions: int = 0  # article versions before filtering (edited articles count more than once)


def load(source: Path | str, filters: Filters | None = None, examples: int = EXAMPLES_PER_TECHNIQUE) -> Data:
    """The filtered latest versions, the views' aggregates and the strongest example spans, via DuckDB."""
    from framescope.inference import views
    from framescope.inference.dataset import DatasetError

    filters = filters or Filters()
    source = Path(source)
    try:
        con, info = views.connect(source)
    except DatasetError:
        raise
    except ValueError as err:
        raise DashboardError(str(err)) from None
    except Exception as err:  # duckdb errors: a table that does not read
        raise DashboardError(f"{source}: cannot read the articles table ({str(err).splitlines()[0]})") from None
    try:
        total = con.execute("SELECT count(*) FROM articles_latest").fetchone()[0]
        versions = con.execute("SELECT count(*) FROM articles_all").fetchone()[0]
        where, params = _where(filters)
        con.execute(
            "CREATE TEMP TABLE a AS SELECT * FROM articles_latest" + (f" WHERE {' AND '.join(where)}" if where else ""),
            params,
        )
        articles = con.execute("SELECT * FROM a ORDER BY week NULLS LAST, outlet, id").df()
        techniques, has_prob = info["techniques"], info["has_prob"]
        week_t = con.execute(views.technique_aggregate_sql("a", techniques, has_prob, ["week"])).df()
        outlet_week_t = con.execute(views.technique_aggregate_sql("a", techniques, has_prob, ["outlet", "week"])).df()
        examples_df = con.execute(
            'SELECT s.technique, s.category, s.text, s.confidence, s.start, s."end", a.id, a.title, a.url, a.outlet, '
            "a.published_date AS day, a.lang, t.text AS article_text "
            "FROM spans_latest s JOIN a ON s.article_id = a.id "
            "LEFT JOIN texts_latest t ON t.article_id = a.id "
            "QUALIFY row_number() OVER (PARTITION BY s.technique ORDER BY s.confidence DESC, a.id, s.start) <= ? "
            "ORDER BY s.technique, s.confidence DESC",
            [examples],
        ).df()
    finally:
        con.close()
    _add_context(examples_df, source)
    return Data(articles, examples_df, techniques, info["categories"], total, week_t, outlet_week_t, versions)


def _where(filters: Filters) -> tuple[list[str], list[Any]]:
    """SQL conditions for the view; a date filter keeps dated articles only (undated have no date to compare)."""
    from framescope.inference.views import normalise_outlet

    where, params = [], []
    if filters.langs:
        where.append("list_contains(?, lang)")
        params.append(list(filters.langs))
    if filters.outlets:
        where.append("list_contains(?, outlet)")
        params.append([normalise_outlet(o) or NO_OUTLET for o in filters.outlets])
    if filters.since:
        where.append("published_date >= ?")
        params.append(filters.since)
    if filters.until:
        where.append("published_date <= ?")
        params.append(filters.until)
    return where, params


# -- the page -------------------------------------------------------------------------


def _category_names() -> dict[str, str]:
    try:
        from framescope.labels.taxonomy import load_taxonomy

        return {cid: str(meta.get("name") or cid) for cid, meta in load_taxonomy().categories.items()}
    except Exception:  # pragma: no cover - the default taxonomy ships with the package
        return {}


def render_dashboard(
    data: Data, filters: Filters, report: str | None = None, source: str = "", focus: Sequence[str] = ()
) -> str:
    """The page's HTML; ``focus``: techniques that get their own outlet-by-week chart."""
    from framescope.inference.report_pages import environment

    a = data.articles
    unknown = [t for t in focus if t not in data.techniques]
    if unknown:
        raise DashboardError(f"--technique {unknown[0]!r}: not a technique of these articles")
    names = _category_names()
    over_time, by_week, outlets_table, facts = _charts(data, names, focus) if len(a) else ([], [], [], {})
    env = environment()
    langs = sorted({str(x) for x in a["lang"].dropna()}) if len(a) else []
    dated = [w for w in facts.get("weeks", []) if w != UNDATED]
    return env.get_template("dashboard.html.j2").render(
        css="",  # the report's per-category colour rules: the dashboard colours in its charts
        source=source,
        filters=filters.describe(),
        n_articles=len(a),
        total=data.total,
        versions=data.versions,
        n_outlets=int(a["outlet"].nunique()) if len(a) else 0,
        weeks=dated,
        empty_weeks=facts.get("empty_weeks", []),
        undated=facts.get("undated", 0),
        langs=langs,
        charts=over_time,
        by_week=by_week,
        examples=_examples(data, names, report),
        outlets=outlets_table,
        report=report,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def check_out(out_dir: Path) -> None:
    """``--out`` follows the folder rules of ``score`` and ``report``: refused before anything is read or written.

    A new or empty folder, or one holding an earlier dashboard, is fine. An existing
    ``index.html`` that framescope did not write is never overwritten, nor is the index
    of a report (``framescope report``, ``score --html``), nor an export folder of
    ``score``, whose files a dashboard page must not sit among.
    """
    from framescope.inference.report import written_by_framescope

    if out_dir.exists() and not out_dir.is_dir():
        raise DashboardError(f"--out {out_dir}: exists and is not a folder")
    if (out_dir / "manifest.json").exists() or (out_dir / "current").is_symlink():
        raise DashboardError(f"--out {out_dir}: an export folder of framescope score; choose another --out")
    index = out_dir / "index.html"
    if index.exists() or index.is_symlink():
        if not index.is_file() or not written_by_framescope(index):
            raise DashboardError(f"--out {index}: exists and was not written by framescope; choose another --out")
        with open(index, encoding="utf-8", errors="replace") as fh:
            head = fh.read(2000)
        if "<title>framescope trends" not in head:
            raise DashboardError(f"--out {index}: the index of a framescope report; choose another --out")


def write_dashboard(
    source: Path | str,
    out_dir: Path | str,
    filters: Filters | None = None,
    report: str | None = None,
    examples: int = EXAMPLES_PER_TECHNIQUE,
    focus: Sequence[str] = (),
) -> Path:
    """Build the page for ``source`` into ``out_dir/index.html`` (replaced atomically)."""
    from framescope.labels.atomic import atomic_open

    filters = filters or Filters()
    source, out_dir = Path(source), Path(out_dir)
    check_out(out_dir)
    if report is None and (source / "index.html").is_file():
        # `score --html` wrote the report into the export folder: link to it relative to the page
        import os

        report = Path(os.path.relpath(source.resolve(), out_dir.resolve())).as_posix()
    data = load(source, filters, examples)
    page = render_dashboard(data, filters, report, source=str(source), focus=focus)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "index.html") as fh:
        fh.write(page)
    return out_dir / "index.html"
