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

import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Sequence


from framescope.errors import EXIT_USAGE, FramescopeError

from framescope.inference.views import NO_OUTLET, UNDATED  # noqa: F401 - NO_OUTLET is public here too

MAX_OUTLETS = 15  # outlets with most articles shown in the per-outlet charts
EXAMPLES_PER_TECHNIQUE = 3
EXAMPLE_CHARS = 280
CONTEXT_CHARS = 160  # at most this many characters of the sentence on each side of an example span
SENTENCE_ENDS = (".", "!", "?", "…", "\n")


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


def span_context(text: str, start: int, end: int, limit: int = CONTEXT_CHARS) -> tuple[str, str]:
    """The sentence around ``text[start:end]``: what precedes it back to the sentence start, what follows to its end.

    A sentence ends at ``.``, ``!``, ``?``, ``…`` or a line break; each side is cut to
    ``limit`` characters (with an ellipsis), so a span in a long paragraph stays readable.
    """
    if not (0 <= start <= end <= len(text)):
        return "", ""
    left = max((text.rfind(c, 0, start) for c in SENTENCE_ENDS), default=-1) + 1
    rights = [i for i in (text.find(c, end) for c in SENTENCE_ENDS) if i >= 0]
    right = min(rights) + 1 if rights else len(text)
    before = text[left:start].lstrip()
    after = text[end:right].rstrip()
    if len(before) > limit:
        before = "…" + before[-limit:]
    if len(after) > limit:
        after = after[:limit] + "…"
    return before, after


def _add_context(examples, source: Path) -> None:
    """``context_before``/``context_after`` per example: from the dataset's texts, else the export's labelstudio.json."""
    from framescope.inference.report import _sidecar_texts

    sidecar = None
    before, after = [], []
    for r in examples.itertuples():
        text = r.article_text if isinstance(r.article_text, str) else None
        if text is None:
            sidecar = _sidecar_texts(source) if sidecar is None else sidecar
            text = sidecar.get(r.id)
        if text is not None and text[int(r.start) : int(r.end)] != r.text:
            text = None  # another version's text: no context rather than a wrong one
        b, a = span_context(text, int(r.start), int(r.end)) if text else ("", "")
        before.append(b)
        after.append(a)
    examples["context_before"] = before
    examples["context_after"] = after


# -- charts ---------------------------------------------------------------------------


def _label(text: str, limit: int = 40) -> str:
    """A chart label: shortened, and ``$`` escaped so matplotlib does not read it as mathtext."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _svg(fig) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, scalable)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "framescope"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]  # CSS shrinks it to the page: max-width 100%, height auto


def heatmap(matrix, rows: Sequence[str], cols: Sequence[str], title: str, counts: Sequence[int] | None = None) -> str:
    """Shares in ``[0, 1]`` as a heatmap: one row per technique/category, one column per week/outlet."""
    import numpy as np
    from matplotlib.figure import Figure

    m = np.asarray(matrix, dtype=float)
    width = min(3.6 + 0.75 * len(cols), 16)
    height = 1.3 + 0.24 * len(rows)
    fig = Figure(figsize=(width, height), dpi=96)
    ax = fig.add_subplot()
    im = ax.imshow(m, aspect="auto", cmap="YlOrRd", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(rows)), [_label(r) for r in rows], fontsize=8)
    col_labels = [_label(c, 24) + (f"\n(n={counts[i]})" if counts is not None else "") for i, c in enumerate(cols)]
    ax.set_xticks(
        range(len(cols)),
        col_labels,
        fontsize=7.5,
        rotation=45 if len(cols) > 6 else 0,
        ha="right" if len(cols) > 6 else "center",
    )
    if len(cols) <= 20:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m[i, j]
                if v == v and v > 0:
                    ax.text(
                        j, i, f"{v:.0%}", ha="center", va="center", fontsize=6.5, color="white" if v > 0.55 else "black"
                    )
    ax.set_title(title, fontsize=10, loc="left")
    cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01, format=lambda x, _: f"{x:.0%}")
    cb.ax.tick_params(labelsize=7)
    return _svg(fig)


def lines(
    series: dict[str, Sequence[float]],
    xs: Sequence[str],
    title: str,
    colours: dict[str, str],
    counts: Sequence[int] | None = None,
) -> str:
    """One line per category over consecutive weeks; a NaN (a week without articles) breaks the line.

    The x axis has one slot per calendar week, so a gap is a gap; a marker's area grows
    with the week's number of articles, so a week of 2 does not look like a week of 30.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(10, 3.6), dpi=96)
    ax = fig.add_subplot()
    top = max(counts or [1]) or 1
    sizes = [12 + 90 * (n / top) for n in counts] if counts is not None else None
    for name, ys in series.items():
        colour = colours.get(name)
        ax.plot(range(len(xs)), ys, linewidth=1.6, label=_label(name), color=colour)
        ax.scatter(range(len(xs)), ys, s=sizes if sizes is not None else 14, color=colour, zorder=3)
    ax.set_xticks(range(len(xs)), [_label(x, 24) for x in xs], fontsize=8, rotation=45 if len(xs) > 8 else 0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig)


def week_axis(weeks) -> list[date]:
    """Every Monday from the first to the last dated week: empty weeks stay on the axis."""
    from datetime import timedelta

    dated = sorted({(w.date() if hasattr(w, "date") else w) for w in weeks if w is not None and w == w})
    if not dated:
        return []
    out, w = [], dated[0]
    while w <= dated[-1]:
        out.append(w)
        w += timedelta(days=7)
    return out


# -- the page -------------------------------------------------------------------------


def _report_href(report: str | None, article_id: str) -> str | None:
    """The article's page in the HTML report (``framescope report``/``score --html``) under ``report``."""
    if not report:
        return None
    name = hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:20] + ".html"  # as report._page_name
    return report.rstrip("/") + "/articles/" + name


def _category_names() -> dict[str, str]:
    try:
        from framescope.labels.taxonomy import load_taxonomy

        return {cid: str(meta.get("name") or cid) for cid, meta in load_taxonomy().categories.items()}
    except Exception:  # pragma: no cover - the default taxonomy ships with the package
        return {}


def technique_use(a, technique: str):
    """Per article, how much it uses ``technique``: ``prob_<T>`` where the article stage gave one,
    else 1.0 when a span of it was found (``score_<T> > 0``), else 0.0."""
    found = (a[f"score_{technique}"] > 0).astype(float)
    prob = f"prob_{technique}"
    if prob not in a.columns:
        return found
    return a[prob].astype(float).where(a[prob].notna(), found)


def category_use(a, uses_t: dict, categories) -> dict:
    """Per category and article: the highest use of its techniques (spans alone: ``category_<c> > 0``)."""
    import pandas as pd

    from framescope.labels.taxonomy import load_taxonomy

    try:
        of = {t: load_taxonomy().category_of(t) for t in uses_t}
    except Exception:  # a custom taxonomy: fall back to the exported category scores
        of = {}
    out = {}
    for c in categories:
        members = [uses_t[t] for t in uses_t if of.get(t) == c]
        out[c] = pd.concat(members, axis=1).max(axis=1) if members else (a[f"category_{c}"] > 0).astype(float)
    return out


def _day(value) -> date | None:
    """A DATE from DuckDB (a pandas Timestamp, a date or NaT/None) as a ``date``, None when missing."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _pivot(agg, key: str, rows: Sequence[str], cols: Sequence[Any], value: str = "share") -> list[list[float]]:
    """``agg`` rows (``key``, technique, share) as a matrix; NaN where a cell has no articles."""
    cell = {
        (r.technique, _day(getattr(r, key)) if key == "week" else getattr(r, key)): getattr(r, value)
        for r in agg.itertuples()
    }
    return [[float(cell.get((t, c), float("nan"))) for c in cols] for t in rows]


def _outlet_table(a, uses_t: dict, techniques: Sequence[str], outlets: Sequence[str]) -> list[dict[str, Any]]:
    """Per outlet: articles, languages, first and last publication date (undated counted apart), top techniques."""
    table = []
    for o in outlets:
        mine = a["outlet"] == o
        sel = a[mine]
        days = [d for d in (_day(x) for x in sel["published_date"]) if d is not None]
        top = sorted(((float(uses_t[t][mine].mean()), t) for t in techniques), reverse=True)[:3]
        table.append(
            {
                "outlet": o,
                "articles": len(sel),
                "undated": len(sel) - len(days),
                "langs": ", ".join(sorted({str(x) for x in sel["lang"].dropna()})),
                "first": min(days).isoformat() if days else "–",
                "last": max(days).isoformat() if days else "–",
                "top": [(t, v) for v, t in top if v > 0],
            }
        )
    return table


def _charts(data: Data, names: dict[str, str], focus: Sequence[str]) -> tuple[list, list, list, dict]:
    """The charts: over time, per outlet, and outlet by week; plus the outlet table and the axis facts."""
    from framescope.inference.report import CATEGORY_COLOURS

    a = data.articles
    uses_t = {t: technique_use(a, t) for t in data.techniques}
    uses_c = category_use(a, uses_t, data.categories)
    week_of = a["week"].map(_day)
    axis = week_axis(list(week_of))
    undated = int(week_of.isna().sum())
    cols: list[Any] = list(axis) + ([None] if undated else [])
    labels = [w.isoformat() for w in axis] + ([UNDATED] if undated else [])
    n_col = [int((week_of == w).sum()) for w in axis] + ([undated] if undated else [])
    share_tw = _pivot(data.week_technique, "week", data.techniques, cols)
    share_cw = {
        names.get(c, c): [float(uses_c[c][week_of == w].mean()) if n else float("nan") for w, n in zip(axis, n_col)]
        for c in data.categories
    }
    colours = {names.get(c, c): CATEGORY_COLOURS.get(c, "#4477aa") for c in data.categories}
    counts = a["outlet"].value_counts()
    outlets = sorted(counts.index[:MAX_OUTLETS], key=lambda o: (-counts[o], o))
    n_out = [int(counts[o]) for o in outlets]
    share_to = [[float(uses_t[t][a["outlet"] == o].mean()) for o in outlets] for t in data.techniques]
    share_co = [[float(uses_c[c][a["outlet"] == o].mean()) for o in outlets] for c in data.categories]
    more = f" (the {MAX_OUTLETS} with most articles)" if len(counts) > MAX_OUTLETS else ""
    left_out = f"; {undated} undated article{'s' if undated != 1 else ''} not on the time axis" if undated else ""
    over_time = [
        {
            "id": "chart-category-week",
            "title": "Categories per week",
            "wide": True,
            "svg": lines(
                share_cw,
                [f"{w.isoformat()}\n(n={n})" for w, n in zip(axis, n_col)],
                f"Share of articles using each category, per week (week starting, UTC; marker area = articles{left_out})",
                colours,
                n_col[: len(axis)],
            ),
        },
        {
            "id": "chart-technique-week",
            "title": "Techniques per week",
            "wide": len(cols) > 8,
            "svg": heatmap(
                share_tw,
                data.techniques,
                labels,
                "Share of articles using each technique, per week (blank: no articles)",
                n_col,
            ),
        },
        {
            "id": "chart-technique-outlet",
            "title": "Techniques per outlet",
            "wide": len(outlets) > 8,
            "svg": heatmap(
                share_to, data.techniques, outlets, f"Share of articles using each technique, per outlet{more}", n_out
            ),
        },
        {
            "id": "chart-category-outlet",
            "title": "Categories per outlet",
            "wide": len(outlets) > 8,
            "svg": heatmap(
                share_co,
                [names.get(c, c) for c in data.categories],
                outlets,
                f"Share of articles using each category, per outlet{more}",
                n_out,
            ),
        },
    ]
    by_week = []
    for c in data.categories:
        m = [
            [
                float(uses_c[c][(a["outlet"] == o) & (week_of == w if w is not None else week_of.isna())].mean())
                for w in cols
            ]
            for o in outlets
        ]
        by_week.append(
            {
                "id": f"chart-outlet-week-{c}",
                "title": f"{names.get(c, c)}: outlets by week",
                "wide": True,
                "svg": heatmap(
                    m, outlets, labels, f"Share of each outlet's articles using {names.get(c, c)}, per week", n_col
                ),
            }
        )
    agg = data.outlet_week_technique
    for t in focus:
        sub = agg[agg["technique"] == t]
        cell = {(r.outlet, _day(r.week)): r.share for r in sub.itertuples()}
        m = [[float(cell.get((o, w), float("nan"))) for w in cols] for o in outlets]
        by_week.append(
            {
                "id": f"chart-outlet-week-{t}",
                "title": f"{t}: outlets by week",
                "wide": True,
                "svg": heatmap(m, outlets, labels, f"Share of each outlet's articles using {t}, per week", n_col),
            }
        )
    facts = {"weeks": labels, "empty_weeks": [w.isoformat() for w, n in zip(axis, n_col) if n == 0], "undated": undated}
    return over_time, by_week, _outlet_table(a, uses_t, data.techniques, outlets), facts


def _examples(data: Data, names: dict[str, str], report: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ex = data.examples
    for t in data.techniques:
        rows = ex[ex["technique"] == t] if len(ex) else ex
        if not len(rows):
            continue
        items = []
        for r in rows.itertuples():
            text = str(r.text)
            day = _day(r.day)
            items.append(
                {
                    "text": text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…",
                    "before": r.context_before,
                    "after": r.context_after,
                    "confidence": float(r.confidence),
                    "id": r.id,
                    "title": r.title if isinstance(r.title, str) else None,
                    "outlet": r.outlet,
                    "day": day.isoformat() if day else UNDATED,
                    "lang": r.lang if isinstance(r.lang, str) else None,
                    "href": _report_href(report, r.id),
                }
            )
        out.append({"technique": t, "category": names.get(str(rows.iloc[0]["category"]), ""), "spans": items})
    return out


def render_dashboard(
    data: Data, filters: Filters, report: str | None = None, source: str = "", focus: Sequence[str] = ()
) -> str:
    """The page's HTML; ``focus``: techniques that get their own outlet-by-week chart."""
    from framescope.inference.report import _environment

    a = data.articles
    unknown = [t for t in focus if t not in data.techniques]
    if unknown:
        raise DashboardError(f"--technique {unknown[0]!r}: not a technique of these articles")
    names = _category_names()
    over_time, by_week, outlets_table, facts = _charts(data, names, focus) if len(a) else ([], [], [], {})
    env = _environment()
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
